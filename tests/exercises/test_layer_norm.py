"""Exercise layer_norm: LayerNorm forward and backward in NumPy (reference/model.py,
`layer_norm_forward` and `layer_norm_backward`), compared with a correct solution's outputs."""

from __future__ import annotations

import numpy as np

from exercises.golden_io import check_outputs, load_golden
from reference.model import LayerNormCache, layer_norm_backward, layer_norm_forward

EXERCISE = "layer_norm"
EPS = 1e-5


def cases() -> dict[str, np.ndarray]:
    g = np.random.default_rng(10)
    x = g.normal(size=(2, 3, 6)) * 3.0 + 1.0
    x[1, 2] = 4.0  # a constant row: its variance is 0, only eps keeps it finite
    weight, bias = g.normal(size=6), g.normal(size=6)
    # the forward's cache, recorded from the solution (cases() only runs when the golden file is
    # made), so that the backward is graded on recorded values, whatever the student's forward does
    _, cache = layer_norm_forward(x, weight, bias, EPS)
    return dict(
        x=x, weight=weight, bias=bias, dout=g.normal(size=(2, 3, 6)), xhat=cache.xhat, rstd=cache.rstd
    )


def run(inputs: dict) -> dict[str, np.ndarray]:
    y, cache = layer_norm_forward(inputs["x"], inputs["weight"], inputs["bias"], EPS)
    # the backward reads a cache made from the recorded forward values, so that it is graded on its own
    xhat = (inputs["x"] - inputs["x"].mean(-1, keepdims=True)) / np.sqrt(
        inputs["x"].var(-1, keepdims=True) + EPS
    )
    rstd = 1.0 / np.sqrt(inputs["x"].var(-1, keepdims=True) + EPS)
    dx, dw, db = layer_norm_backward(inputs["dout"], LayerNormCache(xhat, inputs["weight"], rstd))
    return {"y": y, "dx": dx, "dweight": dw, "dbias": db}


def test_forward():
    inputs, expected = load_golden(EXERCISE)
    check_outputs(run(inputs), expected, only=["y"])


def test_backward_input_gradient():
    inputs, expected = load_golden(EXERCISE)
    check_outputs(run(inputs), expected, only=["dx"])


def test_backward_weight_and_bias_gradients():
    inputs, expected = load_golden(EXERCISE)
    check_outputs(run(inputs), expected, only=["dweight", "dbias"])


def test_the_forward_cache_holds_what_the_backward_needs():
    """The cache of your forward, given to your backward, gives the recorded gradients."""
    inputs, expected = load_golden(EXERCISE)
    _, cache = layer_norm_forward(inputs["x"], inputs["weight"], inputs["bias"], EPS)
    dx, dw, db = layer_norm_backward(inputs["dout"], cache)
    check_outputs({"dx": dx, "dweight": dw, "dbias": db}, expected, only=["dx", "dweight", "dbias"])
