"""Where things live: the course folder, its settings and its assignments.

The course folder is the repository root (nbgrader's course directory): it
holds ``nbgrader_config.py``, ``source/``, ``release/`` and ``pyproject.toml``,
whose ``[tool.quantization-course]`` table carries the course's settings.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

SETTINGS_TABLE = "quantization-course"

# Environment of every notebook the grader runs: the packaged offline model,
# no Hugging Face downloads, no telemetry.
OFFLINE_ENV = {
    "QUANT_COURSE_OFFLINE": "1",
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "PYTHONWARNINGS": "ignore",
    "TOKENIZERS_PARALLELISM": "false",
}


class CourseError(Exception):
    """A problem the instructor can fix; its message says how."""


@dataclass(frozen=True)
class Settings:
    github_repository: str
    github_branch: str
    colab_packages: dict[str, list[str]]
    collect_patterns: list[str] | None


@dataclass(frozen=True)
class Course:
    root: Path

    @classmethod
    def find(cls, start: Path | None = None) -> "Course":
        """The course whose folder holds ``start`` (default: the current folder)."""
        here = (start or Path.cwd()).resolve()
        for folder in (here, *here.parents):
            if (folder / "nbgrader_config.py").is_file() and (folder / "source").is_dir():
                return cls(folder)
        raise CourseError(
            f"{here} is not inside a course folder: expected nbgrader_config.py and "
            "source/ in it or a parent. Run from the course repository or pass --course-dir."
        )

    @property
    def source(self) -> Path:
        return self.root / "source"

    @property
    def release(self) -> Path:
        return self.root / "release"

    def assignments(self) -> list[str]:
        """Assignment names, in module order (``01_memory_math``, ``02_...``)."""
        return sorted(p.name for p in self.source.iterdir() if p.is_dir() and not p.name.startswith("."))

    def notebooks(self, assignment: str, folder: str = "source") -> list[Path]:
        return sorted((self.root / folder / assignment).glob("*.ipynb"))

    def copy_to(self, folder: Path, assignments: list[str] | None = None) -> "Course":
        """A scratch course in `folder` with this one's settings and the sources
        of `assignments` (default: all); release/ is generated there, not copied."""
        for name in ("nbgrader_config.py", "pyproject.toml"):
            shutil.copy2(self.root / name, folder / name)
        for assignment in assignments or self.assignments():
            shutil.copytree(self.source / assignment, folder / "source" / assignment)
        return Course(folder)

    def settings(self) -> Settings:
        with open(self.root / "pyproject.toml", "rb") as f:
            table = tomllib.load(f).get("tool", {}).get(SETTINGS_TABLE, {})
        return Settings(
            github_repository=table.get("github_repository", ""),
            github_branch=table.get("github_branch", "main"),
            colab_packages=table.get("colab-packages", {}),
            collect_patterns=table.get("collect", {}).get("student_patterns"),
        )

    @staticmethod
    def activate() -> None:
        """This process's environment becomes ``environment()``: for the grader's
        workers and coordinator, which run nbgrader in-process."""
        os.environ.update(Course.environment())

    @staticmethod
    def environment() -> dict[str, str]:
        """The environment for nbgrader: offline, and this Python's tools on PATH
        (nbgrader runs ``alembic`` by name, which an unactivated venv lacks)."""
        tools = str(Path(sys.executable).parent)
        return {**os.environ, **OFFLINE_ENV, "PATH": os.pathsep.join([tools, os.environ.get("PATH", "")])}

    def nbgrader(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        """Run ``nbgrader ARGS`` in the course folder with the offline environment."""
        result = subprocess.run(
            [sys.executable, "-m", "nbgrader", *args],
            cwd=self.root,
            env=self.environment(),
            capture_output=True,
            text=True,
        )
        if check and result.returncode != 0:
            raise CourseError(f"nbgrader {' '.join(args)} failed:\n{result.stdout}{result.stderr}")
        return result
