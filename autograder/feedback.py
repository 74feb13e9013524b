"""What students see after grading: one feedback page per notebook, without
the hidden tests, and one folder and one zip per student, ready for an LMS.

``HideHiddenTests`` is the course's feedback preprocessor
(``nbgrader_config.py``), so ``nbgrader generate_feedback`` and formgrader
show students the same page as ``python -m autograder feedback``:

- the hidden region of each test cell is removed (nbgrader shows it; nbgrader
  issue #917);
- a traceback keeps the frames of the student's own cells and the error
  message, never a frame of a test cell (its context lines may quote hidden
  code) nor of library code;
- when the kernel died while grading, a note at the top names the cell.

``generate`` renders one student at a time, so one student's notebook that
nbconvert cannot render costs that student a page, not the class its zips:
the broken widget state Colab saves is dropped from the graded notebook
first (and said in its note); any other failure gets the student a page
with the reason, and the instructor a line in the table. Students whose
submission was not graded get a page saying why, also when nobody was.
"""

from __future__ import annotations

import html
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import nbformat
from nbformat.v4 import new_markdown_cell
from nbgrader import utils
from nbgrader.api import MissingEntry
from nbgrader.apps import NbGraderAPI
from nbgrader.coursedir import CourseDirectory
from nbgrader.preprocessors import ClearHiddenTests

from autograder import settings
from autograder.autograde import error_summary
from autograder.course import CourseError
from autograder.gradebook import open_gradebook
from autograder.repair import NOTE_CELL_ID, add_note, repair_widget_state
from autograder.sandbox import METADATA_KEY

HIDDEN_NOTE = "# (further checks ran here; they stay hidden)"
EXECUTION_NOTE_ID = "grader-execution-note"
# The error output SandboxedExecute leaves on the cell during which the kernel died.
KERNEL_DIED = "DeadKernelError"

ANSI = re.compile(r"\x1b\[[0-9;]*m")
# A traceback entry that is a frame of a notebook cell, by the cell's
# execution count: "Cell In[3], line 4" (IPython >= 8.5), "Input In [3]"
# (8.0 to 8.4), "<ipython-input-3-...>" (7).
CELL_FRAME = re.compile(r"\s*(?:Cell In ?\[|Input In \[|<ipython-input-)(\d+)")
# A frame of a file: a library, the standard library, "<string>".
FILE_FRAME = re.compile(r"\s*(?:File |\S+\.py in )")


def frame_of(entry: str) -> int | str | None:
    """Whose code a traceback entry shows: a cell's execution count, "file",
    or None when the entry is no frame (a header, a message)."""
    plain = ANSI.sub("", entry)
    cell = CELL_FRAME.match(plain)
    if cell:
        return int(cell.group(1))
    return "file" if FILE_FRAME.match(plain) else None


def student_traceback(output, visible: set[int]) -> list[str]:
    """The traceback of error `output` with only the frames of cells whose
    execution count is in `visible`, and the error message. Without such a
    frame, the message alone."""
    entries = list(output.get("traceback", []))
    last = entries.pop() if entries else f"{output.ename}: {output.evalue}"
    if frame_of(last) not in (None, *visible):  # a SyntaxError's message carries its frame
        last = f"{output.ename}: {output.evalue}"
    if not any(frame_of(entry) in visible for entry in entries + [last]):
        return [last]
    return [entry for entry in entries if frame_of(entry) in (None, *visible)] + [last]


def is_test(cell) -> bool:
    """An autograder test cell: instructor code that may hold hidden tests."""
    return cell.cell_type == "code" and utils.is_grade(cell) and not utils.is_solution(cell)


def first_line(cell) -> str:
    return next((line.strip() for line in cell.source.splitlines() if line.strip()), "(empty)")


class HideHiddenTests(ClearHiddenTests):
    """nbgrader's ClearHiddenTests for feedback: see the module docstring."""

    def preprocess(self, nb, resources):
        # The execution counts of the cells whose frames may be shown. Counts
        # start again at 1 after a kernel restart, so a frame names the latest
        # cell with its count: cells are recorded in order, as they ran.
        self._visible: set[int] = set()
        nb, resources = super().preprocess(nb, resources)
        add_execution_note(nb)
        return nb, resources

    def preprocess_cell(self, cell, resources, cell_index):
        had_hidden = self.begin_test_delimeter in cell.source
        cell, resources = super().preprocess_cell(cell, resources, cell_index)
        if cell.cell_type != "code":
            return cell, resources
        if had_hidden:
            cell.source = cell.source.rstrip() + "\n" + HIDDEN_NOTE
        if is_test(cell):
            self._visible.discard(cell.get("execution_count"))
        elif cell.get("execution_count"):
            self._visible.add(cell.execution_count)
        for output in cell.get("outputs", []):
            if output.output_type == "error":
                output.traceback = student_traceback(output, self._visible)
        return cell, resources


def add_execution_note(nb) -> None:
    """A note at the top (under the repair note) naming each cell during which
    the kernel died; the cell itself also says so in its output."""
    died = [cell for cell in nb.cells if any(o.get("ename") == KERNEL_DIED for o in cell.get("outputs", []))]
    if not died:
        return
    cells = "\n".join(f"- the cell that starts with `{first_line(cell)}`" for cell in died)
    note = new_markdown_cell(
        "**Grader's note.** While your notebook was graded, the Python kernel died (the process was killed, "
        "crashed or ran out of memory) during:\n\n" + cells + "\n\nAs Colab does, the grader restarted it and "
        "went on with the next cell; variables defined before that cell were gone after the restart."
    )
    note.id = EXECUTION_NOTE_ID
    nb.cells.insert(1 if nb.cells and nb.cells[0].get("id") == NOTE_CELL_ID else 0, note)


