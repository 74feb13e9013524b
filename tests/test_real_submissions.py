"""End to end, as an instructor: files as students' editors really write
them go through collect, grade (repair + sandbox), feedback and export, and
one student's trouble stays that student's (issue 14).

A class of module 1: a plain solution, one saved with a UTF-8 byte-order
mark (Windows editors), one whose Colab widget state lacks its ``state``,
one with Colab's restart idiom (the kernel kills itself), and one whose
answer raises inside a check (its line shows in the feedback; no hidden test
line ever does). Another class where nobody could be graded still gets its
"not graded" pages."""

from __future__ import annotations

import codecs
import csv
import html
import re
import shutil
import zipfile
from pathlib import Path

import nbformat
import pytest

from autograder.cli import main
from autograder.course import Course
from autograder.repair import WIDGET_STATE
from class_builder import ASSIGNMENT, FULL, NOTEBOOK, cell, solved

ROOT = Path(__file__).resolve().parent.parent
PAGE = NOTEBOOK.replace(".ipynb", ".html")
RESTART = "import os\nos.kill(os.getpid(), 9)"  # what Colab's "restart the runtime" comes down to
# Exercise 1 with bf16 forgotten: the check's call raises KeyError in the student's own line.
SLIP = 'def bytes_per_param(fmt):\n    sizes = {"fp32": 4.0, "fp16": 2.0, "int8": 1.0, "int4": 0.5}\n    return sizes[fmt]'
HIDDEN = re.compile(r"### BEGIN HIDDEN TESTS\n(.*?)### END HIDDEN TESTS", re.S)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap is needed for the sandbox (see .ci/run)"),
]


def new_course(root: Path) -> Path:
    """A fresh course of module 1 in folder `root`, released."""
    root.mkdir()
    Course(ROOT).copy_to(root, [ASSIGNMENT])
    shutil.copytree(ROOT / "release" / ASSIGNMENT, root / "release" / ASSIGNMENT)
    return root


def run_class(root: Path, files: dict[str, bytes]) -> dict[str, int]:
    """Collect a download of `files` (name -> content) into the course at
    `root`, grade, give feedback and export, as an instructor would; the exit codes."""
    download = root.parent / "download"
    download.mkdir()
    for name, data in files.items():
        (download / name).write_bytes(data)
    course = ["--course-dir", str(root)]
    return {
        "collect": main([*course, "collect", str(download)]),
        "grade": main([*course, "grade", ASSIGNMENT, "--jobs", "2"]),
        "feedback": main([*course, "feedback", ASSIGNMENT]),
        "export": main([*course, "export", ASSIGNMENT]),
    }


def grades(root: Path) -> dict[str, dict]:
    with open(root / "exports" / f"{ASSIGNMENT}_grades.csv", newline="") as f:
        return {row["student"]: row for row in csv.DictReader(f)}


def feedback_zip(root: Path, student: str) -> dict[str, str]:
    with zipfile.ZipFile(root / "feedback_zips" / ASSIGNMENT / f"{student}.zip") as z:
        return {name: z.read(name).decode("utf-8") for name in z.namelist()}


@pytest.fixture(scope="module")
def real_class(tmp_path_factory):
    root = new_course(tmp_path_factory.mktemp("real") / "course")
    widgets = solved(root)
    widgets.metadata["widgets"] = {WIDGET_STATE: {"version_major": 2, "version_minor": 0}}  # as Colab saves it
    restart = solved(root)
    first_code = next(i for i, c in enumerate(restart.cells) if c.cell_type == "code")
    restart.cells.insert(first_code + 1, nbformat.v4.new_code_cell(RESTART))
    slip = solved(root)
    cell(slip, "bytes_per_param").source = SLIP
    notebooks = {"plain": solved(root), "colab_widgets": widgets, "colab_restart": restart, "slip": slip}
    files = {f"{student}_{NOTEBOOK}": nbformat.writes(nb).encode() for student, nb in notebooks.items()}
    files[f"windows_{NOTEBOOK}"] = codecs.BOM_UTF8 + nbformat.writes(solved(root)).encode()
    return {"root": root, "codes": run_class(root, files), "students": sorted([*notebooks, "windows"])}


