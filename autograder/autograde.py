"""One submission, autograded: the task a grading worker runs.

A task carries everything it needs as data (the student's files, a gradebook
that already holds the assignment, the course's settings), so it runs the same
on this machine and on a Dask worker elsewhere, which needs only the course
environment, bubblewrap and the course's ``release/`` and ``source/``
folders, read-only, at the same path. It grades in a private scratch course
with nbgrader (``nbgrader_config.py``'s repair and sandbox included) against
its own throw-away gradebook, and returns the result as data: the scores, the
graded files, and the outcome with its own log. It never writes the course's
gradebook or folders; the coordinator does (``gradebook.merge``).
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from autograder.course import Course
from autograder.repair import parse_notebook
from autograder.sandbox import METADATA_KEY

GRADEBOOK = "gradebook.db"


@dataclass
class Outcome:
    """What happened to one student's submission of an assignment.

    status: "graded"; "not graded" (no readable notebook: nothing ran); or
    "failed" (nbgrader could not finish). `message` says why, for the
    instructor and the student; `notes` lists what the grader did on the way
    (repairs, a restarted kernel, the time limit)."""

    student: str
    status: str
    seconds: float = 0.0
    message: str = ""
    repairs: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass
class Task:
    course_root: str
    assignment: str
    student: str
    files: dict[str, bytes]  # the submission folder's files, by relative path
    config: dict = field(default_factory=dict)  # overrides of nbgrader_config.py, e.g. {"SandboxedExecute": {"sandbox": False}}


@dataclass
class Result:
    outcome: Outcome
    log: str = ""
    timestamp: str | None = None  # when the student submitted (timestamp.txt), ISO 8601
    late_penalties: dict[str, float] = field(default_factory=dict)  # notebook -> points
    grades: dict[tuple[str, str], float | None] = field(default_factory=dict)  # (notebook, grade cell) -> auto score
    comments: dict[tuple[str, str], str | None] = field(default_factory=dict)  # (notebook, cell) -> auto comment
    files: dict[str, bytes] = field(default_factory=dict)  # the autograded folder, by relative path


def unreadable(task: Task) -> str:
    """Why no notebook of the submission can be graded ("" when they can)."""
    notebooks = [name for name in task.files if name.endswith(".ipynb")]
    if not notebooks:
        return "no notebook in the submission"
    problems = []
    for name in notebooks:
        try:
            parse_notebook(task.files[name])
        except ValueError as error:
            problems.append(f"{name}: {error}")
    return "; ".join(problems) if len(problems) == len(notebooks) else ""


def course_config(task: Task, scratch: Path):
    """nbgrader_config.py of the course, pointed at the private scratch course."""
    from traitlets.config import Config

    from autograder import settings

    root = Path(task.course_root)
    config = settings.load(root, db_url=f"sqlite:///{scratch / GRADEBOOK}",
                           release_directory=str(root / "release"), source_directory=str(root / "source"))
    config.merge(Config({"CourseDirectory": {"root": str(scratch)}}))
    config.merge(Config(task.config))
    return config


def error_summary(error: str) -> str:
    """The last line of a traceback: what went wrong, without the machinery."""
    lines = [line for line in (error or "").strip().splitlines() if line.strip()]
    return lines[-1].strip() if lines else "nbgrader stopped without saying why"


def execution_notes(nb) -> list[str]:
    notes = []
    for event in nb.metadata.get(METADATA_KEY, {}).get("execution", []):
        where = event.get("grade_id") or f"cell {event['cell'] + 1}"
        notes.append(f"{event['event']} in {where}")
    return notes


def grade_submission(task: Task, gradebook: bytes) -> Result:
    """Autograde one submission in a private scratch course, against a copy of
    `gradebook` (SQLite, holding the assignment); never raises for anything the
    student's notebook does."""
    clock = time.monotonic()
    Course.activate()
    reason = unreadable(task)
    if reason:
        return Result(Outcome(task.student, "not graded", message=reason))

    import warnings

    import nbformat
    from nbgrader.api import Gradebook
    from sqlalchemy.exc import SAWarning
    from nbgrader.apps import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory

    with tempfile.TemporaryDirectory(prefix="autograde-") as folder:
        scratch = Path(folder)
        (scratch / GRADEBOOK).write_bytes(gradebook)
        submitted = scratch / "submitted" / task.student / task.assignment
        for name, data in task.files.items():
            (submitted / name).parent.mkdir(parents=True, exist_ok=True)
            (submitted / name).write_bytes(data)
        config = course_config(task, scratch)
        # nbgrader's own session use warns; it says nothing about the submission.
        warnings.filterwarnings("ignore", category=SAWarning)
        coursedir = CourseDirectory(config=config)
        api = NbGraderAPI(coursedir, config=config)
        answer = api.autograde(task.assignment, task.student)
        seconds = time.monotonic() - clock
        if not answer["success"]:
            outcome = Outcome(task.student, "failed", seconds, error_summary(answer.get("error", "")))
            return Result(outcome, log=answer.get("log", "") + answer.get("error", ""))

        graded = scratch / "autograded" / task.student / task.assignment
        result = Result(Outcome(task.student, "graded", seconds), log=answer.get("log", ""))
        result.files = {p.relative_to(graded).as_posix(): p.read_bytes() for p in sorted(graded.rglob("*")) if p.is_file()}
        for name in sorted(n for n in result.files if n.endswith(".ipynb")):
            nb = nbformat.reads(result.files[name].decode("utf-8"), as_version=4)
            result.outcome.repairs += nb.metadata.get(METADATA_KEY, {}).get("repairs", [])
            result.outcome.notes += execution_notes(nb)
        result.outcome.message = "; ".join(result.outcome.notes)
        with Gradebook(f"sqlite:///{scratch / GRADEBOOK}", coursedir.course_id) as gradebook:
            submission = gradebook.find_submission(task.assignment, task.student)
            result.timestamp = submission.timestamp.isoformat() if submission.timestamp else None
            for notebook in submission.notebooks:
                result.late_penalties[notebook.name] = notebook.late_submission_penalty or 0.0
                for grade in notebook.grades:
                    result.grades[notebook.name, grade.name] = grade.auto_score
                for comment in notebook.comments:
                    result.comments[notebook.name, comment.name] = comment.auto_comment
        return result
