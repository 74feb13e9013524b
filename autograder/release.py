"""Student versions: ``release/`` generated from ``source/``.

nbgrader's ``generate_assignment`` strips solutions and hidden tests; this
module then opens each student notebook with an "Open in Colab" badge and a
setup cell, and removes release folders whose source is gone. The result
depends only on ``source/`` and the settings, so running it twice changes
nothing and a test can compare it with the committed ``release/``.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import nbformat

from autograder.course import Course, Settings

BADGE_CELL_ID = "colab-badge"
SETUP_CELL_ID = "colab-setup"

SETUP_TEMPLATE = '''\
# Setup: installs only what this notebook needs and this machine lacks, then
# reports the device. Runs unchanged on Colab, on a laptop and in the grader.
import importlib.metadata
import subprocess
import sys

NEEDED = {packages}
missing = []
for distribution in NEEDED:
    try:
        importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        missing.append(distribution)
if missing:
    print("Installing", ", ".join(missing))
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", *missing], check=True)

import torch

if torch.cuda.is_available():
    capability = torch.cuda.get_device_capability()
    # bf16 needs compute capability 8.0 (Ampere); a Colab T4 is 7.5, so fp16.
    COMPUTE_DTYPE = torch.bfloat16 if capability >= (8, 0) else torch.float16
    print(f"GPU: {{torch.cuda.get_device_name()}}, capability {{capability}}, compute dtype {{COMPUTE_DTYPE}}")
else:
    COMPUTE_DTYPE = torch.float32
    print("No GPU: running on the CPU, which is all this notebook's graded cells need.")
'''


def colab_url(settings: Settings, assignment: str, notebook: str) -> str:
    return (
        f"https://colab.research.google.com/github/{settings.github_repository}"
        f"/blob/{settings.github_branch}/release/{assignment}/{notebook}"
    )


def badge_cell(settings: Settings, assignment: str, notebook: str) -> nbformat.NotebookNode:
    url = colab_url(settings, assignment, notebook)
    cell = nbformat.v4.new_markdown_cell(
        f"[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]({url})\n\n"
        "Run the cells from top to bottom, fill in every `YOUR CODE HERE`, "
        "and check your work with the cell below each exercise. "
        "When you are done, download the notebook (File > Download > .ipynb) and submit it."
    )
    cell.id = BADGE_CELL_ID
    return cell


def setup_cell(packages: list[str]) -> nbformat.NotebookNode:
    cell = nbformat.v4.new_code_cell(SETUP_TEMPLATE.format(packages=json.dumps(packages)))
    cell.id = SETUP_CELL_ID
    return cell


def add_colab_cells(path: Path, settings: Settings, assignment: str) -> None:
    nb = nbformat.read(path, as_version=4)
    nb.cells = [cell for cell in nb.cells if cell.get("id") not in (BADGE_CELL_ID, SETUP_CELL_ID)]
    packages = settings.colab_packages.get(assignment, [])
    nb.cells[:0] = [badge_cell(settings, assignment, path.name), setup_cell(packages)]
    nbformat.write(nb, path)


def release(course: Course, assignments: list[str] | None = None) -> list[Path]:
    """Regenerate the student versions; returns the notebooks written."""
    settings = course.settings()
    wanted = assignments or course.assignments()
    for stale in course.release.glob("*"):
        if stale.is_dir() and stale.name not in course.assignments():
            shutil.rmtree(stale)
    written = []
    for assignment in wanted:
        course.nbgrader("generate_assignment", assignment, "--force")
        for path in course.notebooks(assignment, folder="release"):
            add_colab_cells(path, settings, assignment)
            written.append(path)
    return written
