"""collect: who each file of an LMS download belongs to, what counts as a
notebook, which file wins, and what the instructor is told. Tiny courses in
tmp_path with the real release notebook; one slow test grades what collect
placed from Moodle and Blackboard downloads."""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import shutil
import tarfile
import unicodedata
import zipfile
from pathlib import Path

import nbformat
import pytest

from autograder import gradebook, intake
from autograder.cli import main
from autograder.course import Course
from class_builder import ASSIGNMENT, NOTEBOOK, autograded_points, solved

ROOT = Path(__file__).resolve().parent.parent
RELEASE = ROOT / "release" / ASSIGNMENT / NOTEBOOK
OTHER = ROOT / "release" / "02_ptq_vs_qat" / "ptq_vs_qat.ipynb"


@pytest.fixture
def course(tmp_path) -> Path:
    """A course folder that collect accepts: settings and two assignments' release notebooks."""
    root = tmp_path / "course"
    (root / "source").mkdir(parents=True)
    (root / "nbgrader_config.py").write_text("")
    (root / "pyproject.toml").write_text("[tool.quantization-course]\n")
    for release in (RELEASE, OTHER):
        (root / "release" / release.parent.name).mkdir(parents=True)
        shutil.copy2(release, root / "release" / release.parent.name / release.name)
    return root


def notebook(mark: str, release: Path = RELEASE) -> bytes:
    """The release notebook, told apart from others by `mark` in its metadata."""
    nb = json.loads(release.read_text(encoding="utf-8"))
    nb["metadata"]["mark"] = mark
    return json.dumps(nb).encode()


def write_zip(path: Path, files: dict[str, bytes], dates: dict[str, tuple] | None = None) -> Path:
    """A zip of `files` in the given order, with stored dates where `dates` has them."""
    with zipfile.ZipFile(path, "w") as z:
        for name, data in files.items():
            z.writestr(zipfile.ZipInfo(name, (dates or {}).get(name, (2026, 1, 1, 0, 0, 0))), data)
    return path


def write_folder(path: Path, files: dict[str, bytes]) -> Path:
    for name, data in files.items():
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        (path / name).write_bytes(data)
    return path


def collect(course: Path, download: Path, capsys) -> tuple[int, dict[str, dict], str]:
    """collect's exit code, its log by path inside the download, and what it printed."""
    code = main(["--course-dir", str(course), "collect", str(download)])
    log = json.loads((course / "downloaded" / "collect_log.json").read_text(encoding="utf-8"))
    return code, {e["file"]: e for e in log}, capsys.readouterr().out


def placed(course: Path) -> dict[str, str]:
    """student -> the mark of the notebook placed for them in 01_memory_math."""
    marks = {}
    for path in (course / "submitted").glob(f"*/{ASSIGNMENT}/{NOTEBOOK}"):
        try:
            marks[path.parents[1].name] = json.loads(path.read_text(encoding="utf-8"))["metadata"].get("mark", "")
        except ValueError:
            marks[path.parents[1].name] = "not JSON"
    return marks


# -- who the student is -------------------------------------------------------

UNDERSCORE_CLASS = [
    "jane_doe", "john_q_public", "mary_ann_smith", "li_wei", "o_brien", "ana_maria_lopez", "jean_luc_picard",
    "s_1234567", "student_01", "student_02", "de_la_cruz", "van_der_berg", "al_farsi", "mc_donald", "le_roux",
    "st_john", "x_y_z",
]


def test_a_class_of_ids_with_underscores_is_every_student(course, tmp_path, capsys):
    assert len(UNDERSCORE_CLASS) == 17
    download = write_folder(tmp_path / "lms", {f"{s}_memory_math.ipynb": notebook(s) for s in UNDERSCORE_CLASS})
    code, log, out = collect(course, download, capsys)
    assert code == 0
    assert placed(course) == {s: s for s in UNDERSCORE_CLASS}
    assert {e["status"] for e in log.values()} == {"placed"}
    assert "17 notebook(s) of 17 student(s) placed" in out


