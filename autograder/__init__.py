"""Instructor tooling for the quantization course, built on nbgrader.

One module per responsibility:

- ``course``   where things live: the course folder, its settings, its assignments
- ``release``  student versions generated from ``source/`` (nbgrader + Colab cells)
- ``intake``   an LMS download placed into nbgrader's ``submitted/`` (collect)
- ``repair``   submitted notebooks brought back into a gradable shape
- ``sandbox``  the bubblewrap-confined kernel and limits that student code runs under
- ``grade``    autograding a class with nbgrader, in parallel
- ``feedback`` feedback pages without hidden tests, one zip per student
- ``report``   grades out of the gradebook: table, CSV, class report
- ``samples``  sample submissions built from the solutions (demo and tests)
- ``cli``      the ``python -m autograder`` command line
"""
