"""nbgrader settings for the quantization course. The repository root is the
course directory, so `nbgrader ...` works when run from here."""

c = get_config()  # noqa: F821 (provided by nbgrader when it loads this file)

c.CourseDirectory.course_id = "quantization-course"
c.CourseDirectory.source_directory = "source"
c.CourseDirectory.release_directory = "release"

# A notebook that runs longer than this per cell is stuck (the GPU lab's
# slowest cell takes well under a minute on a laptop CPU).
c.ExecutePreprocessor.timeout = 300
c.Execute.timeout = 300

# nbgrader gives zero to a test cell that writes to stderr. Python's own
# warning lines ("file.py:12: FutureWarning: ...") say nothing about the
# student's answer, so drop them before grading.
c.IgnorePattern.enabled = True
c.IgnorePattern.pattern = r"^\S+:\d+: \w*Warning: "

c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"

# Feedback shows students which checks failed and why, never the hidden
# test code (see autograder/feedback.py).
c.GenerateFeedback.preprocessors = [
    "nbgrader.preprocessors.GetGrades",
    "autograder.feedback.HideHiddenTests",
    "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
]

# Autograding as nbgrader does it, except that a cell's output is capped
# while it runs (see autograder/sandbox.py: LimitedExecute).
c.Autograde.autograde_preprocessors = [
    "autograder.sandbox.LimitedExecute",
    "nbgrader.preprocessors.IgnorePattern",
    "nbconvert.preprocessors.ClearMetadataPreprocessor",
    "nbgrader.preprocessors.LimitOutput",
    "nbgrader.preprocessors.SaveAutoGrades",
    "nbgrader.preprocessors.AssignLatePenalties",
    "nbgrader.preprocessors.CheckCellMetadata",
]
