"""Autograding a class: every submission of an assignment, several at a time.

For each student, ``nbgrader autograde`` runs on the repaired copy (see
``repair``) in its own process, with the notebook's kernel in the sandbox
(see ``sandbox``), a per-cell time limit (nbgrader's) and a per-submission
time limit (here). A submission that fails, hangs or crashes is reported and
never stops the batch. Re-running regrades from the submissions, so it is
idempotent.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from autograder import repair
from autograder.course import Course
from autograder.sandbox import KERNEL_NAME, Limits, install_kernelspec

DATABASE_WAIT_SECONDS = 120  # parallel graders take turns writing the gradebook


@dataclass
class Outcome:
    student: str
    status: str  # "graded", "not graded", "timed out", "failed"
    seconds: float = 0.0
    message: str = ""
    repairs: list[str] = field(default_factory=list)


@dataclass
class GradeOptions:
    jobs: int = os.cpu_count() or 1
    cell_timeout: int = 300
    submission_timeout: int = 1200
    sandbox: bool = True
    limits: Limits = field(default_factory=Limits)
    progress: bool = True


def register_assignment(course: Course, assignment: str) -> None:
    """Put the assignment's cells into the gradebook without touching release/."""
    with tempfile.TemporaryDirectory() as scratch:
        course.nbgrader(
            "generate_assignment", assignment, "--force", f"--CourseDirectory.release_directory={scratch}"
        )


def autograde_command(course: Course, assignment: str, student: str, options: GradeOptions, ipc: str) -> list[str]:
    command = [
        sys.executable, "-m", "nbgrader", "autograde", assignment,
        "--student", student, "--force",
        f"--CourseDirectory.submitted_directory={repair.REPAIRED_FOLDER}",
        f"--CourseDirectory.db_url={course.gradebook_url}?timeout={DATABASE_WAIT_SECONDS}",
        f"--Execute.timeout={options.cell_timeout}",
    ]
    if options.sandbox:
        command += [
            f"--Execute.kernel_name={KERNEL_NAME}",
            "--KernelManager.transport=ipc",
            f"--KernelManager.ip={ipc}/kernel",
        ]
    return command


def autograde_one(course: Course, assignment: str, student: str, options: GradeOptions, env: dict) -> Outcome:
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="grader-ipc-") as ipc:
        try:
            result = subprocess.run(
                autograde_command(course, assignment, student, options, ipc),
                cwd=course.root, env=env, capture_output=True, text=True,
                timeout=options.submission_timeout, start_new_session=True,
            )
        except subprocess.TimeoutExpired:
            return Outcome(student, "timed out", time.monotonic() - started,
                           f"grading took longer than {options.submission_timeout} s and was stopped")
    seconds = time.monotonic() - started
    log = result.stdout + result.stderr
    # nbgrader logs a cell's timeout as an ERROR yet grades the notebook; a
    # notebook it could not grade is announced by this sentence.
    if result.returncode != 0 or "There was an error processing assignment" in log:
        errors = [line for line in log.splitlines() if "ERROR" in line or "Error" in line]
        return Outcome(student, "failed", seconds, "; ".join(errors[-3:]) or f"nbgrader exited with {result.returncode}")
    return Outcome(student, "graded", seconds)


def grade(course: Course, assignment: str, students: list[str] | None = None, options: GradeOptions | None = None) -> list[Outcome]:
    """Repair and autograde the submissions of `assignment`; one Outcome per student."""
    options = options or GradeOptions()
    register_assignment(course, assignment)
    outcomes: dict[str, Outcome] = {}
    to_grade = []
    for student in students or repair.students(course.root, assignment):
        results = repair.repair_submission(course.root, assignment, student)
        notes = [n for r in results for n in r.notes]
        unreadable = [r.error for r in results if not r.readable]
        if unreadable:
            outcomes[student] = Outcome(student, "not graded", message="; ".join(unreadable), repairs=notes)
        else:
            outcomes[student] = Outcome(student, "pending", repairs=notes)
            to_grade.append(student)

    env = course.environment()
    with tempfile.TemporaryDirectory(prefix="grader-kernels-") as kernels:
        if options.sandbox:
            env.update(install_kernelspec(Path(kernels), options.limits))
        with ThreadPoolExecutor(max_workers=max(1, options.jobs)) as pool:
            futures = {pool.submit(autograde_one, course, assignment, s, options, env): s for s in to_grade}
            bar = tqdm(total=len(futures), desc=f"grading {assignment}", unit="submission", disable=not options.progress)
            for future in as_completed(futures):
                outcome = future.result()
                outcome.repairs = outcomes[outcome.student].repairs
                outcomes[outcome.student] = outcome
                bar.update()
            bar.close()
    return [outcomes[s] for s in sorted(outcomes)]


def autograde(course: Course, assignment: str) -> None:
    """Plain nbgrader autograde of every submission, in one process (the demo)."""
    course.nbgrader("autograde", assignment, "--force")
