"""The assignment kit, end to end (teacher-only: not copied into a student version).

- the round trip: a student version with every exercise set passes the linter, leaks nothing,
  and `grade` on it fails every exercise and runs to the end; `grade` on the solution passes all;
- isolation: a version with one exercise unfinished fails exactly that one;
- seeded mistakes: each classic mistake of `exercises/mistakes.py`, put into the solution, fails
  its exercise with a message that points at it (several exercises' mistakes at once, which the
  isolation of the graded tests allows);
- the golden files are what the solution records now, and the handout says what it must.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from exercises.make_golden import record
from exercises.mistakes import MISTAKES

from minisbert.assignment import BEGIN, END, find_regions, handout, make_assignment, stub_source
from minisbert.exercises import EXERCISES, select
from minisbert.grading import grade, gradescope_results

ROOT = Path(__file__).resolve().parents[1]
ALL = [e.id for e in EXERCISES]


@pytest.fixture(scope="module")
def student(tmp_path_factory) -> Path:
    return make_assignment(tmp_path_factory.mktemp("kit") / "student", ALL)


def test_there_are_at_least_twelve_exercises_with_their_tests_and_golden_files():
    assert len(EXERCISES) >= 12
    for e in EXERCISES:
        assert (ROOT / e.test_file).is_file(), e.test_file
        assert (ROOT / "tests" / "exercises" / "golden" / f"{e.id}.npz").is_file(), e.id
        assert all((ROOT / r).is_file() for r in e.read_first), e.read_first


def test_every_exercise_has_its_regions_and_every_region_its_exercise():
    found = set()
    for package in ("minisbert", "reference"):
        for path in (ROOT / package).glob("*.py"):
            found |= {r.exercise for r in find_regions(path.read_text(encoding="utf-8"), path.name)}
    assert found == set(ALL)


@pytest.mark.parametrize(
    "text, message",
    [
        ("    # BEGIN EXERCISE attention\n    x = 1\n", "has no END"),
        ("    # END EXERCISE attention\n", "without its BEGIN"),
        ("    # BEGIN EXERCISE nope\n    # END EXERCISE nope\n", "not an exercise"),
        ("# BEGIN EXERCISE attention\n# BEGIN EXERCISE heads\n", "begins inside"),
    ],
)
def test_bad_markers_are_named(text, message):
    with pytest.raises(ValueError, match=message):
        find_regions(text, "f.py")


def test_a_stub_keeps_the_signature_and_drops_what_only_the_solution_used():
    source = (
        "import math\nimport os\n\n\ndef f(x):\n"
        '    """Doc."""\n    # BEGIN EXERCISE attention\n'
        "    return math.sqrt(x)\n    # END EXERCISE attention\n\n\n"
        "def g():\n    return os.sep\n"
    )
    stubbed, removed = stub_source(source, "f.py", {"attention"})
    assert "import math" not in stubbed and "import os" in stubbed and '"""Doc."""' in stubbed
    assert "raise NotImplementedError(" in stubbed and "exercise attention" in stubbed
    assert removed == ["    return math.sqrt(x)"]
    unchanged, _ = stub_source(source, "f.py", set())
    assert "BEGIN EXERCISE" not in unchanged and "return math.sqrt(x)" in unchanged


def test_the_student_version_passes_the_linter_and_leaks_nothing(student):
    lint = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "minisbert", "reference", "tests", "tutorials"],
        cwd=student,
        capture_output=True,
        text=True,
    )
    assert lint.returncode == 0, lint.stdout
    assert not (student / "tests" / "exercises" / "mistakes.py").exists()
    assert not (student / "tests" / "test_assignment.py").exists()
    texts = "\n".join(p.read_text(encoding="utf-8") for p in student.rglob("*.py"))
    assert not [line for line in texts.splitlines() if BEGIN.match(line) or END.match(line)]
    assert "scores = q @ k.transpose(-2, -1) / math.sqrt(q.size(-1))" not in texts
    imported = subprocess.run(
        [sys.executable, "-c", "import minisbert, minisbert.cli, reference.model, reference.training"],
        cwd=student,
        capture_output=True,
        text=True,
    )
    assert imported.returncode == 0, imported.stderr


def test_the_round_trip(student, tmp_path):
    """Every exercise fails in the student version, and every one passes in the solution."""
    results = grade(student, ALL)
    assert [r.exercise.id for r in results if r.passed] == []
    assert all("not done yet" in t.message for r in results for t in r.tests), [
        (r.exercise.id, t.message) for r in results for t in r.tests if "not done yet" not in t.message
    ]
    solution = grade(ROOT, ALL)
    assert [
        (r.exercise.id, r.error, [t.message for t in r.tests if not t.passed])
        for r in solution
        if not r.passed
    ] == []
    report = gradescope_results(solution, 1.0)
    assert report["score"] == pytest.approx(100.0)
    assert all(t["score"] == t["max_score"] for t in report["tests"])


def test_the_command_line_round_trip(student, tmp_path):
    command = [sys.executable, "-m", "minisbert", "assignment"]
    graded = subprocess.run(
        [*command, "grade", str(student), "--exercises", "pooling", "--json", str(tmp_path / "r.json")],
        capture_output=True,
        text=True,
    )
    assert graded.returncode == 1 and "pooling" in graded.stdout and "FAIL" in graded.stdout
    assert (tmp_path / "r.json").is_file()
    listed = subprocess.run([*command, "list"], capture_output=True, text=True)
    assert listed.returncode == 0 and all(e.id in listed.stdout for e in EXERCISES)
    refused = subprocess.run([*command, "make", str(student)], capture_output=True, text=True)
    assert refused.returncode == 1 and "not empty" in refused.stderr  # never writes over a folder


@pytest.mark.parametrize("exercise", ["layer_norm", "attention", "training_step"])
def test_one_unfinished_exercise_fails_exactly_that_one(exercise, tmp_path):
    version = make_assignment(tmp_path / "student", [exercise])
    failed = [r.exercise.id for r in grade(version, ALL) if not r.passed]
    assert failed == [exercise]


def mistake_rounds() -> list[list]:
    """The mistakes in rounds with at most one per exercise: the graded tests of one exercise
    depend on that exercise alone, so a round's mistakes cannot hide or cause each other."""
    rounds: list[list] = []
    for m in MISTAKES:
        slot = next((r for r in rounds if all(o.exercise != m.exercise for o in r)), None)
        if slot is None:
            rounds.append(slot := [])
        slot.append(m)
    return rounds


