"""The divergence locator: where does an encoder first compute something other than a correct one?

A trace of a correct encoder (all-MiniLM-L6-v2, two real sentences, every sub-step of every layer)
is recorded once from the solution into `tests/exercises/golden/encoder_trace.npz`. To check an
encoder, each sub-step is run on the *recorded* input of that sub-step and its output compared
with the recorded output, in data-flow order:

    embeddings → for each layer: split heads → attention probabilities → attention context →
    merge heads → self-attention → attention add & norm → feed-forward → feed-forward add & norm →
    whole layer → then pooling and normalisation

Because every sub-step starts from correct inputs, the first one that differs is where the
mistake is, not where it first shows downstream: a wrong scale in attention is reported at
"layer 0, attention probabilities", a mistake in one layer's module at that layer. Each step
calls the model's own modules (`model.encoder.layer[i]...`), so a mistake in any one layer shows.

    minisbert check            # in a student repository: the first difference, or "no difference"
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..model import BertModel, additive_attention_mask, attention
from ..pooling import l2_normalize, pool
from .exercises import TRACE_FILE

TRACE_SENTENCES = ["A man is playing a guitar.", "A dog runs."]
TRACE_TOLERANCE = 1e-4  # float32 through one sub-step: rounding is ~1e-6, a mistake far larger


@dataclass(frozen=True)
class Divergence:
    layer: int | None  # None for the steps before and after the layers
    step: str
    max_abs_diff: float
    where: tuple[int, ...]  # index of the largest difference
    shape: tuple[int, ...]

    def __str__(self) -> str:
        at = "before the layers" if self.layer is None else f"layer {self.layer}"
        if self.step in ("pooling", "normalize"):
            at = "after the layers"
        return (
            f"{at}, {self.step}: max |yours − correct| = {self.max_abs_diff:.3g} "
            f"at index {self.where} of an output of shape {self.shape}"
        )


def steps(model: BertModel, modes: tuple[str, ...], normalize: bool, trace: dict) -> Iterator[tuple]:
    """(layer, step name, output key, output) of each sub-step, each run on the trace's inputs."""
    t = {k: torch.as_tensor(v) for k, v in trace.items()}
    ids, mask, types = t["input_ids"], t["attention_mask"], t["token_type_ids"]
    additive = additive_attention_mask(mask, torch.float32)  # (B, 1, 1, T)
    yield None, "embeddings", "embeddings", model.embeddings(ids, types)
    for i, layer in enumerate(model.encoder.layer):
        p, attn, x = f"layer{i}/", layer.attention.self, t[f"layer{i}/input"]
        q, k, v = (attn.split_heads(proj(x)) for proj in (attn.query, attn.key, attn.value))
        yield i, "split heads (q, k, v)", p + "q", torch.stack([q, k, v])
        context, probs = attention(t[p + "q"][0], t[p + "q"][1], t[p + "q"][2], additive, attn.dropout)
        yield i, "attention probabilities", p + "probs", probs
        yield i, "attention context", p + "context", context
        yield i, "merge heads", p + "merged", attn.merge_heads(t[p + "context"])
        yield i, "self-attention module", p + "merged", attn(x, additive)
        yield i, "attention add & norm", p + "attended", layer.attention.output(t[p + "merged"], residual=x)
        yield i, "whole attention block", p + "attended", layer.attention(x, additive)
        yield i, "feed-forward", p + "intermediate", layer.intermediate(t[p + "attended"])
        ff_out = layer.output(t[p + "intermediate"], residual=t[p + "attended"])
        yield i, "feed-forward add & norm", p + "output", ff_out
        yield i, "whole layer", p + "output", layer(x, additive)
    last = t[f"layer{len(model.encoder.layer) - 1}/output"]
    yield None, "pooling", "pooled", pool(last, mask, modes)
    if normalize:
        yield None, "normalize", "normalized", l2_normalize(t["pooled"])


