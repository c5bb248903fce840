"""The `minisbert` command line.

    minisbert encode "A sentence." "Another one." -o vectors.npy
    minisbert encode --file sentences.txt            (one sentence a line; "-" reads stdin)
    minisbert similarity "A man eats." "Someone is eating." "The sky is blue."
    minisbert info [FOLDER]
    minisbert evaluate --data ../shared/data/stsbenchmark/sts-test.csv
    minisbert search --corpus sentences.txt "A query." ["Another." ...] [--top-k 10] [--cache FILE.npy]
    minisbert train --objective regression --data ../shared/data/stsbenchmark/sts-train.csv --output runs/sts
    minisbert export --onnx FOLDER                   (a model folder with model.onnx, for ONNX Runtime)
    minisbert assignment list | make OUT [--exercises ID ...] | grade [REPO] [--json FILE]
    minisbert check [REPO]                           (where a student's encoder first differs)

`--model FOLDER` picks a model folder; the default is the embedded all-MiniLM-L6-v2.
"""

from __future__ import annotations

import argparse
import sys

from ..devices import ENCODING_PRECISIONS
from .arguments import (
    BadArguments,
    Parser,
    check_arguments,
    count_or_zero,
    fraction,
    non_negative_float,
    positive_float,
    positive_int,
)
from .commands import (
    cmd_bench,
    cmd_encode,
    cmd_evaluate,
    cmd_export,
    cmd_info,
    cmd_init,
    cmd_search,
    cmd_similarity,
    cmd_train,
)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="minisbert", description="Sentence-BERT from scratch.")
    sub = parser.add_subparsers(dest="command", required=True)

    def add(name: str, func, help: str, sentences: bool = False) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=help)
        p.set_defaults(func=func)
        p.add_argument("--model", help="model folder (default: the embedded all-MiniLM-L6-v2)")
        p.add_argument("--device", default=None, help="torch device, e.g. cpu or cuda (default: cpu)")
        p.add_argument("--batch-size", type=positive_int, default=32)
        if sentences:
            p.add_argument("sentences", nargs="*", help="sentences (or use --file)")
            p.add_argument("--file", help="a text file with one sentence a line; - for stdin")
        return p

    enc = add("encode", cmd_encode, "embed sentences", sentences=True)
    enc.add_argument("-o", "--output", help="write the embeddings to this .npy file instead of printing")
    enc.add_argument("--overwrite", action="store_true", help="replace the -o file if it exists")
    enc.add_argument("--no-normalize", action="store_true", help="skip the model's L2 normalisation")
    enc.add_argument(
        "--precision",
        default="fp32",
        choices=list(ENCODING_PRECISIONS),
        help="of the matrix multiplies: fp32 (default), bf16, fp16, or int8 for the linear layers "
        "(CPU only; docs/speed.md); the vectors are float32 either way",
    )
    enc.add_argument(
        "--linears",
        default="auto",
        choices=["auto", "plain", "packed", "int8"],
        help="the kind of linear layer (kernels/packed_linear.py): auto (default) is int8 with "
        "--precision int8, packed for fp32 on a CPU whose torch can pack, plain nn.Linear otherwise",
    )
    enc.add_argument(
        "--resume",
        action="store_true",
        help="with --file and -o: continue an interrupted encode of the same corpus and model",
    )
    enc.add_argument(
        "--block-lines", type=positive_int, default=None, help="with --file and -o: lines encoded per block"
    )
    add("similarity", cmd_similarity, "cosine similarity matrix of sentences", sentences=True)
    info = add("info", cmd_info, "describe a model folder")
    info.add_argument("folder", nargs="?", help="model folder (same as --model)")
    ev = add("evaluate", cmd_evaluate, "STS evaluation: Spearman of cosine similarity vs gold scores")
    ev.add_argument(
        "--data", required=True, help="an STS benchmark file (e.g. stsbenchmark/sts-test.csv) or SICK.txt"
    )
    add_search_parser(add)
    add_train_parser(add)
    add_bench_parser(add)
    add_init_parser(add)
    add_export_parser(sub)
    add_assignment_parser(sub)
    return parser


