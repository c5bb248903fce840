"""The `minisbert` command line.

    minisbert encode "A sentence." "Another one." -o vectors.npy
    minisbert encode --file sentences.txt            (one sentence a line; "-" reads stdin)
    minisbert similarity "A man eats." "Someone is eating." "The sky is blue."
    minisbert info [FOLDER]
    minisbert evaluate --data ../shared/data/stsbenchmark/sts-test.csv
    minisbert train --objective regression --data ../shared/data/stsbenchmark/sts-train.csv --output runs/sts

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
    """STS metrics on an STS file; on SICK.txt, STS metrics on the test split's relatedness and
    triplet accuracy on its test triplets."""
    from .data import data_path, read_sick, read_sts, sick_triplets, split_sick
    from .evaluation import evaluate_sts, evaluate_triplets
    from .recipes import as_scored, is_sick

    path = data_path(args.data)
    encoder = load_encoder(args)
    if is_sick(path):
        pairs = read_sick(path)
        result = evaluate_sts(encoder, as_scored(split_sick(pairs)["test"]), batch_size=args.batch_size)
        triplets = evaluate_triplets(encoder, sick_triplets(pairs)["test"], batch_size=args.batch_size)
        result["triplet_accuracy"] = triplets["accuracy"]
    else:
        result = evaluate_sts(encoder, read_sts(path), batch_size=args.batch_size)
    print(json.dumps({"model": args.model or "(embedded)", "data": str(path), **result}, indent=2))


def cmd_train(args) -> None:
    import torch

    from .recipes import build_recipe
    from .training import TrainingConfig, atomic_write_text, check_output_dir, fit

    config = TrainingConfig(
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        head_lr=args.head_lr,
        warmup_ratio=args.warmup_ratio,
        weight_decay=args.weight_decay,
        max_grad_norm=args.max_grad_norm,
        seed=args.seed,
        eval_every=args.eval_every,
        checkpoint_every=args.checkpoint_every,
    )
    output = Path(args.output)
    check_output_dir(output, args.resume)  # before any slow work
    torch.manual_seed(args.seed)  # the classifier head is initialised while the recipe is built
    encoder = load_encoder(args)
    options = {"margin": args.margin, "distance": args.distance, "scale": args.scale}
    recipe = build_recipe(args.objective, args.data, encoder, **options)
    notes = None if args.resume else {"test_before": recipe.test(encoder)}
    log = fit(
        encoder, [recipe.objective], config, output, evaluator=recipe.dev, resume=args.resume, notes=notes
    )
    log["test_after"] = recipe.test(encoder)
    atomic_write_text(output / "log.json", json.dumps(log, indent=1) + "\n")
    main = recipe.test.main
    summary = {
        "objective": args.objective,
        "model": str(output / "model"),
        f"test {main} before": log["test_before"][main],
        f"test {main} after": log["test_after"][main],
    }
    print(json.dumps(summary, indent=2))


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
    ev.add_argument(
        "--data", required=True, help="an STS benchmark file (e.g. stsbenchmark/sts-test.csv) or SICK.txt"
    )
    add_train_parser(add)
    add_bench_parser(add)
    add_init_parser(add)
    return parser


def cmd_bench(args) -> None:
    import torch

    from . import bench
    from .data import data_path, read_sts
    from .pretrained import default_model_folder

    torch.set_num_threads(args.threads)
    folder = Path(args.model) if args.model else default_model_folder()
    encoder = load_encoder(args)
    if args.file:
        sentences = read_sentences(args)
    else:
        pairs = read_sts(data_path(args.data))
        sentences = [p.sentence1 for p in pairs] + [p.sentence2 for p in pairs]
    report = {"sentences": len(sentences), "batch_size": args.batch_size, "threads": torch.get_num_threads()}
    report["encoding"] = bench.encoding_benchmark(
        encoder, folder, sentences, args.batch_size, args.rounds, args.reference_sentences
    )
    report["tokenization"] = bench.tokenizer_benchmark(encoder.tokenizer, folder, sentences, args.rounds)
    if not args.skip_memory:
        report["memory"] = bench.memory_benchmark(encoder, sentences, batch_size=args.batch_size)
    if not args.skip_training:
        train_pairs = read_sts(data_path(args.train_data))
        report["training"] = bench.training_benchmark(folder, train_pairs, steps=args.training_steps)
    print(bench.format_report(report))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")


def cmd_init(args) -> None:
    from .config import preset
    from .data import read_texts
    from .sentence_encoder import SentenceEncoder

    output = Path(args.output)
    if output.exists() and any(output.iterdir()):
        raise FileExistsError(f"{output} exists and is not empty")
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


def add_init_parser(add) -> None:
    from .config import PRESETS

    i = add(
        "init", cmd_init, "a new model folder: a vocabulary learnt from text and a BERT with random weights"
    )
    i.add_argument(
        "--data", required=True, help="texts for the vocabulary: an STS file, SICK.txt or one sentence a line"
    )
    i.add_argument("--output", required=True, help="the new model folder")
    i.add_argument("--preset", default="tiny", choices=list(PRESETS), help="the BERT sizes")
    i.add_argument("--vocab-size", type=int, default=4000)
    i.add_argument("--max-seq-length", type=int, default=64)
    i.add_argument("--seed", type=int, default=0)


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
    b.add_argument("--threads", type=int, default=2)
    b.add_argument("--rounds", type=int, default=3)
    b.add_argument(
        "--reference-sentences", type=int, default=256, help="how many sentences the NumPy reference encodes"
    )
    b.add_argument("--training-steps", type=int, default=20)
    b.add_argument("--skip-training", action="store_true")
    b.add_argument("--skip-memory", action="store_true")
    b.add_argument("--json", help="also write the figures to this JSON file")


def add_train_parser(add) -> None:
    from .recipes import RECIPES
    from .training import TrainingConfig

    d = TrainingConfig()
    tr = add("train", cmd_train, "fine-tune a model with one of the SBERT objectives")
    tr.set_defaults(batch_size=d.batch_size)
    tr.add_argument("--objective", required=True, choices=list(RECIPES))
    tr.add_argument(
        "--data", required=True, help="stsbenchmark/sts-train.csv (dev and test beside it) or sick/SICK.txt"
    )
    tr.add_argument("--output", required=True, help="run folder: checkpoints/, model/, log.json, loss.png")
    tr.add_argument("--epochs", type=int, default=d.epochs)
    tr.add_argument("--lr", type=float, default=d.lr, help="learning rate of the encoder")
    tr.add_argument(
        "--head-lr",
        type=float,
        default=1e-3,
        help="learning rate of the softmax classifier (default 1e-3: a fresh head learns too slowly at 2e-5)",
    )
    tr.add_argument("--warmup-ratio", type=float, default=d.warmup_ratio)
    tr.add_argument("--weight-decay", type=float, default=d.weight_decay)
    tr.add_argument("--max-grad-norm", type=float, default=d.max_grad_norm)
    tr.add_argument("--seed", type=int, default=d.seed)
    tr.add_argument("--eval-every", type=int, default=d.eval_every, help="steps; 0: once an epoch")
    tr.add_argument(
        "--checkpoint-every", type=int, default=d.checkpoint_every, help="steps; 0: once an epoch"
    )
    tr.add_argument(
        "--resume", action="store_true", help="continue the run in --output from its last checkpoint"
    )
    tr.add_argument("--margin", type=float, default=1.0, help="triplet margin (the paper's ε = 1)")
    tr.add_argument("--distance", default="euclidean", choices=["euclidean", "cosine", "manhattan"])
    tr.add_argument("--scale", type=float, default=20.0, help="MNRL similarity scale")


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "folder", None):
        args.model = args.folder
    try:
        args.func(args)
    except (FileNotFoundError, FileExistsError, ValueError, TypeError, KeyError, FloatingPointError) as err:
        print(f"minisbert {args.command}: error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