@pytest.mark.parametrize("name, student", [
    ("jane_doe/memory_math.ipynb", "jane_doe"),  # a folder per student
    ("jane_doe/01_memory_math/Copy of memory_math.ipynb", "jane_doe"),  # nbgrader's own layout, renamed by Colab
    ("jane.doe-2_memory_math.ipynb", "jane.doe-2"),
    ("Jane_Doe_Copy of memory_math (1).ipynb", "jane_doe"),
    ("Jane Doe - memory_math - Copy.ipynb", "jane_doe"),
    ("jane_doe_memory math copy 2.ipynb", "jane_doe"),
    ("doejane_12345_67890_memory_math.ipynb", "doejane_12345"),  # Canvas
    ("doejane_LATE_12345_67891_memory_math-1.ipynb", "doejane_12345"),  # Canvas, late resubmission
    ("Wei Zhang_1234567_assignsubmission_file_/memory_math.ipynb", "wei_zhang_1234567"),  # Moodle, in folders
    ("Lab1_jdoe_attempt_2026-11-21-09-15-02_memory_math.ipynb", "jdoe"),  # Blackboard
    ("Lab 1 (Memory)_jdoe_attempt_2026-11-21-09-15-02_Copy of memory_math.ipynb", "jdoe"),
    (unicodedata.normalize("NFD", "José Pérez_memory_math.ipynb"), "josé_pérez"),  # as macOS spells it
    ("कमला_memory_math.ipynb", "कमला"),  # the vowel sign is part of the name
    ("-rf_memory_math.ipynb", "rf"),  # never an option or a hidden folder
])
def test_the_student_in_each_kind_of_name(course, tmp_path, capsys, name, student):
    code, log, _ = collect(course, write_folder(tmp_path / "lms", {name: notebook("x")}), capsys)
    assert (code, log[name]["student"], log[name]["status"]) == (0, student, "placed")
    assert log[name]["destination"] == f"submitted/{student}/{ASSIGNMENT}/{NOTEBOOK}"


def test_moodle_people_with_one_name_stay_two_and_keep_their_letters(course, tmp_path, capsys):
    people = ["Wei Zhang_1234567", "Wei Zhang_7654321", "张伟_2345678", "李娜_3456789"]
    download = write_zip(tmp_path / "moodle.zip",
                         {f"{p}_assignsubmission_file_memory_math.ipynb": notebook(p) for p in people})
    code, log, _ = collect(course, download, capsys)
    assert code == 0
    assert placed(course) == {
        "wei_zhang_1234567": "Wei Zhang_1234567", "wei_zhang_7654321": "Wei Zhang_7654321",
        "张伟_2345678": "张伟_2345678", "李娜_3456789": "李娜_3456789",
    }
    assert {e["status"] for e in log.values()} == {"placed"}


def test_utf8_names_in_a_zip_without_the_utf8_flag(course, tmp_path, capsys):
    # macOS Archive Utility writes UTF-8 names without flagging them, so Python reads them as cp437.
    name = "张伟_2345678_assignsubmission_file_memory_math.ipynb"
    placeholder = "x" * len("张伟".encode())
    download = write_zip(tmp_path / "moodle.zip", {name.replace("张伟", placeholder): notebook("z")})
    download.write_bytes(download.read_bytes().replace(placeholder.encode(), "张伟".encode()))
    code, log, _ = collect(course, download, capsys)
    assert (code, log[name]["student"]) == (0, "张伟_2345678")


def test_blackboard_students_on_their_latest_attempt(course, tmp_path, capsys):
    # Stored newest first, with the older attempts stored later: only the time in the name orders attempts.
    attempts = {
        "jdoe": ["2026-11-21-10-00-00", "2026-11-21-09-15-02"],
        "asmith": ["2026-11-20-17-30-00"],
        "bkim": ["2026-11-22-08-00-00", "2026-11-19-23-59-59"],
    }
    files, dates = {}, {}
    for student, times in attempts.items():
        for i, time in enumerate(times):
            prefix = f"Lab1_{student}_attempt_{time}"
            files[f"{prefix}_memory_math.ipynb"] = notebook(f"{student} {time}")
            files[f"{prefix}.txt"] = f"Name: {student}\nAssignment: Lab1\n".encode()
            dates[f"{prefix}_memory_math.ipynb"] = (2026, 12, 1, 0, 0, 2 * i)
    code, log, out = collect(course, write_zip(tmp_path / "blackboard.zip", files, dates), capsys)
    assert code == 0
    assert placed(course) == {s: f"{s} {times[0]}" for s, times in attempts.items()}
    older = log["Lab1_jdoe_attempt_2026-11-21-09-15-02_memory_math.ipynb"]
    assert (older["status"], older["student"]) == ("superseded", "jdoe")
    assert older["reason"] == ("Lab1_jdoe_attempt_2026-11-21-10-00-00_memory_math.ipynb is later: attempt time "
                               "in its name 2026-11-21 10:00:00, against 2026-11-21 09:15:02 for this file")
    receipts = [e for name, e in log.items() if name.endswith(".txt")]
    assert len(receipts) == 5 and {(e["status"], e["student"]) for e in receipts} == {("ignored", "")}
    assert "3 notebook(s) of 3 student(s) placed" in out


