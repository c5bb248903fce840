"""Exercise softmax_backward: the softmax's Jacobian applied to an upstream gradient
(reference/model.py, `softmax_backward`)."""

from __future__ import annotations

import numpy as np

from exercises.golden_io import check_outputs, load_golden
from reference.model import softmax, softmax_backward

EXERCISE = "softmax_backward"


def cases() -> dict[str, np.ndarray]:
    g = np.random.default_rng(11)
    scores = g.normal(size=(2, 3, 5)) * 2.0
    scores[0, 0, 3:] = -1e30  # masked positions: probability 0
    return {"scores": scores, "dp": g.normal(size=(2, 3, 5))}


def run(inputs: dict) -> dict[str, np.ndarray]:
    return {"ds": softmax_backward(inputs["dp"], softmax(inputs["scores"]))}


def test_gradient_matches():
    inputs, expected = load_golden(EXERCISE)
    check_outputs(run(inputs), expected)


def test_a_constant_added_to_the_gradient_changes_nothing():
    """Softmax ignores a constant added to all its inputs, so ds sums to 0 over each row."""
    inputs, _ = load_golden(EXERCISE)
    ds = run(inputs)["ds"]
    assert np.abs(ds.sum(-1)).max() < 1e-12, "each row of ds must sum to 0"
