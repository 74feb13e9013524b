"""Grading speed: plain sequential `nbgrader autograde` against
`python -m autograder grade` (repair + sandbox + all cores) on the same class.

    python tests/benchmarks/grading.py [--students 12]

Prints both wall times and their ratio. Each run uses its own scratch copy of
the course, so neither benefits from the other's work.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from autograder import release, samples  # noqa: E402
from autograder.course import Course  # noqa: E402

ASSIGNMENT = "01_memory_math"


def make_class(folder: Path, students: int) -> Course:
    course = Course(ROOT).copy_to(folder, [ASSIGNMENT])
    release.release(course, [ASSIGNMENT])
    for i in range(students):
        samples.write_submission(folder, f"student{i:03d}", ASSIGNMENT, fraction=(i % 4) / 3)
    return course


def timed(command: list[str], course: Course) -> float:
    started = time.perf_counter()
    subprocess.run(command, cwd=course.root, env=course.environment(), check=True, capture_output=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--students", type=int, default=12)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as a, tempfile.TemporaryDirectory() as b:
        plain, ours = make_class(Path(a), args.students), make_class(Path(b), args.students)
        sequential = timed([sys.executable, "-m", "nbgrader", "autograde", ASSIGNMENT, "--force"], plain)
        parallel = timed([sys.executable, "-m", "autograder", "grade", ASSIGNMENT], ours)
    print(f"machine: {os.cpu_count()} cores; class: {args.students} submissions of {ASSIGNMENT}")
    print(f"plain nbgrader autograde (sequential, no sandbox): {sequential:7.1f} s  ({sequential / args.students:.1f} s per submission)")
    print(f"autograder grade (repair, sandbox, {os.cpu_count()} jobs):   {parallel:7.1f} s  ({parallel / args.students:.1f} s per submission)")
    print(f"speed-up: {sequential / parallel:.2f}x")


if __name__ == "__main__":
    main()
