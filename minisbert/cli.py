"""The `minisbert` command line.

    minisbert encode "A sentence." "Another one." -o vectors.npy
    minisbert encode --file sentences.txt            (one sentence a line; "-" reads stdin)
    minisbert similarity "A man eats." "Someone is eating." "The sky is blue."
    minisbert info [FOLDER]
    minisbert evaluate --data ../shared/data/stsbenchmark/sts-test.csv

`--model FOLDER` picks a model folder; the default is the embedded all-MiniLM-L6-v2.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np


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
        return path.read_text(encoding="utf-8").splitlines()
    if args.file is None and sys.stdin.isatty():
        raise ValueError("no sentences: give them as arguments, with --file, or on stdin")
    return sys.stdin.read().splitlines()


def load_encoder(args):
    from .sentence_encoder import SentenceEncoder

    return SentenceEncoder.from_pretrained(args.model, device=args.device)


def cmd_encode(args) -> None:
    sentences = read_sentences(args)
    encoder = load_encoder(args)
    normalize = False if args.no_normalize else None
    vectors = encoder.encode(sentences, batch_size=args.batch_size, normalize=normalize)  # (N, D)
    if args.output:
        np.save(args.output, vectors)
        print(f"wrote {vectors.shape[0]} × {vectors.shape[1]} embeddings to {args.output}", file=sys.stderr)
    else:
        np.savetxt(sys.stdout, vectors, fmt="%.6f")


def cmd_similarity(args) -> None:
    sentences = read_sentences(args)
    encoder = load_encoder(args)
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


def cmd_info(args) -> None:
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


def cmd_evaluate(args) -> None:
    from .data import read_sts
    from .evaluation import evaluate_sts

    pairs = read_sts(args.data)
    encoder = load_encoder(args)
    result = evaluate_sts(encoder, pairs, batch_size=args.batch_size)
    print(json.dumps({"data": str(args.data), **result}, indent=2))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="minisbert", description="Sentence-BERT from scratch.")
    sub = parser.add_subparsers(dest="command", required=True)

    def add(name: str, func, help: str, sentences: bool = False) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=help)
        p.set_defaults(func=func)
        p.add_argument("--model", help="model folder (default: the embedded all-MiniLM-L6-v2)")
        p.add_argument("--device", default=None, help="torch device, e.g. cpu or cuda (default: cpu)")
        p.add_argument("--batch-size", type=int, default=32)
        if sentences:
            p.add_argument("sentences", nargs="*", help="sentences (or use --file)")
            p.add_argument("--file", help="a text file with one sentence a line; - for stdin")
        return p

    enc = add("encode", cmd_encode, "embed sentences", sentences=True)
    enc.add_argument("-o", "--output", help="write the embeddings to this .npy file instead of printing")
    enc.add_argument("--no-normalize", action="store_true", help="skip the model's L2 normalisation")
    add("similarity", cmd_similarity, "cosine similarity matrix of sentences", sentences=True)
    info = add("info", cmd_info, "describe a model folder")
    info.add_argument("folder", nargs="?", help="model folder (same as --model)")
    ev = add("evaluate", cmd_evaluate, "STS evaluation: Spearman of cosine similarity vs gold scores")
    ev.add_argument("--data", required=True, help="an STS benchmark file, e.g. stsbenchmark/sts-test.csv")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "folder", None):
        args.model = args.folder
    try:
        args.func(args)
    except (FileNotFoundError, ValueError, TypeError, KeyError) as err:
        print(f"minisbert {args.command}: error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
