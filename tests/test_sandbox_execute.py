"""The course's Execute preprocessor on in-memory notebooks, with a plain
kernel (sandbox off, so these run without bubblewrap): output capped while a
cell runs, a time limit for the whole notebook, and a kernel that dies
restarted as on Colab, the cell that killed it named. The sandbox itself is
tested end to end in test_class_grading.py."""

from __future__ import annotations

import pytest
from nbformat.v4 import new_code_cell, new_notebook
from traitlets.config import Config

from autograder.autograde import execution_notes
from autograder.sandbox import METADATA_KEY, SandboxedExecute

pytestmark = pytest.mark.slow  # each test starts a kernel


def run(*sources, **settings):
    nb = new_notebook(cells=[new_code_cell(s) for s in sources])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    config = Config({"SandboxedExecute": {"sandbox": False, "timeout": 30, **settings}})
    nb, _ = SandboxedExecute(config=config).preprocess(nb, {"metadata": {"path": "."}})
    return nb


def errors(cell):
    return [o.ename for o in cell.outputs if o.output_type == "error"]


def text(cell):
    return "".join(o.get("text", "") for o in cell.outputs)


def test_a_killed_kernel_is_restarted_and_grading_goes_on():
    # Colab's restart idiom after a %pip install.
    nb = run("x = 1", "import os\nos.kill(os.getpid(), 9)", "print('after the restart', 'x' in dir())")
    assert errors(nb.cells[1]) == ["DeadKernelError"]
    assert text(nb.cells[2]).strip() == "after the restart False"
    assert execution_notes(nb) == ["kernel died in cell 2"]


def test_kernel_restarts_are_bounded():
    kill = "import os\nos.kill(os.getpid(), 9)"
    with pytest.raises(Exception):
        run(kill, kill, kill, kernel_restarts=2)


def test_a_notebook_over_its_time_limit_stops_running_cells():
    nb = run("import time\ntime.sleep(4)", "print('too late')", notebook_timeout=3)
    assert "CellTimeoutError" in errors(nb.cells[0])
    assert errors(nb.cells[1]) == ["NotebookTimeoutError"] and "too late" not in text(nb.cells[1])


def test_output_is_capped_while_the_cell_runs():
    nb = run("for i in range(100_000):\n    print('x' * 100)", max_output_bytes=10_000)
    out = text(nb.cells[0])
    assert len(out) < 20_000 and "the grader kept only the first 10,000 bytes" in out


def test_a_clean_notebook_leaves_no_notes():
    nb = run("print(6 * 7)")
    assert text(nb.cells[0]) == "42\n" and METADATA_KEY not in nb.metadata


def test_the_log_keeps_only_the_start_of_a_flooding_messages_content():
    """formgrader shows nbgrader's log in the browser: 11 MB of it froze the page."""
    import logging

    from autograder.sandbox import ShortLogContent

    log = logging.getLogger("test-short-log-content")
    records = []
    log.addHandler(type("Keep", (logging.Handler,), {"emit": lambda self, r: records.append(r.getMessage())})())
    log.setLevel(logging.DEBUG)
    log.addFilter(ShortLogContent())
    log.debug("content: %s", {"name": "stdout", "text": "spam" * 100_000})
    log.debug("content: %s", {"name": "stdout", "text": "short"})
    assert len(records[0]) < 2_100 and "more characters" in records[0]
    assert records[1] == "content: {'name': 'stdout', 'text': 'short'}"
