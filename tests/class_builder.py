"""A class of submissions of module 1 with every kind of trouble a real
class brings, as an LMS download; used by the end-to-end test and by the
grading benchmark. EXPECTED gives each student's exact autograded score."""

from __future__ import annotations

import copy
import shutil
import socket
import threading
from pathlib import Path

import nbformat

from autograder import gradebook, report, samples
from autograder.cli import main
from autograder.course import Course

ROOT = Path(__file__).resolve().parent.parent

ASSIGNMENT = "01_memory_math"
NOTEBOOK = "memory_math.ipynb"


def autograded_points(fraction: float = 1.0) -> float:
    """The points the source notebook declares for the autograded test cells of its first
    `fraction` of answers (as samples.fill_answers fills them): a test cell belongs to the
    answer above it."""
    cells = nbformat.read(ROOT / "source" / ASSIGNMENT / NOTEBOOK, as_version=4).cells
    answers = list(samples.answer_cells(nbformat.v4.new_notebook(cells=cells)))
    filled = set(answers[: round(fraction * len(answers))])
    points, answer = 0.0, None
    for c in cells:
        meta = c.get("metadata", {}).get("nbgrader", {})
        if meta.get("solution"):
            answer = meta["grade_id"]
        elif meta.get("grade") and answer in filled:
            points += meta["points"]
    return points


FULL = autograded_points()

# student id (as collect derives it: Moodle and Canvas ids keep the LMS participant id)
# -> expected autograded points (None: cannot be graded)
EXPECTED = {
    "full": FULL,
    "partial": autograded_points(0.5),  # the first half of the answers
    "blank": 0.0,
    "stripped_2001": FULL,  # all metadata and cell ids removed (as some editors do)
    "retyped": FULL,  # an answer cell turned into markdown
    "inserted": FULL,  # scratch cells added between exercises
    "duplicated": FULL,  # answer and test cells duplicated
    "deleted": FULL - 1,  # a test cell deleted (restored) and one answer deleted (lost: 1 point)
    "renamed": FULL,  # "Copy of memory_math (1).ipynb"
    "tampered_12345": FULL - 1,  # a wrong answer whose visible test was edited to pass
    "looping": FULL - 2,  # an infinite loop in the kv_cache_gb cell
    "hungry": FULL - 1,  # allocates memory until it runs out, in the quiz cell
    "flooding": FULL,  # prints without end in a cell of its own (output capped, then timed out)
    "networked": FULL,  # tries to reach a server on the grader's loopback
    "snooping": FULL,  # tries to read source/ and the gradebook and to write outside
    "garbage": None,  # not JSON at all
}


