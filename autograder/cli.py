"""The ``python -m autograder`` command line.

Exit codes: 0 success; 1 the work ran but something needs attention (a
submission not graded, a file not placed); 2 bad usage or a course problem
that the message explains.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import unicodedata
from collections import Counter
from pathlib import Path

from autograder import feedback, grade, intake, release, report, samples, sandbox, settings
from autograder.course import Course, CourseError
from autograder.autograde import Outcome
from autograder.sandbox import SandboxedExecute

DEMO_STUDENTS = {"alice": 1.0, "bob": 0.5, "carol": 0.0}

DESCRIPTION = """\
Instructor tooling for the quantization course. The course folder is this
repository (an nbgrader course directory); run commands from inside it.

a grading session, step by step:
  python -m autograder release                         # after editing source/: regenerate release/
  python -m autograder collect lms.zip                 # LMS download -> submitted/<student>/...
  python -m autograder grade 01_memory_math            # repair + sandboxed autograde, all cores
  nbgrader formgrader  (or JupyterLab > Formgrader)    # hand-grade the written answers
  python -m autograder feedback 01_memory_math         # feedback pages and one zip per student
  python -m autograder export 01_memory_math           # grades CSV + class report (HTML)

try it on sample submissions first (touches nothing here):
  python -m autograder demo
"""


def cmd_release(course: Course, args: argparse.Namespace) -> int:
    for path in release.release(course, args.assignment or None):
        print(f"wrote {path.relative_to(course.root)}")
    return 0


def columns(text: str) -> int:
    """Terminal columns `text` takes: CJK characters take two."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def cmd_collect(course: Course, args: argparse.Namespace) -> int:
    try:
        log = intake.Collector(course.root, course.settings().collect_patterns).collect(args.download)
    except ValueError as error:
        raise CourseError(str(error)) from None
    # Students found, alphabetically (each with its superseded files), then the files of no one.
    rows = [(e.student or "-", e.assignment or "-", e.status, e.file + (f"  ({e.reason})" if e.reason else ""))
            for e in sorted(log, key=lambda e: (not e.student, e.student, e.file))]
    header = ("student", "assignment", "status", "file")
    widths = [max(columns(row[i]) for row in (header, *rows)) for i in range(3)]
    for row in (header, *rows):
        print("".join(cell + " " * (width + 2 - columns(cell)) for cell, width in zip(row, widths)) + row[3])
    counts = Counter(e.status for e in log)
    students = {e.student for e in log if e.status == "placed"}
    others = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()) if status != "placed")
    print(f"\n{counts['placed']} notebook(s) of {len(students)} student(s) placed in submitted/"
          f"{'; ' + others if others else ''}. The download is unchanged; log: downloaded/collect_log.json")
    return 1 if counts["not placed"] or counts["conflict"] else 0


def grade_options(args: argparse.Namespace) -> grade.GradeOptions:
    """The run's options; a limit given on the command line overrides nbgrader_config.py for this run only."""
    overrides = {
        "Execute": {"timeout": args.cell_timeout},
        "SandboxedExecute": {"memory_gb": args.memory_gb, "sandbox": False if args.no_sandbox else None},
    }
    config = grade.GradeOptions().config
    for section, values in overrides.items():
        config.setdefault(section, {}).update({k: v for k, v in values.items() if v is not None})
    return grade.GradeOptions(jobs=args.jobs, scheduler=args.scheduler, config=config)


def cmd_grade(course: Course, args: argparse.Namespace) -> int:
    options = grade_options(args)
    if options.config.get("SandboxedExecute", {}).get("sandbox", settings.value(course, SandboxedExecute, "sandbox")):
        sandbox.bubblewrap()  # fails early, saying how to install it
    outcomes = grade.grade(course, args.assignment, args.student or None, options)
    report.save_outcomes(course, args.assignment, outcomes)
    print(report.format_table(report.scores(course, args.assignment), {o.student: o.__dict__ for o in outcomes}))
    bad = [o for o in outcomes if o.status != "graded"]
    print(f"\n{len(outcomes) - len(bad)} graded, {len(bad)} not graded. Logs: {grade.LOGS}/{args.assignment}/<student>.log")
    return 1 if bad else 0


def cmd_settings(course: Course, args: argparse.Namespace) -> int:
    print(settings.describe(course))
    return 0


def cmd_feedback(course: Course, args: argparse.Namespace) -> int:
    outcomes = [Outcome(**o) for o in report.load_outcomes(course, args.assignment).values()]
    results = feedback.generate(course, args.assignment, outcomes)
    width = max(columns(r.student) for r in results)
    for r in results:
        print(f"{r.student}{' ' * (width + 2 - columns(r.student))}{r.status:<14}{r.message}".rstrip())
    unrendered = [r.student for r in results if r.status == "not rendered"]
    print(f"\nfeedback for {len(results)} student(s): feedback/<student>/{args.assignment}/ and "
          f"{feedback.FEEDBACK_ZIPS}/{args.assignment}/<student>.zip")
    if unrendered:
        print(f"{len(unrendered)} graded notebook(s) could not be rendered ({', '.join(unrendered)}): "
              "those students got a page with the reason; fix the notebook in autograded/ and run feedback again.")
    if args.release:
        course.nbgrader("release_feedback", args.assignment)
        print("released to the JupyterHub exchange")
    return 1 if unrendered else 0


def cmd_export(course: Course, args: argparse.Namespace) -> int:
    csv_path, html_path = report.export(course, args.assignment)
    print(f"wrote {csv_path.relative_to(course.root)} and {html_path.relative_to(course.root)}")
    return 0