def test_without_a_time_in_the_name_the_stored_date_decides(course, tmp_path, capsys):
    files = {"jane_doe_memory_math.ipynb": notebook("new"), "jane_doe_memory_math (1).ipynb": notebook("old"),
             "tom_memory_math.ipynb": notebook("a"), "tom_memory_math-1.ipynb": notebook("b"),
             "ann/memory_math.ipynb": notebook("c"), "ann/Memory_Math.ipynb": notebook("d")}
    dates = {"jane_doe_memory_math.ipynb": (2026, 3, 2, 12, 0, 0), "jane_doe_memory_math (1).ipynb": (2026, 3, 1, 12, 0, 0)}
    code, log, _ = collect(course, write_zip(tmp_path / "lms.zip", files, dates), capsys)
    assert code == 0
    assert placed(course) == {"jane_doe": "new", "tom": "b", "ann": "c"}
    assert log["jane_doe_memory_math (1).ipynb"]["reason"] == (
        "jane_doe_memory_math.ipynb is later: date in the download 2026-03-02 12:00:00, against 2026-03-01 12:00:00 "
        "for this file")
    assert log["tom_memory_math.ipynb"]["reason"] == (
        "tom_memory_math-1.ipynb is later: the same time, and a later copy by its name")
    assert log["ann/Memory_Math.ipynb"]["reason"] == (
        "ann/memory_math.ipynb is later: the same time, and the later name in sort order")


def test_two_spellings_of_one_student_id_are_a_conflict(course, tmp_path, capsys):
    files = {"Jane Doe_memory_math.ipynb": notebook("spaced"), "jane_doe_memory_math.ipynb": notebook("underscored")}
    dates = {"Jane Doe_memory_math.ipynb": (2026, 1, 1, 0, 0, 0), "jane_doe_memory_math.ipynb": (2026, 1, 2, 0, 0, 0)}
    code, log, out = collect(course, write_zip(tmp_path / "lms.zip", files, dates), capsys)
    assert code == 1
    assert placed(course) == {"jane_doe": "underscored"}
    loser = log["Jane Doe_memory_math.ipynb"]
    assert (loser["status"], loser["student"], loser["destination"]) == ("conflict", "jane_doe", "")
    assert loser["reason"] == ("'Jane Doe' here and 'jane_doe' in jane_doe_memory_math.ipynb, which was placed, both "
                               "became student 'jane_doe': if they are two people, rename one file and collect again")
    assert "1 conflict" in out


def test_one_folder_around_everyone_is_a_conflict_not_one_student(course, tmp_path, capsys):
    download = write_zip(tmp_path / "lms.zip", {"all/jane/memory_math.ipynb": notebook("jane"),
                                                "all/tom/memory_math.ipynb": notebook("tom")})
    code, log, _ = collect(course, download, capsys)
    assert code == 1
    assert placed(course) == {"all": "tom"}
    assert log["all/jane/memory_math.ipynb"]["status"] == "conflict"
    assert log["all/jane/memory_math.ipynb"]["reason"].startswith("'all/jane' here and 'all/tom' in all/tom/memory_math.ipynb")


def test_a_configured_rule_is_tried_before_the_built_in_ones(course, tmp_path, capsys):
    (course / "pyproject.toml").write_text(
        "[tool.quantization-course.collect]\nstudent_patterns = ['^(?P<id>\\d+)-(?P<student>[^-/]+)-']\n")
    download = write_folder(tmp_path / "lms", {"2024017-jdoe-memory_math.ipynb": notebook("c"),
                                                "doejane_12345_67890_memory_math.ipynb": notebook("d")})
    code, _, _ = collect(course, download, capsys)
    assert (code, placed(course)) == (0, {"jdoe_2024017": "c", "doejane_12345": "d"})


