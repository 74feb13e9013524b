"""Bringing submitted notebooks back into a gradable shape.

Jupyter, Colab and other editors drop or alter nbgrader's cell metadata,
change cell types, duplicate and delete cells; plain nbgrader then gives a
silent zero (nbgrader issues #424, #1398, #1941, #1083, #1546). Here each
submission is matched against the student version in ``release/``:

1. cells that still carry their nbgrader ``grade_id``;
2. cells whose Jupyter cell id is unchanged;
3. cells whose content matches (a test cell's code, the ``def`` line of an
   answer), in the right order between the cells already matched.

Matched cells get their metadata and cell type back; missing graded cells
are restored from the release (an answer cell comes back empty); duplicates
are reduced to one graded copy. Student answers are never changed. Every
repair is listed in a note at the top of the graded notebook, so it shows in
the feedback, and in the notebook's metadata (``autograder.repairs``).

Before that, the file is read whatever its text encoding (a byte-order mark,
UTF-16, a legacy code page); reinterpreted bytes are noted the same way.

``SubmissionExporter`` and ``RepairSubmission`` put both steps inside nbgrader
(``nbgrader_config.py``): every way of autograding reads and repairs
submissions the same way. The file in ``submitted/`` is never changed.
"""

from __future__ import annotations

import codecs
import copy
import difflib
import json
from pathlib import Path

import nbformat
from nbconvert.exporters import NotebookExporter
from nbgrader.coursedir import CourseDirectory
from nbgrader.preprocessors import NbGraderPreprocessor

from autograder.sandbox import METADATA_KEY

NOTE_CELL_ID = "grader-repair-note"
CONTENT_MATCH = 0.6  # similarity above which a test or locked cell is "the same cell"
READ_NOTES = "autograder_read_notes"  # resources key: what reading the file had to reinterpret
BOMS = [  # longest first: UTF-32's little-endian mark begins with UTF-16's
    (codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"),
]


def nbgrader_meta(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {}) or {}


def grade_id(cell) -> str | None:
    return nbgrader_meta(cell).get("grade_id")


def first_code_line(source: str) -> str:
    return next((line.strip() for line in source.splitlines() if line.strip() and not line.strip().startswith("#")), "")


def decode(data: bytes) -> tuple[str, list[str]]:
    """The text of a notebook file and what had to be reinterpreted to read it.

    Plain UTF-8 needs nothing. A byte-order mark says the encoding (editors on
    Windows write one); without one, UTF-16/32 shows as NUL bytes next to the
    ASCII of the JSON; bytes that are not UTF-8 at all are read as Windows-1252,
    the legacy code page editors fall back to (it maps almost every byte)."""
    for mark, encoding in BOMS:
        if data.startswith(mark):
            name = {"utf-8-sig": "UTF-8"}.get(encoding, encoding.upper())
            return data.decode(encoding), [f"the file started with a {name} byte-order mark; read it as {name}."]
    if data[:1] == b"\x00" or data[1:2] == b"\x00":
        encoding = "utf-32" if data[:4].count(b"\x00") == 3 else "utf-16"
        encoding += "-be" if data[:1] == b"\x00" else "-le"
        return data.decode(encoding), [f"the file was saved as {encoding.upper()}; read it as such."]
    try:
        return data.decode("utf-8"), []
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp1252"), ["the file was not UTF-8; read it as Windows-1252 (check accented letters)."]
    except UnicodeDecodeError:
        raise ValueError("the file is not text (is it really a .ipynb notebook?)") from None


def parse_notebook(data: bytes) -> tuple[nbformat.NotebookNode, list[str]]:
    """The notebook in `data` and the reading notes; ValueError with a readable reason."""
    text, notes = decode(data)
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"the file is not valid notebook JSON ({error})") from None
    if not isinstance(raw, dict) or "cells" not in raw and "worksheets" not in raw:
        raise ValueError("the file is JSON but not a Jupyter notebook (no cells)")
    nb = nbformat.reads(json.dumps(raw), as_version=4)
    for cell in nb.cells:
        cell.setdefault("metadata", {})
    return nb, notes


def read_submission(path: Path) -> nbformat.NotebookNode:
    """The notebook in `path`; raises ValueError with a readable reason."""
    return parse_notebook(path.read_bytes())[0]


