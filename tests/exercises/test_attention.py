"""Exercise attention: scaled dot-product attention with the padding mask (minisbert/model.py).

softmax(q kᵀ / √hs + mask) v on (B, nh, T, hs) inputs, compared with a correct solution's
outputs on recorded inputs, in float64. The mask comes from `additive_attention_mask`, which is
not part of the exercise.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from exercises.golden_io import RecordedDropout, attempt, check_outputs, keep_mask, load_golden
from minisbert.model import additive_attention_mask, attention

EXERCISE = "attention"
LENGTHS = [6, 4, 1]  # tokens per sentence; the rest of the 6 positions is padding
DROPOUT = 0.5  # the attention dropout of the training-mode case


def cases() -> dict[str, np.ndarray]:
    g = np.random.default_rng(0)
    B, nh, T, hs = len(LENGTHS), 3, max(LENGTHS), 4  # hs ≠ C = 12: the scale must use hs
    q, k, v = (g.normal(size=(B, nh, T, hs)) for _ in range(3))
    mask = (np.arange(T)[None, :] < np.array(LENGTHS)[:, None]).astype(np.int64)  # (B, T)
    keep = keep_mask(g, (B, nh, T, T), DROPOUT)  # which probabilities training-mode dropout keeps
    return {"q": q, "k": k * 2.0, "v": v, "mask": mask, "keep": keep}


def run(inputs: dict) -> dict[str, torch.Tensor]:
    q, k, v = (torch.tensor(inputs[n], dtype=torch.float64) for n in ("q", "k", "v"))
    additive = additive_attention_mask(torch.tensor(inputs["mask"]), torch.float64)  # (B, 1, 1, T)
    context, probs = attention(q, k, v, additive, nn.Dropout(0.0))
    dropout = RecordedDropout(inputs["keep"], DROPOUT).train()  # dropout on, with the recorded mask
    train_context = attempt(lambda: attention(q, k, v, additive, dropout)[0])
    return {"context": context, "probs": probs, "train_context": train_context}


def test_probabilities_match():
    inputs, expected = load_golden(EXERCISE)
    check_outputs(run(inputs), expected, only=["probs"])


def test_context_matches():
    inputs, expected = load_golden(EXERCISE)
    check_outputs(run(inputs), expected, only=["context"])


def test_padding_keys_get_exactly_zero_attention():
    inputs, _ = load_golden(EXERCISE)
    probs = run(inputs)["probs"]
    padding = torch.tensor(inputs["mask"] == 0)[:, None, None, :].expand_as(probs)  # (B, nh, T, T)
    assert (probs[padding] == 0).all(), (
        "a query puts weight on a padding key: add the mask before the softmax"
    )
    rows = probs.sum(-1)
    assert torch.allclose(rows, torch.ones_like(rows)), "rows of probabilities must sum to 1 over the keys"


def test_dropout_acts_on_the_probabilities_in_training():
    """With dropout on (train mode, with a recorded mask), the result must be a correct solution's:
    dropout(probs) @ v, not dropout on the scores or on the context."""
    inputs, expected = load_golden(EXERCISE)
    check_outputs(run(inputs), expected, only=["train_context"])
