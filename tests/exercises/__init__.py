"""The graded tests of the assignment kit: one file per exercise (see minisbert/course/exercises.py)."""
