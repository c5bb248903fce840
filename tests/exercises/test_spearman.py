"""Exercise spearman: ranks with ties sharing their mean rank (minisbert/evaluation.py, `rank`),
which Spearman's correlation is built on."""

from __future__ import annotations

import numpy as np

from exercises.golden_io import check_outputs, load_golden
from minisbert.evaluation import rank, spearman

EXERCISE = "spearman"


def cases() -> dict[str, np.ndarray]:
    g = np.random.default_rng(8)
    return {
        "distinct": g.normal(size=20),
        "ties": g.integers(0, 5, size=30).astype(np.float64),
        "gold": g.uniform(0, 5, size=30).round(1),
    }


def run(inputs: dict) -> dict[str, np.ndarray]:
    return {
        "rank_distinct": rank(inputs["distinct"]),
        "rank_ties": rank(inputs["ties"]),
        "spearman_ties": np.array(spearman(inputs["ties"], inputs["gold"])),
    }


def test_known_answer():
    got = rank(np.array([10, 20, 20, 30])).tolist()
    assert got == [1, 2.5, 2.5, 4], (
        f"rank([10, 20, 20, 30]) gave {got}, expected [1, 2.5, 2.5, 4]: tied values share their mean rank"
    )


def test_ranks_keep_the_input_order():
    got = rank(np.array([30.0, 10.0, 20.0])).tolist()
    assert got == [3, 1, 2], f"rank([30, 10, 20]) gave {got}, expected [3, 1, 2]: ranks in the input's order"


def test_ranks_without_ties():
    inputs, expected = load_golden(EXERCISE)
    check_outputs(run(inputs), expected, only=["rank_distinct"])


def test_ranks_with_ties_and_spearman():
    """On failure, the first values with their expected ranks and yours, to compare by eye."""
    inputs, expected = load_golden(EXERCISE)
    outputs = run(inputs)
    shown = slice(0, 8)  # enough values for several ties (30 values drawn from 0..4)
    try:
        check_outputs(outputs, expected, only=["rank_ties"])
    except AssertionError as err:
        values, ranks = inputs["ties"][shown].tolist(), expected["rank_ties"][shown].tolist()
        yours = np.asarray(outputs["rank_ties"])[shown].tolist()
        raise AssertionError(
            f"ranks with ties: for the values {values} ... the expected ranks are {ranks} ..., "
            f"yours are {yours} ... ({err})"
        ) from None
    check_outputs(outputs, expected, only=["spearman_ties"])
