"""Instructor tooling for the quantization course, built on nbgrader.

One module per responsibility:

- ``course``   where things live: the course folder, its settings, its assignments
- ``release``  student versions generated from ``source/`` (nbgrader + Colab cells)
- ``samples``  sample submissions built from the solutions (demo and tests)
- ``grade``    autograding with nbgrader
- ``report``   the grade table read from the gradebook
- ``cli``      the ``python -m autograder`` command line
"""
