"""The fork server (a kernel per notebook forked from one sandboxed process that
imported the libraries once), on in-memory notebooks: the libraries are there
without importing, and nothing one notebook leaves (files in /tmp or the
working folder, processes, the kernel's state) reaches the next."""

from __future__ import annotations

import shutil

import pytest
from nbformat.v4 import new_code_cell, new_notebook
from traitlets.config import Config

from autograder import forkserver
from autograder.forkserver import empty
from autograder.sandbox import SandboxedExecute

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap is needed for the sandbox (see .ci/run)"),
]


def run(*sources):
    nb = new_notebook(cells=[new_code_cell(s) for s in sources])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    config = Config({"SandboxedExecute": {"fork_server": True, "preload": ["json", "numpy"], "timeout": 60}})
    nb, _ = SandboxedExecute(config=config).preprocess(nb, {"metadata": {"path": "."}})
    return ["".join(o.get("text", "")).strip() or o.get("ename") for c in nb.cells for o in c.outputs]


def test_preloaded_libraries_are_imported_in_the_kernel():
    assert run("import sys; print('numpy' in sys.modules)") == ["True"]


def test_nothing_of_one_notebook_reaches_the_next():
    first = run(
        "import numpy, os, subprocess\n"
        "numpy.secret = 42\n"
        "open('/tmp/left-in-tmp', 'w').write('x'); open('left-in-cwd', 'w').write('x')\n"
        "subprocess.Popen(['sleep', '600'])\n"
        "print(os.getpid())"
    )
    second = run(
        "import numpy, os\n"
        "print(hasattr(numpy, 'secret'), os.path.exists('/tmp/left-in-tmp'), os.path.exists('left-in-cwd'))\n"
        "print(len([p for p in os.listdir('/proc') if p.isdigit()]))"
    )
    assert second[0].splitlines() == ["False False False", "3"]  # sandbox init, fork server, this kernel
    assert first[0] != ""


def test_no_network_in_a_forked_kernel():
    out = run(
        "import socket\n"
        "try:\n"
        "    socket.create_connection(('127.0.0.1', 9), timeout=2); print('open')\n"
        "except OSError:\n"
        "    print('blocked')"
    )
    assert out == ["blocked"]


def test_a_killed_kernel_is_forked_again():
    assert run("import os\nos.kill(os.getpid(), 9)", "print('back')") == ["DeadKernelError", "back"]


def test_a_kernel_that_kills_the_fork_server_costs_the_next_notebook_nothing_but_a_new_server():
    run("import os, signal\nos.kill(2, signal.SIGKILL)")  # the server is PID 2 in the sandbox
    assert run("print('fine')") == ["fine"]


def test_emptying_tmp_spares_mount_points_and_the_folders_on_the_way(tmp_path):
    for path in ("course/autograder/cli.py", "course/scratch.txt", "left/deep/file", "top.txt"):
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text("x")
    empty(str(tmp_path), {str(tmp_path / "course" / "autograder")})
    assert sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*")) == [
        "course", "course/autograder", "course/autograder/cli.py"]


def test_a_course_under_tmp_survives_the_reset_between_notebooks(tmp_path, monkeypatch):
    """The sandbox mounts /tmp afresh and binds read-only what lives under the host's /tmp
    (a course cloned there, its virtual environment): the reset must not try to delete it."""
    course = tmp_path / "course"  # tmp_path is under the host's /tmp
    course.mkdir()
    (course / "kept.txt").write_text("still here")
    bind = forkserver.sandbox_command

    def with_course(argv, workdir, readable, writable):
        return bind(argv, workdir, [*readable, str(course)], writable)

    monkeypatch.setattr(forkserver, "sandbox_command", with_course)
    monkeypatch.setattr(forkserver, "_SERVER", None)  # a server started with the bind
    try:
        assert run("print('first')") == ["first"]
        assert run(f"print(open({str(course / 'kept.txt')!r}).read())") == ["still here"]
    finally:
        forkserver._SERVER.stop()