# -- what counts as a notebook -----------------------------------------------

def test_a_notebook_is_judged_by_its_content(course, tmp_path, capsys):
    files = {
        "ann_memory_math.ipynb.json": notebook("ann"),
        "bob_memory_math.ipynb.txt": notebook("bob"),
        "cat_memory_math.json": notebook("cat"),
        "dan/homework.ipynb": notebook("dan"),  # renamed beyond recognition: its grading metadata tells
        "eve/lab.ipynb": notebook("eve", OTHER),
        "garbage_memory_math.ipynb": b'{"cells": [ this is not json',
        "fay_homework.ipynb": notebook("fay"),
        "gus_memory_math.txt": b"my answers: 28 GB",
        "hal_memory_math.pdf": b"%PDF-1.4 ...",
    }
    code, log, out = collect(course, write_folder(tmp_path / "lms", files), capsys)
    assert code == 1
    assert placed(course) == {"ann": "ann", "bob": "bob", "cat": "cat", "dan": "dan", "garbage": "not JSON"}
    assert (course / "submitted" / "eve" / "02_ptq_vs_qat" / "ptq_vs_qat.ipynb").is_file()
    # A damaged .ipynb is placed as it is: grading reports it "not graded" instead of losing it.
    assert (course / "submitted" / "garbage" / ASSIGNMENT / NOTEBOOK).read_bytes() == files["garbage_memory_math.ipynb"]
    assert (log["garbage_memory_math.ipynb"]["status"], log["garbage_memory_math.ipynb"]["kind"]) == ("placed", "notebook")
    assert log["fay_homework.ipynb"]["status"] == "not placed"
    assert log["fay_homework.ipynb"]["reason"].startswith(
        "no student found: 'fay_homework.ipynb' is not '<student>_memory_math.ipynb'")
    for name in ("gus_memory_math.txt", "hal_memory_math.pdf"):
        assert (log[name]["status"], log[name]["reason"]) == ("not placed", "not a notebook: its content is not notebook JSON")
    assert "not placed" in out and "gus_memory_math.txt" in out


def test_files_that_are_not_submissions_are_ignored(course, tmp_path, capsys):
    junk = [
        "__MACOSX/._jane_doe_memory_math.ipynb", "__MACOSX/jane_doe/._memory_math.ipynb", ".DS_Store",
        "jane_doe/.DS_Store", "Thumbs.db", "jane_doe/desktop.ini", "jane_doe/.ipynb_checkpoints/memory_math-checkpoint.ipynb",
        "~$notes.docx", "jane_doe/.~lock.memory_math.ipynb#", "jane_doe/memory_math.ipynb~",
        "Lab1_jdoe_attempt_2026-11-21-09-15-02.txt", "index.html",
    ]
    files = {name: notebook("junk") for name in junk} | {"jane_doe/memory_math.ipynb": notebook("real")}
    code, log, out = collect(course, write_zip(tmp_path / "lms.zip", files), capsys)
    assert code == 0
    assert placed(course) == {"jane_doe": "real"}
    assert {name: log[name]["status"] for name in junk} == {name: "ignored" for name in junk}
    assert log["Lab1_jdoe_attempt_2026-11-21-09-15-02.txt"]["reason"] == "not a submission: a Blackboard receipt"
    assert "12 ignored" in out


