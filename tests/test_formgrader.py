"""Manual grading stays in nbgrader's formgrader: in a real (headless)
browser it opens on this course, lists the assignment and shows an
autograded submission."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import nbformat
import pytest

from autograder import release, samples
from autograder.course import Course

ROOT = Path(__file__).resolve().parent.parent
ASSIGNMENT = "01_memory_math"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

playwright = pytest.importorskip("playwright.sync_api")
pytestmark = [pytest.mark.slow, pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (see .ci/run)")]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def formgrader_server(course: Course):
    """A Jupyter server with formgrader on `course`, on 127.0.0.1 only; yields its URL."""
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyter", "server", "--no-browser", f"--port={port}", "--ip=127.0.0.1",
         "--IdentityProvider.token=", "--ServerApp.password=", "--ServerApp.disable_check_xsrf=True",
         "--allow-root", f"--ServerApp.root_dir={course.root}"],
        cwd=course.root, env=course.environment(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            try:
                urllib.request.urlopen(f"{url}/api/status", timeout=1)
                break
            except OSError:
                time.sleep(0.5)
        else:
            pytest.fail("jupyter server did not start")
        yield url
    finally:
        server.terminate()
        server.wait(timeout=30)


@contextmanager
def browser_page():
    """A page of Debian's chromium, headless, driven by Playwright."""
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--no-first-run"],
        )
        yield browser.new_page()
        browser.close()


@pytest.fixture(scope="module")
def formgrader(tmp_path_factory):
    course = Course(ROOT).copy_to(tmp_path_factory.mktemp("formgrader"), [ASSIGNMENT])
    release.release(course, [ASSIGNMENT])
    samples.write_submission(course.root, "ada", ASSIGNMENT, fraction=1.0)
    course.nbgrader("autograde", ASSIGNMENT, "--force")
    with formgrader_server(course) as url, browser_page() as page:
        yield url, page


def test_formgrader_lists_the_assignment(formgrader):
    url, page = formgrader
    page.goto(f"{url}/formgrader")
    page.wait_for_selector(f"text={ASSIGNMENT}", timeout=30_000)
    assert "Manage Assignments" in page.content()


def test_formgrader_shows_an_autograded_submission(formgrader):
    url, page = formgrader
    page.goto(f"{url}/formgrader/gradebook/{ASSIGNMENT}/memory_math")
    page.wait_for_selector("text=Submission #1", timeout=30_000)
    page.click("text=Submission #1")
    page.wait_for_selector("text=count_llama_params", timeout=30_000)
    text = page.inner_text("body")
    assert "Exercise 9: what the formula leaves out" in text
    # one score box per graded cell: the autograded tests and the written answer
    source = nbformat.read(ROOT / "source" / ASSIGNMENT / "memory_math.ipynb", as_version=4)
    assert text.count("(extra credit)") == sum(bool(c.metadata.get("nbgrader", {}).get("grade")) for c in source.cells)
