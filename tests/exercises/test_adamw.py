"""Exercise adamw: one AdamW step as torch computes it (reference/training.py, `adamw_step`)."""

from __future__ import annotations

import numpy as np

from exercises.golden_io import check_outputs, load_golden
from reference.training import adamw_init, adamw_step

EXERCISE = "adamw"
NAMES = ("layer.weight", "layer.bias", "LayerNorm.weight")  # the last two get no weight decay


def cases() -> dict[str, np.ndarray]:
    g = np.random.default_rng(13)
    out = {}
    for name in NAMES:
        out[f"param/{name}"] = g.normal(size=(3, 2) if name == "layer.weight" else 2)
        for step in range(3):
            out[f"grad{step}/{name}"] = g.normal(size=out[f"param/{name}"].shape)
    return out


def run(inputs: dict) -> dict[str, np.ndarray]:
    params = {n: inputs[f"param/{n}"] for n in NAMES}
    state = adamw_init(params)
    out = {}
    for step in range(3):
        grads = {n: inputs[f"grad{step}/{n}"] for n in NAMES}
        params, state = adamw_step(params, grads, state, lr=0.1, weight_decay=0.1)
        out |= {f"step{step}/{n}": params[n] for n in NAMES}
    return out


def test_first_step():
    inputs, expected = load_golden(EXERCISE)
    check_outputs(run(inputs), expected, only=[k for k in expected if k.startswith("step0/")])


def test_three_steps_with_bias_correction():
    inputs, expected = load_golden(EXERCISE)
    check_outputs(run(inputs), expected, only=[k for k in expected if k.startswith("step2/")])


def test_the_inputs_are_not_changed():
    inputs = {k: v.copy() for k, v in load_golden(EXERCISE)[0].items()}
    params = {n: inputs[f"param/{n}"] for n in NAMES}
    before = {n: p.copy() for n, p in params.items()}
    adamw_step(params, {n: inputs[f"grad0/{n}"] for n in NAMES}, adamw_init(params), lr=0.1)
    assert all(np.array_equal(params[n], before[n]) for n in NAMES), "adamw_step changed its input"
