"""What each `minisbert` command does; `cli.py` reads the arguments and calls these.

Each `cmd_*` function takes the parsed arguments (an `argparse.Namespace`) and prints its result;
errors are exceptions that `cli.main` turns into one readable line.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np

from ..files.atomic import atomic_save_array


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


def cmd_encode(args) -> None:
    """Embed sentences. A corpus file (--file) with an output (-o) is streamed: encoded a block of
    lines at a time into the .npy file, resumable (corpus.encode_file); the rest is read whole."""
    normalize = False if args.no_normalize else None
    streamed = bool(args.file and args.file != "-" and args.output)
    if (args.resume or args.block_lines is not None) and not streamed:
        raise ValueError("--resume and --block-lines need a corpus --file and an output -o")
    if streamed:
        encode_corpus_file(args, normalize)
        return
    if int(os.environ.get("WORLD_SIZE", 1)) > 1:
        raise ValueError("under torchrun, encode needs a corpus --file and an output -o (one file in order)")
    sentences = read_sentences(args)
    encoder = load_encoder(args, fast=True)
    vectors = encoder.encode(sentences, args.batch_size, normalize, precision=args.precision)  # (N, D)
    if args.output:
        atomic_save_array(args.output, vectors)  # the file named, never half-written
        print(f"wrote {vectors.shape[0]} × {vectors.shape[1]} embeddings to {args.output}", file=sys.stderr)
    else:
        np.savetxt(sys.stdout, vectors, fmt="%.6f")


def encode_corpus_file(args, normalize: bool | None) -> None:
    from ..deploy.corpus import BLOCK_LINES, encode_file
    from ..devices import resolve_device
    from ..run import distributed

    if args.sentences:
        raise ValueError("give sentences as arguments or with --file, not both")
    args.device = resolve_device(args.device, distributed.launched_world().local_rank)
    world = distributed.start(args.device)  # under torchrun: each rank encodes its share of blocks
    try:
        encoder = load_encoder(args, fast=True)
        output = encode_file(
            encoder,
            args.file,
            args.output,
            batch_size=args.batch_size,
            normalize=normalize,
            resume=args.resume,
            block_lines=args.block_lines or BLOCK_LINES,
            precision=args.precision,
        )
    finally:
        distributed.stop()
    if world.is_main:
        rows, columns = np.load(output, mmap_mode="r").shape
        print(f"wrote {rows} × {columns} embeddings to {output}", file=sys.stderr)


def cmd_export(args) -> None:
    """Write the model as a model folder with its graph in model.onnx (export.py)."""
    from ..deploy.export import INPUT_NAMES, OUTPUT_NAME, export_onnx
    from ..sentence_encoder import SentenceEncoder

    encoder = SentenceEncoder.from_pretrained(args.model)
    path = export_onnx(encoder, args.onnx, overwrite=args.overwrite)
    print(
        f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB): inputs {', '.join(INPUT_NAMES)} (B, T) int64,"
        f" output {OUTPUT_NAME} (B, {encoder.dimension}) float32"
    )


def cmd_similarity(args) -> None:
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


def cmd_search(args) -> None:
    """Semantic search: the --top-k corpus sentences closest to each query, by cosine similarity.
    The corpus (one sentence a line, blank lines skipped) is encoded once and its embeddings are
    cached in a .npy file, reused while the corpus file and the model folder stay the same."""
    from ..deploy.corpus import cached_embeddings, default_cache_path, read_corpus, search_fingerprint
    from ..pretrained import default_model_folder
    from ..search import check_count, semantic_search

    top_k = check_count(args.top_k, "--top-k")  # before any slow work
    corpus = Path(args.corpus)
    lines = read_corpus(corpus)  # (line number, sentence)
    folder = Path(args.model) if args.model else default_model_folder()
    cache = Path(args.cache) if args.cache else default_cache_path(corpus, folder)
    encoder = load_encoder(args, fast=True)
    fingerprint = search_fingerprint(corpus, folder)
    vectors = cached_embeddings(encoder, [s for _, s in lines], cache, fingerprint, args.batch_size)  # (N, D)
    queries = encoder.encode(args.queries, batch_size=args.batch_size)  # (Q, D)
    hits = semantic_search(queries, vectors, top_k=top_k)
    print(format_hits(args.queries, hits, lines))


def format_hits(queries: list[str], hits: list[list[dict]], lines: list[tuple[int, str]]) -> str:
    """Each query, then its hits: rank, cosine score, the sentence and its line in the corpus."""
    blocks = []
    for query, found in zip(queries, hits, strict=True):
        rows = [f"query: {query}"]
        for rank, hit in enumerate(found, start=1):
            number, sentence = lines[hit["corpus_id"]]
            rows.append(f"{rank:>4}  {hit['score']:7.4f}  {sentence}  (line {number})")
        blocks.append("\n".join(rows))
    return "\n\n".join(blocks)


def cmd_train(args) -> int | None:
    """Fine-tune with one of the recipes; under torchrun, on every rank (distributed.py)."""
    import torch

    from ..devices import resolve_device
    from ..run import distributed
    from ..run.recipes import build_recipe
    from ..run.training_run import fit
    from ..training import TrainingConfig

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
        precision=args.precision,
    )
    output = Path(args.output)
    device = resolve_device(args.device, distributed.launched_world().local_rank)
    world = distributed.start(device)
    try:
        torch.manual_seed(args.seed)  # the classifier head is initialised while the recipe is built
        args.device = device
        encoder = load_encoder(args)
        options = {"margin": args.margin, "distance": args.distance, "scale": args.scale}
        recipe = build_recipe(args.objective, args.data, encoder, **options)
        if args.objective == "mnrl":
            recipe.objective.loss.gather_across_ranks = not args.no_gather
        log = fit(
            encoder,
            [recipe.objective],
            config,
            output,
            recipe.dev,
            recipe.test,
            resume=args.resume,
            stop_after=args.stop_after,
        )
    finally:
        distributed.stop()
    if "test_after" not in log:  # --stop-after
        if world.is_main:
            step = log["train"][-1]["step"] if log["train"] else 0
            print(f"stopped after step {step}; continue with --resume")
    elif world.is_main:
        main = recipe.test.main
        summary = {
            "objective": args.objective,
            "model": str(output / "model"),
            "ranks": world.size,
            f"test {main} before": log["test_before"][main],
            f"test {main} after": log["test_after"][main],
        }
        print(json.dumps(summary, indent=2))


def cmd_init(args) -> None:
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


def cmd_bench(args) -> None:
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
    encoder = load_encoder(args)
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


def cmd_assignment_list(args) -> None:
    from ..course.exercises import EXERCISES

    print(f"{'exercise':16} {'points':>6}  {'part':38} tests")
    for e in EXERCISES:
        print(f"{e.id:16} {e.points:>6}  {e.part:38} {e.test_file}")
    print(f"{len(EXERCISES)} exercises, {sum(e.points for e in EXERCISES)} points")


def cmd_assignment_make(args) -> None:
    from ..course.assignment import make_assignment
    from ..course.exercises import select

    out = make_assignment(args.out, args.exercises)
    chosen = select(args.exercises)
    print(f"wrote a student version with {len(chosen)} exercise(s) to {out}; see {out / 'HANDOUT.md'}")


def cmd_assignment_grade(args) -> int:
    from ..course.grading import grade_command

    return grade_command(args.repo, args.exercises, args.json)


def cmd_check(args) -> int:
    from ..course.divergence import check_command

    return check_command(args.repo)
