"""The course gradebook and its one writer.

nbgrader's gradebook is not safe with concurrent writers (creating the tables
and creating a student both race; nbgrader issue #174), so grading workers
never touch it: each grades against a private copy of ``template()``, and the
coordinator ``merge``s the results, one transaction per student. The course
gradebook is nbgrader's own ``CourseDirectory.db_url`` (SQLite by default,
PostgreSQL for a shared deployment), so formgrader and nbgrader read the same
grades.

A re-grade keeps a teaching assistant's finished hand-grading: a grade that
was reviewed (it has a manual score) stays reviewed when its cell and its
automatic score did not change.
"""

from __future__ import annotations

import datetime
import shutil
import warnings
import tempfile
from pathlib import Path

import nbformat
from nbgrader import utils
from nbgrader.api import Gradebook, MissingEntry
from nbgrader.apps import NbGraderAPI
from nbgrader.coursedir import CourseDirectory
from sqlalchemy.exc import SAWarning

from autograder import settings
from autograder.autograde import GRADEBOOK, Result
from autograder.course import Course, CourseError


def directory(course: Course) -> CourseDirectory:
    return CourseDirectory(config=settings.load(course.root))


def open_gradebook(course: Course, url: str | None = None) -> Gradebook:
    """The course gradebook (nbgrader_config.py's CourseDirectory.db_url: by default
    gradebook.db in the course folder), or the one at `url`."""
    found = directory(course)
    return Gradebook(url or found.db_url, found.course_id)


def register(course: Course, assignment: str, url: str | None = None) -> None:
    """Put the assignment's notebooks and cells into the course gradebook, or the
    one at `url` (release/ is left untouched)."""
    Course.activate()
    with tempfile.TemporaryDirectory(prefix="register-") as scratch:
        config = settings.load(course.root, release_directory=scratch, **({"db_url": url} if url else {}))
        result = NbGraderAPI(CourseDirectory(config=config), config=config).generate_assignment(assignment, force=True)
        if not result["success"]:
            raise CourseError(f"nbgrader could not register {assignment}: {result.get('error') or result.get('log')}")


def template(course: Course, assignment: str) -> bytes:
    """A fresh SQLite gradebook holding `assignment` as the course gradebook has it
    (due date included, for late penalties), for the workers' private copies."""
    register(course, assignment)
    with open_gradebook(course) as gradebook:
        duedate = gradebook.find_assignment(assignment).duedate
    with tempfile.TemporaryDirectory(prefix="template-") as folder:
        url = f"sqlite:///{Path(folder) / GRADEBOOK}"
        register(course, assignment, url)
        with open_gradebook(course, url) as gradebook:
            gradebook.update_or_create_assignment(assignment, duedate=duedate)
        return (Path(folder) / GRADEBOOK).read_bytes()


def cell_checksums(folder: Path) -> dict[tuple[str, str], str]:
    """(notebook, grade id) -> checksum of every graded cell in an autograded folder."""
    found = {}
    for path in sorted(folder.glob("*.ipynb")) if folder.is_dir() else []:
        for cell in nbformat.read(path, as_version=4).cells:
            if utils.is_grade(cell):
                found[path.stem, cell.metadata.nbgrader["grade_id"]] = utils.compute_checksum(cell)
    return found


def merge(course: Course, assignment: str, result: Result) -> None:
    """Write one graded student's result: the gradebook (one transaction) and
    ``autograded/<student>/<assignment>/``."""
    student = result.outcome.student
    folder = course.root / "autograded" / student / assignment
    before = cell_checksums(folder)
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    for name, data in result.files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
    after = cell_checksums(folder)

    timestamp = datetime.datetime.fromisoformat(result.timestamp) if result.timestamp else None
    with open_gradebook(course) as gradebook, warnings.catch_warnings():
        # nbgrader's update_or_create_submission trips SQLAlchemy's autoflush warning; harmless.
        warnings.simplefilter("ignore", SAWarning)
        gradebook.update_or_create_student(student)
        gradebook.update_or_create_submission(assignment, student, timestamp=timestamp)
        for notebook, penalty in result.late_penalties.items():
            gradebook.find_submission_notebook(notebook, assignment, student).late_submission_penalty = penalty
        for (notebook, name), score in result.grades.items():
            grade = gradebook.find_grade(name, notebook, assignment, student)
            reviewed = grade.manual_score is not None and not grade.needs_manual_grade
            unchanged = before.get((notebook, name)) == after.get((notebook, name)) and grade.auto_score == score
            grade.auto_score = score
            grade.needs_manual_grade = (score is None or grade.manual_score is not None) and not (reviewed and unchanged)
        for (notebook, name), text in result.comments.items():
            gradebook.find_comment(name, notebook, assignment, student).auto_comment = text
        gradebook.db.commit()


def forget(course: Course, assignment: str, student: str) -> None:
    """Remove a student's earlier grades of `assignment` (their new file cannot be graded)."""
    shutil.rmtree(course.root / "autograded" / student / assignment, ignore_errors=True)
    with open_gradebook(course) as gradebook:
        try:
            gradebook.remove_submission(assignment, student)
        except MissingEntry:
            pass
