"""Exercise softmax_loss: the classification objective, cross-entropy of softmax(W (u, v, |u−v|) + b)
(minisbert/losses.py, `concatenate` and `softmax_loss`)."""

from __future__ import annotations

import numpy as np
import torch

from exercises.golden_io import check_outputs, load_golden
from minisbert.losses import concatenate, softmax_loss

EXERCISE = "softmax_loss"


def cases() -> dict[str, np.ndarray]:
    g = np.random.default_rng(4)
    B, D, K = 5, 3, 3
    return {
        "u": g.normal(size=(B, D)),
        "v": g.normal(size=(B, D)),
        "labels": g.integers(0, K, size=B),
        "weight": g.normal(size=(K, 3 * D)),
        "weight4": g.normal(size=(K, 4 * D)),
        "bias": g.normal(size=K),
    }


def run(inputs: dict) -> dict[str, torch.Tensor]:
    u, v = (torch.tensor(inputs[n], requires_grad=True) for n in ("u", "v"))
    w, w4, b = (torch.tensor(inputs[n]) for n in ("weight", "weight4", "bias"))
    labels = torch.tensor(inputs["labels"])
    loss = softmax_loss(u, v, labels, w, b)
    du, dv = torch.autograd.grad(loss, (u, v))
    parts = ("u", "v", "|u-v|", "u*v")
    return {
        "features": concatenate(u.detach(), v.detach()),
        "features4": concatenate(u.detach(), v.detach(), parts),
        "loss": loss.detach(),
        "loss4": softmax_loss(u.detach(), v.detach(), labels, w4, b, parts),
        "du": du,
        "dv": dv,
    }


def test_concatenation_u_v_abs_difference():
    inputs, expected = load_golden(EXERCISE)
    check_outputs(run(inputs), expected, only=["features", "features4"])


def test_loss_value():
    inputs, expected = load_golden(EXERCISE)
    check_outputs(run(inputs), expected, only=["loss", "loss4"])


def test_gradients_reach_both_sentences():
    inputs, expected = load_golden(EXERCISE)
    check_outputs(run(inputs), expected, only=["du", "dv"])
