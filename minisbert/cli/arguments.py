"""The command line's arguments, checked before any work starts.

A training run that stops an hour in because `--output` was not empty, or a corpus encode that
fails after the model is loaded because `--file` is misspelt, wastes the time it took to get
there. So `cli.main` parses the arguments with `Parser`, whose errors are ONE line on stderr and
exit status 2 (argparse's convention for a wrong command line), and then runs `check_arguments`,
which refuses, the same way, everything the arguments alone show to be wrong:

    types and ranges    a batch size of 0, a learning rate of nan, a warm-up ratio of 1.5
    inputs              a data file, corpus or folder that does not exist
    outputs             a run or model folder that already holds something (without --resume),
                        an embeddings file that exists (without --overwrite)
    conflicts           options that only act with another objective, --resume without a run,
                        sentences given both as arguments and with --file

Errors found while working (a malformed line of a data file, an interrupted encode in the way)
stay exit status 1, with the same one-line form (`cli.main`).
"""

from __future__ import annotations

import argparse
import math
import re
import sys
from pathlib import Path

TRAIN_DEFAULTS = {"margin": 1.0, "distance": "euclidean", "scale": 20.0, "head_lr": 1e-3}
# the options that act with one objective only (the rest would be silently ignored)
OBJECTIVE_OPTIONS = {
    "margin": ("--margin", "triplet"),
    "distance": ("--distance", "triplet"),
    "scale": ("--scale", "mnrl"),
    "no_gather": ("--no-gather", "mnrl"),
    "head_lr": ("--head-lr", "classification"),
}


class BadArguments(ValueError):
    """What is wrong with the command line, said in one line; exit status 2."""


class Parser(argparse.ArgumentParser):
    """argparse, but an error is one line (`minisbert train: error: ... (see --help)`), no usage dump."""

    def error(self, message: str):
        found = re.match(r"argument ([^:]+): (.*)", message)
        if found:  # argparse's "argument --epochs: must be ..." reads better as "--epochs must be ..."
            flag, rest = found.groups()
            message = f"{flag} {rest}" if rest.startswith("must ") else f"{flag}: {rest}"
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


# -- types: each a function from the argument's text to its value, named for argparse's messages --


