"""Grades out of the gradebook: the table printed after grading, the CSV for
an LMS (one column per question), and the class report (HTML with plots)."""

from __future__ import annotations

import base64
import csv
import html
import io
import json
from dataclasses import asdict, dataclass
from pathlib import Path

from nbgrader.api import MissingEntry

from autograder.course import Course
from autograder.gradebook import open_gradebook

EXPORTS = "exports"


@dataclass(frozen=True)
class Score:
    student: str
    assignment: str
    auto_score: float
    max_auto_score: float
    needs_manual_grade: bool


def outcomes_path(course: Course, assignment: str) -> Path:
    return course.root / "autograded" / f"grading_{assignment}.json"


def save_outcomes(course: Course, assignment: str, outcomes) -> None:
    """Record these students' outcomes; other students keep theirs (a re-grade of a few)."""
    merged = {**load_outcomes(course, assignment), **{o.student: asdict(o) for o in outcomes}}
    path = outcomes_path(course, assignment)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps([merged[s] for s in sorted(merged)], indent=1, ensure_ascii=False))


def load_outcomes(course: Course, assignment: str) -> dict[str, dict]:
    path = outcomes_path(course, assignment)
    return {o["student"]: o for o in json.loads(path.read_text())} if path.exists() else {}


def scores(course: Course, assignment: str) -> list[Score]:
    """One autograded score per student who has a graded submission of `assignment`."""
    with open_gradebook(course) as gradebook:
        result = []
        for student in sorted(s.id for s in gradebook.students):
            try:
                submission = gradebook.find_submission(assignment, student)
            except MissingEntry:
                continue
            result.append(
                Score(student, assignment, submission.code_score, submission.max_code_score, submission.needs_manual_grade)
            )
        return result


def format_table(rows: list[Score], outcomes: dict[str, dict] | None = None) -> str:
    outcomes = outcomes or {}
    header = f"{'assignment':<24} {'student':<16} {'autograded':>12}  {'manual grading':<15} note"
    lines = [header, "-" * len(header)]
    for row in rows:
        points = f"{row.auto_score:g} / {row.max_auto_score:g}"
        outcome = outcomes.get(row.student, {})
        note = outcome.get("message", "")
        if outcome.get("repairs"):
            note = f"{len(outcome['repairs'])} repair(s). {note}"
        lines.append(
            f"{row.assignment:<24} {row.student:<16} {points:>12}  {'pending' if row.needs_manual_grade else 'done':<15} {note}".rstrip()
        )
    graded = {r.student for r in rows}
    for student, outcome in sorted(outcomes.items()):
        if student not in graded:
            lines.append(f"{'':<24} {student:<16} {'NOT GRADED':>12}  {'':<15} {outcome['status']}: {outcome['message']}")
    return "\n".join(lines)


def grade_table(course: Course, assignment: str) -> tuple[list[str], list[dict]]:
    """Per student: each question's score, totals, status; and the question names."""
    outcomes = load_outcomes(course, assignment)
    with open_gradebook(course) as gradebook:
        notebooks = gradebook.find_assignment(assignment).notebooks
        questions = [(nb.name, cell.name, cell.max_score) for nb in notebooks for cell in nb.grade_cells]
        rows = []
        students = sorted({s.id for s in gradebook.students} | set(outcomes))
        for student in students:
            row = {"student": student}
            try:
                submission = gradebook.find_submission(assignment, student)
            except MissingEntry:
                submission = None
            for nb_name, cell_name, _ in questions:
                row[cell_name] = (
                    gradebook.find_grade(cell_name, nb_name, assignment, student).score if submission else 0.0
                )
            # As nbgrader's own CSV export: the late penalty is taken off the total.
            row["raw"] = submission.score if submission else 0.0
            row["late_penalty"] = submission.late_submission_penalty if submission else 0.0
            row["total"] = row["raw"] - row["late_penalty"]
            row["max"] = sum(q[2] for q in questions)
            row["needs_manual_grade"] = bool(submission and submission.needs_manual_grade)
            outcome = outcomes.get(student, {})
            row["status"] = outcome.get("status", "graded" if submission else "not submitted")
            row["note"] = outcome.get("message", "")
            row["repairs"] = len(outcome.get("repairs", []))
            rows.append(row)
    return [q[1] for q in questions], rows


def export(course: Course, assignment: str) -> tuple[Path, Path]:
    """Write ``exports/<assignment>_grades.csv`` and ``exports/<assignment>_report.html``."""
    questions, rows = grade_table(course, assignment)
    folder = course.root / EXPORTS
    folder.mkdir(exist_ok=True)
    csv_path = folder / f"{assignment}_grades.csv"
    with open(csv_path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["student", *questions, "raw", "late_penalty", "total", "max", "needs_manual_grade", "status", "repairs", "note"])
        writer.writeheader()
        writer.writerows(rows)
    html_path = folder / f"{assignment}_report.html"
    html_path.write_text(class_report(course, assignment, questions, rows))
    return csv_path, html_path


def _figure_png(fig) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    return base64.b64encode(buffer.getvalue()).decode()


def class_report(course: Course, assignment: str, questions: list[str], rows: list[dict]) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with open_gradebook(course) as gradebook:
        maxima = {c.name: c.max_score for nb in gradebook.find_assignment(assignment).notebooks for c in nb.grade_cells}
    graded = [r for r in rows if r["status"] == "graded"]
    fig, ax = plt.subplots(figsize=(max(6, 0.6 * len(questions)), 3.5))
    fractions = [[r[q] / maxima[q] for r in graded] for q in questions]
    ax.boxplot(fractions, showmeans=True)
    ax.set_xticks(range(1, len(questions) + 1), questions, rotation=60, ha="right")
    ax.set_ylim(-0.05, 1.05)
    ax.set_title(f"{assignment}: score per question ({len(graded)} graded submissions)")
    ax.set_xlabel("question")
    ax.set_ylabel("fraction of the points")
    distribution = _figure_png(fig)
    plt.close(fig)

    failing = sorted(((sum(r[q] < maxima[q] for r in graded), q) for q in questions), reverse=True)
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.hist([r["total"] for r in graded], bins=10, range=(0, rows[0]["max"] if rows else 1))
    ax.set_title(f"{assignment}: total scores")
    ax.set_xlabel("points")
    ax.set_ylabel("students")
    totals = _figure_png(fig)
    plt.close(fig)

    failing_rows = "".join(
        f"<tr><td>{html.escape(q)}</td><td>{n}</td><td>{n / len(graded):.0%}</td></tr>" for n, q in failing if n
    ) if graded else ""
    problems = "".join(
        f"<tr><td>{html.escape(r['student'])}</td><td>{html.escape(r['status'])}</td><td>{html.escape(r['note'])}</td></tr>"
        for r in rows if r["status"] != "graded"
    )
    return f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{assignment}: class report</title>
<style>body{{font-family:sans-serif;max-width:960px;margin:2em auto}} td,th{{padding:2px 10px;border-bottom:1px solid #ddd}}</style>
</head><body>
<h1>{assignment}: class report</h1>
<p>{len(rows)} students, {len(graded)} graded.</p>
<h2>Score distribution per question</h2><img alt="score per question" src="data:image/png;base64,{distribution}">
<h2>Total scores</h2><img alt="total scores" src="data:image/png;base64,{totals}">
<h2>Most frequently failing checks</h2>
<table><tr><th>question</th><th>students below full marks</th><th>share</th></tr>{failing_rows}</table>
<h2>Submissions that were not graded</h2>
<table><tr><th>student</th><th>status</th><th>reason</th></tr>{problems}</table>
</body></html>
"""
