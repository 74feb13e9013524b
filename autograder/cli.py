"""The ``python -m autograder`` command line.

Exit codes: 0 success, 1 the work ran but something failed (a grade, a
check), 2 bad usage or a course problem the message explains.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

from autograder import grade, release, report, samples
from autograder.course import Course, CourseError

DEMO_STUDENTS = {"alice": 1.0, "bob": 0.5, "carol": 0.0}

DESCRIPTION = """\
Instructor tooling for the quantization course (an nbgrader course whose
folder is this repository).

typical session:
  python -m autograder release     # regenerate release/ after editing source/
  python -m autograder demo        # the whole pipeline on sample submissions
"""


def cmd_release(course: Course, args: argparse.Namespace) -> int:
    for path in release.release(course, args.assignment or None):
        print(f"wrote {path.relative_to(course.root)}")
    return 0


def cmd_demo(course: Course, args: argparse.Namespace) -> int:
    """Release, then grade sample submissions in a scratch copy of the course."""
    with tempfile.TemporaryDirectory(prefix="course-demo-") as scratch:
        demo = Course(Path(scratch))
        for name in ("nbgrader_config.py", "pyproject.toml"):
            shutil.copy2(course.root / name, demo.root / name)
        shutil.copytree(course.source, demo.source)
        assignments = args.assignment or demo.assignments()
        print(f"Generating student versions of {', '.join(assignments)} ...")
        release.release(demo, assignments)
        rows = []
        for assignment in assignments:
            for student, fraction in DEMO_STUDENTS.items():
                samples.write_submission(demo.root, student, assignment, fraction)
            print(f"Autograding {len(DEMO_STUDENTS)} sample submissions of {assignment} ...")
            grade.autograde(demo, assignment)
            rows += report.scores(demo, assignment)
    print()
    print("Samples: alice = full solution, bob = first half solved, carol = untouched release.")
    print(report.format_table(rows))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m autograder",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--course-dir", type=Path, help="the course folder (default: found from the current folder)")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = commands.add_parser(
        "release",
        help="regenerate release/ (student versions) from source/",
        description="Regenerate the student notebooks in release/ from source/ with nbgrader's "
        "generate_assignment, add the Colab badge and setup cell. Deterministic: commit the result.",
    )
    p.add_argument("assignment", nargs="*", help="assignments to release (default: all in source/)")
    p.set_defaults(run=cmd_release)

    p = commands.add_parser(
        "demo",
        help="run the instructor pipeline on sample submissions and print the grade table",
        description="In a scratch copy of the course: generate the student versions, autograde "
        "sample submissions made from the solutions, print the grade table. Touches nothing here.",
    )
    p.add_argument("assignment", nargs="*", help="assignments to include (default: all)")
    p.set_defaults(run=cmd_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        course = Course.find(args.course_dir)
        return args.run(course, args)
    except CourseError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