def make_renderable(path: Path) -> list[str]:
    """Drop widget state nbconvert cannot render from the graded notebook at
    `path` (saved by Colab without its ``state``, or an empty ``widgets``
    left behind) and add what was repaired to its note; the new notes."""
    nb = nbformat.read(path, as_version=4)
    notes = repair_widget_state(nb)
    # nbconvert reads metadata.widgets[WIDGET_STATE]["state"] whenever there is metadata.widgets.
    empty = nb.metadata.get("widgets") == {}
    if empty:
        del nb.metadata["widgets"]
    if not notes and not empty:
        return []
    if notes:
        nb.cells = [cell for cell in nb.cells if cell.get("id") != NOTE_CELL_ID]
        add_note(nb, [*nb.metadata.get(METADATA_KEY, {}).get("repairs", []), *notes])
    nbformat.write(nb, path)
    return notes


FEEDBACK_ZIPS = "feedback_zips"

NOT_GRADED_PAGE = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{assignment}: not graded</title></head>
<body><h1>{assignment}: your submission could not be graded</h1>
<p>{reason}</p>
<p>Nothing is lost: your file is kept as you sent it. Please check that you submitted the
notebook file (<code>.ipynb</code>, downloaded with File &gt; Download &gt; .ipynb) and
contact your instructor.</p></body></html>
"""

NOT_RENDERED_PAGE = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{assignment}: feedback</title></head>
<body><h1>{assignment}: your submission was graded</h1>
<p>Its feedback page could not be produced: {reason}</p>
<p>Your grade is not affected. Your instructor has been told and will send you the details.</p></body></html>
"""


@dataclass
class StudentFeedback:
    """What one student got. status: "written" (the feedback pages),
    "not graded" (a page saying why), or "not rendered" (graded, but nbconvert
    failed on the notebook: a page with the reason; the instructor's turn)."""

    student: str
    status: str
    message: str = ""  # the repairs that made the notebooks render, or why there is no feedback page
    zip: Path | None = None


def failure_reason(answer: dict) -> str:
    """What stopped nbgrader: it logs the exception as a traceback and raises
    only "see the above traceback"."""
    tracebacks = re.findall(r"^\[ERROR\] (Traceback .*?)(?=^\[|\Z)", answer.get("log", ""), re.S | re.M)
    return error_summary(tracebacks[-1] if tracebacks else answer.get("error", ""))


def write_page(folder: Path, name: str, page: str) -> None:
    shutil.rmtree(folder, ignore_errors=True)  # an earlier run's pages would contradict this one
    folder.mkdir(parents=True)
    (folder / name).write_text(page, encoding="utf-8")


def graded_students(course, assignment: str) -> set[str]:
    """The students with a submission of `assignment` in the gradebook, which
    nbgrader's feedback reads the scores from."""
    with open_gradebook(course) as gradebook:
        try:
            return {s.student.id for s in gradebook.find_assignment(assignment).submissions}
        except MissingEntry:
            return set()


def generate(course, assignment: str, outcomes=()) -> list[StudentFeedback]:
    """Feedback for every student of `assignment`: pages in ``feedback/<student>/<assignment>/``
    and one zip per student in ``feedback_zips/<assignment>/<student>.zip``.
    `outcomes` are grading's (``report.load_outcomes``): a student whose
    outcome is not "graded" gets a page saying why; every other student with a
    graded notebook gets nbgrader's feedback. CourseError when there is
    nothing to give feedback on."""
    config = settings.load(course.root)
    coursedir = CourseDirectory(config=config)
    not_graded = {o.student: o for o in outcomes if o.status != "graded"}
    graded = sorted(graded_students(course, assignment) - set(not_graded))
    if not graded and not not_graded:
        raise CourseError(f"nothing to give feedback on: no graded submission of {assignment}. "
                          f"Run `python -m autograder grade {assignment}` first.")

    def folder(student: str) -> Path:
        return Path(coursedir.format_path(coursedir.feedback_directory, student, assignment))

    api = NbGraderAPI(coursedir, config=config)
    results = []
    for student in graded:
        notebooks = sorted(Path(coursedir.format_path(coursedir.autograded_directory, student, assignment)).glob("*.ipynb"))
        try:
            repairs = [note for path in notebooks for note in make_renderable(path)]
            answer = api.generate_feedback(assignment, student)
        except Exception as error:  # a notebook too damaged to read: this student's problem, not the class's
            answer = {"success": False, "error": f"{type(error).__name__}: {error}"}
        if answer["success"]:
            results.append(StudentFeedback(student, "written", "; ".join(repairs)))
            continue
        reason = failure_reason(answer)
        write_page(folder(student), "feedback_unavailable.html",
                   NOT_RENDERED_PAGE.format(assignment=assignment, reason=html.escape(reason)))
        results.append(StudentFeedback(student, "not rendered", reason))
    for student, outcome in not_graded.items():
        reason = outcome.message or outcome.status
        write_page(folder(student), "not_graded.html", NOT_GRADED_PAGE.format(assignment=assignment, reason=html.escape(reason)))
        results.append(StudentFeedback(student, "not graded", reason))

    target = course.root / FEEDBACK_ZIPS / assignment
    target.mkdir(parents=True, exist_ok=True)
    for result in results:
        result.zip = Path(shutil.make_archive(str(target / result.student), "zip", folder(result.student)))
    return sorted(results, key=lambda r: r.student)
