"""`minisbert evaluate`: how well a model's cosine similarities follow human judgements.

    minisbert evaluate --data stsbenchmark/sts-test.csv [--model runs/sts/model]

On an STS file: Spearman and Pearson of the similarities (cosine, and three more: evaluation.py)
against the gold scores. On SICK.txt: the same on the test split's relatedness, and the triplet
accuracy on its test triplets.
"""

from __future__ import annotations

import json

from .arguments import add_encoder_command, existing_data, load_encoder

HELP = "STS evaluation: Spearman of cosine similarity vs gold scores"


def add_parser(sub) -> None:
    p = add_encoder_command(sub, "evaluate", HELP, check, run)
    p.add_argument(
        "--data", required=True, help="an STS benchmark file (e.g. stsbenchmark/sts-test.csv) or SICK.txt"
    )


def check(args) -> None:
    existing_data(args.data, "--data")


def run(args) -> None:
    from ..data import data_path, is_sick, read_sick, read_sts, sick_triplets, split_sick
    from ..evaluation import evaluate_sts, evaluate_triplets
    from ..run.recipes import as_scored

    path = data_path(args.data)
    encoder = load_encoder(args, fast=True)
    if is_sick(path):
        pairs = read_sick(path)
        result = evaluate_sts(encoder, as_scored(split_sick(pairs)["test"]), batch_size=args.batch_size)
        triplets = evaluate_triplets(encoder, sick_triplets(pairs)["test"], batch_size=args.batch_size)
        result["triplet_accuracy"] = triplets["accuracy"]
    else:
        result = evaluate_sts(encoder, read_sts(path), batch_size=args.batch_size)
    print(json.dumps({"model": args.model or "(embedded)", "data": str(path), **result}, indent=2))