class Matcher:
    """Pairs each graded release cell with the submission cell that holds it."""

    def __init__(self, reference: nbformat.NotebookNode, submission: nbformat.NotebookNode):
        self.reference = reference
        self.cells = submission.cells
        self.graded = [c for c in reference.cells if grade_id(c)]
        self.ungraded_sources = {c.source.strip() for c in reference.cells if not grade_id(c)}
        self.match: dict[str, int] = {}
        self.duplicates: list[tuple[str, int]] = []

    def run(self) -> None:
        self._by_grade_id()
        self._by_cell_id()
        self._by_content()

    def _free(self, index: int) -> bool:
        return index not in self.match.values() and index not in {i for _, i in self.duplicates}

    def _by_grade_id(self) -> None:
        wanted = {grade_id(c): c for c in self.graded}
        holders: dict[str, list[int]] = {}
        for index, cell in enumerate(self.cells):
            if grade_id(cell) in wanted:
                holders.setdefault(grade_id(cell), []).append(index)
        for gid, indices in holders.items():
            best = self._best_duplicate(wanted[gid], indices)
            self.match[gid] = best
            self.duplicates += [(gid, i) for i in indices if i != best]

    def _best_duplicate(self, ref, indices: list[int]) -> int:
        """Among copies of one graded cell: the last edited answer, or the intact test."""
        if nbgrader_meta(ref).get("solution"):
            answered = [i for i in indices if self.cells[i].source.strip() != ref.source.strip()]
            return (answered or indices)[-1]
        intact = [i for i in indices if self.cells[i].source.strip() == ref.source.strip()]
        return (intact or indices)[0]

    def _by_cell_id(self) -> None:
        ids = {cell.get("id"): index for index, cell in enumerate(self.cells)}
        for ref in self.graded:
            index = ids.get(ref.get("id"))
            if grade_id(ref) not in self.match and index is not None and self._free(index) and not grade_id(self.cells[index]):
                self.match[grade_id(ref)] = index

    def _bounds(self, position: int) -> tuple[int, int]:
        """Submission indices between the matched neighbours of graded cell `position`."""
        before = [self.match[grade_id(c)] for c in self.graded[:position] if grade_id(c) in self.match]
        after = [self.match[grade_id(c)] for c in self.graded[position + 1 :] if grade_id(c) in self.match]
        return (max(before, default=-1), min(after, default=len(self.cells)))

    def _by_content(self) -> None:
        for position, ref in enumerate(self.graded):
            if grade_id(ref) in self.match:
                continue
            low, high = self._bounds(position)
            candidates = [
                i
                for i in range(low + 1, high)
                if self._free(i) and not grade_id(self.cells[i]) and self.cells[i].source.strip() not in self.ungraded_sources
            ]
            found = self._closest(ref, candidates)
            if found is not None:
                self.match[grade_id(ref)] = found

    def _closest(self, ref, candidates: list[int]) -> int | None:
        if not candidates:
            return None
        meta = nbgrader_meta(ref)
        if meta.get("solution"):
            signature = first_code_line(ref.source)
            if ref.cell_type == "code" and signature.startswith(("def ", "class ")):
                signed = [i for i in candidates if signature.split("(")[0] in self.cells[i].source]
                return signed[-1] if signed else None
            # An answer with no signature (a value, a written answer): the
            # first unclaimed cell in its place.
            return candidates[0]
        scores = {i: difflib.SequenceMatcher(None, ref.source, self.cells[i].source).ratio() for i in candidates}
        best = max(scores, key=scores.get)
        return best if scores[best] >= CONTENT_MATCH else None


def as_type(cell, cell_type: str):
    """The same source in a cell of another type (outputs and attachments dropped)."""
    make = nbformat.v4.new_code_cell if cell_type == "code" else nbformat.v4.new_markdown_cell
    new = make(cell.source)
    new.metadata = copy.deepcopy(cell.metadata)
    if cell.get("id"):
        new.id = cell.id
    return new


WIDGET_STATE = "application/vnd.jupyter.widget-state+json"


def repair_widget_state(nb: nbformat.NotebookNode) -> list[str]:
    """Drop saved widget state that nbconvert cannot render (Colab saves it without
    its ``state``), which would otherwise stop the feedback page."""
    saved = nb.metadata.get("widgets", {}).get(WIDGET_STATE)
    if saved is None or isinstance(saved, dict) and isinstance(saved.get("state"), dict):
        return []
    del nb.metadata["widgets"][WIDGET_STATE]
    if not nb.metadata["widgets"]:  # nbconvert fails on an empty widgets entry too
        del nb.metadata["widgets"]
    return ["the notebook's saved widget state was incomplete (as Colab sometimes saves it); removed it."]


