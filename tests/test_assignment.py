"""The assignment kit, end to end (teacher-only: not copied into a student version).

- the round trip: a student version with every exercise set passes the linter, leaks nothing,
  and `grade` on it fails every exercise and runs to the end; `grade` on the solution passes all;
- isolation: a version with one exercise unfinished fails exactly that one;
- seeded mistakes: each classic mistake of `exercises/mistakes.py`, put into the solution, fails
  its exercise with a message that points at it (several exercises' mistakes at once, which the
  isolation of the graded tests allows);
- alternatives: each correct solution written another way (`exercises/alternatives.py`), put into
  the solution, passes every graded test of its exercise, and the forward ones pass tutorial 04
  (`-k alternative` selects these tests, to run them under each CPU capability);
- nothing leaks: for each exercise alone, no file of its student version holds the heart of its
  solution in any form (PyTorch, the NumPy mirror, a tutorial's worked version);
- the golden files are what the solution records now, and the handout says what it must.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from exercises.alternatives import ALTERNATIVES, MIRROR_ALTERNATIVES
from exercises.make_golden import record
from exercises.mistakes import MISTAKES
from test_tutorials import fast_env

from minisbert.course import assignment
from minisbert.course.assignment import (
    BEGIN,
    END,
    MARKED_PACKAGES,
    TEACHER_ONLY,
    find_regions,
    handout,
    make_assignment,
    stub_source,
)
from minisbert.course.exercises import (
    ASSIGNMENT_FILE,
    BY_ID,
    EXERCISES,
    FORWARD_EXERCISES,
    TRACE_FILE,
    select,
)
from minisbert.course.grading import add_divergence, format_table, grade, gradescope_results
from minisbert.files.atomic import current_umask

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


def enclosing_function(tree: ast.Module, line: int) -> str | None:
    """The qualified name ("Class.method") of the innermost function holding a 1-based line."""
    found = None

    def visit(node, prefix):
        nonlocal found
        for child in ast.iter_child_nodes(node):
            name = f"{prefix}{getattr(child, 'name', '')}"
            if (
                isinstance(child, (ast.FunctionDef, ast.ClassDef))
                and child.lineno <= line <= child.end_lineno
            ):
                if isinstance(child, ast.FunctionDef):
                    found = name
                visit(child, name + ".")

    visit(tree, "")
    return found


def test_every_exercise_has_its_regions_and_every_region_its_exercise():
    """Every region lies in a function its exercise names (`functions` or `also_cut`), or at the
    top level of a file its `also_cut` names as "file::section ..."; every function has a region."""
    owners = set()
    for package in MARKED_PACKAGES:
        for path in sorted((ROOT / package).glob("*.py")):
            text, relative = path.read_text(encoding="utf-8"), f"{package}/{path.name}"
            tree = ast.parse(text)
            for r in find_regions(text, relative):
                function = enclosing_function(tree, r.start + 1)
                owners.add((r.exercise, f"{relative}::{function}" if function else relative))
    for exercise, where in owners:
        named = BY_ID[exercise].functions + BY_ID[exercise].also_cut
        assert where in named or any(n.startswith(where + "::section") for n in named), (exercise, where)
    for e in EXERCISES:
        for where in e.functions + e.also_cut:
            assert (e.id, where.split("::section")[0]) in owners, f"{e.id}: no region in {where}"


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
    assert not [path for path in TEACHER_ONLY if (student / path).exists()]
    readme = (student / "README.md").read_text(encoding="utf-8")  # its own, not ours cut down
    assert readme == (ROOT / "minisbert" / "course" / "student_readme.md").read_text(encoding="utf-8")
    assert "## Your assignment" in readme and "HANDOUT.md" in readme
    links = re.findall(r"\]\((?![a-z]+:)([^)#\s]+)", readme)  # relative links, as in [x](docs/speed.md)
    assert links and [link for link in links if not (student / link).exists()] == []
    tutorials = (student / "tutorials").glob("[0-9][0-9]_*.py")  # test_tutorials.py asks this of it
    assert [p.name for p in tutorials if p.name not in readme] == []
    named = {path.removeprefix("tests/") for path in TEACHER_ONLY}  # as the docs name them
    docs = [*student.rglob("*.md"), *(student / "tests" / "exercises").glob("*.py")]
    dead = [(p.name, n) for p in docs for n in named if n in p.read_text(encoding="utf-8")]
    assert dead == [], "the student version names files it does not hold"
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
    assert refused.returncode == 2 and "not empty" in refused.stderr  # refused before any work


# four exercises in the CI run (one per part of the stack); all fifteen with `make test-slow`
ISOLATION_IN_CI = ("layer_norm", "attention", "cosine_loss", "training_step")


@pytest.mark.parametrize(
    "exercise", [e if e in ISOLATION_IN_CI else pytest.param(e, marks=pytest.mark.slow) for e in ALL]
)
def test_one_unfinished_exercise_fails_exactly_that_one(exercise, tmp_path):
    version = make_assignment(tmp_path / "student", [exercise])
    failed = [r.exercise.id for r in grade(version, ALL) if not r.passed]
    assert failed == [exercise]


SOLUTION_PARTS = ("minisbert", "reference", "tests")


def solution_with(edits: list, tmp_path: Path, parts: tuple[str, ...] = SOLUTION_PARTS) -> Path:
    """A copy of these folders of the solution in tmp_path/repo, with these edits (mistakes or
    alternatives) put in."""
    copy = tmp_path / "repo"
    for part in parts:
        shutil.copytree(ROOT / part, copy / part, ignore=shutil.ignore_patterns("__pycache__"))
    for m in edits:
        path = copy / m.file
        text = path.read_text(encoding="utf-8")
        assert text.count(m.old) == 1, f"{m.name}: the solution text is not found once in {m.file}"
        path.write_text(text.replace(m.old, m.new), encoding="utf-8")
    return copy


def mistake_named(name: str):
    (mistake,) = [m for m in MISTAKES if m.name == name]
    return mistake


def test_grade_grades_what_the_student_version_sets(tmp_path):
    """A student version records its exercises; grading it grades those (table and JSON), and
    a repository without the record (the teacher's) is graded on every exercise."""
    version = make_assignment(tmp_path / "student", ["spearman", "cosine_backward"])
    record = json.loads((version / ASSIGNMENT_FILE).read_text(encoding="utf-8"))
    assert record == {"exercises": ["cosine_backward", "spearman"], "points": 12}
    results = grade(version)
    assert [r.exercise.id for r in results] == ["cosine_backward", "spearman"]
    assert "total" in format_table(results) and "  0.00 / 12" in format_table(results)
    assert {t["name"].split(":")[0] for t in gradescope_results(results, 1.0)["tests"]} == set(
        record["exercises"]
    )
    command = [
        sys.executable,
        "-m",
        "minisbert",
        "assignment",
        "grade",
        str(version),
        "--json",
        str(tmp_path / "r.json"),
    ]
    graded = subprocess.run(command, capture_output=True, text=True)
    assert graded.returncode == 1 and "spearman" in graded.stdout and "pooling" not in graded.stdout
    assert json.loads((tmp_path / "r.json").read_text())["tests"][0]["name"].startswith("cosine_backward")
    (version / ASSIGNMENT_FILE).unlink()
    assert [r.exercise.id for r in grade(version, ["wordpiece"])] == ["wordpiece"]  # named ones win


def test_grading_uses_the_teachers_tests_and_golden_files(tmp_path):
    """A student who rewrites their copy of the graded tests or of the recorded outputs (from
    their own wrong code, say) is still graded against the teacher's."""
    copy = solution_with([mistake_named("spearman-ties-get-the-first-rank")], tmp_path)
    (copy / "tests" / "exercises" / "test_spearman.py").write_text("def test_known_answer():\n    pass\n")
    (copy / "tests" / "exercises" / "golden" / "spearman.npz").unlink()
    (result,) = grade(copy, ["spearman"])
    assert not result.passed and len(result.tests) == 4, [(t.name, t.passed) for t in result.tests]


def test_a_pooling_mistake_is_located_after_the_layers(tmp_path):
    """pooling is a forward exercise: the grader adds what `minisbert check` finds, comparing
    with the teacher's trace of a correct encoder (the student's copy of it is not read)."""
    assert "pooling" in FORWARD_EXERCISES
    copy = solution_with([mistake_named("mean-pooling-counts-padding")], tmp_path)
    (copy / TRACE_FILE).unlink()
    results = grade(copy, ["pooling"])
    add_divergence(results, copy)
    first = results[0].tests[0].message
    assert first.startswith("divergence: ") and "after the layers, pooling:" in first, first


def rounds(edits) -> list[list]:
    """The edits (mistakes or alternatives) in rounds with at most one per exercise: the graded
    tests of one exercise depend on that exercise alone, so a round's edits cannot hide or cause
    each other."""
    found: list[list] = []
    for m in edits:
        slot = next((r for r in found if all(o.exercise != m.exercise for o in r)), None)
        if slot is None:
            found.append(slot := [])
        slot.append(m)
    return found


@pytest.mark.parametrize("round_", rounds(MISTAKES), ids=lambda r: f"{len(r)}-mistakes-{r[0].name}")
def test_seeded_mistakes_fail_their_exercise(round_, tmp_path):
    copy = solution_with(round_, tmp_path)
    results = {r.exercise.id: r for r in grade(copy, [m.exercise for m in round_])}
    for m in round_:
        result = results[m.exercise]
        messages = " | ".join(t.message for t in result.tests if not t.passed) + result.error
        assert not result.passed, f"{m.name}: every test of {m.exercise} still passes"
        assert m.message.lower() in messages.lower(), f"{m.name}: {messages[:600]}"


def test_every_exercise_has_a_seeded_mistake():
    assert {m.exercise for m in MISTAKES} == set(ALL)


@pytest.mark.parametrize("round_", rounds(ALTERNATIVES), ids=lambda r: f"{len(r)}-alternatives-{r[0].name}")
def test_alternative_solutions_pass_their_exercise(round_, tmp_path):
    """A correct solution written another way gets full marks: every graded test of its exercise
    passes (on the CPU this runs on: run `-k alternative` under each ATEN_CPU_CAPABILITY)."""
    copy = solution_with(round_, tmp_path)
    name = {a.exercise: a.name for a in round_}
    failed = {
        name[r.exercise.id]: [f"{t.name}: {t.message}" for t in r.tests if not t.passed]
        + [r.error] * bool(r.error)
        for r in grade(copy, list(name))
        if not r.passed
    }
    assert failed == {}, failed


# The NumPy mirror written the same way as a torch alternative, put in beside it for tutorial 04.
SAME_FORM_IN_NUMPY = {
    "embeddings-summed-in-another-order": "embeddings-numpy-summed-in-another-order",
    "heads-reshape-permute": "heads-numpy-swapaxes",
    "heads-merged-by-permute-contiguous-view": "heads-numpy-merged-by-swapaxes",
    "attention-scale-before-product": "attention-numpy-scale-before-product",
    "attention-scaled-by-power": "attention-numpy-scaled-by-power",
    "attention-einsum": "attention-numpy-einsum",
}
# tutorial 04 takes 10 to 20 s a run: in CI the two other ways to scale (the solution scales after
# the product) and einsum; every other forward alternative with `make test-slow`
TUTORIAL_04_IN_CI = ("attention-scale-before-product", "attention-scaled-by-power", "attention-einsum")


def tutorial_04_runs() -> list:
    """One run of tutorial 04 per torch alternative of the forward, with its NumPy mirror if any."""
    mirrors = {m.name: m for m in MIRROR_ALTERNATIVES}
    return [
        pytest.param(
            [a] + ([mirrors[SAME_FORM_IN_NUMPY[a.name]]] if a.name in SAME_FORM_IN_NUMPY else []),
            id=a.name,
            marks=() if a.name in TUTORIAL_04_IN_CI else pytest.mark.slow,
        )
        for a in ALTERNATIVES
        if a.exercise in ("embeddings", "heads", "attention")
    ]


def test_every_alternative_is_found_once_and_parses():
    """Cheap, for the alternatives only the slow tutorial runs put in: each edit applies to the
    solution (its text occurs once), leaves Python, and each mirror has its torch form. Every
    exercise has one but training_step, whose steps (zero, backward, clip, step) have one order."""
    edits = ALTERNATIVES + MIRROR_ALTERNATIVES
    assert len({a.name for a in edits}) == len(edits)
    for a in edits:
        text = (ROOT / a.file).read_text(encoding="utf-8")
        assert text.count(a.old) == 1 and a.new != a.old, a.name
        ast.parse(text.replace(a.old, a.new), a.file)
    assert set(SAME_FORM_IN_NUMPY.values()) == {m.name for m in MIRROR_ALTERNATIVES}
    assert set(SAME_FORM_IN_NUMPY) <= {a.name for a in ALTERNATIVES}
    assert {a.exercise for a in ALTERNATIVES} == set(ALL) - {"training_step"}


@pytest.mark.parametrize("edits", tutorial_04_runs())
def test_forward_alternatives_pass_tutorial_04(edits, tmp_path, model_folder):
    """Tutorial 04 compares the torch encoder (float32 and float64) with the NumPy one, layer by
    layer: a correct forward written another way passes it, in fast mode, on this CPU."""
    copy = solution_with(edits, tmp_path, parts=(*SOLUTION_PARTS, "tutorials"))
    paths = [str(copy), *filter(None, [os.environ.get("PYTHONPATH")])]
    env = fast_env(tmp_path / "figures") | {"PYTHONPATH": os.pathsep.join(paths)}
    where = subprocess.run(  # the copy's packages are the ones imported, not the installed ones
        [sys.executable, "-c", "import importlib.util as u; print(u.find_spec('minisbert').origin, "
         "u.find_spec('reference').origin)"],
        cwd=copy, env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert all(Path(origin).is_relative_to(copy) for origin in where.stdout.split()), where.stdout
    tutorial = [sys.executable, "tutorials/04_encoder_layer.py"]
    result = subprocess.run(tutorial, cwd=copy, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]


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


@pytest.mark.parametrize(
    "chosen", [ALL, ["pooling"], ["wordpiece", "adamw", "training_step"], ["layer_norm", "spearman"]]
)
def test_the_handout_covers_the_chosen_exercises(chosen):
    text = handout(select(chosen))
    for e in select(chosen):
        assert f"**{e.id}**" in text and e.test_file in text and e.hints[0] in text
        assert all(f in text for f in e.functions + e.also_cut)
    others = [e for e in EXERCISES if e.id not in chosen]
    assert all(f"**{e.id}**" not in text and e.test_file not in text for e in others)
    assert f"{sum(e.points for e in select(chosen))} points" in text
    for section in ("## Setting up", "## Testing your work", "## How it is graded", "package registry"):
        assert section in text
    assert f"python -m pytest {select(chosen)[0].test_file}     # one exercise: " in text
    assert "minisbert assignment grade     # your whole assignment" in text
    parts = [int(n) for n in re.findall(r"^### Part (\d+):", text, flags=re.MULTILINE)]
    assert parts == list(range(1, len(parts) + 1)) and parts, parts  # numbered without a gap
    located = [e for e in chosen if e in FORWARD_EXERCISES]
    assert ("minisbert check" in text) == bool(located)
    if located:
        assert "only the mean" in text and "nothing else" in text
    tutorial = "`tutorials/08_backprop_by_hand.py` (the part that works this exercise out is cut out"
    assert (tutorial in text) == ("layer_norm" in chosen), "read-first files say what was cut"


def test_the_teachers_guide_lists_every_exercise_with_its_points():
    rows = {}
    for line in (ROOT / "TEACHERS.md").read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.replace("\\|", "").strip("|").split("|")]
        if len(cells) == 4 and cells[1].isdigit():
            rows[cells[0]] = int(cells[1])
    assert rows == {e.id: e.points for e in EXERCISES}


def test_the_teachers_guide_names_everything_cut_with_an_exercise():
    """Its section on what a student version gives away names every `also_cut` file and function
    (or tutorial section), and says which exercises cut nothing else."""
    text = (ROOT / "TEACHERS.md").read_text(encoding="utf-8")
    section = squashed(text.split("## What a student version gives away")[1].split("\n## ")[0])
    missing = []
    for e in EXERCISES:
        for cut in e.also_cut:
            path, name = cut.split("::")
            named = name.replace(" ", "") if name.startswith("section ") else f"`{name}`"
            missing += [f"{e.id}: {part}" for part in (f"`{path}`", named) if part not in section]
    assert missing == []
    nothing_else = [e.id for e in EXERCISES if not e.also_cut]
    assert squashed(f"{', '.join(nothing_else[:-1])} and {nothing_else[-1]} cut nothing else") in section


# The heart of each exercise's solution, in every form this repository writes it (PyTorch, the
# NumPy mirror in reference/, a tutorial's worked version), compared with whitespace removed.
SOLUTION_SIGNS = {
    "wordpiece": ['"##" + word[start:end]', "for end in range(len(word), start, -1)"],
    "embeddings": [
        "self.position_embeddings(positions)",
        "self.dropout(self.LayerNorm(x))",
        'position_embeddings.weight"][:T]',
    ],
    "heads": [
        "view(B, T, self.num_heads, C // self.num_heads)",
        "transpose(1, 2).reshape(",
        "reshape(B, T, nh, C // nh).transpose(0, 2, 1, 3)",
        "transpose(0, 2, 1, 3).reshape(B, T, nh * hs)",
    ],
    "attention": [
        "k.transpose(-2, -1) / math.sqrt(q.size(-1))",
        "k.transpose(0, 1, 3, 2) / math.sqrt(hs)",
        "probs = torch.softmax(scores, dim=-1)",
    ],
    "layer_norm": [
        "1.0 / np.sqrt(var + eps)",
        "r = 1 / np.sqrt(var + eps)",
        "g - g.mean(-1, keepdims=True)",
        "dmu = -dxc.sum(-1, keepdims=True)",
        "((x - mean) ** 2).mean(axis=-1",
    ],
    "softmax_backward": ["p * (dp - (dp * p).sum(-1, keepdims=True))"],
    "cosine_backward": ["v / (nu * nv)[:, None] - c[:, None] * u / (nu**2)[:, None]"],
    "pooling": [
        'masked_fill(padding, float("-inf")).max(dim=1)',
        "np.where(mask[:, :, None] == 1, hidden, -np.inf)",
        "(hidden * m).sum(dim=1)",
        "(hidden * m).sum(axis=1)",
    ],
    "softmax_loss": [
        "concatenate(u, v, concatenation) @ weight.T + bias",
        "f @ weight.T + bias",
        "np.concatenate([pieces[p] for p in parts], axis=-1)",
    ],
    "cosine_loss": [
        "(u * v).sum(-1) / (u.norm(dim=-1) * v.norm(dim=-1))",
        "(u * v).sum(-1) / (nu * nv)",
        "(cosine(u, v) - scores.to(u.dtype)) ** 2",
    ],
    "triplet_loss": ["d(anchor, positive) - d(anchor, negative) + margin", "hinge = dp - dn + margin"],
    "mnrl": ["scale * a @ c.T", "scale * (a @ c.T)", "torch.arange(len(a), device=a.device)"],
    "adamw": ["p * (1.0 - lr * weight_decay)", "lr / (1.0 - b1**t)", "np.sqrt(1.0 - b2**t)"],
    "spearman": ["(starts + ends + 1) / 2.0", "np.repeat(mean_ranks, ends - starts)"],
    "training_step": [
        "clip_grad_norm_(params, max_grad_norm)",
        "objective.loss(*embeddings, *extra)",
        "optimizer.zero_grad(set_to_none=True)",
    ],
}


def squashed(text: str) -> str:
    return re.sub(r"\s+", "", text)


SKIPPED_FOLDERS = {
    ".git", ".venv", "__pycache__", ".pytest_cache", ".ruff_cache", "runs", "minisbert.egg-info"
}  # fmt: skip


def text_files(root: Path):
    """Every file under `root`, not descending into SKIPPED_FOLDERS (.venv alone holds tens of
    thousands of files)."""
    for folder, subfolders, files in os.walk(root):
        subfolders[:] = [name for name in subfolders if name not in SKIPPED_FOLDERS]
        yield from (Path(folder) / name for name in files)


def files_holding(root: Path, signs: list[str]) -> set[str]:
    """The text files under `root` (not .git, .venv, caches) that hold any of the signs."""
    found = set()
    for path in text_files(root):
        relative = path.relative_to(root)
        if str(relative) in TEACHER_ONLY:
            continue
        try:
            text = squashed(path.read_text(encoding="utf-8"))
        except UnicodeDecodeError:
            continue  # .npz and other binary files
        if any(squashed(sign) in text for sign in signs):
            found.add(str(relative))
    return found


@pytest.mark.parametrize("exercise", ALL)
def test_a_student_version_holds_no_solution_of_its_exercise(exercise, tmp_path):
    """A version with only this exercise set: no file holds the heart of its solution, in any form
    (not in tests/ either), and cutting it leaves no undefined name or unused import."""
    signs = SOLUTION_SIGNS[exercise]
    for sign in signs:  # each sign is real: the solution holds it, so this test can fail
        assert files_holding(ROOT, [sign]), f"{sign!r} is nowhere in the solution"
    version = make_assignment(tmp_path / "student", [exercise])
    assert files_holding(version, signs) == set()
    lint = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--select", "F", *MARKED_PACKAGES, "tests"],
        cwd=version,
        capture_output=True,
        text=True,
    )
    assert lint.returncode == 0, lint.stdout


