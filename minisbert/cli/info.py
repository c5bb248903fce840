"""`minisbert info`: what a model folder holds, as JSON: its size, pooling and BERT configuration.

    minisbert info models/sts          (the same as `minisbert info --model models/sts`)
    minisbert info                     (the embedded all-MiniLM-L6-v2)

The folder is read whole, weights included (`SentenceEncoder.from_pretrained`), as every command reads it.
"""

from __future__ import annotations

import json

from .arguments import BadArguments, add_encoder_command, load_encoder

HELP = "describe a model folder"


def add_parser(sub) -> None:
    p = add_encoder_command(sub, "info", HELP, check, run)
    p.add_argument("folder", nargs="?", help="model folder (same as --model)")


def check(args) -> None:
    if args.folder and args.model and args.folder != args.model:
        raise BadArguments(f"two model folders given, {args.folder} and --model {args.model}: give one")
    if args.folder:  # `minisbert info FOLDER` is `minisbert info --model FOLDER`
        args.model = args.folder


def run(args) -> None:
    encoder = load_encoder(args)
    config = encoder.model.config
    info = {
        "folder": str(args.model or "(embedded) sentence-transformers/all-MiniLM-L6-v2"),
        "parameters": sum(p.numel() for p in encoder.parameters()),
        "pooling": list(encoder.pooling.modes),
        "normalize": encoder.normalize,
        "max_seq_length": encoder.max_seq_length,
        "embedding_dimension": encoder.dimension,
        "config": config.__dict__,
    }
    print(json.dumps(info, indent=2))
