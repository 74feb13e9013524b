#!/usr/bin/env python3
"""Set up the course in a virtual environment and run one job.

    python3 quickstart.py demo   # the instructor pipeline on sample submissions
    python3 quickstart.py test   # the test suite (what CI runs)

Needs only Python 3.10+. The environment lives in .venv/ and is reinstalled
only when pyproject.toml or constraints.txt change. Extra arguments after
`test` go to pytest (e.g. `python3 quickstart.py test -k memory`).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
PYTHON = VENV / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
STAMP = VENV / ".installed"


def setup() -> None:
    if sys.version_info < (3, 10):
        sys.exit(f"Python 3.10 or newer is needed; this is {sys.version.split()[0]}.")
    wanted = hashlib.sha256(b"".join((ROOT / f).read_bytes() for f in ("pyproject.toml", "constraints.txt"))).hexdigest()
    if STAMP.exists() and STAMP.read_text() == wanted:
        return
    if not PYTHON.exists():
        print(f"Creating a virtual environment in {VENV} ...", flush=True)
        venv.create(VENV, with_pip=True)
    print("Installing the course's packages (a few minutes the first time) ...", flush=True)
    subprocess.run(
        [str(PYTHON), "-m", "pip", "install", "--quiet", "-c", str(ROOT / "constraints.txt"), "-e", f"{ROOT}[test]"],
        check=True,
    )
    STAMP.write_text(wanted)


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("demo", "test"):
        print(__doc__)
        return 2
    setup()
    if argv[0] == "demo":
        command = [str(PYTHON), "-m", "autograder", "demo", *argv[1:]]
    else:
        command = [str(PYTHON), "-m", "pytest", "-n", "auto", "--dist", "loadfile", *argv[1:]]
    return subprocess.run(command, cwd=ROOT).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
