"""Every cell of every assignment gives the same verdict when run again.

Students re-run cells, and libraries change models in place (bitsandbytes
repacks a 4-bit layer on its first forward pass on some CPUs). So each
solved source notebook runs top to bottom, then each code cell runs a
second time on the state the whole notebook left, as a student re-runs one
cell: none may fail, so every check still passes."""

import pytest

from graded import ROOT, SolvedNotebook

ASSIGNMENTS = sorted(p.name for p in (ROOT / "source").iterdir() if p.is_dir())


@pytest.mark.slow
@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_every_cell_passes_when_run_again_after_the_whole_notebook(assignment):
    notebook = SolvedNotebook(assignment)
    notebook.rerun_each_cell()
