"""Repair of submissions, on in-memory notebooks (as nbgrader's tests/preprocessors/
do): every branch of the matcher, reading any encoding, and the nbgrader
preprocessor that runs it. No kernel, no bubblewrap."""

from __future__ import annotations

import codecs
import copy

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from autograder.repair import (
    NOTE_CELL_ID, READ_NOTES, WIDGET_STATE, RepairSubmission, SubmissionExporter, add_note, decode, grade_id,
    parse_notebook, repair,
)
from autograder.sandbox import METADATA_KEY


def cell(kind, source, gid=None, cell_id=None, **meta):
    new = new_code_cell(source) if kind == "code" else new_markdown_cell(source)
    if gid:
        new.metadata["nbgrader"] = {"grade_id": gid, "schema_version": 3, **meta}
    new.id = cell_id or f"id-{gid or abs(hash(source)) % 10**8}"
    return new


def release():
    """A release notebook: an answer with a signature, its test, a value answer, a written answer."""
    return new_notebook(cells=[
        cell("markdown", "# Assignment", cell_id="intro"),
        cell("code", "def double(x):\n    # YOUR CODE HERE\n    raise NotImplementedError()", "double", solution=True, grade=False, locked=False),
        cell("code", "assert double(2) == 4\nprint('Exercise 1 looks right.')", "test_double", grade=True, solution=False, locked=True, points=1),
        cell("code", "# YOUR CODE HERE\nraise NotImplementedError()", "answer_value", solution=True, grade=False, locked=False),
        cell("code", "assert answer == 42", "test_value", grade=True, solution=False, locked=True, points=1),
        cell("markdown", "YOUR ANSWER HERE", "written", solution=True, grade=True, locked=False, points=2),
    ])


def solved(nb=None):
    nb = copy.deepcopy(nb or release())
    nb.cells[1].source = "def double(x):\n    return 2 * x"
    nb.cells[3].source = "answer = 42"
    nb.cells[5].source = "Because."
    return nb


def by_grade_id(nb):
    return {grade_id(c): c for c in nb.cells if grade_id(c)}


def assert_whole(nb, answers=("def double(x):\n    return 2 * x", "answer = 42", "Because.")):
    cells = by_grade_id(nb)
    assert sorted(cells) == sorted(by_grade_id(release()))
    assert [cells[g].source for g in ("double", "answer_value", "written")] == list(answers)
    assert cells["written"].cell_type == "markdown" and cells["test_double"].cell_type == "code"
    for gid, ref in by_grade_id(release()).items():
        assert cells[gid].metadata["nbgrader"] == ref.metadata["nbgrader"]


def test_an_intact_submission_needs_no_repair():
    nb, notes = repair(release(), solved())
    assert notes == []
    assert_whole(nb)


def test_metadata_lost_but_cell_ids_kept():
    nb = solved()
    for c in nb.cells:
        c.metadata.pop("nbgrader", None)
    nb, notes = repair(release(), nb)
    assert_whole(nb)
    assert any("restored: double, test_double, answer_value, test_value, written" in n for n in notes)


def test_metadata_and_cell_ids_lost_matched_by_content():
    nb = solved()
    for index, c in enumerate(nb.cells):
        c.metadata.pop("nbgrader", None)
        c.id = f"new-{index}"
    nb.cells.insert(2, cell("code", "print('scratch work')", cell_id="scratch"))
    nb, notes = repair(release(), nb)
    assert_whole(nb)
    assert "scratch work" in "".join(c.source for c in nb.cells if not grade_id(c))


def test_a_test_cell_edited_beyond_recognition_is_restored_not_trusted():
    nb = solved()
    for index, c in enumerate(nb.cells):
        c.metadata.pop("nbgrader", None)
        c.id = f"new-{index}"
    nb.cells[2].source = "pass  # the check is gone"
    nb, notes = repair(release(), nb)
    assert by_grade_id(nb)["test_double"].source == release().cells[2].source
    assert any("test cell 'test_double' was missing" in n for n in notes)


def test_retyped_cells_get_their_type_back():
    nb = solved()
    nb.cells[1] = cell("markdown", nb.cells[1].source, "double", cell_id=nb.cells[1].id, **nb.cells[1].metadata["nbgrader"])
    nb.cells[5] = cell("code", "Because.", "written", cell_id=nb.cells[5].id, **nb.cells[5].metadata["nbgrader"])
    nb, notes = repair(release(), nb)
    assert_whole(nb)
    assert sum("turned back into" in n for n in notes) == 2


def test_duplicated_answer_grades_the_edited_copy_and_drops_the_stub():
    nb = solved()
    stub = copy.deepcopy(release().cells[1])
    stub.id = "stub-copy"
    nb.cells.insert(1, stub)
    nb, notes = repair(release(), nb)
    assert_whole(nb)
    assert "stub-copy" not in [c.id for c in nb.cells]
    assert any("removed an unedited copy" in n for n in notes)


def test_duplicated_edited_answers_grade_the_last_and_keep_the_other_ungraded():
    nb = solved()
    earlier = copy.deepcopy(nb.cells[1])
    earlier.source, earlier.id = "def double(x):\n    return x + x + 1", "earlier"
    nb.cells.insert(1, earlier)
    nb, notes = repair(release(), nb)
    assert_whole(nb)
    assert next(c for c in nb.cells if c.id == "earlier").metadata.get("nbgrader") is None
    assert any("kept as an ordinary cell" in n for n in notes)


