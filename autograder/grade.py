"""Grading a class: one task per submission, run on Dask, results merged here.

Each submission is an independent task (``autograde.grade_submission``) run
by a Dask worker: a local cluster on this machine by default (a worker per
core, no dashboard), or an existing cluster when given a scheduler address.
A task returns its student's outcome, scores and graded files as data; only
this coordinator writes the course gradebook and folders
(``gradebook.merge``), as the results arrive. A task is retried once if its
worker is lost, never because of what the student's notebook did: that is
the student's outcome.
"""

from __future__ import annotations

import logging
import os
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field

from tqdm import tqdm

from autograder import gradebook
from autograder.autograde import Outcome, Result, Task, grade_submission
from autograder.course import Course

LOGS = "grading_logs"  # per student and assignment: what nbgrader said while grading


@dataclass
class GradeOptions:
    """How to run the tasks; the limits themselves are nbgrader_config.py's."""

    jobs: int = os.cpu_count() or 1  # workers of the local cluster
    scheduler: str | None = None  # "tcp://host:port" of an existing Dask scheduler
    # Overrides of nbgrader_config.py for this run. Workers fork each kernel from one
    # that has imported the course's libraries (see forkserver), unless told otherwise.
    config: dict = field(default_factory=lambda: {"SandboxedExecute": {"fork_server": True}})
    progress: bool = True


def students(course: Course, assignment: str) -> list[str]:
    submitted = course.root / "submitted"
    return sorted(p.name for p in submitted.iterdir() if (p / assignment).is_dir()) if submitted.is_dir() else []


def submission_files(course: Course, assignment: str, student: str) -> dict[str, bytes]:
    folder = course.root / "submitted" / student / assignment
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@contextmanager
def dask_client(options: GradeOptions):
    """A Dask client: of the scheduler in `options`, or of a local cluster."""
    import dask
    from distributed import Client, LocalCluster

    if options.scheduler:
        with Client(options.scheduler) as client:
            yield client
        return
    # One thread per worker: a worker grades one notebook at a time, its kernel using one core.
    with dask.config.set({"distributed.scheduler.allowed-failures": 1, "distributed.worker.daemon": False}):
        with LocalCluster(n_workers=max(1, options.jobs), threads_per_worker=1, processes=True,
                          dashboard_address=None, silence_logs=logging.ERROR) as cluster, Client(cluster) as client:
            yield client


def save_log(course: Course, assignment: str, result: Result) -> None:
    path = course.root / LOGS / assignment / f"{result.outcome.student}.log"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(result.log)


def grade(course: Course, assignment: str, only: list[str] | None = None, options: GradeOptions | None = None) -> list[Outcome]:
    """Autograde the submissions of `assignment` (all, or the students in `only`);
    one Outcome per student, in student order."""
    from distributed import as_completed

    options = options or GradeOptions()
    template = gradebook.template(course, assignment)
    outcomes: dict[str, Outcome] = {}
    with dask_client(options) as client:
        shared = client.scatter(template, broadcast=True)  # sent once per worker, not per task
        futures = [
            client.submit(
                grade_submission,
                Task(str(course.root), assignment, student, submission_files(course, assignment, student), options.config),
                shared, key=f"grade-{assignment}-{student}-{uuid.uuid4().hex[:8]}", retries=1, pure=False,
            )
            for student in (only or students(course, assignment))
        ]
        bar = tqdm(total=len(futures), desc=f"grading {assignment}", unit="submission", disable=not options.progress)
        for future in as_completed(futures):
            result: Result = future.result()
            student = result.outcome.student
            if result.outcome.status == "graded":
                gradebook.merge(course, assignment, result)
            else:
                gradebook.forget(course, assignment, student)
            save_log(course, assignment, result)
            outcomes[student] = result.outcome
            bar.update()
        bar.close()
    return [outcomes[s] for s in sorted(outcomes)]