def cmd_demo(course: Course, args: argparse.Namespace) -> int:
    """Release, then grade sample submissions in a scratch copy of the course."""
    sandboxed = sandbox.available()
    if not sandboxed:
        print("note: bubblewrap is not installed; the demo grades its own samples without the sandbox.")
    with tempfile.TemporaryDirectory(prefix="course-demo-") as scratch:
        demo = course.copy_to(Path(scratch))
        assignments = args.assignment or demo.assignments()
        print(f"Generating student versions of {', '.join(assignments)} ...")
        release.release(demo, assignments)
        tables = []
        for assignment in assignments:
            for student, fraction in DEMO_STUDENTS.items():
                samples.write_submission(demo.root, student, assignment, fraction)
            options = grade.GradeOptions()
            options.config["SandboxedExecute"]["sandbox"] = sandboxed
            outcomes = grade.grade(demo, assignment, options=options)
            tables.append(report.format_table(report.scores(demo, assignment), {o.student: o.__dict__ for o in outcomes}))
    print("\nSamples: alice = full solution, bob = first half solved, carol = untouched release.")
    print("\n\n".join(tables))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m autograder", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--course-dir", type=Path, help="the course folder (default: found from the current folder)")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, run, help: str, description: str) -> argparse.ArgumentParser:
        p = commands.add_parser(name, help=help, description=description)
        p.set_defaults(run=run)
        return p

    p = command("release", cmd_release, "regenerate release/ (student versions) from source/",
                "Regenerate the student notebooks in release/ from source/ with nbgrader's generate_assignment "
                "and add the Colab badge and setup cell. Deterministic: commit the result.")
    p.add_argument("assignment", nargs="*", help="assignments to release (default: all in source/)")

    p = command("collect", cmd_collect, "place an LMS download into submitted/",
                "Copy each notebook of an LMS download (folder, zip or tar; zip, tar and gzip files inside are "
                "opened too) to submitted/<student>/<assignment>/. A file is a notebook by its content, whatever "
                "its extension; 'Copy of', '(1)' and '-1' renames are undone. The student is found by the naming "
                "rules in pyproject.toml [tool.quantization-course.collect] student_patterns, then the built-in "
                "Blackboard, Canvas and Moodle rules (the LMS's id for the person is part of the student id), "
                "else what remains of the file name without the notebook's name, else the top folder. When a "
                "student has several files for a notebook the latest wins (the LMS's attempt time in the name, "
                "else the date stored in the download). Prints a table of every file; receipts and system files "
                "are ignored. Exit code 1 when a file was not placed or two spellings became one student id. "
                "The download is never modified.")
    p.add_argument("download", type=Path, help="the zip file or folder downloaded from the LMS")

    p = command("grade", cmd_grade, "autograde all submissions: repaired, sandboxed, in parallel",
                "Autograde every submission of ASSIGNMENT with nbgrader, one task per submission on a Dask "
                "cluster (a local one with a worker per core, or --scheduler). Each submission is repaired "
                "(lost metadata, retyped, duplicated or deleted cells) and runs in a bubblewrap sandbox: no "
                "network, no access to source/, the gradebook or other students' files, limits on time, memory "
                "and output. The limits are nbgrader_config.py's (see `python -m autograder settings`); the "
                "options below override them for this run. Exit code 1 if any submission could not be graded.")
    p.add_argument("assignment")
    p.add_argument("--student", action="append", help="grade only this student (repeatable)")
    p.add_argument("--jobs", "-j", type=int, default=os.cpu_count() or 1, help="workers of the local cluster (default: all cores)")
    p.add_argument("--scheduler", metavar="tcp://HOST:PORT", help="grade on an existing Dask cluster instead of a local one")
    p.add_argument("--cell-timeout", type=int, help="seconds one cell may run (default: Execute.timeout in nbgrader_config.py)")
    p.add_argument("--memory-gb", type=float, help="memory per notebook (default: SandboxedExecute.memory_gb in nbgrader_config.py)")
    p.add_argument("--no-sandbox", action="store_true", help="run student code without bubblewrap (trusted submissions only)")

    command("settings", cmd_settings, "the grading settings in nbgrader_config.py and what each does",
            "Print every setting an instructor may change in nbgrader_config.py (cell and notebook time limits, "
            "memory, output, the sandbox), its value there and its help.")

    p = command("feedback", cmd_feedback, "feedback pages without hidden tests, one zip per student",
                "Generate nbgrader feedback for every graded student, one student at a time, and pack one zip per "
                "student in feedback_zips/<assignment>/ for upload to an LMS. Hidden tests are removed; a failing "
                "check shows the frames of the student's own code and its message; the grader's notes (repairs, "
                "a restarted kernel) are at the top. Widget state that Colab saved incomplete is dropped from the "
                "graded notebook (and said). A student whose submission was not graded gets a page saying why. "
                "Prints a line per student. Exit code 1 when a graded notebook could not be rendered (that student "
                "gets a page with the reason, the others their feedback); 2 when nothing was graded yet.")
    p.add_argument("assignment")
    p.add_argument("--release", action="store_true", help="also run nbgrader release_feedback (JupyterHub exchange)")

    p = command("export", cmd_export, "grades CSV (one column per question) and a class report",
                "Write exports/<assignment>_grades.csv and exports/<assignment>_report.html.")
    p.add_argument("assignment")

    p = command("demo", cmd_demo, "run the pipeline on sample submissions and print the grade table",
                "In a scratch copy of the course: generate the student versions, grade sample submissions made "
                "from the solutions, print the grade table. Touches nothing here.")
    p.add_argument("assignment", nargs="*", help="assignments to include (default: all)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        course = Course.find(args.course_dir)
        return args.run(course, args)
    except CourseError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
