"""Benchmarks: encoding and training throughput of minisbert beside the NumPy reference and
sentence-transformers, on the same model, sentences, batch size and thread count.

    minisbert bench                           # STS benchmark test sentences, all measurements
    minisbert bench --file my_sentences.txt --rounds 5 --threads 2
    minisbert bench --busy --skip-training   # each contender quiet, then while the cores are busy

Encoding: each implementation encodes the same sentences in turn, round after round (so that a
slow moment of the machine hurts all of them alike); the median round is reported as sentences/s
and tokens/s, with the fraction of the machine's measured matmul limit, the peak memory, and the
ratio to sentence-transformers. minisbert runs four ways: its default (fp32, linear layers on
packed weights), fp32 with the plain `F.linear` (what packing gains), bf16 and int8 (the
precision switch, packed_linear.py). The NumPy reference is slow (its GELU calls math.erf per
element), so it encodes a prefix of the sentences.

Busy (`--busy`): after the quiet rounds, the same rounds again while one process per usable core
spins in a Python loop (`competing_load`), as another program or a test suite would keep the
cores busy on a shared or student's machine; each contender's busy sentences/s is reported beside
its quiet figure, with their ratio. How minisbert's threads wait on a busy machine, and why, is in
threads.py.

Training (`bench_training.py`): optimizer steps/s of the regression objective, minisbert's
`Trainer` against a plain PyTorch loop over sentence-transformers' model (same pairs, optimizer
and schedule).

This is the one module of minisbert that imports `reference` and sentence-transformers (inside
the functions that time them): a benchmark must run the contenders it compares with.

Peak memory is the process's resident set high-water mark (VmHWM), reset before each measurement
through /proc/self/clear_refs (Linux); elsewhere it is not reported.
"""

from __future__ import annotations

import contextlib
import functools
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..kernels.linears import shared_copy
from ..kernels.packed_linear import best_linears, cpu_flags, cpu_has_vnni, int8_engine, use_linears
from .onnx_runtime import onnx_contenders

# ---------------------------------------------------------------------------------------------
# machine measurements


def cpu_description() -> str:
    """What torch found (AVX2, AVX512, ...) and whether the CPU has the bf16 and VNNI (int8)
    instructions, on which the bf16 and int8 rows depend: "AVX2, no bf16, no VNNI"."""
    flags = cpu_flags()
    bf16 = "bf16" if {"avx512_bf16", "amx_bf16"} & flags else "no bf16"
    vnni = "VNNI" if cpu_has_vnni() else "no VNNI"
    return f"{torch.backends.cpu.get_cpu_capability()}, {bf16}, {vnni}"


def matmul_limit(config, rows: int = 448, repeats: int = 20) -> float:
    """GFLOP/s of fp32 matrix multiplication at the encoder's linear-layer shapes (the best of
    `repeats`): what the machine can do at most on the work that dominates BERT."""
    C, I = config.hidden_size, config.intermediate_size
    best = 0.0
    for k, n in [(C, C), (C, I), (I, C)]:
        x, w, b = torch.randn(rows, k), torch.randn(n, k), torch.randn(n)
        F.linear(x, w, b)  # warm up
        for _ in range(repeats):
            start = time.perf_counter()
            F.linear(x, w, b)
            best = max(best, 2 * rows * k * n / (time.perf_counter() - start) / 1e9)
    return best


def flops_per_token(config, tokens: float) -> float:
    """Forward FLOPs per token of a sentence of `tokens` tokens: the linear layers (4C² for the
    attention projections, 2CI for the feed-forward) and the attention scores and mixing (2TC),
    each multiply-add counted as 2, over all layers."""
    C, I = config.hidden_size, config.intermediate_size
    return 2 * config.num_hidden_layers * (4 * C * C + 2 * C * I + 2 * tokens * C)


def reset_peak_memory() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def peak_memory_mb() -> float | None:
    """The resident set high-water mark since the last reset, in MB (Linux only)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


# A competing process: it spins until killed, and also ends when its stdin closes, which happens
# when the bench is killed outright (no `finally` runs then), so that it never outlives the bench.
SPINNER = """
import os, sys, threading
threading.Thread(target=lambda: (sys.stdin.read(), os._exit(0)), daemon=True).start()
print("spinning", flush=True)
while True:
    pass
