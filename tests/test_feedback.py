"""Feedback (autograder/feedback.py): what a student's page shows and how one
student's problem stays that student's.

The preprocessor and the widget repair run on in-memory notebooks whose
error outputs are IPython's own (ANSI colours included). Feedback for a
class runs nbgrader for real on a tiny course whose graded notebooks are
written by hand: no kernel, no bubblewrap."""

from __future__ import annotations

import copy
import re
import shutil
import warnings
import zipfile
from pathlib import Path

import nbformat
import pytest
from nbconvert import HTMLExporter
from nbformat.v4 import new_code_cell, new_notebook, new_output
from sqlalchemy.exc import SAWarning

from autograder import feedback, gradebook, report
from autograder.autograde import Outcome
from autograder.cli import main
from autograder.course import Course
from autograder.feedback import HIDDEN_NOTE, HideHiddenTests, make_renderable
from autograder.repair import NOTE_CELL_ID, WIDGET_STATE, add_note
from autograder.sandbox import METADATA_KEY

ROOT = Path(__file__).resolve().parent.parent
ASSIGNMENT = "a1"
SECRET = "double(12345)"  # a line of the hidden tests: it must never reach a student
HIDDEN = f"### BEGIN HIDDEN TESTS\nassert {SECRET} == 24690, 'double(12345) is wrong'\n### END HIDDEN TESTS"


def meta(gid, **flags):
    return {"nbgrader": {"grade_id": gid, "schema_version": 3, **flags}}


def source_notebook():
    """An assignment: an answer and its test, which holds hidden tests."""
    nb = new_notebook(cells=[
        new_code_cell("def double(x):\n    ### BEGIN SOLUTION\n    return 2 * x\n    ### END SOLUTION",
                      metadata=meta("double", solution=True, grade=False, locked=False)),
        new_code_cell(f"assert double(2) == 4\n{HIDDEN}", metadata=meta("test_double", solution=False, grade=True, locked=True, points=1)),
    ])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


# IPython's traceback entries, as the kernel sends them (IPython 9).
def cell_frame(count, line, code, function=None):
    where = f", in \x1b[36m{function}\x1b[39m\x1b[34m()\x1b[39m" if function else ""
    return (f"\x1b[36mCell\x1b[39m\x1b[36m \x1b[39m\x1b[32mIn[{count}]\x1b[39m\x1b[32m, line {line}\x1b[39m{where}\n"
            f"\x1b[32m----> \x1b[39m\x1b[32m{line}\x1b[39m {code}\n")


FILE_FRAME = ("\x1b[36mFile \x1b[39m\x1b[32m/venv/lib/python3.11/site-packages/numpy/_core/fromnumeric.py:54\x1b[39m, "
              "in \x1b[36m_wrapfunc\x1b[39m\x1b[34m(obj, method)\x1b[39m\n\x1b[32m---> \x1b[39m\x1b[32m54\x1b[39m     return bound(*args)\n")


def error(ename, evalue, *frames):
    return new_output("error", ename=ename, evalue=evalue, traceback=[
        "\x1b[31m---------------------------------------------------------------------------\x1b[39m",
        f"\x1b[31m{ename}\x1b[39m                         Traceback (most recent call last)",
        *frames,
        f"\x1b[31m{ename}\x1b[39m: {evalue}",
    ])


def executed(*cells):
    """`cells` as graded: each (cell, outputs) run once, in order, counts from 1."""
    nb = new_notebook(cells=[])
    for count, (cell, outputs) in enumerate(cells, start=1):
        cell = copy.deepcopy(cell)
        cell.execution_count, cell.outputs = count, outputs
        nb.cells.append(cell)
    return nb


def answer(code="def double(x):\n    return 2 * x"):
    return new_code_cell(code, metadata=meta("double", solution=True, grade=False, locked=False))


def check_cell(code=f"assert double(2) == 4\n{HIDDEN}", gid="test_double"):
    return new_code_cell(code, metadata=meta(gid, solution=False, grade=True, locked=True, points=1))


def hide(nb):
    nb, _ = HideHiddenTests().preprocess(nb, {})
    return nb


def shown(cell) -> str:
    """What a cell's error outputs show, without colours."""
    return re.sub(r"\x1b\[[0-9;]*m", "", "".join("".join(o.traceback) for o in cell.outputs if o.output_type == "error"))


def test_a_failing_check_shows_the_students_frames_and_message_not_the_hidden_test():
    failure = error("ZeroDivisionError", "division by zero",
                    cell_frame(2, 4, f"assert {SECRET} == 24690"),  # the test cell's own frame
                    cell_frame(1, 2, "    return x / 0", "double"),
                    FILE_FRAME)
    nb = hide(executed((answer("def double(x):\n    return x / 0"), []), (check_cell(), [failure])))
    text = shown(nb.cells[1])
    assert "Cell In[1], line 2, in double()" in text and "return x / 0" in text
    assert text.rstrip().endswith("ZeroDivisionError: division by zero")
    assert SECRET not in text and "In[2]" not in text and "fromnumeric" not in text
    assert SECRET not in nb.cells[1].source and nb.cells[1].source.endswith(HIDDEN_NOTE)


