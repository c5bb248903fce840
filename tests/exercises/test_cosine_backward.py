"""Exercise cosine_backward: the gradient of cos(u_i, v_i) (reference/losses.py, `cosine_backward`)."""

from __future__ import annotations

import numpy as np

from exercises.golden_io import check_outputs, load_golden
from reference.losses import CosineCache, cosine_backward, cosine_forward

EXERCISE = "cosine_backward"


def cases() -> dict[str, np.ndarray]:
    """The forward's cache is recorded too (from the solution, when the golden file is made), so
    that grading this exercise does not need `cosine_forward`, part of the exercise cosine_loss."""
    g = np.random.default_rng(12)
    u, v = g.normal(size=(5, 4)) * 2.0, g.normal(size=(5, 4))
    _, cache = cosine_forward(u, v)
    return {"u": u, "v": v, "dc": g.normal(size=5), "nu": cache.nu, "nv": cache.nv, "c": cache.c}


def run(inputs: dict) -> dict[str, np.ndarray]:
    cache = CosineCache(*(inputs[k] for k in ("u", "v", "nu", "nv", "c")))
    du, dv = cosine_backward(inputs["dc"], cache)
    return {"du": du, "dv": dv}


def test_gradient_of_u():
    inputs, expected = load_golden(EXERCISE)
    check_outputs(run(inputs), expected, only=["du"])


def test_gradient_of_v():
    inputs, expected = load_golden(EXERCISE)
    check_outputs(run(inputs), expected, only=["dv"])


def test_scaling_u_changes_no_cosine():
    """cos(λu, v) = cos(u, v): the gradient of u is orthogonal to u."""
    inputs, _ = load_golden(EXERCISE)
    du = run(inputs)["du"]
    assert np.abs((du * inputs["u"]).sum(-1)).max() < 1e-10, "du·u must be 0 in every row"