"""


@contextlib.contextmanager
def competing_load(processes: int):
    """`processes` Python processes, each spinning in a loop (one core's worth of work each), for
    the duration of the `with` block; yields them (subprocess.Popen). They are running when the
    block starts (each has said so) and are killed and reaped when it ends, however it ends:
    normally, by an exception, or by Ctrl-C."""
    spinners = []
    try:
        for _ in range(processes):
            spinner = subprocess.Popen(
                [sys.executable, "-c", SPINNER],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,  # a Ctrl-C would print each one's KeyboardInterrupt
                text=True,
            )
            spinners.append(spinner)
            if spinner.stdout.readline().strip() != "spinning":
                raise OSError(f"a competing process did not start (exit status {spinner.wait()})")
        yield spinners
    finally:
        for spinner in spinners:
            spinner.kill()
        for spinner in spinners:
            spinner.wait()
            spinner.stdin.close()
            spinner.stdout.close()


def measure(fn, *args):
    """(seconds, peak memory in MB, result) of one call."""
    reset_peak_memory()
    start = time.perf_counter()
    result = fn(*args)
    return time.perf_counter() - start, peak_memory_mb(), result


# ---------------------------------------------------------------------------------------------
# the encoders under test


def minisbert_contenders(encoder, sentences, batch_size: int) -> dict:
    """{name: (encode function, sentences)}: minisbert's encode with each kind of linear layer
    (kernels/packed_linear.py: "minisbert" is what `minisbert encode` runs by default), and bf16.
    Each contender encodes with a copy of `encoder` whose linear layers are of its own kind."""

    def with_linears(kind: str, precision: str = "fp32"):
        clone = use_linears(shared_copy(encoder), kind)
        return (functools.partial(clone.encode, batch_size=batch_size, precision=precision), sentences)

    contenders = {
        "minisbert": with_linears(best_linears(encoder.device)),
        "minisbert fp32, plain F.linear": with_linears("plain"),
        "minisbert bf16": with_linears("plain", "bf16"),
    }
    if int8_available():  # not on a torch without the x86 kernels
        contenders["minisbert int8"] = with_linears("int8", "int8")
    return contenders


def int8_available() -> bool:
    try:
        int8_engine()
        return True
    except ValueError:
        return False


def reference_encoder(encoder, folder: Path, dtype, batch_size: int):
    """Encode with the NumPy reference: minisbert's tokenizer, batches sorted by length."""
    from reference.pretrained import load_config, load_params
    from reference.sentence_encoder import sentence_embeddings

    from ..sentence_encoder import encode_in_batches

    params = {k: v.astype(dtype) if v.dtype.kind == "f" else v for k, v in load_params(folder).items()}
    config = load_config(folder)

    def run(batch) -> np.ndarray:  # (B, T) each → (B, D)
        ids, mask = batch["input_ids"].numpy(), batch["attention_mask"].numpy()
        return sentence_embeddings(params, ids, mask, config, encoder.pooling.modes, encoder.normalize)

    def encode(sentences: list[str]) -> np.ndarray:
        return encode_in_batches(
            encoder.tokenizer, sentences, encoder.max_seq_length, batch_size, run, encoder.dimension
        )

    return encode


def sentence_transformers_encoder(folder: Path, batch_size: int):
    """sentence-transformers' encode on the same folder, or None when it is not installed."""
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError:
        return None
    model = SentenceTransformer(str(folder), device="cpu")
    return lambda sentences: model.encode(sentences, batch_size=batch_size, convert_to_numpy=True)


def encoding_benchmark(
    encoder, folder, sentences, batch_size=32, rounds=3, reference_sentences=256, gold=None, threads=2, busy=0
) -> dict:
    """Throughput, limit fraction, peak memory and ratio of each implementation (see module doc);
    with `gold` (the STS scores, when `sentences` are the pairs' first then second sentences), the
    STS Spearman of each and its largest difference to minisbert's vectors; with `busy` > 0, each
    one's sentences/s while `busy` processes compete for the cores, and its ratio to quiet."""
    implementations = minisbert_contenders(encoder, sentences, batch_size)
    subset = sentences[:reference_sentences]
    for name, dtype in (("reference float64", np.float64), ("reference float32", np.float32)):
        implementations[name] = (reference_encoder(encoder, folder, dtype, batch_size), subset)
    st = sentence_transformers_encoder(folder, batch_size)
    if st is not None:
        implementations["sentence-transformers"] = (st, sentences)
    with tempfile.TemporaryDirectory(prefix="minisbert-bench-onnx-") as tmp:
        for name, fn in onnx_contenders(encoder, Path(tmp), batch_size, threads).items():
            implementations[name] = (fn, sentences)
        times, peaks, outputs = time_in_rounds(implementations, rounds)
        busy_times = time_while_busy(implementations, rounds, busy) if busy else None
    limit = matmul_limit(encoder.model.config)
    report = {"matmul_limit_gflops": limit, "implementations": {}}
    if busy:
        report["busy_processes"] = busy
    for name, (_, texts) in implementations.items():
        n_tokens = [len(ids) for ids, _ in encoder.tokenizer.encode(texts, max_length=encoder.max_seq_length)]
        seconds = statistics.median(times[name])
        flops = sum(flops_per_token(encoder.model.config, t) * t for t in n_tokens)
        report["implementations"][name] = row = {
            "sentences": len(texts),
            "sentences_per_s": len(texts) / seconds,
            "tokens_per_s": sum(n_tokens) / seconds,
            "fraction_of_matmul_limit": flops / seconds / 1e9 / limit,
            "peak_memory_mb": max((p for p in peaks[name] if p is not None), default=None),
        }
        if busy_times:
            row["busy_sentences_per_s"] = len(texts) / statistics.median(busy_times[name])
            row["busy_to_quiet"] = row["busy_sentences_per_s"] / row["sentences_per_s"]
        if texts is sentences:  # the whole set: comparable with minisbert's vectors and the gold scores
            row["max_abs_difference_to_minisbert"] = float(np.abs(outputs[name] - outputs["minisbert"]).max())
            if gold is not None:
                row["sts_spearman"] = sts_spearman(outputs[name], gold)
    rows = report["implementations"]
    if "sentence-transformers" in rows:
        base = rows["sentence-transformers"]["sentences_per_s"]
        for row in rows.values():
            row["ratio_to_sentence_transformers"] = row["sentences_per_s"] / base
        report["max_abs_difference_to_sentence_transformers"] = float(
            np.abs(outputs["minisbert"] - outputs["sentence-transformers"]).max()
        )
    n = len(subset)
    report["max_abs_difference_reference_float64"] = float(
        np.abs(outputs["minisbert"][:n] - outputs["reference float64"]).max()
    )
    return report


def time_in_rounds(implementations: dict, rounds: int) -> tuple[dict, dict, dict]:
    """Each implementation in turn, round after round: (times, peaks, last outputs) by name."""
    times = {name: [] for name in implementations}
    peaks = {name: [] for name in implementations}
    outputs = {}
    for _ in range(rounds):
        for name, (fn, texts) in implementations.items():
            seconds, peak, outputs[name] = measure(fn, texts)
            times[name].append(seconds)
            peaks[name].append(peak)
    return times, peaks, outputs


def time_while_busy(implementations: dict, rounds: int, processes: int) -> dict:
    """time_in_rounds while `processes` spinning processes compete for the cores: times by name."""
    with competing_load(processes):
        times, _, _ = time_in_rounds(implementations, rounds)
    return times


def sts_spearman(vectors: np.ndarray, gold) -> float:
    """Spearman of cos(u_i, v_i) against the gold scores; vectors (2n, D): first sentences, then second."""
    from ..evaluation import spearman

    n = len(gold)
    u, v = vectors[:n], vectors[n : 2 * n]  # (n, D) each
    cosine = (u * v).sum(1) / (np.linalg.norm(u, axis=1) * np.linalg.norm(v, axis=1))  # (n,)
    return float(spearman(cosine, np.asarray(gold)))


def encoding_profile(encoder, sentences, batch_size: int = 32, top: int = 8) -> dict:
    """Where minisbert's fp32 encode spends its time: {operator: share of the CPU time} for the
    `top` operators by their own time (children excluded), the rest as "other". One encode of
    `sentences` under torch's profiler, after a warm-up."""
    from torch.profiler import ProfilerActivity, profile

    encoder.encode(sentences[:batch_size], batch_size=batch_size)  # a first call: packs, if packed layers
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        encoder.encode(sentences, batch_size=batch_size)
    events = sorted(prof.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)
    total = sum(e.self_cpu_time_total for e in events)
    shares = {e.key: e.self_cpu_time_total / total for e in events[:top]}
    shares["other"] = 1.0 - sum(shares.values())
    return shares


def tokenizer_benchmark(tokenizer, folder: Path, sentences: list[str], rounds: int = 3) -> dict:
    """Sentences/s of the `tokenizers` wrapper and of the pure-Python WordPiece in reference/."""
    from reference.tokenizer import encode, read_vocab

    vocab = read_vocab(folder / "vocab.txt")
    implementations = {
        "wrapper (Rust tokenizers)": lambda: tokenizer.encode(sentences, max_length=10**6),
        "reference (pure Python)": lambda: [encode(s, vocab) for s in sentences],
    }
    report = {}
    for name, fn in implementations.items():
        seconds = statistics.median(measure(fn)[0] for _ in range(rounds))
        report[name] = {"sentences_per_s": len(sentences) / seconds}
    return report


def memory_benchmark(encoder, sentences: list[str], sizes=(1_000, 10_000), batch_size: int = 32) -> dict:
    """Peak memory of encoding each number of sentences (cycling through `sentences`)."""
    encoder.encode(sentences[:batch_size], batch_size=batch_size)  # warm up the allocator
    peaks = {}
    for size in sizes:
        texts = [sentences[i % len(sentences)] for i in range(size)]
        _, peaks[size], _ = measure(encoder.encode, texts, batch_size)
    return {"peak_memory_mb": peaks, "ratio": peaks[sizes[-1]] / peaks[sizes[0]] if peaks[sizes[0]] else None}


def corpus_benchmark(encoder, sentences: list[str], sizes=(20_000, 200_000), batch_size: int = 32) -> dict:
    """`encode_file` (corpus.py) on corpora of each size (lines cycling through `sentences`): time and
    peak memory, whose ratio shows that memory stays flat; then the smallest corpus interrupted
    halfway and resumed, compared byte for byte with its uninterrupted output."""
    from ..deploy.corpus import BLOCK_LINES, encode_file

    report = {"block_lines": BLOCK_LINES, "runs": {}}
    with tempfile.TemporaryDirectory(prefix="minisbert-bench-") as tmp:
        for size in sizes:
            source = Path(tmp) / f"corpus-{size}.txt"
            source.write_text(
                "".join(sentences[i % len(sentences)] + "\n" for i in range(size)), encoding="utf-8"
            )
            seconds, peak, _ = measure(encode_file, encoder, source, Path(tmp) / f"{size}.npy", batch_size)
            report["runs"][size] = {"seconds": seconds, "peak_memory_mb": peak, "lines_per_s": size / seconds}
        small = sizes[0]
        source, output = Path(tmp) / f"corpus-{small}.txt", Path(tmp) / "resumed.npy"
        half = max(1, small // BLOCK_LINES // 2)
        encode_file(encoder, source, output, batch_size, stop_after_blocks=half)
        encode_file(encoder, source, output, batch_size, resume=True)
        report["resumed_after_blocks"] = half
        report["resumed_identical"] = output.read_bytes() == (Path(tmp) / f"{small}.npy").read_bytes()
    peaks = [report["runs"][n]["peak_memory_mb"] for n in sizes]
    report["ratio"] = peaks[-1] / peaks[0] if None not in peaks else None
    return report


# ---------------------------------------------------------------------------------------------
# printing


def row_label(name: str, row: dict) -> str:
    """A contender's name and how many sentences it encoded: "reference float64 (256)"."""
    return f"{name} ({row['sentences']})"


def format_encoding_row(name: str, row: dict, base: float) -> str:
    label = row_label(name, row)
    peak = "-" if row["peak_memory_mb"] is None else f"{row['peak_memory_mb']:.0f}"
    ratio = row.get("ratio_to_sentence_transformers")
    diff, rho = row.get("max_abs_difference_to_minisbert"), row.get("sts_spearman")
    return (
        f"  {label:40}{row['sentences_per_s']:9.1f}{row['tokens_per_s']:10.0f}"
        f"{row['fraction_of_matmul_limit']:10.1%}{peak:>9}{'' if ratio is None else f'{ratio:.2f}':>8}"
        f"{row['sentences_per_s'] / base:8.2f}{'' if diff is None else f'{diff:.1e}':>10}"
        f"{'' if rho is None else f'{rho:.4f}':>10}"
    )


def format_busy_table(enc: dict) -> list[str]:
    """Each contender's sentences/s quiet and busy, and busy/quiet, one line each."""
    n = enc["busy_processes"]
    lines = [
        f"busy: the same rounds again beside {n} Python process{'es' if n > 1 else ''} spinning in a loop",
        f"  {'':40}{'quiet':>9}{'busy':>9}{'busy/quiet':>12}",
    ]
    for name, row in enc["implementations"].items():
        lines.append(
            f"  {row_label(name, row):40}{row['sentences_per_s']:9.1f}{row['busy_sentences_per_s']:9.1f}"
            f"{row['busy_to_quiet']:12.2f}"
        )
    return lines


def format_report(report: dict) -> str:
    """The figures as a small text table."""
    lines = []
    enc = report.get("encoding")
    if enc:
        lines.append(
            f"encoding: {report['sentences']} sentences, batch {report['batch_size']}, "
            f"{report['threads']} threads, CPU {report.get('cpu', '?')}; "
            f"matmul limit {enc['matmul_limit_gflops']:.0f} GFLOP/s"
        )
        if "thread_policy" in report:
            lines.append(f"  threads: {report['thread_policy']}")
        lines.append(
            f"  {'':40}{'sent/s':>9}{'tokens/s':>10}{'of limit':>10}{'peak MB':>9}{'× s-t':>8}"
            f"{'× mini':>8}{'max |Δ|':>10}{'Spearman':>10}"
        )
        base = enc["implementations"]["minisbert"]["sentences_per_s"]
        lines += [format_encoding_row(name, row, base) for name, row in enc["implementations"].items()]
        st_diff = enc.get("max_abs_difference_to_sentence_transformers")
        if st_diff is not None:
            lines.append(f"  max |minisbert − sentence-transformers| = {st_diff:.1e}")
        lines.append(
            f"  max |minisbert − reference float64| = {enc['max_abs_difference_reference_float64']:.1e}"
        )
        if "busy_processes" in enc:
            lines += format_busy_table(enc)
    profile = report.get("profile")
    if profile:
        lines.append("profile of minisbert's fp32 encode (share of CPU time, own time of each operator)")
        lines += [f"  {name:40}{share:7.1%}" for name, share in profile.items()]
    tok = report.get("tokenization")
    if tok:
        lines.append("tokenization")
        lines += [f"  {name:28}{row['sentences_per_s']:9.0f} sent/s" for name, row in tok.items()]
    mem = report.get("memory")
    if mem:
        sizes = " vs ".join(f"{n:,} sentences {mb:.0f} MB" for n, mb in mem["peak_memory_mb"].items())
        lines.append(f"memory: peak {sizes}: ratio {mem['ratio']:.3f}")
    corpus = report.get("corpus")
    if corpus:
        runs = "; ".join(
            f"{n:,} lines {r['seconds']:.0f} s ({r['lines_per_s']:.0f} lines/s), "
            f"peak {r['peak_memory_mb']:.0f} MB"
            for n, r in corpus["runs"].items()
        )
        lines.append(f"corpus encode --file, blocks of {corpus['block_lines']:,}: {runs}")
        lines.append(
            f"  peak memory ratio {corpus['ratio']:.3f}; the smallest interrupted after "
            f"{corpus['resumed_after_blocks']} blocks and resumed: "
            f"{'identical bytes' if corpus['resumed_identical'] else 'DIFFERENT bytes'}"
        )
    train = report.get("training")
    if train:
        lines.append(f"training: regression objective, batch {train['batch_size']}")
        for name, row in train["implementations"].items():
            ratio = row.get("ratio_to_sentence_transformers")
            lines.append(
                f"  {name:28}{row['steps_per_s']:8.2f} steps/s"
                + ("" if ratio is None else f"   × {ratio:.2f}")
            )
    return "\n".join(lines)
