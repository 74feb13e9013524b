"""The coordinator's writes to the course gradebook (gradebook.merge), on a tiny
course and results made by hand: scores and late penalties land, and a
re-grade keeps finished hand-grading unless the answer changed. Also the
worker's outcome classification (autograde), which needs no kernel."""

from __future__ import annotations

import shutil
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from autograder import gradebook
from autograder.autograde import Outcome, Result, Task, error_summary, unreadable
from autograder.course import Course

ROOT = Path(__file__).resolve().parent.parent
ASSIGNMENT, NOTEBOOK = "a1", "nb"


def graded_cell(kind, source, gid, **meta):
    cell = new_code_cell(source) if kind == "code" else new_markdown_cell(source)
    cell.metadata["nbgrader"] = {"grade_id": gid, "schema_version": 3, **meta}
    cell.id = gid
    return cell


def notebook(written="YOUR ANSWER HERE"):
    return new_notebook(cells=[
        graded_cell("code", "answer = 42", "answer", solution=True, grade=False, locked=False),
        graded_cell("code", "assert answer == 42", "test_answer", solution=False, grade=True, locked=True, points=1),
        graded_cell("markdown", written, "written", solution=True, grade=True, locked=False, points=2),
    ])


@pytest.fixture(scope="module")
def registered(tmp_path_factory):
    """A course with the assignment in its gradebook (registering takes seconds: once)."""
    root = tmp_path_factory.mktemp("registered")
    shutil.copy2(ROOT / "nbgrader_config.py", root / "nbgrader_config.py")
    (root / "source" / ASSIGNMENT).mkdir(parents=True)
    nbformat.write(notebook(), root / "source" / ASSIGNMENT / f"{NOTEBOOK}.ipynb")
    gradebook.register(Course(root), ASSIGNMENT)
    return root


@pytest.fixture
def course(registered, tmp_path):
    shutil.copytree(registered, tmp_path / "course")
    return Course(tmp_path / "course")


def result(student, test_score, written="Because.", timestamp=None, penalty=0.0):
    nb = notebook(written)
    return Result(
        Outcome(student, "graded"),
        timestamp=timestamp,
        late_penalties={NOTEBOOK: penalty},
        grades={(NOTEBOOK, "test_answer"): test_score, (NOTEBOOK, "written"): None},
        comments={(NOTEBOOK, "answer"): None, (NOTEBOOK, "written"): None},
        files={f"{NOTEBOOK}.ipynb": nbformat.writes(nb).encode()},
    )


def grade_of(course, student, name):
    with gradebook.open_gradebook(course) as gb:
        grade = gb.find_grade(name, NOTEBOOK, ASSIGNMENT, student)
        return grade.auto_score, grade.manual_score, grade.needs_manual_grade


def hand_grade(course, student, points):
    with gradebook.open_gradebook(course) as gb:
        grade = gb.find_grade("written", NOTEBOOK, ASSIGNMENT, student)
        grade.manual_score, grade.needs_manual_grade = points, False
        gb.db.commit()


def test_merge_writes_scores_penalty_and_files(course):
    gradebook.merge(course, ASSIGNMENT, result("ada", 1.0, timestamp="2026-11-21T09:15:02", penalty=0.5))
    assert grade_of(course, "ada", "test_answer") == (1.0, None, False)
    assert grade_of(course, "ada", "written") == (None, None, True)
    with gradebook.open_gradebook(course) as gb:
        submission = gb.find_submission(ASSIGNMENT, "ada")
        assert submission.timestamp.isoformat() == "2026-11-21T09:15:02"
        assert submission.late_submission_penalty == 0.5
    assert (course.root / "autograded" / "ada" / ASSIGNMENT / f"{NOTEBOOK}.ipynb").is_file()


def test_regrade_keeps_finished_hand_grading(course):
    gradebook.merge(course, ASSIGNMENT, result("ada", 1.0))
    hand_grade(course, "ada", 2.0)
    gradebook.merge(course, ASSIGNMENT, result("ada", 1.0))
    assert grade_of(course, "ada", "written") == (None, 2.0, False)


def test_regrade_asks_for_review_when_the_answer_changed(course):
    gradebook.merge(course, ASSIGNMENT, result("ada", 1.0))
    hand_grade(course, "ada", 2.0)
    gradebook.merge(course, ASSIGNMENT, result("ada", 1.0, written="A different answer."))
    assert grade_of(course, "ada", "written") == (None, 2.0, True)


def test_forget_removes_an_earlier_grade(course):
    gradebook.merge(course, ASSIGNMENT, result("ada", 1.0))
    gradebook.forget(course, ASSIGNMENT, "ada")
    with gradebook.open_gradebook(course) as gb:
        assert [s.assignment.name for s in gb.find_student("ada").submissions] == []
    assert not (course.root / "autograded" / "ada" / ASSIGNMENT).exists()


def test_template_holds_the_assignment_and_its_due_date(course, tmp_path):
    with gradebook.open_gradebook(course) as gb:
        gb.update_or_create_assignment(ASSIGNMENT, duedate="2026-11-20 23:59:00")
    path = tmp_path / "template.db"
    path.write_bytes(gradebook.template(course, ASSIGNMENT))
    with gradebook.open_gradebook(course, f"sqlite:///{path}") as gb:
        assignment = gb.find_assignment(ASSIGNMENT)
        assert str(assignment.duedate) == "2026-11-20 23:59:00"
        assert [c.name for nb in assignment.notebooks for c in nb.grade_cells] == ["test_answer", "written"]


def task(files):
    return Task(str(ROOT), ASSIGNMENT, "ada", files)


@pytest.mark.parametrize("files, reason", [
    ({}, "no notebook in the submission"),
    ({"nb.ipynb": b"not json"}, "nb.ipynb: the file is not valid notebook JSON"),
    ({"nb.ipynb": b'{"cells": 1}'.replace(b'"cells": 1', b'"x": 1')}, "not a Jupyter notebook"),
])
def test_unreadable_submissions_are_not_graded_with_a_reason(files, reason):
    assert reason in unreadable(task(files))


def test_a_readable_notebook_is_graded_even_beside_a_broken_one():
    good = nbformat.writes(notebook()).encode()
    assert unreadable(task({"nb.ipynb": good, "notes.ipynb": b"garbage"})) == ""


def test_error_summary_is_the_last_line():
    assert error_summary("Traceback:\n  File x\nValueError: bad\n\n") == "ValueError: bad"
    assert error_summary("") == "nbgrader stopped without saying why"