def cell(nb, gid):
    return next(c for c in nb.cells if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") == gid)


def index(nb, gid):
    return nb.cells.index(cell(nb, gid))


def solved(root: Path, fraction: float = 1.0):
    return samples.fill_answers(root / "release" / ASSIGNMENT / NOTEBOOK, root / "source" / ASSIGNMENT / NOTEBOOK, fraction)


def build_download(root: Path, download: Path, probe_port: int = 0, snoop_marker: Path | None = None) -> dict[str, str]:
    """Write the class into folder `download` with LMS-style names; returns
    student -> file name."""
    download.mkdir(parents=True, exist_ok=True)
    notebooks = {}
    notebooks["full"] = solved(root)
    notebooks["partial"] = solved(root, 0.5)
    notebooks["blank"] = solved(root, 0.0)

    nb = solved(root)
    for c in nb.cells:
        c.metadata = {}
        c.pop("id", None)
    nb.nbformat_minor = 4
    notebooks["stripped_2001"] = nb

    nb = solved(root)
    i = index(nb, "memory_gb")
    retyped = nbformat.v4.new_markdown_cell(nb.cells[i].source)
    retyped.metadata = copy.deepcopy(nb.cells[i].metadata)
    nb.cells[i] = retyped
    notebooks["retyped"] = nb

    nb = solved(root)
    for gid in ("memory_gb", "kv_cache_gb", "quiz_13b_fp16"):
        nb.cells.insert(index(nb, gid) + 1, nbformat.v4.new_code_cell("scratch = 1 + 1  # trying things out"))
    nb.cells.insert(3, nbformat.v4.new_markdown_cell("My notes: GB = 1e9 bytes."))
    notebooks["inserted"] = nb

    nb = solved(root)
    i = index(nb, "kv_cache_gb")
    stub = copy.deepcopy(cell(solved(root, 0.0), "kv_cache_gb"))
    nb.cells.insert(i + 1, stub)  # an unedited copy of the answer cell after the answer
    j = index(nb, "test_memory_gb")
    nb.cells.insert(j + 1, copy.deepcopy(nb.cells[j]))  # a duplicated test cell
    notebooks["duplicated"] = nb

    nb = solved(root)
    del nb.cells[index(nb, "test_kv_cache_gb")]
    del nb.cells[index(nb, "effective_bits_per_weight")]
    notebooks["deleted"] = nb

    notebooks["renamed"] = solved(root)

    nb = solved(root)
    cell(nb, "effective_bits_per_weight").source = (
        "def effective_bits_per_weight(bits, group_size, scale_bits=16, zero_point_bits=0):\n    return 4.125"
    )
    cell(nb, "test_effective_bits_per_weight").source = "print('all good')"
    notebooks["tampered_12345"] = nb

    nb = solved(root)
    c = cell(nb, "kv_cache_gb")
    c.source = "while True:\n    pass\n" + c.source
    notebooks["looping"] = nb

    nb = solved(root)
    c = cell(nb, "quiz_13b_fp16")
    c.source = "hoard = []\nwhile True:\n    hoard.append(bytearray(2**28))\n" + c.source
    notebooks["hungry"] = nb

    nb = solved(root)
    nb.cells.insert(index(nb, "quiz_13b_fp16"), nbformat.v4.new_code_cell("while True:\n    print('spam' * 250)"))
    notebooks["flooding"] = nb

    nb = solved(root)
    nb.cells.insert(index(nb, "quiz_13b_fp16"), nbformat.v4.new_code_cell(
        "import socket\n"
        "try:\n"
        f"    socket.create_connection(('127.0.0.1', {probe_port}), timeout=3).sendall(b'escaped')\n"
        "    print('NETWORK: open')\n"
        "except OSError as error:\n"
        "    print('NETWORK: blocked', error)\n"
    ))
    notebooks["networked"] = nb

    nb = solved(root)
    nb.cells.insert(index(nb, "quiz_13b_fp16"), nbformat.v4.new_code_cell(
        "import glob, os\n"
        f"root = {str(root)!r}\n"
        "found = glob.glob(root + '/source/**/*.ipynb', recursive=True) + glob.glob(root + '/gradebook.db')\n"
        "found += glob.glob(os.path.abspath('../../..') + '/source/**/*.ipynb', recursive=True)\n"
        "found += glob.glob(root + '/submitted/full/**/*.ipynb', recursive=True)\n"
        "print('SNOOP: read', found if found else 'nothing')\n"
        "try:\n"
        f"    open({str(snoop_marker)!r}, 'w').write('pwned')\n"
        "    print('SNOOP: wrote outside')\n"
        "except OSError as error:\n"
        "    print('SNOOP: write blocked', error)\n"
    ))
    notebooks["snooping"] = nb

    names = {
        "renamed": "renamed_Copy of memory_math (1).ipynb",
        "tampered_12345": "tampered_12345_67890_memory_math-1.ipynb",
        "stripped_2001": "stripped_2001_assignsubmission_file_memory_math.ipynb",
    }
    files = {}
    for student, nb in notebooks.items():
        name = names.get(student, f"{student}_memory_math.ipynb")
        nbformat.write(nb, download / name)
        files[student] = name
    (download / "garbage_memory_math.ipynb").write_text('{"cells": [ this is not json')
    files["garbage"] = "garbage_memory_math.ipynb"
    (download / "README.txt").write_text("exported by the LMS")
    return files


class Listener:
    """A TCP server on the grader's loopback that records any connection."""

    def __init__(self):
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.connections = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                connection, _ = self.server.accept()
            except OSError:
                return
            self.connections += 1
            connection.close()


def collected_class(folder: Path, probe_port: int, snoop_marker: Path) -> Course:
    """A course in `folder` whose submitted/ holds the class, collected from its download (not graded)."""
    folder.mkdir(parents=True)
    Course(ROOT).copy_to(folder, [ASSIGNMENT])
    shutil.copytree(ROOT / "release" / ASSIGNMENT, folder / "release" / ASSIGNMENT)
    download = folder.parent / f"{folder.name}-download"
    build_download(folder, download, probe_port, snoop_marker)
    assert main(["--course-dir", str(folder), "collect", str(download)]) == 1  # README.txt is not a notebook
    return Course(folder)


def copy_course(course: Course, folder: Path, config: str = "") -> Course:
    """A copy of `course` in `folder`, with `config` lines added to its nbgrader_config.py."""
    shutil.copytree(course.root, folder)
    with (folder / "nbgrader_config.py").open("a") as f:
        f.write("\n" + config + "\n")
    return Course(folder)


def graded_results(course: Course) -> dict[str, object]:
    """Per student: how many submission rows the gradebook holds and every grade's
    automatic score; the outcome instead for a student the grader could not grade."""
    found = {}
    with gradebook.open_gradebook(course) as gb:
        for student in gb.students:
            rows = [s for s in student.submissions if s.assignment.name == ASSIGNMENT]
            found[student.id] = (len(rows), sorted((g.name, g.auto_score) for s in rows for n in s.notebooks for g in n.grades))
    for student, outcome in report.load_outcomes(course, ASSIGNMENT).items():
        if outcome["status"] != "graded":
            found[student] = outcome["status"]
    return found


def autograded_text(course: Course, student: str) -> str:
    return (course.root / "autograded" / student / ASSIGNMENT / NOTEBOOK).read_text()


def sandbox_evidence(course: Course, listener: Listener, marker: Path) -> dict[str, bool]:
    """What the attacking and runaway students' graded notebooks show: every value True when
    the sandbox and the limits held."""
    flooded = autograded_text(course, "flooding")
    return {
        "network blocked": "NETWORK: blocked" in autograded_text(course, "networked") and listener.connections == 0,
        "nothing read": "SNOOP: read nothing" in autograded_text(course, "snooping"),
        "nothing written outside": not marker.exists(),
        "cell time limit": "CellTimeoutError" in autograded_text(course, "looping"),
        "memory limit": "MemoryError" in autograded_text(course, "hungry"),
        "output capped": "the grader kept only the first" in flooded and len(flooded) < 1_000_000,
    }
