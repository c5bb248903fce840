"""The course kit's jobs, and its own entry point: `python -m minisbert.course list | make | grade | check`.

The same jobs as `minisbert assignment ...` and `minisbert check` (minisbert/cli/assignment.py
builds its parsers with `add_jobs` and `add_check` and adds its checks), without the rest of the
command line: a teacher's script or a grading
platform can run the kit alone. It works from the teacher's clone of minisbert: the one this
package is installed from (`pip install -e .`), the current folder, or `--source PATH`
(assignment.py, `solution_repository`).

    python -m minisbert.course list
    python -m minisbert.course make ../hw1 --exercises attention layer_norm
    python -m minisbert.course grade ../student-repo --json results.json
    python -m minisbert.course check ../student-repo
"""

from __future__ import annotations

import argparse
import sys


def add_jobs(jobs) -> dict[str, argparse.ArgumentParser]:
    """The kit's jobs as sub-commands of `jobs` (an argparse sub-parser collection); each parser
    knows its work (`job_run`). Returns them by name."""
    listing = jobs.add_parser("list", help="the exercises, their points and their tests")
    listing.set_defaults(job_run=list_exercises)
    make = jobs.add_parser("make", help="write a student version of this repository and its HANDOUT.md")
    make.set_defaults(job_run=make_version)
    make.add_argument("out", help="the new folder for the student version")
    make.add_argument("--exercises", nargs="+", metavar="ID", help="the exercises to set (default: all)")
    make.add_argument(
        "--source",
        help="the teacher's clone to make it from (default: the clone minisbert runs from, else here)",
    )
    grade = jobs.add_parser("grade", help="run each exercise's tests in a repository and score them")
    grade.set_defaults(job_run=grade_repository)
    grade.add_argument("repo", nargs="?", default=".", help="the repository to grade (default: here)")
    grade.add_argument("--exercises", nargs="+", metavar="ID", help="grade only these exercises")
    grade.add_argument("--json", help="also write the results for a grade book (Gradescope's results.json)")
    return {"list": listing, "make": make, "grade": grade}


def add_check(jobs) -> argparse.ArgumentParser:
    """`check [REPO]`: where a student's encoder first differs from a correct one."""
    check = jobs.add_parser("check", help="where does this encoder first differ from a correct one?")
    check.set_defaults(job_run=check_repository)
    check.add_argument("repo", nargs="?", default=".", help="the repository to check (default: here)")
    return check


def list_exercises(args) -> int:
    from .exercises import EXERCISES

    print(f"{'exercise':16} {'points':>6}  {'part':38} tests")
    for e in EXERCISES:
        print(f"{e.id:16} {e.points:>6}  {e.part:38} {e.test_file}")
    print(f"{len(EXERCISES)} exercises, {sum(e.points for e in EXERCISES)} points")
    return 0


def make_version(args) -> int:
    from .assignment import make_assignment
    from .exercises import select

    out = make_assignment(args.out, args.exercises, getattr(args, "source", None))
    chosen = select(args.exercises)
    print(f"wrote a student version with {len(chosen)} exercise(s) to {out}; see {out / 'HANDOUT.md'}")
    return 0


def grade_repository(args) -> int:
    from .grading import grade_command

    return grade_command(args.repo, args.exercises, args.json)


def check_repository(args) -> int:
    from .divergence import check_command

    return check_command(args.repo)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m minisbert.course", description="the course kit's jobs")
    jobs = parser.add_subparsers(dest="job", required=True)
    add_jobs(jobs)
    add_check(jobs)
    args = parser.parse_args(argv)
    try:
        return args.job_run(args)
    except (ValueError, FileNotFoundError, FileExistsError) as err:
        print(f"minisbert.course: {err}", file=sys.stderr)
        return 1
