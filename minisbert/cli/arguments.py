"""What several commands share: the parser, the argument types, the common options and checks.

A training run that stops an hour in because `--output` was not empty, or a corpus encode that
fails after the model is loaded because `--file` is misspelt, wastes the time it took to get
there. So `parser.main` parses the arguments with `Parser`, whose errors are ONE line on stderr
and exit status 2 (argparse's convention for a wrong command line), and then runs
`check_arguments`, the command's own `check`, which refuses, the same way, everything the
arguments alone show to be wrong:

    types and ranges    a batch size of 0, a learning rate of nan, a warm-up ratio of 1.5
    inputs              a data file, corpus or folder that does not exist
    outputs             a run or model folder that already holds something (without --resume),
                        an embeddings file that exists (without --overwrite)
    conflicts           options that only act with another objective, --resume without a run,
                        sentences given both as arguments and with --file

Errors found while working (a malformed line of a data file, an interrupted encode in the way)
stay exit status 1, with the same one-line form (`parser.main`).
"""

from __future__ import annotations

import argparse
import math
import re
import sys
from pathlib import Path


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


# -- the common options: a command's `add_parser` calls those it takes -------------------------


def add_encoder_command(sub, name: str, about: str, check, run) -> argparse.ArgumentParser:
    """The sub-parser of a command that loads an encoder: `about` its help and description, `check`
    and `run` what `parser.main` calls (`check_arguments`, then `args.func`), then the encoder
    options."""
    p = sub.add_parser(name, help=about, description=about)
    p.set_defaults(check=check, func=run)
    add_encoder_options(p)
    return p


def add_model_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", help="model folder (default: the embedded all-MiniLM-L6-v2)")


def add_encoder_options(p: argparse.ArgumentParser) -> None:
    """--model, --device and --batch-size: which encoder, where it runs, how many sentences a batch."""
    add_model_option(p)
    p.add_argument("--device", default=None, help="torch device, e.g. cpu or cuda (default: cpu)")
    p.add_argument("--batch-size", type=positive_int, default=32)


def add_sentence_options(p: argparse.ArgumentParser) -> None:
    """The sentences to work on: as arguments, or with --file (read by `read_sentences`)."""
    p.add_argument("sentences", nargs="*", help="sentences (or use --file)")
    p.add_argument("--file", help="a text file with one sentence a line; - for stdin")


# -- checks: each raises BadArguments ----------------------------------------------------------


def check_arguments(args: argparse.Namespace) -> None:
    """Refuse what the arguments alone show to be wrong (BadArguments), before any work starts:
    the command's own `check`, which its sub-parser sets as a default (a command with nothing to
    check sets none)."""
    check = getattr(args, "check", None)
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


# -- what the common options name, for a command's `run` ----------------------------------------


def read_sentences(args) -> list[str]:
    """Sentences from the arguments, or one a line from --file (or stdin)."""
    if args.sentences and args.file:
        raise ValueError("give sentences as arguments or with --file, not both")
    if args.sentences:
        return args.sentences
    if args.file and args.file != "-":
        path = Path(args.file)
        if not path.is_file():
            raise FileNotFoundError(f"sentence file not found: {path}")
        from ..text_files import read_lines

        return [line for _, line in read_lines(path)]  # split as a streamed corpus is: at "\n" only
    if args.file is None and sys.stdin.isatty():
        raise ValueError("no sentences: give them as arguments, with --file, or on stdin")
    return sys.stdin.read().splitlines()


def load_encoder(args, fast: bool = False):
    """The model of --model (all-MiniLM-L6-v2 without it) on --device, with plain linear layers;
    `fast` (the commands that only encode): with the linear layers --linears chooses ("auto" if
    the command has no such flag: kernels/packed_linear.py's `best_linears`)."""
    from ..kernels.packed_linear import best_linears, use_linears
    from ..sentence_encoder import SentenceEncoder

    encoder = SentenceEncoder.from_pretrained(args.model, device=args.device)
    if fast:
        kind = getattr(args, "linears", "auto")
        if kind == "auto":
            kind = best_linears(encoder.device, getattr(args, "precision", "fp32"))
        use_linears(encoder, kind)
    return encoder
