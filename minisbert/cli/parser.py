"""The `minisbert` command line: one module per command, each with its parser, checks and work.

    minisbert encode "A sentence." "Another one." -o vectors.npy
    minisbert encode --file sentences.txt            (one sentence a line; "-" reads stdin)
    minisbert similarity "A man eats." "Someone is eating." "The sky is blue."
    minisbert info [FOLDER]
    minisbert evaluate --data ../shared/data/stsbenchmark/sts-test.csv
    minisbert search --corpus sentences.txt "A query." ["Another." ...] [--top-k 10] [--cache FILE.npy]
    minisbert train --objective regression --data ../shared/data/stsbenchmark/sts-train.csv --output runs/sts
    minisbert bench [--skip-training] [--busy] [--json FILE]   (throughput beside the reference)
    minisbert init --data sentences.txt --output FOLDER         (a vocabulary and random weights)
    minisbert export --onnx FOLDER                   (a model folder with model.onnx, for ONNX Runtime)
    minisbert assignment list | make OUT [--exercises ID ...] | grade [REPO] [--json FILE]
    minisbert check [REPO]                           (where a student's encoder first differs)

`--model FOLDER` picks a model folder; the default is the embedded all-MiniLM-L6-v2.

Each command's module (encode.py, ...) has `add_parser(sub)`, which adds its sub-parser and sets
its `check` (what the arguments alone show to be wrong, refused with exit status 2 before any work
starts; arguments.py) and its `run` (the work) as defaults; `main` calls the one, then the other.
"""

from __future__ import annotations

import argparse
import sys

from . import assignment, bench, encode, evaluate, export, info, init, search, similarity, train
from .arguments import BadArguments, Parser, check_arguments

# in the order of `minisbert --help` and of the list above (assignment adds `check` too)
COMMANDS = [encode, similarity, info, evaluate, search, train, bench, init, export, assignment]


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="minisbert", description="Sentence-BERT from scratch.")
    sub = parser.add_subparsers(dest="command", required=True)
    for command in COMMANDS:
        command.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)  # a wrong argument: one line, exit status 2 (arguments.Parser)
    try:
        check_arguments(args)  # before any work starts
        return args.func(args) or 0
    except BadArguments as err:  # what the arguments alone show to be wrong: exit status 2
        command = " ".join(filter(None, [args.command, getattr(args, "job", None)]))
        print(f"minisbert {command}: error: {err} (see minisbert {command} --help)", file=sys.stderr)
        sys.exit(2)
    except (
        OSError,  # files: not found, exists, a full disk; a run folder in use; a lost torchrun rank
        ImportError,  # an optional package a command needs (export: onnx), named with how to install it
        ValueError,
        TypeError,
        KeyError,
        FloatingPointError,
    ) as err:
        message = err.args[0] if isinstance(err, KeyError) and err.args else err  # str(KeyError) adds quotes
        print(f"minisbert {args.command}: error: {message}", file=sys.stderr)
        return 1


def run() -> None:
    """The console command: `main`, and an unfinished exercise of a student version said in one line
    (called as a function, `main` lets NotImplementedError through, so that tests can see it).
    How idle OpenMP threads wait was settled before this module was even imported, by
    minisbert/cli/__init__.py: torch reads it when it loads (kernels/threads.py)."""
    try:
        status = main()
    except NotImplementedError as err:
        print(f"minisbert: this needs an unfinished piece: {err}", file=sys.stderr)
        status = 1
    sys.exit(status)


if __name__ == "__main__":
    run()
