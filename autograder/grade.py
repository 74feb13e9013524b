"""Autograding with nbgrader: every submission of an assignment, scored into
the gradebook."""

from __future__ import annotations

from autograder.course import Course


def autograde(course: Course, assignment: str) -> None:
    """Run ``nbgrader autograde`` for every submission of `assignment`."""
    course.nbgrader("autograde", assignment, "--force")