def test_the_kit_finds_the_teachers_clone_or_says_where_it_looked(tmp_path, monkeypatch):
    """From an installed package (a wheel: no tests beside it) the kit works from the current
    folder or `--source`; with neither it names every place it looked."""
    monkeypatch.setattr(assignment, "PACKAGE_PARENT", tmp_path / "site-packages")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match=r"none at .*site-packages, .*: run it inside your clone or name it"):
        assignment.solution_repository()
    with pytest.raises(ValueError, match="--source PATH"):
        make_assignment(tmp_path / "student", ["attention"])
    assert assignment.solution_repository(ROOT) == ROOT
    monkeypatch.chdir(ROOT)
    assert assignment.solution_repository() == ROOT


def test_the_kit_runs_on_its_own(tmp_path):
    """`python -m minisbert.course`, the kit's own entry point, lists and makes a version."""
    run = [sys.executable, "-m", "minisbert.course"]
    listed = subprocess.run([*run, "list"], cwd=ROOT, capture_output=True, text=True)
    assert listed.returncode == 0 and "100 points" in listed.stdout, listed.stderr
    made = subprocess.run(
        [*run, "make", str(tmp_path / "hw"), "--exercises", "spearman"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert made.returncode == 0 and (tmp_path / "hw" / "HANDOUT.md").is_file(), made.stderr


def test_a_student_version_is_readable_by_others(student):
    """A version is handed out: it has the permissions of any new folder, not mkdtemp's 0700."""
    mode = student.stat().st_mode & 0o777
    assert mode == 0o777 & ~current_umask(), oct(mode)
