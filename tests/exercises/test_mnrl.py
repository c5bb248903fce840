"""Exercise mnrl: multiple negatives ranking loss, cross-entropy over scaled cosine scores with
in-batch negatives (minisbert/losses.py, `multiple_negatives_ranking_loss`)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from exercises.golden_io import check_outputs, load_golden
from minisbert.losses import multiple_negatives_ranking_loss

EXERCISE = "mnrl"


def cases() -> dict[str, np.ndarray]:
    g = np.random.default_rng(7)
    a = g.normal(size=(5, 4))
    return {"anchors": a, "positives": a + g.normal(size=(5, 4)), "negatives": g.normal(size=(5, 4))}


def run(inputs: dict) -> dict[str, torch.Tensor]:
    a, p, n = (torch.tensor(inputs[k], requires_grad=True) for k in ("anchors", "positives", "negatives"))
    out = {}
    for name, scale, negatives in (("plain", 20.0, None), ("scale_5", 5.0, None), ("hard", 20.0, n)):
        loss = multiple_negatives_ranking_loss(a, p, scale=scale, negatives=negatives)
        wrt = (a, p) if negatives is None else (a, p, n)
        grads = torch.autograd.grad(loss, wrt, allow_unused=True)  # unused: a gradient of zeros
        grads = [torch.zeros_like(x) if g is None else g for x, g in zip(wrt, grads, strict=True)]
        out[name] = loss.detach()
        out |= {f"{name}_d{k}": g for k, g in zip("apn", grads, strict=False)}
    return out


@pytest.mark.parametrize("name", ["plain", "scale_5", "hard"])
def test_loss_and_gradients(name):
    inputs, expected = load_golden(EXERCISE)
    keys = [k for k in expected if k == name or k.startswith(f"{name}_d")]
    check_outputs(run(inputs), expected, only=keys)


def test_hard_negatives_are_candidates_too():
    """With hard negatives, each anchor is scored against B positives and B negatives: adding a
    negative that is closer to the anchor than its positive must raise the loss."""
    a = torch.eye(3, dtype=torch.float64)
    without = multiple_negatives_ranking_loss(a, a * 0.5 + 0.1, scale=5.0)
    with_hard = multiple_negatives_ranking_loss(a, a * 0.5 + 0.1, scale=5.0, negatives=a.clone())
    assert with_hard > without, "the hard negatives change nothing: they must be candidates too"


def test_a_perfect_batch_has_a_small_loss():
    """Each anchor equal to its own positive and far from the others: the loss is near 0."""
    a = torch.eye(4, dtype=torch.float64)
    assert multiple_negatives_ranking_loss(a, a.clone()).item() < 1e-6
