"""`minisbert similarity`: the cosine similarity of every pair of sentences, as a matrix.

    minisbert similarity "A man eats." "Someone is eating." "The sky is blue."

One row a sentence (cut at 40 characters), one numbered column a sentence, 1.000 on the diagonal.
"""

from __future__ import annotations

import numpy as np

from .arguments import (
    add_encoder_command,
    add_sentence_options,
    check_sentences,
    load_encoder,
    read_sentences,
)

HELP = "cosine similarity matrix of sentences"


def add_parser(sub) -> None:
    p = add_encoder_command(sub, "similarity", HELP, check_sentences, run)
    add_sentence_options(p)


def run(args) -> None:
    sentences = read_sentences(args)
    encoder = load_encoder(args, fast=True)
    matrix = encoder.similarity(encoder.encode(sentences, batch_size=args.batch_size))  # (N, N)
    print(format_matrix(matrix, sentences))


def format_matrix(matrix: np.ndarray, labels: list[str], width: int = 40) -> str:
    """A cosine matrix as text, one row per sentence, columns numbered."""
    short = [s if len(s) <= width else s[: width - 1] + "…" for s in labels]
    header = " " * (width + 6) + "".join(f"{j:>7}" for j in range(len(labels)))
    rows = [
        f"{i:>3}  {s:<{width}}  " + "".join(f"{v:7.3f}" for v in row)
        for i, (s, row) in enumerate(zip(short, matrix, strict=True))
    ]
    return "\n".join([header, *rows])
