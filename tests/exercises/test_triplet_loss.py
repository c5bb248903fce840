"""Exercise triplet_loss: mean max(d(a, p) − d(a, n) + margin, 0) (minisbert/losses.py, `triplet_loss`).

The cosine distance is 1 − cos(a, b), and cos is another exercise (cosine_loss): for that case
the test puts a finished cosine in place, so that this exercise is graded on its own.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from exercises.golden_io import check_outputs, load_golden
from minisbert import losses
from minisbert.losses import triplet_loss

EXERCISE = "triplet_loss"
SETTINGS = {  # output name → (distance, margin)
    "euclidean_1": ("euclidean", 1.0),
    "euclidean_5": ("euclidean", 5.0),
    "manhattan_2": ("manhattan", 2.0),
    "cosine_0.5": ("cosine", 0.5),
}


def finished_cosine(u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    return F.cosine_similarity(u, v, dim=-1, eps=0.0)


def cases() -> dict[str, np.ndarray]:
    g = np.random.default_rng(6)
    a = g.normal(size=(8, 3))
    return {"anchor": a, "positive": a + 0.5 * g.normal(size=(8, 3)), "negative": g.normal(size=(8, 3))}


def run(inputs: dict, names=tuple(SETTINGS)) -> dict[str, torch.Tensor]:
    a, p, n = (torch.tensor(inputs[k], requires_grad=True) for k in ("anchor", "positive", "negative"))
    out = {}
    for name in names:
        distance, margin = SETTINGS[name]
        loss = triplet_loss(a, p, n, margin=margin, distance=distance)
        grads = torch.autograd.grad(loss, (a, p, n))
        out[name] = loss.detach()
        out |= {f"{name}_d{k}": g for k, g in zip("apn", grads, strict=True)}
    return out


@pytest.fixture(autouse=True)
def cosine_from_a_finished_implementation(monkeypatch):
    monkeypatch.setattr(losses, "cosine", finished_cosine)


@pytest.mark.parametrize("name", SETTINGS)
def test_loss_and_gradients(name):
    inputs, expected = load_golden(EXERCISE)
    check_outputs(run(inputs, [name]), expected, only=[name, f"{name}_da", f"{name}_dp", f"{name}_dn"])


def test_known_answer():
    """d(a, p) = 1, d(a, n) = 3: margin 1 → max(1 − 3 + 1, 0) = 0; margin 3 → 1."""
    a, p, n = torch.zeros(1, 2), torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 3.0]])
    assert triplet_loss(a, p, n, margin=1.0).item() == 0.0
    assert triplet_loss(a, p, n, margin=3.0).item() == pytest.approx(1.0)
