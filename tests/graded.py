"""Run an assignment's source notebook in-process and re-run its test cells
against other implementations of the student's answers: wrong ones must be
rejected (by the visible check too, when they break a rule the text states),
correct alternatives must pass, and one mistake must cost one exercise.

Each tests/test_<assignment>.py holds WRONG_ANSWERS and CORRECT_ANSWERS,
dicts from a description to a `Wrong` or an `Answer`;
tests/test_coverage.py checks that every graded test cell has enough of both."""

from __future__ import annotations

import ast
import os
import re
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest
from IPython.core.inputtransformer2 import TransformerManager

from autograder.course import OFFLINE_ENV

ROOT = Path(__file__).resolve().parent.parent


HIDDEN_TESTS = re.compile(r"^[ \t]*### BEGIN HIDDEN TESTS.*?### END HIDDEN TESTS[^\n]*\n?", re.S | re.M)


def grade_id(cell) -> str | None:
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")


def edited(code: str, *edits: tuple[str, str]) -> str:
    """`code` with each edit (old, new) applied: the usual way to write a wrong answer
    or an alternative as the one line it changes in a correct answer.

    Raises ValueError when an `old` does not occur exactly once in the code it is
    applied to, so an edit that no longer fits its answer fails loudly instead of
    silently testing the unchanged code."""
    for old, new in edits:
        count = code.count(old)
        if count != 1:
            raise ValueError(f"edit {old!r} -> {new!r}: found {count} times in the code, expected once")
        code = code.replace(old, new)
    return code


@dataclass(frozen=True)
class Answer:
    """`code` redefines one or more of the student's answers; test cell `test_id` judges it."""

    test_id: str
    code: str


@dataclass(frozen=True)
class Wrong(Answer):
    """A plausible mistake, which test cell `test_id` must reject with `error`.

    `visible`: the visible check alone rejects it too, as it must for any answer
    that breaks a rule the exercise states. False only for an answer that is right
    on the notebook's own inputs and wrong elsewhere (a hard-coded value)."""

    visible: bool = True
    error: type[BaseException] = AssertionError


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

    def run_test(self, test_id: str, replacement: str = "", visible_only: bool = False) -> None:
        """Run test cell `test_id` (visible and hidden tests, or the visible check
        alone as a student sees it) after running `replacement` code, which
        redefines the student's answer."""
        # In the notebook's own namespace, as in a kernel: the notebook's other functions
        # look their helpers up there, so a replaced helper reaches them. Restored after.
        saved = dict(self.namespace)
        try:
            self._exec(replacement, self.namespace)
            cell = self.cells[test_id]
            self._exec(HIDDEN_TESTS.sub("", cell) if visible_only else cell, self.namespace)
        finally:
            self.namespace.clear()
            self.namespace.update(saved)

    def run_all_tests(self) -> list[str]:
        """Run every test cell against the solution; returns their grade ids."""
        for test_id in self.test_ids():
            self.run_test(test_id)
        return self.test_ids()

    def assert_rejects(self, wrong: Wrong) -> None:
        """The test cell rejects `wrong`; so does its visible check unless
        `wrong.visible` is False."""
        with pytest.raises(wrong.error):
            self.run_test(wrong.test_id, wrong.code)
        if wrong.visible:
            with pytest.raises(wrong.error):
                self.run_test(wrong.test_id, wrong.code, visible_only=True)

    def assert_accepts(self, answer: Answer) -> None:
        """The test cell, visible and hidden tests, accepts a correct alternative."""
        self.run_test(answer.test_id, answer.code)

    def assert_costs_one_exercise(self, wrong: Wrong) -> None:
        """With `wrong` in place, test cell `wrong.test_id` fails and every other passes:
        later exercises grade with the course's own versions of earlier helpers."""
        failed = []
        for test_id in self.test_ids():
            try:
                self.run_test(test_id, wrong.code)
            except Exception:
                failed.append(test_id)
        assert failed == [wrong.test_id]

    def assert_test_cells_show_no_value(self) -> None:
        """nbgrader reads a test cell's displayed value as partial credit: the last
        statement of every test cell, visible part alone or whole, must give None."""
        for test_id in self.test_ids():
            for source in (self.cells[test_id], HIDDEN_TESTS.sub("", self.cells[test_id])):
                *body, last = ast.parse(source).body
                namespace = dict(self.namespace)
                exec(compile(ast.Module(body=body, type_ignores=[]), "<cell>", "exec"), namespace)
                if isinstance(last, ast.Expr):
                    value = eval(compile(ast.Expression(last.value), "<cell>", "eval"), namespace)
                    assert value is None, (test_id, value)

    def test_ids(self) -> list[str]:
        nb = nbformat.read(self.path, as_version=4)
        return [grade_id(c) for c in nb.cells if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("grade")]
