"""Grading an assignment: run each exercise's tests in a repository and score them.

`grade(repo)` runs `tests/exercises/test_<id>.py` of every exercise the repository sets (those
in its `assignment.json`, or all of them) with pytest, in a fresh Python process with the
repository first on the path (so its own `minisbert` and `reference` are the ones tested), each
test under a time limit (`MINISBERT_TEST_TIMEOUT`, read by the tests' conftest). The test files
and the recorded outputs they compare with (`golden/`) are the grading kit's, the ones of the
repository this package is installed from, not the graded repository's: a student cannot change
what they are graded against. Every test of an exercise is worth an equal share of its points:
partial credit.

The results print as a table (exercise, points, pass/fail, and for a failure the first useful
line: expected vs got, shapes, largest difference, where) and can be written as the JSON that
course platforms read (Gradescope's `results.json`: a total score, and per test a name, score,
max_score and the output shown to the student).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

from ..json_files import write_json
from . import assignment
from .exercises import FORWARD_EXERCISES, TRACE_FILE, Exercise, assigned, select

TEST_TIMEOUT = 60  # seconds a single graded test may run
MESSAGE_LENGTH = 400  # characters of a failure shown in the table and the JSON


@dataclass
class TestResult:
    name: str
    passed: bool
    message: str = ""  # the first useful line of a failure
    seconds: float = 0.0


@dataclass
class ExerciseResult:
    exercise: Exercise
    tests: list[TestResult] = field(default_factory=list)
    error: str = ""  # the test file could not run at all

    @property
    def scored(self) -> list[TestResult]:
        return [t for t in self.tests if not t.name.endswith("(not scored)")]

    @property
    def score(self) -> float:
        if not self.scored:
            return 0.0
        return self.exercise.points * sum(t.passed for t in self.scored) / len(self.scored)

    @property
    def passed(self) -> bool:
        return bool(self.scored) and all(t.passed for t in self.scored) and not self.error


# ---------------------------------------------------------------------------------------------
# running the tests


def first_useful_line(text: str) -> str:
    """The line of a pytest failure a student should read first: the assertion's own message
    (pytest marks it with "E   "), else the exception's last line."""
    errors = [line[1:].strip() for line in text.splitlines() if line.startswith("E ")]
    chosen = next((e for e in errors if e and not e.startswith(("+", "-", "where", "assert "))), None)
    chosen = chosen or (errors[0] if errors else "") or (text.strip().splitlines() or [""])[-1]
    return chosen[:MESSAGE_LENGTH]


def parse_junit(path: Path) -> list[tuple[str, TestResult]]:
    """(test file's module name, result) of every test case of a JUnit XML report."""
    results = []
    for case in ET.parse(path).getroot().iter("testcase"):
        problem = case.find("failure")
        problem = problem if problem is not None else case.find("error")
        skipped = case.find("skipped")
        module = case.get("classname") or case.get("name", "")  # a collection error has no class
        name, seconds = case.get("name", "?"), float(case.get("time", 0.0))
        if problem is not None:
            text = (problem.text or "") + "\n" + problem.get("message", "")
            result = TestResult(name, False, first_useful_line(text), seconds)
        elif skipped is not None:  # a graded test never skips: count it as not passed
            result = TestResult(name, False, f"skipped: {skipped.get('message', '')}", seconds)
        else:
            result = TestResult(name, True, "", seconds)
        results.append((module, result))
    return results


def grading_kit(repo: Path) -> Path:
    """Where the graded tests and golden files come from: the teacher's clone (the one this
    package runs from, else the current folder: assignment.solution_repository), else, when
    neither is one, the graded repository itself, which is then said on stderr."""
    try:
        return assignment.solution_repository()
    except ValueError:
        print(
            f"grading with the tests and recorded outputs of {repo} itself: no teacher's clone found",
            file=sys.stderr,
        )
        return repo


def run_tests(repo: Path, exercises: list[Exercise], test_timeout: int) -> list[ExerciseResult]:
    """Run the chosen exercises' test files of the grading kit in one pytest process, on the
    code of `repo`; a result each."""
    results = {e.id: ExerciseResult(e) for e in exercises}
    kit = grading_kit(repo)
    present = [e for e in exercises if (kit / e.test_file).is_file()]
    for e in exercises:
        if e not in present:
            results[e.id].error = f"{kit / e.test_file} is missing"
    if not present:
        return list(results.values())
    with tempfile.TemporaryDirectory() as tmp:
        junit = Path(tmp) / "junit.xml"
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(repo), os.environ.get("PYTHONPATH", "")]),
            "MINISBERT_TEST_TIMEOUT": str(test_timeout),
        }
        command = [sys.executable, "-m", "pytest", *(str(kit / e.test_file) for e in present), "-q"]
        command += ["-p", "no:cacheprovider", f"--junitxml={junit}", "-o", "junit_logging=no"]
        limit = test_timeout * (10 + 5 * len(present))  # the per-test alarm normally stops far sooner
        try:
            run = subprocess.run(command, cwd=repo, env=env, capture_output=True, text=True, timeout=limit)
            output = run.stdout + run.stderr
        except subprocess.TimeoutExpired:
            output = f"the graded tests did not finish in {limit} s"
        cases = parse_junit(junit) if junit.is_file() else []
    for module, result in cases:
        owner = next((e for e in present if module.rsplit(".", 1)[-1] == f"test_{e.id}"), None)
        if owner is None:  # a collection error names the file in its test name
            owner = next((e for e in present if f"test_{e.id}" in f"{module} {result.name}"), None)
        if owner is not None:
            results[owner.id].tests.append(result)
    for e in present:
        if not results[e.id].tests:
            results[e.id].error = first_useful_line(output) or "pytest collected no test"
    return list(results.values())