def archive(kind: str, files: dict[str, bytes]) -> bytes:
    """`files` packed as a zip or a gzipped tar, in memory."""
    buffer = io.BytesIO()
    if kind == "zip":
        write_zip(buffer, files)
    else:
        with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
            for name, data in files.items():
                info = tarfile.TarInfo(name)
                info.size, info.mtime = len(data), 1767225600
                tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def test_notebooks_inside_archives_are_found(course, tmp_path, capsys):
    files = {
        "jane_doe.zip": archive("zip", {"memory_math.ipynb": notebook("jane"), "__MACOSX/._memory_math.ipynb": b"",
                                        "data.csv": b"a,b\n"}),
        "Wei Zhang_1234567_assignsubmission_file_work.zip": archive("zip", {"work/memory_math.ipynb": notebook("wei")}),
        "tom_memory_math.ipynb.gz": gzip.compress(notebook("tom")),
        "ann.tar.gz": archive("tar", {"ann/Copy of memory_math.ipynb": notebook("ann")}),
        "bo_memory_math.zip": archive("zip", {"memory_math.ipynb": notebook("bo")}),
        "cy.zip": archive("zip", {"cy.zip": archive("zip", {"memory_math.ipynb": notebook("cy")})}),
        "report_memory_math.docx": archive("zip", {"word/document.xml": b"<w:document/>"}),
    }
    code, log, _ = collect(course, write_zip(tmp_path / "lms.zip", files), capsys)
    assert placed(course) == {"jane_doe": "jane", "wei_zhang_1234567": "wei", "tom": "tom", "ann": "ann",
                              "bo": "bo", "cy": "cy"}
    assert log["jane_doe.zip"]["status"] == "unpacked"
    assert (log["jane_doe.zip/data.csv"]["status"], log["jane_doe.zip/__MACOSX/._memory_math.ipynb"]["status"]) == (
        "ignored", "ignored")
    assert log["cy.zip/cy.zip/memory_math.ipynb"]["status"] == "placed"
    assert (log["report_memory_math.docx"]["status"], log["report_memory_math.docx"]["reason"]) == (
        "not placed", "an archive with no notebook in it")
    assert "report_memory_math.docx/word/document.xml" not in log
    assert code == 1


