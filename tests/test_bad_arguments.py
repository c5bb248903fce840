"""Wrong command lines: refused before any work starts, in one line, with exit status 2.

`minisbert train --batch-size 0 ...` must not load a model, read SICK and then fail; nor print a
usage screen or a traceback. Every subcommand refuses wrong types, meaningless sizes and rates,
unknown choices, missing inputs, outputs it would write over, and options that conflict, with
ONE line on stderr (`minisbert train: error: --batch-size must be a positive integer, got '0'
(see minisbert train --help)`) and exit status 2, argparse's status for a wrong command line.
Errors found while working (a malformed line in a data file) keep exit status 1.

The tests call `minisbert.cli.main` in-process with every command's work replaced by a stub
(`no_work`), so that a command line that is accepted costs nothing; one test runs the real
console script to show what a user sees.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import math
import re
import subprocess
import sys
from pathlib import Path

import pytest
from fuzzing import fuzz
from hypothesis import given
from hypothesis import strategies as st

from minisbert import cli
from minisbert.cli import parser

REACHED = []  # the arguments with which a stubbed command was reached


def stub(args):
    REACHED.append(args)
    return 0


def command_parsers(command: argparse.ArgumentParser, name: str = "minisbert"):
    """(name, parser) of every command a parser holds, sub-commands included ("minisbert
    assignment make"): those without sub-commands of their own, the ones that run something."""
    subs = [a for a in command._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        yield name, command
    for sub in subs:
        for word, child in sub.choices.items():
            yield from command_parsers(child, f"{name} {word}")


@contextlib.contextmanager
def stubbed_commands():
    """Every command's work replaced by `stub`: what is tested is the checking before it."""
    # each command module's `run` is the work its sub-parser sets (`func`); check that every command
    # the parser holds now reaches the stub, so that a renamed or new command cannot leave real work
    # running (it once ran whole benchmarks here)
    with pytest.MonkeyPatch.context() as patch:
        for module in parser.COMMANDS:
            patch.setattr(module, "run", stub)
        works = {
            name: command.get_default("func") for name, command in command_parsers(parser.build_parser())
        }
        assert len(works) >= 13 and all(work is stub for work in works.values()), works
        yield


@pytest.fixture
def no_work():
    with stubbed_commands():
        yield


@pytest.fixture(scope="module")
def files(tmp_path_factory, data_dir):
    """Paths for valid command lines: real data files (only their existence is checked here), a
    corpus, a folder that holds a run, one that holds something else, and where nothing is yet."""
    root = tmp_path_factory.mktemp("arguments")
    (root / "corpus.txt").write_text("one sentence\nanother\n", encoding="utf-8")
    (root / "busy").mkdir()
    (root / "busy" / "keep.txt").write_text("mine", encoding="utf-8")
    (root / "run" / "checkpoints").mkdir(parents=True)
    (root / "run" / "checkpoints" / "latest").write_text("step-0000001", encoding="utf-8")
    (root / "latin1.txt").write_bytes(b"fine\ncaf\xe9\n")
    return {
        "sts": str(data_dir / "stsbenchmark" / "sts-train.csv"),
        "sick": str(data_dir / "sick" / "SICK.txt"),
        "corpus": str(root / "corpus.txt"),
        "busy": str(root / "busy"),
        "run": str(root / "run"),
        "new": str(root / "new"),
        "nowhere": str(root / "nowhere.txt"),
        "latin1": str(root / "latin1.txt"),
        "root": str(root),
    }


def run_main(argv: list[str]) -> tuple[int, str]:
    """(exit status, stderr) of `minisbert ARGV`, in-process."""
    REACHED.clear()
    err = io.StringIO()  # not capsys: hypothesis wants no function-scoped fixture
    with contextlib.redirect_stderr(err):
        try:
            status = cli.main(argv)
        except SystemExit as stop:
            status = stop.code
    return status, err.getvalue()


def assert_one_line_refusal(status: int, err: str, command: str, says: str = ""):
    assert status == 2, err
    assert err.count("\n") == 1 and err.endswith("\n"), f"not one line: {err!r}"
    assert err.startswith(" ".join(["minisbert", command][: 2 if command else 1]) + ": error: "), err
    assert "Traceback" not in err and "usage:" not in err, err
    assert re.search(says, err), f"{says!r} not in {err!r}"
    assert not REACHED, "the command's work started"


# -- one wrong command line each ----------------------------------------------------------------

CASES = {
    "no subcommand": ([], "", r"required: command"),
    "an unknown subcommand": (["encdoe"], "", r"invalid choice: 'encdoe'"),
    "train without its required options": (["train"], "train", r"required: --objective, --data"),
    "a batch size of zero": (
        ["encode", "a", "--batch-size", "0"],
        "encode",
        r"--batch-size must be a positive",
    ),
    "a batch size that is a word": (["similarity", "a", "--batch-size", "many"], "similarity", r"'many'"),
    "a learning rate of nan": (
        ["train", "{train}", "--lr", "nan"],
        "train",
        r"--lr must be a positive number",
    ),
    "a negative learning rate": (["train", "{train}", "--lr=-1e-5"], "train", r"--lr must be a positive"),
    "a warm-up ratio above one": (["train", "{train}", "--warmup-ratio", "1.5"], "train", r"from 0 to 1"),
    "zero epochs": (["train", "{train}", "--epochs", "0"], "train", r"--epochs must be a positive integer"),
    "an unknown objective": (["train", "{train}", "--objective", "contrastive"], "train", r"invalid choice"),
    "an unknown precision": (["encode", "a", "--precision", "fp8"], "encode", r"--precision: invalid choice"),
    "int8 precision on packed layers": (
        ["encode", "a", "--precision", "int8", "--linears", "packed"],
        "encode",
        r"--precision int8 runs int8 linear layers: --linears packed contradicts it",
    ),
    "int8 layers at fp32": (
        ["encode", "a", "--linears", "int8"],
        "encode",
        r"give --precision int8, not fp32",
    ),
    "packed layers under bf16": (
        ["encode", "a", "--linears", "packed", "--precision", "bf16"],
        "encode",
        r"--linears packed is float32",
    ),
    "packed layers off the CPU": (
        ["encode", "a", "--linears", "packed", "--device", "cuda"],
        "encode",
        r"--linears packed runs on the CPU only, not on cuda",
    ),
    "an unknown device": (["train", "{train}", "--device", "gpu7"], "train", r"--device: unknown device"),
    "--margin with regression": (["train", "{train}", "--margin", "2"], "train", r"--margin only acts with"),
    "--scale with triplet": (
        ["train", "{train}", "--objective", "triplet", "--scale", "5"],
        "train",
        r"--scale only acts with --objective mnrl, not triplet",
    ),
    "--no-gather with regression": (["train", "{train}", "--no-gather"], "train", r"--no-gather only acts"),
    "--head-lr with mnrl": (
        ["train", "{train}", "--objective", "mnrl", "--head-lr", "1e-3"],
        "train",
        r"--head-lr",
    ),
    "--resume without a run": (["train", "{train}", "--resume"], "train", r"holds no run to resume"),
    "an output that holds something": (
        ["train", "{train}", "--output", "{busy}"],
        "train",
        r"is not empty: it already holds a run; resume it with --resume",
    ),
    "a data file that does not exist": (
        ["evaluate", "--data", "{nowhere}"],
        "evaluate",
        r"data file not found",
    ),
    "--resume without a corpus file": (
        ["encode", "a", "--resume"],
        "encode",
        r"need a corpus --file and an output",
    ),
    "sentences and --file": (["encode", "a", "--file", "{corpus}"], "encode", r"not both"),
    "a sentence file that does not exist": (
        ["encode", "--file", "{nowhere}"],
        "encode",
        r"sentence file not found",
    ),
    "an output that is a folder": (["encode", "a", "-o", "{root}"], "encode", r"is a folder"),
    "an output file that exists": (
        ["encode", "a", "-o", "{corpus}"],
        "encode",
        r"corpus\.txt exists: add --overwrite to replace it",
    ),
    "a corpus output file that exists": (
        ["encode", "--file", "{corpus}", "-o", "{latin1}", "--block-lines", "3"],
        "encode",
        r"exists: add --overwrite",
    ),
    "the sentence file as its own output": (
        ["encode", "--file", "{corpus}", "-o", "{corpus}", "--overwrite"],
        "encode",
        r"corpus\.txt is the sentence file itself",
    ),
    "a top-k of zero": (["search", "q", "--corpus", "{corpus}", "--top-k", "0"], "search", r"--top-k must"),
    "a corpus that does not exist": (
        ["search", "q", "--corpus", "{nowhere}"],
        "search",
        r"corpus file not found",
    ),
    "init into a folder that holds something": (
        ["init", "--data", "{sts}", "--output", "{busy}"],
        "init",
        r"is not empty",
    ),
    "a max length beyond the preset's positions": (
        ["init", "--data", "{sts}", "--output", "{new}", "--max-seq-length", "100"],
        "init",
        r"--max-seq-length must be from 2 .* to 64 .* got 100",
    ),
    "an unknown exercise": (
        ["assignment", "make", "{new}", "--exercises", "atention"],
        "assignment make",
        r"atention",
    ),
    "grading a folder that does not exist": (
        ["assignment", "grade", "{nowhere}"],
        "assignment grade",
        r"not found",
    ),
    "two model folders for info": (["info", "{busy}", "--model", "{run}"], "info", r"two model folders"),
    "zero benchmark threads": (["bench", "--threads", "0"], "bench", r"--threads must be a positive integer"),
}


def fill(argv: list[str], files: dict) -> list[str]:
    train = ["--objective", "regression", "--data", files["sts"], "--output", files["new"]]
    out = []
    for a in argv:
        out += train if a == "{train}" else [a.format(**files)]
    return out


@pytest.mark.parametrize("argv, command, says", CASES.values(), ids=CASES.keys())
def test_a_wrong_command_line_is_one_line_and_exit_2(no_work, files, argv, command, says):
    status, err = run_main(fill(argv, files))
    assert_one_line_refusal(status, err, command.strip(), says)


@pytest.mark.parametrize(
    "argv, command",
    [
        (["train", "{train}"], "train"),
        (["train", "{train}", "--output", "{run}", "--resume"], "train"),
        (
            ["train", "--objective", "triplet", "--data", "{sick}", "--output", "{new}", "--margin", "0.5"],
            "train",
        ),
        (["encode", "--file", "{corpus}", "-o", "{new}.npy", "--block-lines", "7"], "encode"),
        (["encode", "a", "-o", "{corpus}", "--overwrite"], "encode"),
        (["init", "--data", "{sts}", "--output", "{new}", "--max-seq-length", "64"], "init"),
    ],
    ids=[
        "a plain training run",
        "a resumed run",
        "triplet with a margin",
        "a streamed corpus",
        "replacing an output",
        "init",
    ],
)
def test_a_right_command_line_reaches_its_command(no_work, files, argv, command):
    """The checks refuse only what is wrong (otherwise the refusals above prove little)."""
    status, err = run_main(fill(argv, files))
    assert (status, err, len(REACHED)) == (0, "", 1)
    assert REACHED[0].command == command


def test_the_training_defaults_survive_the_checks(no_work, files):
    run_main(fill(["train", "{train}"], files))
    args = REACHED[0]
    assert (args.margin, args.distance, args.scale, args.head_lr) == (1.0, "euclidean", 20.0, 1e-3)


@pytest.mark.parametrize(
    "argv, says",
    [
        (["encode", "--file", "{latin1}"], r"latin1\.txt, line 2: byte 0xe9 at byte 4 is not UTF-8"),
        (["init", "--data", "{latin1}", "--output", "{new}"], r"latin1\.txt, line 2: byte 0xe9"),
        (["search", "q", "--corpus", "{latin1}"], r"latin1\.txt, line 2: byte 0xe9"),
    ],
    ids=[
        "a sentence file that is not UTF-8",
        "init on a file that is not UTF-8",
        "a search corpus that is not UTF-8",
    ],
)
def test_a_bad_file_found_while_working_is_exit_1_naming_the_line(files, argv, says):
    status, err = run_main(fill(argv, files))
    assert status == 1 and err.count("\n") == 1 and re.search(says, err), err


# -- generated values for every numeric and choice option ----------------------------------------


def positive(v):
    return v > 0 and math.isfinite(v)


def at_least_zero(v):
    return v >= 0 and math.isfinite(v)


# subcommand → (the rest of a valid command line, {option: what every accepted value satisfies})
OPTIONS = {
    "encode": (
        ["--file", "{corpus}", "-o", "{new}.npy"],
        {"--batch-size": positive, "--block-lines": positive},
    ),
    "similarity": (["a", "b"], {"--batch-size": positive}),
    "search": (["q", "--corpus", "{corpus}"], {"--top-k": positive, "--batch-size": positive}),
    "train": (
        ["{train}"],
        {
            "--epochs": positive,
            "--batch-size": positive,
            "--lr": positive,
            "--warmup-ratio": lambda v: 0 <= v <= 1,
            "--weight-decay": at_least_zero,
            "--max-grad-norm": positive,
            "--seed": at_least_zero,
            "--eval-every": at_least_zero,
            "--checkpoint-every": at_least_zero,
            "--stop-after": positive,
            "--precision": lambda v: v in ("fp32", "bf16", "fp16"),
        },
    ),
    "bench": (
        [],
        {
            "--threads": positive,
            "--rounds": positive,
            "--reference-sentences": positive,
            "--training-steps": positive,
        },
    ),
    "init": (
        ["--data", "{sts}", "--output", "{new}"],
        {"--vocab-size": positive, "--max-seq-length": lambda v: 2 <= v <= 64, "--seed": at_least_zero},
    ),
}
VALUES = st.one_of(
    st.integers(-3, 100).map(str),
    st.floats().map(str),  # nan, inf, -0.0, 1e-300, ...
    st.sampled_from(["", "abc", "1e3", "0.5", "1_000", " 3", "٣", "0x10", "fp32", "bf16", "3.0", "+2"]),
    st.text(max_size=6),
)
OPTION = st.sampled_from(sorted(OPTIONS)).flatmap(
    lambda command: st.tuples(st.just(command), st.sampled_from(sorted(OPTIONS[command][1])))
)


@fuzz(ci_examples=150)
@given(command_and_option=OPTION, value=VALUES)
def test_every_value_is_accepted_in_range_or_refused_in_one_line(files, command_and_option, value):
    """Whatever the value, either the command is reached with it in its range, or the command
    line is refused in one line that names the option, exit status 2."""
    command, option = command_and_option
    rest, rules = OPTIONS[command]
    with stubbed_commands():
        status, err = run_main([command, *fill(rest, files), f"{option}={value}"])
    if status == 0:
        assert err == "" and len(REACHED) == 1
        assert rules[option](getattr(REACHED[0], option.removeprefix("--").replace("-", "_")))
    else:
        assert_one_line_refusal(status, err, command, re.escape(option))


def test_the_console_script_refuses_in_one_line(tmp_path):
    """What a user sees: exit status 2, one line, no traceback, no usage screen."""
    script = Path(sys.executable).with_name("minisbert")
    argv = [str(script), "train", "--objective", "regression", "--data", "x.csv", "--output", str(tmp_path)]
    result = subprocess.run([*argv, "--batch-size", "0"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert result.stderr == (
        "minisbert train: error: --batch-size must be a positive integer, got '0' "
        "(see minisbert train --help)\n"
    )
    assert result.stdout == ""
