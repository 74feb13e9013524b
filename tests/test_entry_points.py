"""One grader, whichever door the instructor uses: on the class test's
submissions, `python -m autograder grade`, plain `nbgrader autograde` in the
course folder and formgrader's Autograde button (clicked in a real browser)
give every student the same exact score, with the same repairs, under the same
sandbox and limits (no network, nothing of the course or other students read,
nothing written outside, time, memory and output capped)."""

from __future__ import annotations

import shutil

import pytest

from autograder import gradebook
from autograder.cli import main
from class_builder import (
    ASSIGNMENT, EXPECTED, Listener, autograded_text, collected_class, copy_course, graded_results, sandbox_evidence,
)
from test_formgrader import CHROMIUM, browser_page, formgrader_server

playwright = pytest.importorskip("playwright.sync_api")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap is needed for the sandbox (see .ci/run)"),
    pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (see .ci/run)"),
]
# The class test's limits, in nbgrader_config.py so that every entry point has them.
LIMITS = "c.Execute.timeout = 20\nc.SandboxedExecute.memory_gb = 4.0"


@pytest.fixture(scope="module")
def collected(tmp_path_factory):
    listener = Listener()
    folder = tmp_path_factory.mktemp("collected")
    marker = folder / "pwned.txt"
    return collected_class(folder / "course", listener.port, marker), listener, marker


@pytest.fixture(scope="module")
def by_cli(collected, tmp_path_factory):
    course = copy_course(collected[0], tmp_path_factory.mktemp("cli") / "course", LIMITS)
    assert main(["--course-dir", str(course.root), "grade", ASSIGNMENT, "--jobs", "2"]) == 1  # the unreadable file
    return course


@pytest.fixture(scope="module")
def by_nbgrader(collected, tmp_path_factory):
    course = copy_course(collected[0], tmp_path_factory.mktemp("nbgrader") / "course", LIMITS)
    gradebook.register(course, ASSIGNMENT)  # what `nbgrader generate_assignment` does first
    result = course.nbgrader("autograde", ASSIGNMENT, "--force", check=False)
    assert "garbage" in result.stdout + result.stderr  # nbgrader reports the one file it cannot read
    return course


def autograde_every_row(url: str, page) -> None:
    """On formgrader's Manage Submissions page, press each student's Autograde button."""
    page.goto(f"{url}/formgrader/manage_submissions/{ASSIGNMENT}")
    page.wait_for_selector("td.autograde a", timeout=60_000)
    for index in range(page.locator("td.autograde a").count()):
        page.locator("td.autograde a").nth(index).click()
        page.wait_for_selector("#success-modal, #error-modal", timeout=600_000)
        page.locator(".modal.in button, .modal.show button").last.click()
        page.wait_for_selector("#success-modal, #error-modal", state="detached", timeout=30_000)


@pytest.fixture(scope="module")
def by_formgrader(collected, tmp_path_factory):
    course = copy_course(collected[0], tmp_path_factory.mktemp("formgrader") / "course", LIMITS)
    gradebook.register(course, ASSIGNMENT)
    with formgrader_server(course) as url, browser_page() as page:
        autograde_every_row(url, page)
    return course


def scores(course) -> dict[str, object]:
    """Each graded student's per-grade scores (garbage cannot be graded by any door)."""
    return {s: r for s, r in graded_results(course).items() if s != "garbage"}


def test_the_cli_grades_the_class_as_expected(by_cli):
    got = {s: sum(score or 0 for _, score in grades) for s, (_, grades) in scores(by_cli).items()}
    assert got == {s: p for s, p in EXPECTED.items() if p is not None}


@pytest.mark.parametrize("door", ["by_nbgrader", "by_formgrader"])
def test_every_door_gives_the_same_scores(door, by_cli, request):
    assert scores(request.getfixturevalue(door)) == scores(by_cli)


@pytest.mark.parametrize("door", ["by_cli", "by_nbgrader", "by_formgrader"])
def test_every_door_runs_student_code_in_the_sandbox(door, collected, request):
    _, listener, marker = collected
    evidence = sandbox_evidence(request.getfixturevalue(door), listener, marker)
    assert all(evidence.values()), evidence


@pytest.mark.parametrize("door", ["by_cli", "by_nbgrader", "by_formgrader"])
def test_every_door_repairs_the_submissions(door, request):
    assert "Grader's note" in autograded_text(request.getfixturevalue(door), "stripped_2001")
