"""`minisbert assignment list|make|grade` for teachers, `minisbert check` for students: the
course kit (minisbert/course/) on the command line.

    minisbert assignment list                                   (the exercises and their points)
    minisbert assignment make ../hw1 --exercises attention layer_norm
    minisbert assignment grade ../student-repo --json results.json
    minisbert check ../student-repo             (where a student's encoder first differs)
"""

from __future__ import annotations

from .arguments import BadArguments, existing_folder, new_folder


def add_parser(sub) -> None:
    """The kit's own parsers (minisbert/course/jobs.py), with the command line's checks."""
    from ..course.jobs import add_check, add_jobs

    a = sub.add_parser("assignment", help="make and grade a course assignment from this repository")
    jobs = add_jobs(a.add_subparsers(dest="job", required=True))
    jobs["list"].set_defaults(func=run)
    jobs["make"].set_defaults(check=check_make, func=run)
    jobs["grade"].set_defaults(check=check_grade, func=run)
    add_check(sub).set_defaults(check=check_repository, func=run)


def check_make(args) -> None:
    check_exercises(args.exercises)
    new_folder(args.out, "files", "choose a new folder for the student version")


def check_grade(args) -> None:
    check_exercises(args.exercises)
    existing_folder(args.repo, "repository")


def check_repository(args) -> None:
    existing_folder(args.repo, "repository")


def check_exercises(ids: list[str] | None) -> None:
    from ..course.exercises import select

    try:
        select(ids)
    except ValueError as err:
        raise BadArguments(f"--exercises: {err}") from None


def run(args) -> int | None:
    """The job asked for: `assignment list`, `make` or `grade`, or `check` (course/jobs.py)."""
    return args.job_run(args)
