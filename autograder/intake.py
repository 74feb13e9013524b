"""Collecting submissions: an LMS download (a zip or a folder) into nbgrader's
``submitted/<student>/<assignment>/<notebook>.ipynb``.

The student comes from the file's path, by the first of the course's naming
rules that matches (a regular expression with a ``student`` group, set in
``pyproject.toml`` under ``[tool.quantization-course.collect]``). The
notebook comes from what is left of the file name once the renames that
browsers, Colab and LMSs make are undone ("Copy of ...", "... (1)",
"...-2"), or else from the notebook's own grading metadata. Files are
copied, never moved: the download is left untouched. Every file is accounted
for in the returned log, placed or not, with the reason.
"""

from __future__ import annotations

import json
import re
import shutil
import zipfile
from dataclasses import dataclass
from pathlib import Path

import nbformat

# Tried in order on the path inside the download (with "/" separators).
DEFAULT_STUDENT_PATTERNS = [
    r"^(?P<student>[^/]+)/",  # one folder per student
    r"^(?P<student>[A-Za-z0-9.\-]+?)_(?:LATE_)?\d+_\d+_",  # Canvas: name_12345_67890_file
    r"^(?P<student>[^_/]+)_\d+_assignsubmission_file_",  # Moodle
    r"^(?P<student>[A-Za-z0-9.\-]+)_{1,2}",  # generic: student_file, student__file
]
RENAMES = [
    re.compile(r"^copy of ", re.I),  # Colab, Google Drive
    re.compile(r"^copy_of_", re.I),
    re.compile(r"\s*\(\d+\)$"),  # browsers: "name (1)"
    re.compile(r"-\d+$"),  # Canvas resubmissions: "name-1"
]


@dataclass
class Intake:
    original: str
    status: str = "not placed"  # or "placed", "superseded"
    student: str = ""
    assignment: str = ""
    destination: str = ""
    reason: str = ""


def notebook_stem(file_name: str) -> str:
    stem = file_name[: -len(".ipynb")] if file_name.lower().endswith(".ipynb") else file_name
    changed = True
    while changed:
        changed = False
        for rename in RENAMES:
            new = rename.sub("", stem).strip()
            changed |= new != stem
            stem = new
    return stem.lower().replace(" ", "_")


class Collector:
    def __init__(self, course_root: Path, patterns: list[str] | None = None):
        self.root = course_root
        self.patterns = [re.compile(p) for p in (patterns or DEFAULT_STUDENT_PATTERNS)]
        # release notebook stem -> (assignment, file name); grade ids -> assignment
        self.notebooks: dict[str, tuple[str, str]] = {}
        self.grade_ids: dict[str, tuple[str, str]] = {}
        for path in sorted((course_root / "release").glob("*/*.ipynb")):
            self.notebooks[path.stem.lower()] = (path.parent.name, path.name)
            for cell in nbformat.read(path, as_version=4).cells:
                gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
                if gid:
                    self.grade_ids[gid] = (path.parent.name, path.name)

    def student_of(self, relative: str) -> tuple[str, str] | None:
        """(student, rest of the file name) by the first matching rule."""
        for pattern in self.patterns:
            m = pattern.match(relative)
            if m:
                return re.sub(r"[^A-Za-z0-9.\-]", "_", m.group("student")).lower(), relative[m.end():].split("/")[-1]
        return None

    def notebook_of(self, rest: str, path: Path) -> tuple[str, str] | None:
        stem = notebook_stem(rest)
        for known, target in self.notebooks.items():
            if stem == known or stem.endswith("_" + known):
                return target
        try:  # renamed beyond recognition: the grading metadata tells
            votes: dict[tuple[str, str], int] = {}
            for cell in nbformat.read(path, as_version=4).cells:
                target = self.grade_ids.get(cell.get("metadata", {}).get("nbgrader", {}).get("grade_id"))
                if target:
                    votes[target] = votes.get(target, 0) + 1
            return max(votes, key=votes.get) if votes else None
        except Exception:
            return None

    def collect(self, download: Path) -> list[Intake]:
        folder = unpack(download, self.root / "downloaded")
        log: list[Intake] = []
        chosen: dict[tuple[str, str, str], tuple[Path, Intake]] = {}
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            relative = path.relative_to(folder).as_posix()
            entry = Intake(original=str(path))
            log.append(entry)
            if not path.name.lower().endswith(".ipynb"):
                entry.status, entry.reason = "not placed", "not a notebook (.ipynb)"
                continue
            who = self.student_of(relative)
            if who is None:
                entry.status, entry.reason = "not placed", "no student found in the file name (see the collect naming rules)"
                continue
            entry.student, rest = who
            target = self.notebook_of(rest, path)
            if target is None:
                entry.status, entry.reason = "not placed", f"'{rest}' matches no notebook of any assignment"
                continue
            entry.assignment, name = target
            key = (entry.student, entry.assignment, name)
            if key in chosen and chosen[key][0].stat().st_mtime >= path.stat().st_mtime:
                entry.status, entry.reason = "superseded", f"a newer file for the same notebook: {chosen[key][0].name}"
                continue
            if key in chosen:
                earlier = chosen[key][1]
                earlier.status, earlier.reason, earlier.destination = "superseded", f"a newer file: {path.name}", ""
            chosen[key] = (path, entry)
            entry.status = "placed"
        for (student, assignment, name), (path, entry) in chosen.items():
            destination = self.root / "submitted" / student / assignment / name
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, destination)
            entry.destination = str(destination.relative_to(self.root))
        (self.root / "downloaded").mkdir(exist_ok=True)
        (self.root / "downloaded" / "collect_log.json").write_text(json.dumps([e.__dict__ for e in log], indent=1))
        return log


def unpack(download: Path, downloaded: Path) -> Path:
    """A folder with the download's files: the folder itself, or a zip unpacked
    into ``downloaded/<zip name>/`` (the zip itself is left as it is)."""
    if download.is_dir():
        return download
    if not zipfile.is_zipfile(download):
        raise ValueError(f"{download} is neither a folder nor a zip file")
    target = downloaded / download.stem
    if target.exists():
        shutil.rmtree(target)
    with zipfile.ZipFile(download) as archive:
        for member in archive.infolist():
            resolved = (target / member.filename).resolve()
            if not resolved.is_relative_to(target.resolve()):
                raise ValueError(f"{download}: unsafe path in the zip: {member.filename}")
        archive.extractall(target)
    return target