def add_export_parser(sub) -> None:
    e = sub.add_parser("export", help="write a model as ONNX, to run with ONNX Runtime")
    e.set_defaults(func=cmd_export)
    e.add_argument("--model", help="model folder (default: the embedded all-MiniLM-L6-v2)")
    e.add_argument("--onnx", required=True, metavar="FOLDER", help="new folder: model files and model.onnx")
    e.add_argument("--overwrite", action="store_true", help="replace FOLDER if it holds something")


def add_assignment_parser(sub) -> None:
    """`minisbert assignment list|make|grade` for teachers, `minisbert check` for students."""
    from .commands import cmd_assignment_grade, cmd_assignment_list, cmd_assignment_make, cmd_check

    a = sub.add_parser("assignment", help="make and grade a course assignment from this repository")
    jobs = a.add_subparsers(dest="job", required=True)
    listing = jobs.add_parser("list", help="the exercises, their points and their tests")
    listing.set_defaults(func=cmd_assignment_list)
    make = jobs.add_parser("make", help="write a student version of this repository and its HANDOUT.md")
    make.set_defaults(func=cmd_assignment_make)
    make.add_argument("out", help="the new folder for the student version")
    make.add_argument("--exercises", nargs="+", metavar="ID", help="the exercises to set (default: all)")
    grade = jobs.add_parser("grade", help="run each exercise's tests in a repository and score them")
    grade.set_defaults(func=cmd_assignment_grade)
    grade.add_argument("repo", nargs="?", default=".", help="the repository to grade (default: here)")
    grade.add_argument("--exercises", nargs="+", metavar="ID", help="grade only these exercises")
    grade.add_argument("--json", help="also write the results for a grade book (Gradescope's results.json)")
    check = sub.add_parser("check", help="where does this encoder first differ from a correct one?")
    check.set_defaults(func=cmd_check)
    check.add_argument("repo", nargs="?", default=".", help="the repository to check (default: here)")


def add_search_parser(add) -> None:
    s = add("search", cmd_search, "semantic search: the corpus sentences closest to each query")
    s.add_argument("queries", nargs="+", metavar="query", help="what to look for, one or more sentences")
    s.add_argument("--corpus", required=True, help="a text file with one sentence a line")
    s.add_argument("--top-k", type=positive_int, default=10, help="hits per query (default 10)")
    s.add_argument(
        "--cache",
        help="where to keep the corpus embeddings (default: beside the corpus, "
        "CORPUS.minisbert-<model id>.npy); re-encoded when the corpus or the model changes; "
        "a file that is not such a cache is never written over",
    )