@pytest.mark.parametrize("round_", mistake_rounds(), ids=lambda r: f"{len(r)}-mistakes-{r[0].name}")
def test_seeded_mistakes_fail_their_exercise(round_, tmp_path):
    copy = tmp_path / "repo"
    for part in ("minisbert", "reference", "tests"):
        shutil.copytree(ROOT / part, copy / part, ignore=shutil.ignore_patterns("__pycache__"))
    for m in round_:
        path = copy / m.file
        text = path.read_text(encoding="utf-8")
        assert text.count(m.old) == 1, f"{m.name}: the solution text is not found once in {m.file}"
        path.write_text(text.replace(m.old, m.new), encoding="utf-8")
    results = {r.exercise.id: r for r in grade(copy, [m.exercise for m in round_])}
    for m in round_:
        result = results[m.exercise]
        messages = " | ".join(t.message for t in result.tests if not t.passed) + result.error
        assert not result.passed, f"{m.name}: every test of {m.exercise} still passes"
        assert m.message.lower() in messages.lower(), f"{m.name}: {messages[:600]}"


def test_every_exercise_has_a_seeded_mistake():
    assert {m.exercise for m in MISTAKES} == set(ALL)


@pytest.mark.parametrize("exercise", ALL)
def test_golden_files_are_what_the_solution_records(exercise, tmp_path, monkeypatch):
    import exercises.golden_io as io

    committed = dict(np.load(io.golden_path(exercise), allow_pickle=False))
    monkeypatch.setattr(io, "GOLDEN_DIR", tmp_path)
    fresh = dict(np.load(record(exercise), allow_pickle=False))
    assert committed.keys() == fresh.keys()
    for key in fresh:
        if fresh[key].dtype.kind in "fc":
            np.testing.assert_allclose(committed[key], fresh[key], rtol=0, atol=1e-12, err_msg=key)
        else:
            np.testing.assert_array_equal(committed[key], fresh[key], err_msg=key)


@pytest.mark.parametrize("chosen", [ALL, ["pooling"], ["wordpiece", "adamw", "training_step"]])
def test_the_handout_covers_the_chosen_exercises(chosen):
    text = handout(select(chosen))
    for e in select(chosen):
        assert f"**{e.id}**" in text and e.test_file in text and e.hints[0] in text
        assert all(f in text for f in e.functions)
    others = [e for e in EXERCISES if e.id not in chosen]
    assert all(f"**{e.id}**" not in text for e in others)
    assert f"{sum(e.points for e in select(chosen))} points" in text
    for section in ("## Setting up", "## Testing one exercise", "## How it is graded", "minisbert check"):
        assert section in text


def test_the_teachers_guide_lists_every_exercise_with_its_points():
    rows = {}
    for line in (ROOT / "TEACHERS.md").read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.replace("\\|", "").strip("|").split("|")]
        if len(cells) == 4 and cells[1].isdigit():
            rows[cells[0]] = int(cells[1])
    assert rows == {e.id: e.points for e in EXERCISES}
