"""`minisbert bench`: encoding and training throughput beside the NumPy reference and
sentence-transformers, on the same model, sentences, batch size and threads (minisbert/bench/).

    minisbert bench --skip-training --rounds 5 --threads 2
    minisbert bench --busy              (each contender quiet, then while every core is busy)
    minisbert bench --corpus-lines 20000 200000 --skip-training     (only the streamed corpus)
"""

from __future__ import annotations

from pathlib import Path

from .arguments import (
    BadArguments,
    add_encoder_command,
    existing_data,
    existing_file,
    load_encoder,
    positive_int,
    read_sentences,
)

HELP = "encoding and training throughput beside the reference and sentence-transformers"


def add_parser(sub) -> None:
    p = add_encoder_command(sub, "bench", HELP, check, run)
    p.set_defaults(sentences=[])
    p.add_argument("--data", default="stsbenchmark/sts-test.csv", help="STS file whose sentences are encoded")
    p.add_argument("--file", help="encode these sentences instead (one a line)")
    p.add_argument(
        "--train-data", default="stsbenchmark/sts-train.csv", help="STS file for the training benchmark"
    )
    p.add_argument(
        "--threads",
        type=positive_int,
        help="torch's intra-op threads (default: torch's own, $OMP_NUM_THREADS or one per usable core)",
    )
    p.add_argument("--rounds", type=positive_int, default=3)
    p.add_argument(
        "--reference-sentences",
        type=positive_int,
        default=256,
        help="how many sentences the NumPy reference encodes",
    )
    p.add_argument("--training-steps", type=positive_int, default=20)
    p.add_argument("--skip-training", action="store_true")
    p.add_argument("--skip-memory", action="store_true")
    p.add_argument(
        "--corpus-lines",
        type=positive_int,
        nargs="+",
        metavar="N",
        help="run only the corpus benchmark: encode --file on corpora of these sizes (make bench-corpus)",
    )
    p.add_argument(
        "--busy",
        action="store_true",
        help="time the encoding again while one process per usable core spins in a loop, "
        "and report each contender quiet and busy (docs/speed.md)",
    )
    p.add_argument("--json", help="also write the figures to this JSON file")


def check(args) -> None:
    if args.file:
        existing_file(args.file, "sentence file")
    else:
        existing_data(args.data, "--data")
    if not (args.skip_training or args.corpus_lines):
        existing_data(args.train_data, "--train-data")
    if args.busy and args.corpus_lines:
        raise BadArguments("--busy times the encoding benchmark, which --corpus-lines leaves out")


def run(args) -> None:
    import torch

    from ..bench import throughput as bench
    from ..bench.trainer_steps import training_benchmark
    from ..data import data_path, read_sts
    from ..json_files import write_json
    from ..kernels.threads import thread_policy, usable_cores
    from ..pretrained import default_model_folder

    if args.threads:  # otherwise torch's own count: $OMP_NUM_THREADS, or one per usable core (threads.py)
        torch.set_num_threads(args.threads)
    folder = Path(args.model) if args.model else default_model_folder()
    encoder = load_encoder(args, fast=True)  # what `minisbert encode` runs: --linears auto
    gold = None  # the STS scores, for each contender's Spearman (not with --file)
    if args.file:
        sentences = read_sentences(args)
    else:
        pairs = read_sts(data_path(args.data))
        sentences = [p.sentence1 for p in pairs] + [p.sentence2 for p in pairs]
        gold = [p.score for p in pairs]
    report = {
        "sentences": len(sentences),
        "batch_size": args.batch_size,
        "threads": torch.get_num_threads(),
        "thread_policy": thread_policy(torch.get_num_threads()),  # and how idle threads wait
        "cpu": bench.cpu_description(),  # AVX2, AVX512, bf16 and VNNI instructions: ratios depend on them
    }
    if args.corpus_lines:  # only the corpus benchmark
        report["corpus"] = bench.corpus_benchmark(encoder, sentences, args.corpus_lines, args.batch_size)
        print(bench.format_report(report))
        if args.json:
            write_json(args.json, report)
        return
    report["encoding"] = bench.encoding_benchmark(
        encoder,
        folder,
        sentences,
        args.batch_size,
        args.rounds,
        args.reference_sentences,
        gold,
        threads=torch.get_num_threads(),
        busy=usable_cores() if args.busy else 0,  # one competing process per core
    )
    report["profile"] = bench.encoding_profile(encoder, sentences, args.batch_size)
    report["tokenization"] = bench.tokenizer_benchmark(encoder.tokenizer, folder, sentences, args.rounds)
    if not args.skip_memory:
        report["memory"] = bench.memory_benchmark(encoder, sentences, batch_size=args.batch_size)
    if not args.skip_training:
        train_pairs = read_sts(data_path(args.train_data))
        report["training"] = training_benchmark(folder, train_pairs, steps=args.training_steps)
    print(bench.format_report(report))
    if args.json:
        write_json(args.json, report)
