"""The course kit: exercises cut from the code, student versions, grading (TEACHERS.md).

The regions an exercise cuts are marked in the code itself (`# BEGIN EXERCISE id` ... `# END
EXERCISE id` in model.py, pooling.py, losses.py, ...): a reader of the core can skip the markers.

exercises   the exercises of the course assignment, described in one place
assignment  making a student version: marked regions become stubs, plus a handout
grading     running each exercise's tests in a repository and scoring them
divergence  where an encoder first computes something other than a correct one
jobs        list, make, grade, check: the kit's jobs and their parsers (`minisbert assignment`)
__main__    `python -m minisbert.course`: the kit on its own
"""
