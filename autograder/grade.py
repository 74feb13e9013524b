"""Autograding a class: every submission of an assignment, several at a time.

Students are graded in batches, each batch by one ``nbgrader autograde``
process on the repaired copies (see ``repair``), with the notebook's kernel
in the sandbox (see ``sandbox``), a per-cell time limit (nbgrader's) and a per-submission
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


def autograde_command(course: Course, assignment: str, others: list[str], options: GradeOptions, ipc: str) -> list[str]:
    """nbgrader autograde for every repaired submission except those of `others`."""
    command = [
        sys.executable, "-m", "nbgrader", "autograde", assignment, "--force",
        f"--CourseDirectory.student_id_exclude={','.join(others)}",
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


def batches(students: list[str], jobs: int) -> list[list[str]]:
    """Students split for the workers: a few per nbgrader process, since each
    process spends seconds starting up, but twice as many batches as workers
    so that a slow batch does not leave a core idle."""
    count = min(len(students), 2 * max(1, jobs))
    return [students[i::count] for i in range(count)]


def autograde_batch(course: Course, assignment: str, batch: list[str], options: GradeOptions, env: dict) -> list[Outcome]:
    started, clock = time.time(), time.monotonic()
    everyone = [p.name for p in (course.root / repair.REPAIRED_FOLDER).iterdir() if p.is_dir()]
    others = sorted(set(everyone) - set(batch))
    with tempfile.TemporaryDirectory(prefix="grader-ipc-") as ipc:
        try:
            result = subprocess.run(
                autograde_command(course, assignment, others, options, ipc),
                cwd=course.root, env=env, capture_output=True, text=True,
                timeout=options.submission_timeout * len(batch), start_new_session=True,
            )
            log, timed_out = result.stdout + result.stderr, False
        except subprocess.TimeoutExpired as expired:
            log, timed_out = str(expired.stdout or "") + str(expired.stderr or ""), True
    seconds = (time.monotonic() - clock) / len(batch)
    outcomes = []
    for student in batch:
        graded = course.root / "autograded" / student / assignment
        done = any(p.stat().st_mtime >= started for p in graded.glob("*.ipynb"))
        # nbgrader logs a cell's timeout as an ERROR yet grades the notebook; a
        # notebook it could not grade is announced by this sentence.
        failure = f"There was an error processing assignment '{assignment}' for student '{student}'"
        if failure in log:
            errors = [line for line in log.splitlines() if "Error" in line or "ERROR" in line]
            outcomes.append(Outcome(student, "failed", seconds, "; ".join(errors[-3:])))
        elif timed_out and not done:
            outcomes.append(Outcome(student, "timed out", seconds,
                                    f"grading took longer than {options.submission_timeout} s and was stopped"))
        elif not done:
            outcomes.append(Outcome(student, "failed", seconds, f"nbgrader exited with {result.returncode}"))
        else:
            outcomes.append(Outcome(student, "graded", seconds))
    return outcomes


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
            futures = [pool.submit(autograde_batch, course, assignment, b, options, env) for b in batches(to_grade, options.jobs)]
            bar = tqdm(total=len(to_grade), desc=f"grading {assignment}", unit="submission", disable=not options.progress)
            for future in as_completed(futures):
                for outcome in future.result():
                    outcome.repairs = outcomes[outcome.student].repairs
                    outcomes[outcome.student] = outcome
                    bar.update()
            bar.close()
    return [outcomes[s] for s in sorted(outcomes)]
