"""Lecture notebooks: committed with their outputs, free of errors and
spilled warnings, and they still run top to bottom on a fresh kernel."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from autograder.course import OFFLINE_ENV

ROOT = Path(__file__).resolve().parent.parent
LECTURES = sorted((ROOT / "notebooks").glob("*.ipynb"))


def code_cells(nb):
    return [c for c in nb.cells if c.cell_type == "code"]


@pytest.mark.parametrize("path", LECTURES, ids=lambda p: p.stem)
def test_committed_with_outputs_and_no_errors(path):
    nb = nbformat.read(path, as_version=4)
    cells = code_cells(nb)
    assert all(c.execution_count for c in cells), "commit the lecture executed (every code cell run)"
    assert [c.execution_count for c in cells] == list(range(1, len(cells) + 1)), "run it top to bottom on a fresh kernel"
    for cell in cells:
        for output in cell.outputs:
            assert output.output_type != "error", cell.source[:80]
            assert output.get("name") != "stderr", f"warning or error text in the output of: {cell.source[:80]}"


@pytest.mark.parametrize("path", LECTURES, ids=lambda p: p.stem)
def test_plots_are_titled_and_labelled(path):
    source = "\n".join(c.source for c in code_cells(nbformat.read(path, as_version=4)))
    for call in ("plt.subplots(", "plt.figure("):
        if call in source:
            assert "set_title(" in source or "suptitle(" in source or "plt.title(" in source
            assert "set_xlabel(" in source or "plt.xlabel(" in source


@pytest.mark.slow
@pytest.mark.parametrize("path", LECTURES, ids=lambda p: p.stem)
def test_runs_top_to_bottom_offline(path, tmp_path, monkeypatch):
    for name, value in OFFLINE_ENV.items():
        monkeypatch.setenv(name, value)
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=600, resources={"metadata": {"path": str(tmp_path)}}).execute()
    assert not [o for c in code_cells(nb) for o in c.outputs if o.output_type == "error"]
