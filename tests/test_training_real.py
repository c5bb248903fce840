"""Real fine-tuning runs on the real data, through the command line, as the README documents them.

The full STS regression epoch and the triplet and MNRL runs on SICK take about 4 minutes together
on 2 cores, so they are marked `slow`: `make test-slow` runs them (CI does not; the fast training
tests are in test_training.py and test_train_mode.py, and tutorial 09 runs the recipe in small).
The tiny BERT from scratch is quick and runs with the rest. The SICK classification run (2 epochs,
about 6 minutes) is documented in the README with its figure.
"""

from __future__ import annotations

import json

import pytest

from minisbert.cli import main


def train(capsys, *args) -> dict:
    assert main(["train", *args]) == 0
    return json.loads(capsys.readouterr().out)


def mean(values) -> float:
    return sum(values) / len(values)


@pytest.mark.slow
def test_regression_on_sts_benchmark_raises_test_spearman(tmp_path, data_dir, capsys):
    """1 epoch on sts-train (batch 16, lr 2e-5, 10% warm-up, seed 0): 0.820 → at least 0.845."""
    out = tmp_path / "sts"
    result = train(
        capsys,
        "--objective",
        "regression",
        "--data",
        str(data_dir / "stsbenchmark" / "sts-train.csv"),
        "--output",
        str(out),
    )
    assert result["test spearman_cosine before"] == pytest.approx(0.8204, abs=5e-4)
    assert result["test spearman_cosine after"] >= 0.845
    assert {"model", "log.json", "loss.png", "dev_metric.png", "checkpoints"} <= {
        p.name for p in out.iterdir()
    }
    assert (
        main(
            [
                "evaluate",
                "--model",
                str(out / "model"),
                "--data",
                str(data_dir / "stsbenchmark" / "sts-test.csv"),
            ]
        )
        == 0
    )
    evaluated = json.loads(capsys.readouterr().out)
    assert evaluated["spearman_cosine"] == pytest.approx(result["test spearman_cosine after"], abs=1e-6)


@pytest.mark.slow
@pytest.mark.parametrize("objective", ["triplet", "mnrl"])
def test_triplet_objectives_on_sick_lower_the_loss_and_raise_triplet_accuracy(
    tmp_path, data_dir, capsys, objective
):
    out = tmp_path / objective
    result = train(
        capsys, "--objective", objective, "--data", str(data_dir / "sick" / "SICK.txt"), "--output", str(out)
    )
    assert result["test accuracy after"] > result["test accuracy before"]
    losses = [e["loss"][objective] for e in json.loads((out / "log.json").read_text())["train"]]
    assert mean(losses[-10:]) < mean(losses[:10])


def test_a_tiny_bert_from_scratch_learns(tmp_path, data_dir, capsys):
    """No pretrained file: a vocabulary learnt from sts-train, a 2-layer BERT with random weights,
    one epoch of regression (lr 1e-3, as a model this small and new needs): sts-dev Spearman rises."""
    train_file, dev_file = (str(data_dir / "stsbenchmark" / f"sts-{s}.csv") for s in ("train", "dev"))

    def dev_spearman(model) -> float:
        assert main(["evaluate", "--model", str(model), "--data", dev_file]) == 0
        return json.loads(capsys.readouterr().out)["spearman_cosine"]

    assert (
        main(["init", "--data", train_file, "--output", str(tmp_path / "tiny"), "--vocab-size", "4000"]) == 0
    )
    assert "vocabulary of 4000" in capsys.readouterr().out
    before = dev_spearman(tmp_path / "tiny")
    train(
        capsys,
        "--model",
        str(tmp_path / "tiny"),
        "--objective",
        "regression",
        "--data",
        train_file,
        "--output",
        str(tmp_path / "run"),
        "--lr",
        "1e-3",
    )
    after = dev_spearman(tmp_path / "run" / "model")
    assert after > before + 0.05, (before, after)