def test_duplicated_test_cell_grades_the_intact_copy():
    nb = solved()
    tampered = copy.deepcopy(nb.cells[2])
    tampered.source, tampered.id = "pass", "tampered"
    nb.cells.insert(3, tampered)
    nb, _ = repair(release(), nb)
    assert by_grade_id(nb)["test_double"].source == release().cells[2].source


def test_deleted_cells_come_back_in_place_answer_empty():
    nb = solved()
    del nb.cells[3:5]  # the value answer and its test
    nb, notes = repair(release(), nb)
    order = [grade_id(c) for c in nb.cells if grade_id(c)]
    assert order == ["double", "test_double", "answer_value", "test_value", "written"]
    assert by_grade_id(nb)["answer_value"].source == release().cells[3].source
    assert any("answer cell 'answer_value' was missing" in n and "(empty)" in n for n in notes)


def test_grading_metadata_of_another_assignment_is_removed():
    nb = solved()
    nb.cells.append(cell("code", "x = 1", "from_another_assignment", solution=True))
    nb, notes = repair(release(), nb)
    assert "from_another_assignment" not in by_grade_id(nb)
    assert any("unknown to this assignment" in n for n in notes)


def test_broken_widget_state_is_dropped_and_said():
    nb = solved()
    nb.metadata["widgets"] = {WIDGET_STATE: {"version_major": 2, "version_minor": 0}}
    nb, notes = repair(release(), nb)
    assert "widgets" not in nb.metadata
    assert any("widget state" in n for n in notes)
    intact = solved()
    intact.metadata["widgets"] = {WIDGET_STATE: {"state": {}, "version_major": 2, "version_minor": 0}}
    assert repair(release(), intact)[1] == []


def test_note_cell_and_metadata():
    nb = solved()
    add_note(nb, ["one", "two"])
    assert nb.cells[0].id == NOTE_CELL_ID and "- one\n- two" in nb.cells[0].source
    assert nb.metadata[METADATA_KEY]["repairs"] == ["one", "two"]
    clean = solved()
    add_note(clean, [])
    assert clean.cells[0].id != NOTE_CELL_ID and clean.metadata[METADATA_KEY]["repairs"] == []


WRITTEN = "Parce que, déjà vu: 4 × 2 ≠ 9."  # letters outside ASCII survive the round trip
TEXT = nbformat.writes(solved()).replace("Because.", WRITTEN)


@pytest.mark.parametrize("encoding, note", [
    ("utf-8", None),
    ("utf-8-sig", "UTF-8 byte-order mark"),
    ("utf-16", "UTF-16 byte-order mark"),
    ("utf-16-le", "UTF-16-LE"),
    ("utf-16-be", "UTF-16-BE"),
    ("utf-32", "UTF-32 byte-order mark"),
])
def test_every_unicode_encoding_an_editor_writes_is_read(encoding, note):
    nb, notes = parse_notebook(TEXT.encode(encoding))
    assert_whole(nb, answers=("def double(x):\n    return 2 * x", "answer = 42", WRITTEN))
    assert notes == [] if note is None else note in notes[0]


def test_a_legacy_code_page_is_read_and_said():
    nb, notes = parse_notebook(TEXT.replace(WRITTEN, "Parce que, déjà.").encode("cp1252"))
    assert by_grade_id(nb)["written"].source == "Parce que, déjà."
    assert "Windows-1252" in notes[0]


@pytest.mark.parametrize("data, reason", [
    (b"\x81\x8d\x8f\x90\x9d", "not text"),
    (b"{ this is not json", "not valid notebook JSON"),
    (b'{"hello": "world"}', "not a Jupyter notebook"),
])
def test_unreadable_files_say_why(data, reason):
    with pytest.raises(ValueError, match=reason):
        parse_notebook(data)


def test_decode_keeps_plain_utf8_untouched():
    assert decode("déjà".encode()) == ("déjà", [])


def test_the_nbgrader_preprocessor_repairs_against_the_release(tmp_path):
    (tmp_path / "release" / "a1").mkdir(parents=True)
    nbformat.write(release(), tmp_path / "release" / "a1" / "nb.ipynb")
    submitted = tmp_path / "submitted" / "s1" / "a1" / "nb.ipynb"
    submitted.parent.mkdir(parents=True)
    broken = solved()
    for c in broken.cells:
        c.metadata.pop("nbgrader", None)
    submitted.write_bytes(codecs.BOM_UTF8 + nbformat.writes(broken).encode())

    from traitlets.config import Config

    config = Config({"CourseDirectory": {"root": str(tmp_path)}})
    exporter = SubmissionExporter(config=config)
    resources = {"nbgrader": {"assignment": "a1", "notebook": "nb", "student": "s1"}}
    with open(submitted, encoding="utf-8") as f:  # as nbconvert opens it
        nb, resources = exporter.from_file(f, resources=resources)
        nb = nbformat.reads(nb, as_version=4)
    assert "byte-order mark" in resources[READ_NOTES][0]
    nb, _ = RepairSubmission(config=config).preprocess(nb, resources)
    assert_whole(nb)
    assert nb.cells[0].id == NOTE_CELL_ID
    assert "byte-order mark" in nb.metadata[METADATA_KEY]["repairs"][0]
    assert any("grading metadata" in n for n in nb.metadata[METADATA_KEY]["repairs"])
