"""The training benchmark: optimizer steps/s of the regression objective, minisbert's `Trainer`
against a plain PyTorch loop over sentence-transformers' model, on the same batches with the same
optimizer and schedule (see `bench.py`, which prints the figures).

Like `bench.py`, it imports sentence-transformers inside the function that times it.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import torch

from ..data import TokenizedColumns, epoch_order
from ..kernels.unpadding import skip_padding
from ..losses import CosineSimilarityLoss
from ..optimizer import parameter_groups, warmup_then_linear_decay
from ..sentence_encoder import SentenceEncoder
from ..training import Objective, Trainer, TrainingConfig, optimization_step


def minisbert_training_steps(folder: Path, pairs, batch_size: int):
    """A function running n optimizer steps of minisbert's regression training, as `minisbert
    train` runs them (the padding skipped: kernels/unpadding.py); returns seconds."""
    encoder = SentenceEncoder.from_pretrained(folder)
    skip_padding(encoder.model)
    columns = [[p.sentence1 for p in pairs], [p.sentence2 for p in pairs]]
    data = TokenizedColumns(encoder.tokenizer, columns, [p.score / 5 for p in pairs], encoder.max_seq_length)
    objective = Objective("regression", data, CosineSimilarityLoss())
    trainer = Trainer(encoder, [objective], TrainingConfig(batch_size=batch_size))

    def steps(n: int) -> float:
        start = time.perf_counter()
        for _ in range(n):
            trainer.step()
        return time.perf_counter() - start

    return steps


def sentence_transformers_training_steps(folder: Path, pairs, batch_size: int):
    """The same training as a plain PyTorch loop over sentence-transformers' model, or None."""
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError:
        return None
    model = SentenceTransformer(str(folder), device="cpu")
    model.train()
    optimizer = torch.optim.AdamW(parameter_groups(model.named_parameters(), 0.01), lr=2e-5)
    total = len(pairs) // batch_size
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, warmup_then_linear_decay(total // 10, total))
    state = {"index": 0}
    pairs = [pairs[i] for i in epoch_order(len(pairs), seed=0, epoch=0)]  # the batches minisbert sees

    def embed(texts):
        return model(model.tokenize(texts))["sentence_embedding"]

    def steps(n: int) -> float:
        start = time.perf_counter()
        for _ in range(n):
            i = state["index"] % total * batch_size
            batch = pairs[i : i + batch_size]
            u, v = embed([p.sentence1 for p in batch]), embed([p.sentence2 for p in batch])
            scores = torch.tensor([p.score / 5 for p in batch])
            loss = ((torch.cosine_similarity(u, v) - scores) ** 2).mean()
            optimization_step(loss, optimizer, scheduler, max_grad_norm=1.0)  # minisbert's own step
            state["index"] += 1
        return time.perf_counter() - start

    return steps


def training_benchmark(folder: Path, pairs, batch_size: int = 16, steps: int = 20, rounds: int = 2) -> dict:
    """Median optimizer steps/s of each implementation over alternating rounds of `steps` steps."""
    implementations = {"minisbert": minisbert_training_steps(folder, pairs, batch_size)}
    st = sentence_transformers_training_steps(folder, pairs, batch_size)
    if st is not None:
        implementations["sentence-transformers loop"] = st
    for run_steps in implementations.values():
        run_steps(2)  # warm up
    seconds = {name: [] for name in implementations}
    for _ in range(rounds):
        for name, run_steps in implementations.items():
            seconds[name].append(run_steps(steps))
    rows = {name: {"steps_per_s": steps / statistics.median(s)} for name, s in seconds.items()}
    if st is not None:
        base = rows["sentence-transformers loop"]["steps_per_s"]
        for row in rows.values():
            row["ratio_to_sentence_transformers"] = row["steps_per_s"] / base
    return {"batch_size": batch_size, "implementations": rows}
