"""Grading speed, three ways, on the same class (module 1 and module 4 by default):

1. plain sequential ``nbgrader autograde`` (nbgrader's own preprocessors: no
   repair, no sandbox), as a course without this tooling would grade;
2. ``python -m autograder grade`` (repair, sandbox, a Dask worker per core,
   kernels forked from a pre-imported one);
3. bare execution of the same notebooks with nbclient, one process per core,
   nothing else (no grading, no gradebook).

    python tests/benchmarks/grading.py [--students 8] [--assignments 01_memory_math 04_gpu_lab_4bit]

Prints the three wall times per assignment and the ratios. Each way uses its
own scratch copy of the course, so none benefits from another's work.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from autograder import release, samples  # noqa: E402
from autograder.course import Course  # noqa: E402

ASSIGNMENT_FOR_OVERHEAD = "01_memory_math"
PLAIN_CONFIG = """c = get_config()
c.CourseDirectory.course_id = "quantization-course"
c.Execute.timeout = 300
"""


def make_class(folder: Path, assignment: str, students: int) -> Course:
    course = Course(ROOT).copy_to(folder, [assignment])
    release.release(course, [assignment])
    for i in range(students):
        samples.write_submission(folder, f"student{i:03d}", assignment, fraction=(i % 4) / 3)
    return course


def timed(command: list[str], course: Course) -> float:
    started = time.perf_counter()
    subprocess.run(command, cwd=course.root, env=course.environment(), check=True, capture_output=True)
    return time.perf_counter() - started


def execute(path: str) -> None:
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=300, allow_errors=True, kernel_name="python3",
                   resources={"metadata": {"path": str(Path(path).parent)}}).execute()


def bare(course: Course, jobs: int) -> float:
    notebooks = [str(p) for p in sorted((course.root / "submitted").glob("*/*/*.ipynb"))]
    os.environ.update(course.environment())
    started = time.perf_counter()
    with ProcessPoolExecutor(jobs) as pool:
        list(pool.map(execute, notebooks))
    return time.perf_counter() - started


def echo(files: dict[str, bytes]) -> dict[str, bytes]:
    return files


def task_overhead(course: Course, jobs: int, tasks: int = 40) -> float:
    """Seconds a grading task costs beyond its own work on the local cluster: scheduling
    plus sending a submission's files there and a graded notebook's worth back."""
    from autograder.grade import GradeOptions, dask_client, submission_files

    files = submission_files(course, ASSIGNMENT_FOR_OVERHEAD, "student000")
    with dask_client(GradeOptions(jobs=jobs)) as client:
        client.submit(echo, files, pure=False).result()  # workers warm
        started = time.perf_counter()
        for _ in range(tasks):  # one at a time: the round trip, not the throughput
            client.submit(echo, files, pure=False).result()
        return (time.perf_counter() - started) / tasks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--students", type=int, default=8)
    parser.add_argument("--assignments", nargs="+", default=["01_memory_math", "04_gpu_lab_4bit"])
    args = parser.parse_args()
    jobs = os.cpu_count() or 1
    print(f"machine: {jobs} cores; class: {args.students} submissions per assignment")
    for assignment in args.assignments:
        with tempfile.TemporaryDirectory() as a, tempfile.TemporaryDirectory() as b, tempfile.TemporaryDirectory() as c:
            plain = make_class(Path(a), assignment, args.students)
            (plain.root / "nbgrader_config.py").write_text(PLAIN_CONFIG)
            ours = make_class(Path(b), assignment, args.students)
            sequential = timed([sys.executable, "-m", "nbgrader", "autograde", assignment, "--force"], plain)
            graded = timed([sys.executable, "-m", "autograder", "grade", assignment, "--jobs", str(jobs)], ours)
            executed = bare(make_class(Path(c), assignment, args.students), jobs)
            overhead = task_overhead(ours, jobs) if assignment == ASSIGNMENT_FOR_OVERHEAD else None
        print(f"\n{assignment}:")
        print(f"  plain sequential nbgrader autograde: {sequential:7.1f} s  ({sequential / args.students:.1f} s per submission)")
        print(f"  autograder grade ({jobs} workers):       {graded:7.1f} s  ({graded / args.students:.1f} s per submission)")
        print(f"  bare execution ({jobs} processes):       {executed:7.1f} s  ({executed / args.students:.1f} s per submission)")
        print(f"  autograder grade vs plain nbgrader: {sequential / graded:.2f}x; vs bare execution: {executed / graded:.2f}x")
        if overhead is not None:
            print(f"  Dask task overhead (scheduling + transfer, per submission): {overhead * 1000:.1f} ms")


if __name__ == "__main__":
    main()
