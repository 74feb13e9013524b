"""The instructor pipeline, end to end, for every assignment in source/:
nbgrader validate, generate_assignment (through our release command),
autograde of a solved and an untouched submission, generate_feedback.
Scores are read back from the gradebook and compared exactly."""

from __future__ import annotations

import filecmp
from pathlib import Path

import nbformat
import pytest

from autograder import release, samples
from autograder.course import Course
from autograder.gradebook import open_gradebook

ROOT = Path(__file__).resolve().parent.parent
ASSIGNMENTS = Course(ROOT).assignments()

pytestmark = pytest.mark.slow


def autograded_points(assignment: str) -> float:
    """Points of the autograded (code) test cells, from the source notebooks."""
    total = 0.0
    for path in Course(ROOT).notebooks(assignment):
        for cell in nbformat.read(path, as_version=4).cells:
            meta = cell.get("metadata", {}).get("nbgrader", {})
            if cell.cell_type == "code" and meta.get("grade"):
                total += meta["points"]
    return total


@pytest.fixture(scope="session")
def released(tmp_path_factory):
    """A scratch copy of the course; released(assignment) generates that
    assignment's student versions there (once) and returns the copy."""
    copy = Course(ROOT).copy_to(tmp_path_factory.mktemp("course"))
    done = set()

    def release_once(assignment: str) -> Course:
        if assignment not in done:
            release.release(copy, [assignment])
            done.add(assignment)
        return copy

    return release_once


@pytest.fixture(scope="session")
def graded(released):
    """Per assignment: the gradebook after autograding a solved and a blank submission."""
    done = {}

    def grade(assignment: str) -> Course:
        course = released(assignment)
        if assignment not in done:
            samples.write_submission(course.root, "solved", assignment, fraction=1.0)
            samples.write_submission(course.root, "blank", assignment, fraction=0.0)
            course.nbgrader("autograde", assignment, "--force")
            course.nbgrader("generate_feedback", assignment, "--force")
            done[assignment] = course
        return done[assignment]

    return grade


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_committed_release_matches_generated(released, assignment):
    course = released(assignment)
    generated, committed = course.release / assignment, ROOT / "release" / assignment
    names = sorted(p.name for p in generated.iterdir())
    assert names == sorted(p.name for p in committed.iterdir()), "release/ has other files than generated"
    match, mismatch, errors = filecmp.cmpfiles(generated, committed, names, shallow=False)
    assert not mismatch + errors, (
        f"release/{assignment} differs from what `python -m autograder release` makes: {mismatch + errors}. "
        "Edit source/, then regenerate; never edit release/ by hand."
    )


def test_release_is_deterministic(released):
    assignment = ASSIGNMENTS[0]
    course = released(assignment)
    before = {p.name: p.read_bytes() for p in (course.release / assignment).iterdir()}
    release.release(course, [assignment])
    assert before == {p.name: p.read_bytes() for p in (course.release / assignment).iterdir()}


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_source_notebooks_validate(released, assignment):
    course = released(assignment)
    for path in course.notebooks(assignment):
        result = course.nbgrader("validate", str(path), check=False)
        assert "Success! Your notebook passes all the tests." in result.stdout, result.stdout + result.stderr


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_solution_gets_every_autograded_point(graded, assignment):
    course = graded(assignment)
    expected = autograded_points(assignment)
    assert expected > 0
    with open_gradebook(course) as gradebook:
        submission = gradebook.find_submission(assignment, "solved")
        assert submission.max_code_score == expected
        assert submission.code_score == expected, [
            (g.name, g.auto_score, g.max_score) for g in submission.grades if g.auto_score != g.max_score
        ]


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_untouched_release_gets_zero(graded, assignment):
    course = graded(assignment)
    with open_gradebook(course) as gradebook:
        submission = gradebook.find_submission(assignment, "blank")
        assert submission.max_code_score == autograded_points(assignment)
        assert submission.code_score == 0
        assert submission.written_score == 0


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_feedback_is_generated(graded, assignment):
    course = graded(assignment)
    for student in ("solved", "blank"):
        pages = list((course.root / "feedback" / student / assignment).glob("*.html"))
        assert [p.stem for p in pages] == [p.stem for p in course.notebooks(assignment)]
        html = pages[0].read_text()
        assert "BEGIN HIDDEN TESTS" not in html and "they stay hidden" in html
