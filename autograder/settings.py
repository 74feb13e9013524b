"""The course's grading settings: ``nbgrader_config.py``, read as nbgrader reads it.

Settings an instructor changes are traitlets of nbgrader's classes and of the
course's own (``SandboxedExecute``), with their defaults declared once, on
the trait, and their values in ``nbgrader_config.py``. nbgrader, formgrader
and ``python -m autograder`` all read that one file; command-line options of
``grade`` override it for one run.
"""

from __future__ import annotations

from pathlib import Path

from nbgrader.preprocessors import Execute
from traitlets.config import Config, PyFileConfigLoader

from autograder.sandbox import SandboxedExecute

DOCUMENTED = (SandboxedExecute, Execute)  # whose settings `python -m autograder settings` explains


def load(course_root: Path | str, **course_directory: str) -> Config:
    """nbgrader_config.py of the course, with CourseDirectory settings overridden."""
    config = PyFileConfigLoader("nbgrader_config.py", path=str(course_root)).load_config()
    config.merge(Config({"CourseDirectory": {"root": str(course_root), **course_directory}}))
    return config


def value(course, cls, name: str):
    """The value of setting `cls.name` for this course."""
    return getattr(cls(config=load(course.root)), name)


def describe(course) -> str:
    """Every documented setting: its value for this course and its help."""
    config = load(course.root)
    lines = [f"Grading settings of {course.root / 'nbgrader_config.py'} (c.Class.name = value):", ""]
    for cls in DOCUMENTED:
        instance = cls(config=config)
        for name, trait in sorted(cls.class_traits(config=True).items()):
            if cls is Execute and name != "timeout" or cls is SandboxedExecute and name in Execute.class_traits():
                continue  # of nbgrader's many execution settings, the course sets the cell time limit
            lines.append(f"c.{cls.__name__}.{name} = {getattr(instance, name)!r}")
            lines.append(f"    {' '.join((trait.help or '').split())}")
    return "\n".join(lines)