def number_type(kind, low: float, low_included: bool, what: str):
    """An argparse type: `kind` (int or float) of at least `low` (or above it), finite."""

    def convert(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {what}, got {text!r}") from None
        if not math.isfinite(value) or value < low or (value == low and not low_included):
            raise argparse.ArgumentTypeError(f"must be {what}, got {text!r}")
        return value

    convert.__name__ = what
    return convert


positive_int = number_type(int, 1, True, "a positive integer")
count_or_zero = number_type(int, 0, True, "an integer ≥ 0")
positive_float = number_type(float, 0.0, False, "a positive number")
non_negative_float = number_type(float, 0.0, True, "a number ≥ 0")


def fraction(text: str) -> float:
    """A number from 0 to 1."""
    value = non_negative_float(text)
    if value > 1:
        raise argparse.ArgumentTypeError(f"must be a number from 0 to 1, got {text!r}")
    return value


# -- checks: each raises BadArguments ----------------------------------------------------------


def check_arguments(args: argparse.Namespace) -> None:
    """Refuse what the arguments alone show to be wrong (BadArguments), before any work starts."""
    name = args.command if args.command != "assignment" else f"assignment_{args.job}"
    check = getattr(sys.modules[__name__], f"check_{name}", None)
    if check is not None:
        check(args)


def existing_file(path: str, what: str) -> None:
    if not Path(path).is_file():
        raise BadArguments(f"{what} not found: {path}" if not Path(path).is_dir() else f"{path} is a folder")


def existing_data(path: str, what: str) -> None:
    """A data file, given as a path or relative to $MINISBERT_DATA (data.data_path)."""
    from ..data import data_path

    try:
        data_path(path)
    except FileNotFoundError as err:
        raise BadArguments(f"{what}: {err}") from None


def existing_folder(path: str, what: str) -> None:
    if not Path(path).is_dir():
        raise BadArguments(f"{what} not found: {path}")


def new_folder(path: str, what: str, hint: str) -> None:
    from ..files.atomic import check_new_folder

    try:
        check_new_folder(Path(path), what, hint)
    except FileExistsError as err:
        raise BadArguments(str(err)) from None


def check_sentences(args) -> None:
    """Sentences come from the arguments, or --file (a file, or - for stdin), not both."""
    if args.sentences and args.file:
        raise BadArguments("give sentences as arguments or with --file, not both")
    if args.file and args.file != "-":
        existing_file(args.file, "sentence file")
    if not args.sentences and args.file is None and sys.stdin.isatty():
        raise BadArguments("no sentences: give them as arguments, with --file, or on stdin")


def check_encode(args) -> None:
    check_sentences(args)
    streamed = bool(args.file and args.file != "-" and args.output)
    if (args.resume or args.block_lines is not None) and not streamed:
        raise BadArguments("--resume and --block-lines need a corpus --file and an output -o")
    if args.output:
        check_embeddings_output(Path(args.output), args.file, args.overwrite)


def check_embeddings_output(output: Path, source: str | None, overwrite: bool) -> None:
    """An -o file: not a folder, not the sentence file itself, not an existing file unless told."""
    if output.is_dir():
        raise BadArguments(f"the output {output} is a folder: give a file name such as vectors.npy")
    if source and source != "-" and output.resolve() == Path(source).resolve():
        raise BadArguments(f"the output {output} is the sentence file itself: name another file")
    if output.exists() and not overwrite:
        raise BadArguments(f"the output {output} exists: add --overwrite to replace it, or name another file")


def check_similarity(args) -> None:
    check_sentences(args)


def check_info(args) -> None:
    if args.folder and args.model and args.folder != args.model:
        raise BadArguments(f"two model folders given, {args.folder} and --model {args.model}: give one")


def check_evaluate(args) -> None:
    existing_data(args.data, "--data")


def check_search(args) -> None:
    existing_file(args.corpus, "corpus file")
    if args.cache and Path(args.cache).is_dir():
        raise BadArguments(f"--cache {args.cache} is a folder: give a file name such as corpus.npy")


def check_train(args) -> None:
    """Ranges are the parser's; here: conflicts, the data, the run folder and the device."""
    from ..run.run_lock import LOCK_FILE, refuse_if_in_use

    for key, (option, objective) in OBJECTIVE_OPTIONS.items():
        if getattr(args, key) not in (None, False) and args.objective != objective:
            raise BadArguments(f"{option} only acts with --objective {objective}, not {args.objective}")
    for key, default in TRAIN_DEFAULTS.items():
        if getattr(args, key) is None:
            setattr(args, key, default)
    existing_data(args.data, "--data")
    output = Path(args.output)
    refuse_if_in_use(output)  # another run is training into it: not the arguments' fault, exit 1
    started = (output / "checkpoints" / "latest").is_file() or (output / LOCK_FILE).is_file()
    if args.resume and not started:  # (a run killed before its first checkpoint starts over)
        raise BadArguments(f"--resume: {output} holds no run to resume (no checkpoints/latest)")
    if not args.resume:
        new_folder(args.output, "a run", "resume it with --resume or choose an empty or new folder")
    check_device(args.device)


def check_device(device: str | None) -> None:
    from ..devices import resolve_device

    try:
        resolve_device(device)
    except ValueError as err:
        raise BadArguments(f"--device: {err}") from None


def check_init(args) -> None:
    from ..config import preset

    existing_data(args.data, "--data")
    new_folder(args.output, "files", "choose an empty or new folder")
    longest = preset(args.preset).max_position_embeddings
    if not 2 <= args.max_seq_length <= longest:
        raise BadArguments(
            f"--max-seq-length must be from 2 ([CLS] and [SEP]) to {longest} (the positions of "
            f"--preset {args.preset}), got {args.max_seq_length}"
        )


def check_export(args) -> None:
    if args.model:
        existing_folder(args.model, "--model")
    if not args.overwrite:
        new_folder(args.onnx, "files", "add --overwrite to replace them, or choose a new folder")


def check_bench(args) -> None:
    if args.file:
        existing_file(args.file, "sentence file")
    else:
        existing_data(args.data, "--data")
    if not (args.skip_training or args.corpus_lines):
        existing_data(args.train_data, "--train-data")
    if args.busy and args.corpus_lines:
        raise BadArguments("--busy times the encoding benchmark, which --corpus-lines leaves out")


def check_assignment_make(args) -> None:
    check_exercises(args.exercises)
    new_folder(args.out, "files", "choose a new folder for the student version")


def check_assignment_grade(args) -> None:
    check_exercises(args.exercises)
    existing_folder(args.repo, "repository")


def check_check(args) -> None:
    existing_folder(args.repo, "repository")


def check_exercises(ids: list[str] | None) -> None:
    from ..course.exercises import select

    try:
        select(ids)
    except ValueError as err:
        raise BadArguments(f"--exercises: {err}") from None