def grade(repo: str | Path = ".", exercise_ids: list[str] | None = None, test_timeout: int = TEST_TIMEOUT):
    """Grade the exercises named, else those `repo` sets (its assignment.json), else all of them:
    a list of ExerciseResult."""
    repo = Path(repo).resolve()
    if not (repo / "minisbert").is_dir() or not (repo / "tests" / "exercises").is_dir():
        raise FileNotFoundError(f"{repo} is not a minisbert repository (no minisbert/ or tests/exercises/)")
    return run_tests(repo, select(exercise_ids or assigned(repo)), test_timeout)


# ---------------------------------------------------------------------------------------------
# reporting


def format_table(results: list[ExerciseResult]) -> str:
    rows = [f"{'exercise':16} {'points':>13}  result", "-" * 72]
    for r in results:
        status = "pass" if r.passed else "FAIL"
        rows.append(f"{r.exercise.id:16} {r.score:6.2f} / {r.exercise.points:<4}  {status}")
        if r.error:
            rows.append(f"    {r.error}")
        failures: dict[str, list[str]] = {}  # one line per distinct message
        for t in r.tests:
            if not t.passed or t.message.startswith("divergence: "):
                failures.setdefault(t.message, []).append(t.name)
        for message, names in failures.items():
            who = names[0] if len(names) == 1 else f"{len(names)} tests ({names[0]}, ...)"
            rows.append(f"    {who}: {message}")
    total = sum(r.score for r in results)
    possible = sum(r.exercise.points for r in results)
    rows += ["-" * 72, f"{'total':16} {total:6.2f} / {possible:<4}"]
    return "\n".join(rows)


def gradescope_results(results: list[ExerciseResult], seconds: float) -> dict:
    """The JSON that Gradescope (and platforms that copy its format) reads: results.json."""
    tests = []
    for r in results:
        share = r.exercise.points / len(r.scored) if r.scored else r.exercise.points
        if r.error:
            tests.append({"name": f"{r.exercise.id}", "score": 0.0, "max_score": r.exercise.points,
                          "output": r.error, "visibility": "visible"})  # fmt: skip
        for t in r.tests:
            scored = t in r.scored
            tests.append(
                {
                    "name": f"{r.exercise.id}: {t.name}",
                    "score": share if (t.passed and scored) else 0.0,
                    "max_score": share if scored else 0.0,
                    "output": t.message if (t.message and not t.passed) or not scored else "passed",
                    "visibility": "visible",
                }
            )
    return {"score": sum(r.score for r in results), "execution_time": round(seconds, 1), "tests": tests}


def locate_in(repo: Path) -> str:
    """`minisbert check` run in `repo` on its own code: the first sub-step of the encoder that
    differs from a correct one, as one line ("" when it cannot say)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(repo), os.environ.get("PYTHONPATH", "")])}
    env["MINISBERT_TRACE"] = str(grading_kit(repo) / TRACE_FILE)  # the kit's, like the golden files
    try:
        run = subprocess.run(
            [sys.executable, "-m", "minisbert", "check", str(repo)],
            cwd=repo, env=env, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        return ""
    lines = (run.stdout + run.stderr).strip().splitlines()
    return lines[-1][:MESSAGE_LENGTH] if lines else ""


def add_divergence(results: list[ExerciseResult], repo: Path) -> None:
    """Give the failing forward-pass exercises the locator's finding as their first message."""
    failing = [r for r in results if r.exercise.id in FORWARD_EXERCISES and not r.passed]
    finding = locate_in(repo) if failing else ""
    if finding and "not done yet" not in finding:
        for r in failing:
            r.tests.insert(0, TestResult("minisbert check (not scored)", True, f"divergence: {finding}"))


def grade_command(repo: str | Path, exercise_ids: list[str] | None, json_path: str | None) -> int:
    """`minisbert assignment grade`: print the table, write the JSON, 0 only if all passed."""
    start = time.perf_counter()
    results = grade(repo, exercise_ids)
    passed = all(r.passed for r in results)
    add_divergence(results, Path(repo).resolve())
    print(format_table(results))
    if json_path:
        write_json(json_path, gradescope_results(results, time.perf_counter() - start))
    return 0 if passed else 1
