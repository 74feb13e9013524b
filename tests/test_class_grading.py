"""End to end, as an instructor: an LMS download of a whole class, with every
kind of trouble, goes through collect, grade (repair + sandbox), feedback
and export. Each student's exact score is asserted, nothing is lost, and the
sandboxed attacks fail."""

from __future__ import annotations

import csv
import hashlib
import json
import shutil
import zipfile
from pathlib import Path

import pytest

from autograder.cli import main
from autograder.course import Course
from autograder.gradebook import open_gradebook
from class_builder import ASSIGNMENT, EXPECTED, FULL, Listener, build_download

ROOT = Path(__file__).resolve().parent.parent

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap is needed for the sandbox (see .ci/run)"),
]


def digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


@pytest.fixture(scope="module")
def graded_class(tmp_path_factory):
    root = tmp_path_factory.mktemp("class")
    Course(ROOT).copy_to(root, [ASSIGNMENT])
    shutil.copytree(ROOT / "release" / ASSIGNMENT, root / "release" / ASSIGNMENT)
    listener = Listener()
    marker = root / "pwned.txt"
    download = tmp_path_factory.mktemp("lms") / "export"
    files = build_download(root, download, listener.port, marker)
    archive = download.parent / "lms_download.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for path in sorted(download.iterdir()):
            z.write(path, path.name)
    before = hashlib.sha256(archive.read_bytes()).hexdigest()

    codes = {
        "collect": main(["--course-dir", str(root), "collect", str(archive)]),
        "grade": main(["--course-dir", str(root), "grade", ASSIGNMENT, "--jobs", "2", "--cell-timeout", "20", "--memory-gb", "4"]),
        "feedback": main(["--course-dir", str(root), "feedback", ASSIGNMENT]),
        "export": main(["--course-dir", str(root), "export", ASSIGNMENT]),
    }
    return {
        "root": root, "files": files, "codes": codes, "archive": archive, "archive_digest": before,
        "listener": listener, "marker": marker, "download": download,
    }


def grades(graded_class) -> dict[str, dict]:
    path = graded_class["root"] / "exports" / f"{ASSIGNMENT}_grades.csv"
    return {row["student"]: row for row in csv.DictReader(path.open())}


def test_commands_exit_codes(graded_class):
    # collect places every notebook (README.txt is listed, not placed: exit 1);
    # grade reports the unreadable file (exit 1); feedback and export succeed.
    assert graded_class["codes"] == {"collect": 1, "grade": 1, "feedback": 0, "export": 0}


def test_every_student_gets_the_exact_expected_score(graded_class):
    rows = grades(graded_class)
    got = {s: (float(rows[s]["total"]) if rows[s]["status"] == "graded" else None) for s in EXPECTED}
    assert got == EXPECTED


def test_nothing_is_lost(graded_class):
    root = graded_class["root"]
    log = json.loads((root / "downloaded" / "collect_log.json").read_text())
    by_name = {Path(e["original"]).name: e for e in log}
    assert by_name["README.txt"]["status"] == "not placed"
    for student, name in graded_class["files"].items():
        entry = by_name[name]
        assert (entry["status"], entry["student"]) == ("placed", student)
        placed = root / entry["destination"]
        assert placed.read_bytes() == (graded_class["download"] / name).read_bytes(), "collect must copy unchanged"
    assert hashlib.sha256(graded_class["archive"].read_bytes()).hexdigest() == graded_class["archive_digest"]


def test_unreadable_submission_is_reported_not_silently_zero(graded_class):
    row = grades(graded_class)["garbage"]
    assert row["status"] == "not graded" and "not valid notebook JSON" in row["note"]
    page = graded_class["root"] / "feedback" / "garbage" / ASSIGNMENT / "not_graded.html"
    assert "could not be graded" in page.read_text()


def test_repairs_are_recorded_and_shown_in_feedback(graded_class):
    rows = grades(graded_class)
    for student in ("stripped_2001", "retyped", "duplicated", "deleted"):
        assert int(rows[student]["repairs"]) > 0, student
    assert int(rows["full"]["repairs"]) == 0
    page = graded_class["root"] / "feedback" / "retyped" / ASSIGNMENT / "memory_math.html"
    assert "Grader&#39;s note" in page.read_text() or "Grader's note" in page.read_text()


def autograded_text(graded_class, student) -> str:
    path = graded_class["root"] / "autograded" / student / ASSIGNMENT / "memory_math.ipynb"
    return path.read_text()


def test_sandbox_blocks_the_network(graded_class):
    assert "NETWORK: blocked" in autograded_text(graded_class, "networked")
    assert graded_class["listener"].connections == 0


def test_sandbox_hides_source_gradebook_and_other_students(graded_class):
    text = autograded_text(graded_class, "snooping")
    assert "SNOOP: read nothing" in text
    assert not graded_class["marker"].exists()


def test_time_memory_and_output_limits_stop_runaway_cells(graded_class):
    assert "CellTimeoutError" in autograded_text(graded_class, "looping")
    assert "MemoryError" in autograded_text(graded_class, "hungry")
    flooded = autograded_text(graded_class, "flooding")
    assert "the grader kept only the first" in flooded and len(flooded) < 1_000_000


def test_feedback_zip_per_student_without_hidden_tests(graded_class):
    zips = graded_class["root"] / "feedback_zips" / ASSIGNMENT
    assert sorted(p.stem for p in zips.glob("*.zip")) == sorted(EXPECTED)
    with zipfile.ZipFile(zips / "full.zip") as z:
        page = z.read("memory_math.html").decode()
    assert "BEGIN HIDDEN TESTS" not in page and "_reference_count" not in page


def test_class_report_has_plots_and_failing_checks(graded_class):
    page = (graded_class["root"] / "exports" / f"{ASSIGNMENT}_report.html").read_text()
    assert page.count("data:image/png;base64,") == 2
    assert "test_effective_bits_per_weight" in page  # failed by several students


def test_regrading_is_idempotent_and_keeps_finished_hand_grading(graded_class):
    root = graded_class["root"]
    with open_gradebook(Course(root)) as gradebook:  # a teaching assistant grades full's written answer
        grade = gradebook.find_grade("formula_leaves_out", "memory_math", ASSIGNMENT, "full")
        grade.manual_score, grade.needs_manual_grade = 2.0, False
        gradebook.db.commit()
    assert main(["--course-dir", str(root), "export", ASSIGNMENT]) == 0
    before = grades(graded_class)
    assert (before["full"]["total"], before["full"]["needs_manual_grade"]) == (str(FULL + 2.0), "False")
    assert main(["--course-dir", str(root), "grade", ASSIGNMENT, "--student", "partial", "--student", "full"]) == 0
    assert main(["--course-dir", str(root), "export", ASSIGNMENT]) == 0
    after = grades(graded_class)
    assert after == before, "re-grading two students changes nothing, for them or anyone else"
