"""nbgrader settings for the quantization course, and the course's own
settings (the sandbox and its limits). The repository root is the course
directory, so `nbgrader ...` works when run from here, and so do formgrader
and `python -m autograder`, which read this file too.

Every setting an instructor may change is below, with its default. The help
of each: `python -m autograder settings`."""

import os

c = get_config()  # noqa: F821 (provided by nbgrader when it loads this file)

c.CourseDirectory.course_id = "quantization-course"
# This folder, whichever folder nbgrader, formgrader or the grader starts in.
c.CourseDirectory.root = os.path.dirname(os.path.abspath(__file__))
c.CourseDirectory.source_directory = "source"
c.CourseDirectory.release_directory = "release"

# A cell that runs longer than this is stuck (the GPU lab's slowest cell takes
# well under a minute on a laptop CPU). Per cell, in seconds.
c.Execute.timeout = 300

# The sandbox and limits every autograde runs under (autograder/sandbox.py).
c.SandboxedExecute.sandbox = True  # False only for trusted submissions on a machine without bubblewrap
c.SandboxedExecute.memory_gb = 6.0  # per notebook's kernel
c.SandboxedExecute.cpu_seconds = 1800
c.SandboxedExecute.file_size_mb = 200
c.SandboxedExecute.processes = 256
c.SandboxedExecute.max_output_bytes = 2_000_000  # per cell
c.SandboxedExecute.notebook_timeout = 1200  # a whole notebook, in seconds
c.SandboxedExecute.kernel_restarts = 3  # kernel deaths survived per notebook, as on Colab

# nbgrader gives zero to a test cell that writes to stderr. Python's own
# warning lines ("file.py:12: FutureWarning: ...") say nothing about the
# student's answer, so drop them before grading.
c.IgnorePattern.enabled = True
c.IgnorePattern.pattern = r"^\S+:\d+: \w*Warning: "

c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"

# Submissions are read in any text encoding, then repaired against the release
# (lost metadata, retyped, duplicated or deleted cells: autograder/repair.py)
# before nbgrader restores the test cells; the repairs show in the feedback.
c.Autograde.exporter_class = "autograder.repair.SubmissionExporter"
c.Autograde.sanitize_preprocessors = [
    "nbgrader.preprocessors.ClearOutput",
    "autograder.repair.RepairSubmission",
    "nbgrader.preprocessors.DeduplicateIds",
    "nbgrader.preprocessors.OverwriteKernelspec",
    "nbgrader.preprocessors.OverwriteCells",
    "nbgrader.preprocessors.CheckCellMetadata",
]
# Autograding as nbgrader does it, with student code in the sandbox.
c.Autograde.autograde_preprocessors = [
    "autograder.sandbox.SandboxedExecute",
    "nbgrader.preprocessors.IgnorePattern",
    "nbconvert.preprocessors.ClearMetadataPreprocessor",
    "nbgrader.preprocessors.LimitOutput",
    "nbgrader.preprocessors.SaveAutoGrades",
    "nbgrader.preprocessors.AssignLatePenalties",
    "nbgrader.preprocessors.CheckCellMetadata",
]

# Feedback shows students which checks failed and why, never the hidden
# test code (see autograder/feedback.py).
c.GenerateFeedback.preprocessors = [
    "nbgrader.preprocessors.GetGrades",
    "autograder.feedback.HideHiddenTests",
    "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
]