def add_train_parser(add) -> None:
    from ..run.recipes import RECIPES
    from ..training import TrainingConfig

    d = TrainingConfig()
    tr = add("train", cmd_train, "fine-tune a model with one of the SBERT objectives")
    tr.set_defaults(batch_size=d.batch_size)
    tr.add_argument("--objective", required=True, choices=list(RECIPES))
    tr.add_argument(
        "--data", required=True, help="stsbenchmark/sts-train.csv (dev and test beside it) or sick/SICK.txt"
    )
    tr.add_argument("--output", required=True, help="run folder: checkpoints/, model/, log.json, loss.png")
    tr.add_argument("--epochs", type=positive_int, default=d.epochs)
    tr.add_argument("--lr", type=positive_float, default=d.lr, help="learning rate of the encoder")
    tr.add_argument(
        "--head-lr",
        type=positive_float,
        default=None,  # 1e-3, set by arguments.check_train: given with another objective, it is refused
        help="learning rate of the softmax classifier (default 1e-3: a fresh head learns too slowly at 2e-5)",
    )
    tr.add_argument("--warmup-ratio", type=fraction, default=d.warmup_ratio)
    tr.add_argument("--weight-decay", type=non_negative_float, default=d.weight_decay)
    tr.add_argument("--max-grad-norm", type=positive_float, default=d.max_grad_norm)
    tr.add_argument("--seed", type=count_or_zero, default=d.seed)
    tr.add_argument("--eval-every", type=count_or_zero, default=d.eval_every, help="steps; 0: once an epoch")
    tr.add_argument(
        "--checkpoint-every", type=count_or_zero, default=d.checkpoint_every, help="steps; 0: once an epoch"
    )
    tr.add_argument(
        "--resume", action="store_true", help="continue the run in --output from its last checkpoint"
    )
    tr.add_argument(
        "--stop-after",
        type=positive_int,
        help="stop after this many steps as if interrupted (to try --resume)",
    )
    # the objective's own options default to None so that check_train can tell them given (arguments.py)
    tr.add_argument("--margin", type=non_negative_float, help="triplet margin (default the paper's ε = 1)")
    tr.add_argument(
        "--distance", choices=["euclidean", "cosine", "manhattan"], help="triplet (default euclidean)"
    )
    tr.add_argument("--scale", type=positive_float, help="MNRL similarity scale (default 20)")
    tr.add_argument(
        "--no-gather",
        action="store_true",
        help="MNRL under torchrun: score each anchor against its own rank's batch only, "
        "not the whole global batch (see docs/distributed.md)",
    )
    tr.add_argument(
        "--precision",
        default=d.precision,
        choices=["fp32", "bf16", "fp16"],
        help="mixed precision of the forward pass (default fp32; bf16 on a CPU with AVX-512 BF16 or a GPU)",
    )


def add_bench_parser(add) -> None:
    b = add(
        "bench", cmd_bench, "encoding and training throughput beside the reference and sentence-transformers"
    )
    b.set_defaults(sentences=[])
    b.add_argument("--data", default="stsbenchmark/sts-test.csv", help="STS file whose sentences are encoded")
    b.add_argument("--file", help="encode these sentences instead (one a line)")
    b.add_argument(
        "--train-data", default="stsbenchmark/sts-train.csv", help="STS file for the training benchmark"
    )
    b.add_argument(
        "--threads",
        type=positive_int,
        help="torch's intra-op threads (default: torch's own, $OMP_NUM_THREADS or one per usable core)",
    )
    b.add_argument("--rounds", type=positive_int, default=3)
    b.add_argument(
        "--reference-sentences",
        type=positive_int,
        default=256,
        help="how many sentences the NumPy reference encodes",
    )
    b.add_argument("--training-steps", type=positive_int, default=20)
    b.add_argument("--skip-training", action="store_true")
    b.add_argument("--skip-memory", action="store_true")
    b.add_argument(
        "--corpus-lines",
        type=positive_int,
        nargs="+",
        metavar="N",
        help="run only the corpus benchmark: encode --file on corpora of these sizes (make bench-corpus)",
    )
    b.add_argument(
        "--busy",
        action="store_true",
        help="time the encoding again while one process per usable core spins in a loop, "
        "and report each contender quiet and busy (docs/speed.md)",
    )
    b.add_argument("--json", help="also write the figures to this JSON file")


def add_init_parser(add) -> None:
    from ..config import PRESETS

    i = add(
        "init", cmd_init, "a new model folder: a vocabulary learnt from text and a BERT with random weights"
    )
    i.add_argument(
        "--data", required=True, help="texts for the vocabulary: an STS file, SICK.txt or one sentence a line"
    )
    i.add_argument("--output", required=True, help="the new model folder")
    i.add_argument("--preset", default="tiny", choices=list(PRESETS), help="the BERT sizes")
    i.add_argument("--vocab-size", type=positive_int, default=4000)
    i.add_argument("--max-seq-length", type=positive_int, default=64)
    i.add_argument("--seed", type=count_or_zero, default=0)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)  # a wrong argument: one line, exit status 2 (arguments.Parser)
    try:
        check_arguments(args)  # before any work starts
        if getattr(args, "folder", None):  # `minisbert info FOLDER` is `minisbert info --model FOLDER`
            args.model = args.folder
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