@torch.no_grad()
def record_trace(encoder, sentences: list[str] = TRACE_SENTENCES) -> dict[str, np.ndarray]:
    """Every sub-step's input and output for `sentences`, from a correct encoder (in eval mode)."""
    model = encoder.model.float().eval()
    batch = encoder.tokenizer(sentences)
    trace = {k: v.numpy() for k, v in batch.items()}
    additive = additive_attention_mask(batch["attention_mask"], torch.float32)  # (B, 1, 1, T)
    x = model.embeddings(batch["input_ids"], batch["token_type_ids"])  # (B, T, C)
    trace["embeddings"] = x.numpy()
    for i, layer in enumerate(model.encoder.layer):
        p, attn = f"layer{i}/", layer.attention.self
        trace[p + "input"] = x.numpy()
        q, k, v = (attn.split_heads(proj(x)) for proj in (attn.query, attn.key, attn.value))
        context, probs = attention(q, k, v, additive, attn.dropout)  # (B, nh, T, hs), (B, nh, T, T)
        merged = attn.merge_heads(context)  # (B, T, C)
        attended = layer.attention.output(merged, residual=x)  # (B, T, C)
        intermediate = layer.intermediate(attended)  # (B, T, I)
        x = layer.output(intermediate, residual=attended)  # (B, T, C)
        outputs = dict(q=torch.stack([q, k, v]), probs=probs, context=context, merged=merged)
        outputs |= dict(attended=attended, intermediate=intermediate, output=x)
        trace |= {p + name: value.numpy() for name, value in outputs.items()}
    pooled = pool(x, batch["attention_mask"], encoder.pooling.modes)  # (B, D)
    trace["pooled"], trace["normalized"] = pooled.numpy(), l2_normalize(pooled).numpy()
    return trace


@torch.no_grad()
def locate_divergence(encoder, trace: dict[str, np.ndarray]) -> Divergence | None:
    """The first sub-step whose output differs from the trace by more than TRACE_TOLERANCE."""
    was_training = encoder.training
    encoder.eval()  # dropout off: the trace is of the deterministic forward
    try:
        for layer, step, key, out in steps(encoder.model, encoder.pooling.modes, encoder.normalize, trace):
            expected = trace[key]
            actual = out.detach().float().numpy()
            if actual.shape != expected.shape:
                return Divergence(layer, f"{step} (shape {actual.shape})", float("inf"), (), expected.shape)
            diff = np.abs(actual.astype(np.float64) - expected)
            diff = np.where(np.isnan(diff), np.inf, diff)
            if diff.max() > TRACE_TOLERANCE:
                where = tuple(int(i) for i in np.unravel_index(int(np.argmax(diff)), diff.shape))
                return Divergence(layer, step, float(diff.max()), where, expected.shape)
    finally:
        encoder.train(was_training)
    return None


def load_trace(repo: str | Path = ".") -> dict[str, np.ndarray]:
    """The repository's recorded trace, or the file `MINISBERT_TRACE` names (the grader passes
    its own, so that a student's re-recorded trace changes nothing)."""
    path = Path(os.environ.get("MINISBERT_TRACE") or Path(repo) / TRACE_FILE)
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: run `minisbert check` in a minisbert repository")
    with np.load(path, allow_pickle=False) as data:
        return {k: data[k] for k in data.files}


def check_command(repo: str | Path = ".") -> int:
    """`minisbert check`: build the encoder from this repository's code and the real weights, and
    print the first sub-step that differs from a correct encoder (exit status 1), or that none does."""
    from ..sentence_encoder import SentenceEncoder

    trace = load_trace(repo)
    # an unfinished exercise raises NotImplementedError, which the command line says in one line
    found = locate_divergence(SentenceEncoder.from_pretrained(), trace)
    if found is None:
        print(f"no difference: every step of your encoder matches a correct one (to {TRACE_TOLERANCE:g})")
        return 0
    print(f"your encoder first differs from a correct one {found}")
    return 1