def test_a_check_that_fails_in_its_own_code_shows_only_its_message():
    failure = error("AssertionError", "double(12345) is wrong", cell_frame(2, 2, f"assert {SECRET} == 24690"))
    nb = hide(executed((answer(), []), (check_cell(), [failure])))
    assert nb.cells[1].outputs[0].traceback == ["\x1b[31mAssertionError\x1b[39m: double(12345) is wrong"]


def test_frames_of_another_test_cell_stay_hidden():
    # A later check calls the course's reference helper, defined in an earlier
    # test cell's hidden region; the student's frame stays, the helper's does not.
    helper = check_cell("assert double(2) == 4\n### BEGIN HIDDEN TESTS\ndef _reference(x):\n    return secret_formula(x)\n"
                       "### END HIDDEN TESTS")
    failure = error("NameError", "name 'secret_formula' is not defined",
                    cell_frame(4, 1, "assert uses_reference(3) == 6"),
                    cell_frame(3, 2, "    return _reference(x)", "uses_reference"),
                    cell_frame(2, 4, "    return secret_formula(x)", "_reference"))
    nb = hide(executed((answer(), []), (helper, []), (new_code_cell("def uses_reference(x):\n    return _reference(x)"), []),
                       (check_cell("assert uses_reference(3) == 6", "test_later"), [failure])))
    text = shown(nb.cells[3])
    assert "In[3]" in text and "return _reference(x)" in text
    assert "In[2]" not in text and "secret_formula(x)" not in text


def test_after_a_kernel_restart_a_frame_names_the_latest_cell_with_its_count():
    # Counts start at 1 again after a restart: In[1] is now the test cell.
    failure = error("AssertionError", "wrong", cell_frame(1, 2, f"assert {SECRET} == 24690"))
    nb = executed((answer(), []), (check_cell(), [failure]))
    nb.cells[1].execution_count = 1
    assert shown(hide(nb).cells[1]).strip() == "AssertionError: wrong"


def test_a_syntax_error_in_the_students_cell_keeps_the_line_and_caret():
    syntax = new_output("error", ename="SyntaxError", evalue="expected ':'", traceback=[
        "  \x1b[36mCell\x1b[39m\x1b[36m \x1b[39m\x1b[32mIn[1]\x1b[39m\x1b[32m, line 1\x1b[39m\n"
        "\x1b[31m    def double(x)\x1b[39m\n                 ^\n\x1b[31mSyntaxError\x1b[39m: expected ':'\n"])
    nb = hide(executed((answer("def double(x)\n    return 2 * x"), [syntax])))
    assert "def double(x)" in shown(nb.cells[0]) and "^" in shown(nb.cells[0])


def test_an_error_without_a_traceback_shows_its_name_and_message():
    died = new_output("error", ename="NotebookTimeoutError", evalue="not run", traceback=[])
    assert shown(hide(executed((answer(), [died]))).cells[0]) == "NotebookTimeoutError: not run"


def test_a_kernel_death_is_noted_at_the_top_naming_the_cell():
    died = new_output("error", ename="DeadKernelError", evalue="the kernel died while running this cell",
                      traceback=["DeadKernelError: the kernel died while running this cell"])
    nb = executed((new_code_cell("import os\nos.kill(os.getpid(), 9)"), [died]), (answer(), []))
    add_note(nb, ["the file started with a UTF-8 byte-order mark; read it as UTF-8."])
    nb = hide(nb)
    assert [c.id for c in nb.cells[:2]] == [NOTE_CELL_ID, feedback.EXECUTION_NOTE_ID]
    assert "kernel died" in nb.cells[1].source and "`import os`" in nb.cells[1].source
    assert shown(nb.cells[2]) == "DeadKernelError: the kernel died while running this cell"
    assert not any(c.id == feedback.EXECUTION_NOTE_ID for c in hide(executed((answer(), []))).cells)


def render(nb) -> str:
    return HTMLExporter().from_notebook_node(nb)[0]


def with_output(nb):
    nb.cells[0].outputs = [new_output("execute_result", data={"text/plain": "4"}, execution_count=1)]
    return nb


def test_widget_state_colab_saved_without_state_is_dropped_and_said(tmp_path):
    nb = with_output(source_notebook())
    nb.metadata["widgets"] = {WIDGET_STATE: {"version_major": 2, "version_minor": 0}}
    add_note(nb, ["a cell was retyped"])
    path = tmp_path / "nb.ipynb"
    nbformat.write(nb, path)
    with pytest.raises(KeyError):
        render(nb)
    notes = make_renderable(path)
    repaired = nbformat.read(path, as_version=4)
    assert notes and "widget state" in notes[0] and "widgets" not in repaired.metadata
    assert repaired.metadata[METADATA_KEY]["repairs"] == ["a cell was retyped", *notes]
    assert [c.id for c in repaired.cells].count(NOTE_CELL_ID) == 1 and "widget state" in repaired.cells[0].source
    assert "4" in render(repaired)


