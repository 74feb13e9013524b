"""Instructor tooling for the quantization course, built on nbgrader.

One module per responsibility:

- ``course``     where things live: the course folder, its settings, its assignments
- ``settings``   the grading settings: nbgrader_config.py, read as nbgrader reads it
- ``release``    student versions generated from ``source/`` (nbgrader + Colab cells)
- ``intake``     an LMS download placed into nbgrader's ``submitted/`` (collect)
- ``repair``     submissions read in any encoding and brought back into a gradable shape (in nbgrader)
- ``sandbox``    the bubblewrap-confined kernel and limits that student code runs under (in nbgrader)
- ``forkserver`` a pre-imported sandboxed process per grading worker that forks each kernel
- ``autograde``  one submission graded in a private scratch course: the task a worker runs
- ``grade``      a class graded as Dask tasks, results merged as they arrive
- ``gradebook``  the course gradebook and its one writer
- ``feedback``   feedback pages without hidden tests, one zip per student
- ``report``     grades out of the gradebook: table, CSV, class report
- ``samples``    sample submissions built from the solutions (demo and tests)
- ``cli``        the ``python -m autograder`` command line
"""
