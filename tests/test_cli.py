import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run(*args, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "autograder", *args], cwd=cwd, capture_output=True, text=True)


def test_help_lists_the_commands():
    result = run("--help")
    assert result.returncode == 0
    for command in ("release", "demo"):
        assert command in result.stdout


def test_outside_a_course_exits_2_with_a_message(tmp_path):
    result = run("--course-dir", str(tmp_path), "release")
    assert result.returncode == 2
    assert "not inside a course folder" in result.stderr


def test_unknown_command_exits_2():
    assert run("frobnicate").returncode == 2