def test_empty_widgets_left_by_an_earlier_repair_are_dropped_quietly(tmp_path):
    nb = with_output(source_notebook())
    nb.metadata["widgets"] = {}
    nbformat.write(nb, tmp_path / "nb.ipynb")
    assert make_renderable(tmp_path / "nb.ipynb") == []
    render(nbformat.read(tmp_path / "nb.ipynb", as_version=4))


def test_intact_widget_state_is_left_alone(tmp_path):
    nb = with_output(source_notebook())
    nb.metadata["widgets"] = {WIDGET_STATE: {"state": {}, "version_major": 2, "version_minor": 0}}
    nbformat.write(nb, tmp_path / "nb.ipynb")
    before = (tmp_path / "nb.ipynb").read_bytes()
    assert make_renderable(tmp_path / "nb.ipynb") == []
    assert (tmp_path / "nb.ipynb").read_bytes() == before


# Feedback for a class, with nbgrader.

@pytest.fixture(scope="module")
def course(tmp_path_factory):
    """A course whose gradebook holds assignment a1 (registering takes seconds:
    once). Each test has students and assignments of its own."""
    course = Course(tmp_path_factory.mktemp("course"))
    shutil.copy2(ROOT / "nbgrader_config.py", course.root / "nbgrader_config.py")
    (course.source / ASSIGNMENT).mkdir(parents=True)
    nbformat.write(source_notebook(), course.source / ASSIGNMENT / "nb.ipynb")
    gradebook.register(course, ASSIGNMENT)
    return course


def graded(course, student, nb=None, text=None):
    """`student`'s graded notebook in autograded/, and their submission in the gradebook."""
    folder = course.root / "autograded" / student / ASSIGNMENT
    folder.mkdir(parents=True)
    if text is None:
        nbformat.write(nb or with_output(source_notebook()), folder / "nb.ipynb")
    else:
        (folder / "nb.ipynb").write_text(text)
    with gradebook.open_gradebook(course) as book, warnings.catch_warnings():
        warnings.simplefilter("ignore", SAWarning)  # nbgrader's own autoflush warning, as in gradebook.merge
        book.update_or_create_student(student)
        book.update_or_create_submission(ASSIGNMENT, student)


def zipped(course, student, assignment=ASSIGNMENT) -> dict[str, str]:
    with zipfile.ZipFile(course.root / feedback.FEEDBACK_ZIPS / assignment / f"{student}.zip") as z:
        return {name: z.read(name).decode() for name in z.namelist()}


def test_one_students_unrenderable_notebook_costs_only_that_student(course, capsys):
    widgets = with_output(source_notebook())
    widgets.metadata["widgets"] = {WIDGET_STATE: {"version_major": 2, "version_minor": 0}}
    graded(course, "ann")
    graded(course, "colab", widgets)
    graded(course, "damaged", text='{"cells": [')
    report.save_outcomes(course, ASSIGNMENT, [Outcome(s, "graded") for s in ("ann", "colab", "damaged")]
                         + [Outcome("lost", "not graded", message="the file is not valid notebook JSON")])

    assert main(["--course-dir", str(course.root), "feedback", ASSIGNMENT]) == 1
    lines = {line.split()[0]: line for line in capsys.readouterr().out.splitlines() if line.strip()}
    assert "written" in lines["ann"] and "written" in lines["colab"] and "widget state" in lines["colab"]
    assert "not rendered" in lines["damaged"] and "not graded" in lines["lost"]

    for student in ("ann", "colab"):
        page = zipped(course, student)["nb.html"]
        assert "further checks ran here" in page and SECRET not in page
    assert "widget state" in zipped(course, "colab")["nb.html"]
    assert "could not be produced" in zipped(course, "damaged")["feedback_unavailable.html"]
    assert "not valid notebook JSON" in zipped(course, "lost")["not_graded.html"]


def test_when_nobody_was_graded_everyone_gets_the_not_graded_page(course):
    # a2: its students' files could not be graded, so none is in the gradebook.
    stale = course.root / "feedback" / "bob" / "a2" / "nb.html"  # from an earlier, graded file
    stale.parent.mkdir(parents=True)
    stale.write_text("old feedback")
    report.save_outcomes(course, "a2", [Outcome("amy", "not graded", message="no notebook in the submission"),
                                        Outcome("bob", "failed", message="nbgrader stopped")])
    assert main(["--course-dir", str(course.root), "feedback", "a2"]) == 0
    assert list(zipped(course, "amy", "a2")) == ["not_graded.html"]
    assert "no notebook in the submission" in zipped(course, "amy", "a2")["not_graded.html"]
    assert list(zipped(course, "bob", "a2")) == ["not_graded.html"]


def test_feedback_before_any_grading_is_a_usage_error(course, capsys):
    assert main(["--course-dir", str(course.root), "feedback", "a3"]) == 2
    assert "grade a3" in capsys.readouterr().err