def test_every_command_succeeds(real_class):
    assert real_class["codes"] == {"collect": 0, "grade": 0, "feedback": 0, "export": 0}


def page_text(page: str) -> str:
    return html.unescape(re.sub(r"<[^>]*>", "", re.sub(r"<(style|script).*?</\1>", "", page, flags=re.S)))


def hidden_lines(root: Path) -> set[str]:
    """The lines of the hidden tests that appear nowhere else: not in the
    student's version, not in the solutions, not in the visible checks."""
    source = "\n".join(c.source for c in nbformat.read(root / "source" / ASSIGNMENT / NOTEBOOK, as_version=4).cells)
    release = "\n".join(c.source for c in nbformat.read(root / "release" / ASSIGNMENT / NOTEBOOK, as_version=4).cells)
    hidden = {line.strip() for region in HIDDEN.findall(source) for line in region.splitlines()}
    return {line for line in hidden if line and line not in HIDDEN.sub("", source) + release}


def test_every_student_gets_the_exact_score_and_a_zip_without_hidden_tests(real_class):
    rows = grades(real_class["root"])
    expected = {s: FULL - (s == "slip") for s in real_class["students"]}  # the slip costs Exercise 1 (1 point) only
    assert {s: (rows[s]["status"], float(rows[s]["total"])) for s in rows} == {s: ("graded", n) for s, n in expected.items()}
    zips = real_class["root"] / "feedback_zips" / ASSIGNMENT
    assert sorted(p.stem for p in zips.glob("*.zip")) == real_class["students"]
    # A hidden line the slip wrote itself (the course's bytes_per_param, hidden in later checks,
    # also ends in `return sizes[fmt]`) is the student's own code on its page, not a leak.
    secrets = hidden_lines(real_class["root"]) - {line.strip() for line in SLIP.splitlines()}
    for student in real_class["students"]:
        text = page_text(feedback_zip(real_class["root"], student)[PAGE])
        assert "further checks ran here" in text
        assert not [line for line in secrets if line in text], student


def test_a_failing_check_shows_the_students_line_that_failed(real_class):
    text = page_text(feedback_zip(real_class["root"], "slip")[PAGE])
    assert "return sizes[fmt]" in text and "KeyError: 'bf16'" in text
    assert "AssertionError: bytes_per_param('bf16') raised KeyError: 'bf16'" in text


def test_a_byte_order_mark_is_read_and_said(real_class):
    assert int(grades(real_class["root"])["windows"]["repairs"]) == 1
    assert "UTF-8 byte-order mark" in feedback_zip(real_class["root"], "windows")[PAGE]


def test_colab_widget_state_without_state_is_dropped_and_the_page_written(real_class):
    page = feedback_zip(real_class["root"], "colab_widgets")[PAGE]
    assert "widget state" in page
    graded = nbformat.read(real_class["root"] / "autograded" / "colab_widgets" / ASSIGNMENT / NOTEBOOK, as_version=4)
    assert "widgets" not in graded.metadata  # nbconvert fails on any widgets without a complete state


def test_colab_restart_idiom_is_survived_and_the_feedback_names_the_cell(real_class):
    row = grades(real_class["root"])["colab_restart"]
    assert "kernel died in cell 3" in row["note"]
    page = feedback_zip(real_class["root"], "colab_restart")[PAGE]
    assert "the Python kernel died" in page and "<code>import os</code>" in page
    assert "DeadKernelError" in page  # on the cell itself


def test_when_nobody_could_be_graded_everyone_gets_the_not_graded_page(tmp_path):
    root = new_course(tmp_path / "course")
    files = {f"mangled_{NOTEBOOK}": b'{"cells": [ this is not json', f"scrambled_{NOTEBOOK}": bytes(range(128, 256)) * 8}
    codes = run_class(root, files)
    # grade: nothing could be graded (exit 1); feedback: every page written (exit 0).
    assert codes == {"collect": 0, "grade": 1, "feedback": 0, "export": 0}
    assert "not valid notebook JSON" in feedback_zip(root, "mangled")["not_graded.html"]
    assert "not text" in feedback_zip(root, "scrambled")["not_graded.html"]
