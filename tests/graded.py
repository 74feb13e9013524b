"""Run an assignment's source notebook in-process and re-run its test cells
against other (wrong) implementations, to prove the hidden tests reject them."""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
import pytest
from IPython.core.inputtransformer2 import TransformerManager

from autograder.course import OFFLINE_ENV

ROOT = Path(__file__).resolve().parent.parent


def grade_id(cell) -> str | None:
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")


class SolvedNotebook:
    """The namespace left by running every code cell of a source notebook."""

    def __init__(self, assignment: str):
        os.environ.update(OFFLINE_ENV)
        (self.path,) = sorted((ROOT / "source" / assignment).glob("*.ipynb"))
        nb = nbformat.read(self.path, as_version=4)
        self.code_cells = [c.source for c in nb.cells if c.cell_type == "code"]
        self.cells = {grade_id(c): c.source for c in nb.cells if c.cell_type == "code" and grade_id(c)}
        self.namespace: dict = {"__name__": "__main__"}
        cwd = Path.cwd()
        os.chdir(self.path.parent)
        try:
            for source in self.code_cells:
                self._exec(source, self.namespace)
        finally:
            os.chdir(cwd)

    def rerun_each_cell(self) -> None:
        """Run every code cell once more, in order, each on the state the complete
        notebook left (as a student re-runs one cell); an error names the cell."""
        cwd = Path.cwd()
        os.chdir(self.path.parent)
        try:
            for number, source in enumerate(self.code_cells, 1):
                try:
                    self._exec(source, dict(self.namespace))
                except Exception as error:
                    raise AssertionError(f"code cell {number} ({source.splitlines()[0]!r}) failed when run again: {error!r}") from error
        finally:
            os.chdir(cwd)

    @staticmethod
    def _exec(source: str, namespace: dict) -> None:
        exec(compile(TransformerManager().transform_cell(source), "<cell>", "exec"), namespace)

    def run_test(self, test_id: str, replacement: str = "") -> None:
        """Run test cell `test_id` (visible and hidden tests) after running
        `replacement` code, which redefines the student's answer."""
        namespace = dict(self.namespace)
        self._exec(replacement, namespace)
        self._exec(self.cells[test_id], namespace)

    def run_all_tests(self) -> list[str]:
        """Run every test cell against the solution; returns their grade ids."""
        for test_id in self.test_ids():
            self.run_test(test_id)
        return self.test_ids()

    def assert_rejects(self, wrong_answer: tuple) -> None:
        """`wrong_answer` is (test_id, replacement code[, expected exception]):
        the test cell must raise that exception (AssertionError by default)."""
        test_id, wrong_code, *expected = wrong_answer
        with pytest.raises(expected[0] if expected else AssertionError):
            self.run_test(test_id, wrong_code)

    def test_ids(self) -> list[str]:
        nb = nbformat.read(self.path, as_version=4)
        return [grade_id(c) for c in nb.cells if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("grade")]
