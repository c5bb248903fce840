"""`minisbert init`: a new model folder, a WordPiece vocabulary learnt from text and a BERT with
random weights, ready for `minisbert train --model FOLDER` (tutorial 10 follows the same steps).

    minisbert init --data stsbenchmark/sts-train.csv --output models/tiny --preset tiny
"""

from __future__ import annotations

from pathlib import Path

from .arguments import (
    BadArguments,
    add_encoder_command,
    count_or_zero,
    existing_data,
    new_folder,
    positive_int,
)

HELP = "a new model folder: a vocabulary learnt from text and a BERT with random weights"


def add_parser(sub) -> None:
    from ..config import PRESETS

    p = add_encoder_command(sub, "init", HELP, check, run)
    p.add_argument(
        "--data", required=True, help="texts for the vocabulary: an STS file, SICK.txt or one sentence a line"
    )
    p.add_argument("--output", required=True, help="the new model folder")
    p.add_argument("--preset", default="tiny", choices=list(PRESETS), help="the BERT sizes")
    p.add_argument("--vocab-size", type=positive_int, default=4000)
    p.add_argument("--max-seq-length", type=positive_int, default=64)
    p.add_argument("--seed", type=count_or_zero, default=0)


def check(args) -> None:
    from ..config import preset

    existing_data(args.data, "--data")
    new_folder(args.output, "files", "choose an empty or new folder")
    longest = preset(args.preset).max_position_embeddings
    if not 2 <= args.max_seq_length <= longest:
        raise BadArguments(
            f"--max-seq-length must be from 2 ([CLS] and [SEP]) to {longest} (the positions of "
            f"--preset {args.preset}), got {args.max_seq_length}"
        )


def run(args) -> None:
    from ..config import preset
    from ..data import read_texts
    from ..files.atomic import check_new_folder
    from ..sentence_encoder import SentenceEncoder

    output = Path(args.output)
    check_new_folder(output, "files", "choose an empty or new folder")
    texts = read_texts(args.data)
    encoder = SentenceEncoder.from_scratch(
        texts, preset(args.preset), args.vocab_size, max_seq_length=args.max_seq_length, seed=args.seed
    )
    encoder.save_pretrained(output)
    params = sum(p.numel() for p in encoder.parameters())
    print(
        f"wrote {output}: a {args.preset} BERT ({params:,} random weights), vocabulary of "
        f"{encoder.tokenizer.vocab_size} learnt from {len(texts):,} sentences of {args.data}"
    )
