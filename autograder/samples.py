"""Sample submissions built from the solutions, for the demo and the tests.

A sample starts from the student (release) notebook, as a student would,
and fills some answer cells with the instructor's solution, matched by
nbgrader's ``grade_id``.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat

SOLUTION_MARKER = re.compile(r"^\s*### (BEGIN|END) SOLUTION\s*$")


def answer_cells(nb: nbformat.NotebookNode) -> dict[str, nbformat.NotebookNode]:
    """The cells a student writes in (nbgrader solution cells), by grade_id."""
    return {
        cell.metadata["nbgrader"]["grade_id"]: cell
        for cell in nb.cells
        if cell.get("metadata", {}).get("nbgrader", {}).get("solution")
    }


def without_markers(source: str) -> str:
    return "\n".join(line for line in source.splitlines() if not SOLUTION_MARKER.match(line))


def fill_answers(release_nb: Path, source_nb: Path, fraction: float = 1.0) -> nbformat.NotebookNode:
    """The release notebook with the first `fraction` of its answer cells solved."""
    nb = nbformat.read(release_nb, as_version=4)
    solutions = answer_cells(nbformat.read(source_nb, as_version=4))
    answers = list(answer_cells(nb).items())
    for grade_id, cell in answers[: round(fraction * len(answers))]:
        cell.source = without_markers(solutions[grade_id].source)
    return nb


def write_submission(course_root: Path, student: str, assignment: str, fraction: float) -> list[Path]:
    """Place one student's sample submission in nbgrader's ``submitted/`` folder."""
    folder = course_root / "submitted" / student / assignment
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for release_nb in sorted((course_root / "release" / assignment).glob("*.ipynb")):
        nb = fill_answers(release_nb, course_root / "source" / assignment / release_nb.name, fraction)
        nbformat.write(nb, folder / release_nb.name)
        written.append(folder / release_nb.name)
    return written
