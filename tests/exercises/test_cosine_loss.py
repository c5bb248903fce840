"""Exercise cosine_loss: the regression objective, mean (cos(u, v) − s)² (minisbert/losses.py,
`cosine` and `cosine_similarity_loss`)."""

from __future__ import annotations

import numpy as np
import torch

from exercises.golden_io import check_outputs, load_golden
from minisbert.losses import cosine, cosine_similarity_loss

EXERCISE = "cosine_loss"


def cases() -> dict[str, np.ndarray]:
    g = np.random.default_rng(5)
    u, v = g.normal(size=(6, 4)), g.normal(size=(6, 4))
    v[0] = 3.0 * u[0]  # same direction, other length: cosine 1
    return {"u": u, "v": v, "scores": g.uniform(0, 1, size=6)}


def run(inputs: dict) -> dict[str, torch.Tensor]:
    u, v = (torch.tensor(inputs[n], requires_grad=True) for n in ("u", "v"))
    loss = cosine_similarity_loss(u, v, torch.tensor(inputs["scores"]))
    du, dv = torch.autograd.grad(loss, (u, v))
    return {"cosine": cosine(u.detach(), v.detach()), "loss": loss.detach(), "du": du, "dv": dv}


def test_cosine_row_by_row():
    inputs, expected = load_golden(EXERCISE)
    check_outputs(run(inputs), expected, only=["cosine"])


def test_loss_value():
    inputs, expected = load_golden(EXERCISE)
    check_outputs(run(inputs), expected, only=["loss"])


def test_gradients():
    inputs, expected = load_golden(EXERCISE)
    check_outputs(run(inputs), expected, only=["du", "dv"])
