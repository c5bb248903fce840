"""Exercise pooling: mask-aware mean and max pooling (minisbert/pooling.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from exercises.golden_io import check_outputs, load_golden
from minisbert.pooling import max_pooling, mean_pooling

EXERCISE = "pooling"
FUNCTIONS = {"mean": mean_pooling, "max": max_pooling}


def cases() -> dict[str, np.ndarray]:
    g = np.random.default_rng(3)
    hidden = g.normal(size=(3, 5, 4))  # (B, T, C)
    hidden[:, :, 0] -= 10.0  # negative everywhere: max pooling must not see padding as 0
    hidden[1, 2:] = 50.0  # padding of sentence 1 holds large values: it must not count
    mask = (np.arange(5)[None, :] < np.array([[5], [2], [1]])).astype(np.int64)  # (B, T)
    return {"hidden": hidden, "mask": mask}


def run(inputs: dict) -> dict[str, torch.Tensor]:
    hidden, mask = torch.tensor(inputs["hidden"]), torch.tensor(inputs["mask"])
    return {name: f(hidden, mask) for name, f in FUNCTIONS.items()}


@pytest.mark.parametrize("mode", FUNCTIONS)
def test_matches_a_correct_solution(mode):
    inputs, expected = load_golden(EXERCISE)
    check_outputs(run(inputs), expected, only=[mode])


@pytest.mark.parametrize("mode", FUNCTIONS)
def test_known_answer(mode):
    """Tokens [1, 7] and [5, 3] and one padding token [100, 100]: mean [3, 5], max [5, 7]."""
    hidden = torch.tensor([[[1.0, 7.0], [5.0, 3.0], [100.0, 100.0]]])
    mask = torch.tensor([[1, 1, 0]])
    expected = {"mean": [[3.0, 5.0]], "max": [[5.0, 7.0]]}[mode]
    got = FUNCTIONS[mode](hidden, mask)
    assert got.tolist() == expected, f"{mode}_pooling gave {got.tolist()}, expected {expected}"


@pytest.mark.parametrize("mode", FUNCTIONS)
def test_padding_never_changes_the_result(mode):
    """A sentence alone, or padded to a longer batch with anything in the padding: same vector."""
    inputs = cases()
    hidden, mask = torch.tensor(inputs["hidden"]), torch.tensor(inputs["mask"])
    alone = FUNCTIONS[mode](hidden[2:, :1], mask[2:, :1])
    padded = FUNCTIONS[mode](hidden[2:], mask[2:])
    assert torch.allclose(alone, padded), f"{mode} pooling counts the padding: {alone} vs {padded}"


@pytest.mark.parametrize("mode", FUNCTIONS)
def test_the_input_is_not_changed(mode):
    inputs = cases()
    hidden, mask = torch.tensor(inputs["hidden"]), torch.tensor(inputs["mask"])
    before = hidden.clone(), mask.clone()
    FUNCTIONS[mode](hidden, mask)
    assert torch.equal(hidden, before[0]) and torch.equal(mask, before[1]), "pooling wrote into its input"
