"""The grade table: scores read back from nbgrader's gradebook."""

from __future__ import annotations

from dataclasses import dataclass

from nbgrader.api import Gradebook, MissingEntry

from autograder.course import Course


@dataclass(frozen=True)
class Score:
    student: str
    assignment: str
    auto_score: float
    max_auto_score: float
    needs_manual_grade: bool


def scores(course: Course, assignment: str) -> list[Score]:
    """One autograded score per student who submitted `assignment`."""
    with Gradebook(course.gradebook_url) as gradebook:
        result = []
        for student in sorted(s.id for s in gradebook.students):
            try:
                submission = gradebook.find_submission(assignment, student)
            except MissingEntry:
                continue
            result.append(
                Score(
                    student=student,
                    assignment=assignment,
                    auto_score=submission.code_score,
                    max_auto_score=submission.max_code_score,
                    needs_manual_grade=submission.needs_manual_grade,
                )
            )
        return result


def format_table(rows: list[Score]) -> str:
    header = f"{'assignment':<24} {'student':<16} {'autograded':>12}  manual grading"
    lines = [header, "-" * len(header)]
    for row in rows:
        points = f"{row.auto_score:g} / {row.max_auto_score:g}"
        lines.append(
            f"{row.assignment:<24} {row.student:<16} {points:>12}  {'pending' if row.needs_manual_grade else 'done'}"
        )
    return "\n".join(lines)
