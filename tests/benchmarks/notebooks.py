"""Execution time of every notebook on this machine, against its budget:
each release notebook with the solutions filled in (60 s; the GPU lab 120 s)
and each lecture notebook. Offline, as the grader runs them.

    python tests/benchmarks/notebooks.py
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from autograder import samples  # noqa: E402
from autograder.course import OFFLINE_ENV, Course  # noqa: E402

BUDGET = {"04_gpu_lab_4bit": 120}


def run(nb: nbformat.NotebookNode, folder: Path) -> tuple[float, int]:
    started = time.perf_counter()
    NotebookClient(nb, timeout=600, allow_errors=True, resources={"metadata": {"path": str(folder)}}).execute()
    errors = sum(o.output_type == "error" for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    return time.perf_counter() - started, errors


def main() -> None:
    os.environ.update(OFFLINE_ENV)
    course = Course(ROOT)
    print(f"{'notebook':<48} {'seconds':>8} {'budget':>7}  errors")
    for assignment in course.assignments():
        for release_nb in course.notebooks(assignment, folder="release"):
            nb = samples.fill_answers(release_nb, course.source / assignment / release_nb.name)
            with tempfile.TemporaryDirectory() as scratch:
                seconds, errors = run(nb, Path(scratch))
            budget = BUDGET.get(assignment, 60)
            flag = "" if seconds <= budget else "  OVER BUDGET"
            print(f"{'release/' + assignment + '/' + release_nb.name + ' (solved)':<48} {seconds:8.1f} {budget:7d}  {errors}{flag}")
    for lecture in sorted((ROOT / "notebooks").glob("*.ipynb")):
        with tempfile.TemporaryDirectory() as scratch:
            seconds, errors = run(nbformat.read(lecture, as_version=4), Path(scratch))
        print(f"{'notebooks/' + lecture.name:<48} {seconds:8.1f} {'':>7}  {errors}")


if __name__ == "__main__":
    main()