def repair(reference: nbformat.NotebookNode, submission: nbformat.NotebookNode) -> tuple[nbformat.NotebookNode, list[str]]:
    """The submission with every graded cell of `reference` present exactly once."""
    notes: list[str] = repair_widget_state(submission)
    matcher = Matcher(reference, submission)
    matcher.run()
    cells = list(submission.cells)
    refs = {grade_id(c): c for c in matcher.graded}

    restored = []
    for gid, index in matcher.match.items():
        ref, cell = refs[gid], cells[index]
        if cell.cell_type != ref.cell_type:
            notes.append(f"'{gid}' had been turned into a {cell.cell_type} cell; turned back into a {ref.cell_type} cell.")
            cell = cells[index] = as_type(cell, ref.cell_type)
        if nbgrader_meta(cell) != nbgrader_meta(ref):
            restored.append(gid)
            cell.metadata["nbgrader"] = copy.deepcopy(nbgrader_meta(ref))
    if restored:
        notes.append(f"grading metadata was missing or altered on {len(restored)} cell(s); restored: {', '.join(restored)}.")

    removed = set()
    for gid, index in matcher.duplicates:
        cell = cells[index]
        if cell.source.strip() == refs[gid].source.strip() and nbgrader_meta(refs[gid]).get("solution"):
            removed.add(index)
            notes.append(f"removed an unedited copy of the answer cell '{gid}'.")
        else:
            cell.metadata.pop("nbgrader", None)
            notes.append(f"a second copy of '{gid}' was kept as an ordinary cell; the other copy was graded.")

    for index, cell in enumerate(cells):
        if index not in matcher.match.values() and grade_id(cell) and grade_id(cell) not in refs:
            notes.append(f"a cell carried grading metadata unknown to this assignment ('{grade_id(cell)}'); removed it.")
            cell.metadata.pop("nbgrader", None)

    # Missing graded cells come back from the release, after the cell that
    # precedes them there.
    order = [cell for i, cell in enumerate(cells) if i not in removed]
    placed = {grade_id(cells[i]): cells[i] for i in matcher.match.values()}
    for position, ref in enumerate(matcher.graded):
        gid = grade_id(ref)
        if gid in placed:
            continue
        previous = next((placed[grade_id(c)] for c in reversed(matcher.graded[:position]) if grade_id(c) in placed), None)
        at = next((i + 1 for i, c in enumerate(order) if c is previous), 0)
        restored = copy.deepcopy(ref)
        order.insert(at, restored)
        placed[gid] = restored
        kind = "answer" if nbgrader_meta(ref).get("solution") else "test" if nbgrader_meta(ref).get("grade") else "read-only"
        notes.append(f"the {kind} cell '{gid}' was missing; restored it from the assignment" + (" (empty)." if kind == "answer" else "."))

    submission.cells = order
    ensure_cell_ids(submission)
    return submission, notes


def add_note(nb: nbformat.NotebookNode, notes: list[str]) -> None:
    """List `notes` in a cell at the top (it shows in the feedback) and in the metadata."""
    nb.metadata.setdefault(METADATA_KEY, {})["repairs"] = notes
    if not notes:
        return
    note = nbformat.v4.new_markdown_cell(
        "**Grader's note.** Before grading, this notebook was repaired so that every exercise "
        "could be graded. Your answers were not changed.\n\n" + "\n".join(f"- {n}" for n in notes)
    )
    note.id = NOTE_CELL_ID
    nb.cells.insert(0, note)


def ensure_cell_ids(nb: nbformat.NotebookNode) -> None:
    """nbformat 4.5 cells need unique ids; editors that drop them leave a gap."""
    nb.nbformat_minor = max(nb.nbformat_minor, 5)
    seen = set()
    for index, cell in enumerate(nb.cells):
        if not cell.get("id") or cell.id in seen:
            cell.id = f"repaired-{index}"
        seen.add(cell.id)


class SubmissionExporter(NotebookExporter):
    """nbgrader's notebook exporter, reading a file in any text encoding; what had
    to be reinterpreted goes to the repair note (``RepairSubmission``)."""

    def from_file(self, file_stream, resources=None, **kw):
        # nbconvert opens the file as UTF-8 text: read the bytes underneath instead.
        binary = getattr(file_stream, "buffer", None)
        data = binary.read() if binary is not None else file_stream.read().encode("utf-8")
        nb, notes = parse_notebook(data)
        resources = resources if resources is not None else {}
        resources[READ_NOTES] = notes
        return self.from_notebook_node(nb, resources=resources, **kw)


class RepairSubmission(NbGraderPreprocessor):
    """nbgrader's sanitize step: repair the submission against its release
    notebook (``repair``), before nbgrader restores the test cells by grade id."""

    def preprocess(self, nb, resources):
        coursedir = CourseDirectory(config=self.config)
        assignment, notebook = resources["nbgrader"]["assignment"], resources["nbgrader"]["notebook"]
        release = Path(coursedir.format_path(coursedir.release_directory, ".", assignment)) / f"{notebook}.ipynb"
        nb, notes = repair(nbformat.read(release, as_version=4), nb)
        add_note(nb, [*resources.get(READ_NOTES, []), *notes])
        return nb, resources
