"""What students see after grading: nbgrader's feedback pages, without the
hidden tests.

nbgrader puts the hidden tests back into the graded notebook and shows them,
and their tracebacks, in the feedback (nbgrader issue #917). The preprocessor
below, configured for ``generate_feedback`` in ``nbgrader_config.py``, drops
the hidden region from each test cell and shortens a failing check's
traceback to its message, which our checks write for students.
"""

from __future__ import annotations

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
