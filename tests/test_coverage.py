"""Every graded test cell of every assignment is proven both ways: its test
file holds at least four wrong answers of distinct kinds that it must reject
and two correct alternatives that it must accept (tests/graded.py runs them)."""

import importlib

import nbformat
import pytest

from graded import ROOT, Answer, Wrong, edited, grade_id

ASSIGNMENTS = sorted(p.name for p in (ROOT / "source").iterdir() if p.is_dir())
MIN_WRONG, MIN_CORRECT = 4, 2


def graded_test_ids(assignment):
    (path,) = sorted((ROOT / "source" / assignment).glob("*.ipynb"))
    cells = nbformat.read(path, as_version=4).cells
    return [grade_id(c) for c in cells if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("grade")]


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_every_test_cell_has_wrong_and_correct_answers(assignment):
    module = importlib.import_module(f"test_{assignment}")
    wrong, correct = module.WRONG_ANSWERS.values(), module.CORRECT_ANSWERS.values()
    assert all(isinstance(w, Wrong) for w in wrong) and all(type(a) is Answer for a in correct)
    test_ids = graded_test_ids(assignment)
    assert {a.test_id for a in [*wrong, *correct]} <= set(test_ids), "an answer names a test cell that does not exist"
    short = {
        test_id: (sum(w.test_id == test_id for w in wrong), sum(a.test_id == test_id for a in correct))
        for test_id in test_ids
    }
    short = {t: counts for t, counts in short.items() if counts[0] < MIN_WRONG or counts[1] < MIN_CORRECT}
    assert not short, f"(wrong, correct) answers per test cell, need ({MIN_WRONG}, {MIN_CORRECT}): {short}"


def test_edited_changes_each_old_text_once_and_refuses_what_does_not_fit():
    assert edited("x = 1\ny = x + 1\n", ("+ 1", "- 1"), ("x = 1", "x = 2")) == "x = 2\ny = x - 1\n"
    with pytest.raises(ValueError, match="found 0 times"):
        edited("x = 1\n", ("x = 2", "x = 3"))
    with pytest.raises(ValueError, match="found 2 times"):
        edited("x = x\n", ("x", "y"))
