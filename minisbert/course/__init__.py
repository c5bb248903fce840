"""The course kit: exercises cut from the code, student versions, grading (TEACHERS.md).

exercises   the exercises of the course assignment, described in one place
assignment  making a student version: marked regions become stubs, plus a handout
grading     running each exercise's tests in a repository and scoring them
divergence  where an encoder first computes something other than a correct one
"""