def test_archives_cannot_escape_or_explode(course, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(intake, "MAX_FILE_BYTES", 200_000)
    nested = archive("zip", {"memory_math.ipynb": notebook("deep")})
    for _ in range(3):
        nested = archive("zip", {"inner.zip": nested})
    files = {
        "../evil_memory_math.ipynb": notebook("evil"),
        "/etc/root_memory_math.ipynb": notebook("root"),
        "bomb_memory_math.ipynb": b" " * 300_000,
        "deep.zip": nested,
        "broken.zip": b"PK\x03\x04 and then nothing a zip holds",
        "ok_memory_math.ipynb": notebook("ok"),
    }
    download = write_zip(tmp_path / "lms.zip", files)
    digest = hashlib.sha256(download.read_bytes()).hexdigest()
    code, log, _ = collect(course, download, capsys)
    assert code == 1
    assert placed(course) == {"ok": "ok"}
    for name in ("../evil_memory_math.ipynb", "/etc/root_memory_math.ipynb"):
        assert log[name]["reason"] == "a name that points outside the archive, as in a path traversal attack: not read"
    assert log["bomb_memory_math.ipynb"]["reason"].startswith("0.3 MiB unpacked, more than the 0.2 MiB")
    assert log["deep.zip/inner.zip/inner.zip/inner.zip"]["reason"] == "an archive inside 3 archives, as in a zip bomb: not opened"
    assert log["broken.zip"]["reason"].startswith("a damaged archive: ")
    assert not (tmp_path / "evil_memory_math.ipynb").exists()
    assert hashlib.sha256(download.read_bytes()).hexdigest() == digest


def test_the_table_lists_every_file_and_the_download_is_unchanged(course, tmp_path, capsys):
    download = write_folder(tmp_path / "lms", {"jane_doe_memory_math.ipynb": notebook("j"), "README.txt": b"hi",
                                                ".DS_Store": b""})
    before = {p.name: p.read_bytes() for p in download.iterdir()}
    code, log, out = collect(course, download, capsys)
    assert code == 1
    lines = out.splitlines()
    assert lines[0].split() == ["student", "assignment", "status", "file"]
    assert lines[1].split() == ["jane_doe", ASSIGNMENT, "placed", "jane_doe_memory_math.ipynb"]
    assert lines[2].split()[:4] == ["-", "-", "ignored", ".DS_Store"]
    assert lines[3].split()[:5] == ["-", "-", "not", "placed", "README.txt"]
    assert log["README.txt"]["original"] == f"{download}/README.txt"
    assert {p.name: p.read_bytes() for p in download.iterdir()} == before
    assert (course / "submitted" / "jane_doe" / ASSIGNMENT / NOTEBOOK).read_bytes() == before["jane_doe_memory_math.ipynb"]


def test_a_tar_download(course, tmp_path, capsys):
    download = tmp_path / "lms.tar.gz"
    download.write_bytes(archive("tar", {"jane_doe/memory_math.ipynb": notebook("j"),
                                         "tom/Copy of memory_math.ipynb": notebook("t")}))
    code, log, _ = collect(course, download, capsys)
    assert (code, placed(course)) == (0, {"jane_doe": "j", "tom": "t"})
    assert log["jane_doe/memory_math.ipynb"]["original"] == f"{download}/jane_doe/memory_math.ipynb"


def test_a_download_that_is_no_archive_is_refused(course, tmp_path, capsys):
    (tmp_path / "lms.pdf").write_bytes(b"%PDF")
    assert main(["--course-dir", str(course), "collect", str(tmp_path / "lms.pdf")]) == 2
    assert "is neither a folder nor an archive" in capsys.readouterr().err


# -- end to end: what collect placed is what gets graded ------------------------

@pytest.mark.slow
@pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap is needed for the sandbox (see .ci/run)")
def test_moodle_and_blackboard_students_are_graded_on_their_own_latest_notebooks(tmp_path, capsys):
    root = tmp_path / "course"
    root.mkdir()
    Course(ROOT).copy_to(root, [ASSIGNMENT])
    shutil.copytree(ROOT / "release" / ASSIGNMENT, root / "release" / ASSIGNMENT)

    def text(fraction: float) -> bytes:
        return nbformat.writes(solved(root, fraction)).encode()

    moodle = {"Wei Zhang_1234567": 1.0, "Wei Zhang_7654321": 0.5, "张伟_2345678": 1.0, "张伟_3456789": 0.5}
    write_zip(tmp_path / "moodle.zip",
              {f"{p}_assignsubmission_file_memory_math.ipynb": text(f) for p, f in moodle.items()})
    # Blackboard, stored so that extraction order (the old "newer") would pick each older attempt.
    blackboard = {"jdoe": [("2026-11-21-09-15-02", 0.0), ("2026-11-21-10-00-00", 1.0)],
                  "asmith": [("2026-11-20-08-00-00", 1.0), ("2026-11-20-09-00-00", 0.5)],
                  "bkim": [("2026-11-19-12-00-00", 1.0)]}
    attempts = {f"Lab1_{s}_attempt_{t}_memory_math.ipynb": f for s, tries in blackboard.items() for t, f in tries}
    write_zip(tmp_path / "blackboard.zip", {name: text(f) for name, f in reversed(attempts.items())})
    write_folder(tmp_path / "plain", {"jane_doe_Copy of memory_math (1).ipynb": text(1.0)})

    # Due at midnight on the 21st; a late notebook scores zero (nbgrader's "zero" late penalty).
    with (root / "nbgrader_config.py").open("a") as config:
        config.write('\nc.LateSubmissionPlugin.penalty_method = "zero"\n')
    gradebook.register(Course(root), ASSIGNMENT)
    with gradebook.open_gradebook(Course(root)) as gb:
        gb.update_or_create_assignment(ASSIGNMENT, duedate="2026-11-21 00:00:00")

    codes = [main(["--course-dir", str(root), "collect", str(tmp_path / d)]) for d in ("moodle.zip", "blackboard.zip", "plain")]
    codes.append(main(["--course-dir", str(root), "grade", ASSIGNMENT, "--jobs", "2", "--cell-timeout", "60"]))
    codes.append(main(["--course-dir", str(root), "export", ASSIGNMENT]))
    capsys.readouterr()
    assert codes == [0, 0, 0, 0, 0]
    rows = list(csv.DictReader((root / "exports" / f"{ASSIGNMENT}_grades.csv").open(encoding="utf-8")))
    full, half = autograded_points(), autograded_points(0.5)
    assert {row["student"]: float(row["raw"]) for row in rows} == {
        "wei_zhang_1234567": full, "wei_zhang_7654321": half, "张伟_2345678": full, "张伟_3456789": half,
        "jdoe": full, "asmith": half, "bkim": full, "jane_doe": full,
    }
    # Only jdoe's latest attempt (10:00 on the 21st, from its name) is late; names without a time set none.
    assert {row["student"]: float(row["late_penalty"]) for row in rows if float(row["late_penalty"])} == {"jdoe": full}
    assert (root / "submitted" / "jdoe" / ASSIGNMENT / "timestamp.txt").read_text() == "2026-11-21 10:00:00.000000"
