"""What students see after grading: nbgrader's feedback pages, without the
hidden tests, one folder and one zip per student, ready for an LMS.

nbgrader puts the hidden tests back into the graded notebook and shows them,
and their tracebacks, in the feedback (nbgrader issue #917). The preprocessor
below, configured for ``generate_feedback`` in ``nbgrader_config.py``, drops
the hidden region from each test cell and shortens a failing check's
traceback to its message, which our checks write for students.
"""

from __future__ import annotations

import html
import shutil
from pathlib import Path

from nbgrader import utils
from nbgrader.preprocessors import ClearHiddenTests

HIDDEN_NOTE = "# (further checks ran here; they stay hidden)"


class HideHiddenTests(ClearHiddenTests):
    def preprocess_cell(self, cell, resources, cell_index):
        had_hidden = self.begin_test_delimeter in cell.source
        cell, resources = super().preprocess_cell(cell, resources, cell_index)
        if cell.cell_type == "code" and utils.is_grade(cell):
            if had_hidden:
                cell.source = cell.source.rstrip() + "\n" + HIDDEN_NOTE
            for output in cell.get("outputs", []):
                if output.output_type == "error":
                    output.traceback = [f"{output.ename}: {output.evalue}"]
        return cell, resources


FEEDBACK_ZIPS = "feedback_zips"

NOT_GRADED_PAGE = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{assignment}: not graded</title></head>
<body><h1>{assignment}: your submission could not be graded</h1>
<p>{reason}</p>
<p>Nothing is lost: your file is kept as you sent it. Please check that you submitted the
notebook file (<code>.ipynb</code>, downloaded with File &gt; Download &gt; .ipynb) and
contact your instructor.</p></body></html>
"""


def generate(course, assignment: str, outcomes=None) -> dict[str, Path]:
    """Feedback pages for every student of `assignment` and one zip per student,
    in ``feedback_zips/<assignment>/<student>.zip``; returns the zips."""
    course.nbgrader("generate_feedback", assignment, "--force")
    for outcome in outcomes or []:
        if outcome.status != "graded":
            folder = course.root / "feedback" / outcome.student / assignment
            folder.mkdir(parents=True, exist_ok=True)
            reason = html.escape(outcome.message or outcome.status)
            (folder / "not_graded.html").write_text(NOT_GRADED_PAGE.format(assignment=assignment, reason=reason))
    zips = {}
    target = course.root / FEEDBACK_ZIPS / assignment
    target.mkdir(parents=True, exist_ok=True)
    for folder in sorted((course.root / "feedback").glob(f"*/{assignment}")):
        student = folder.parent.name
        zips[student] = Path(shutil.make_archive(str(target / student), "zip", folder))
    return zips
