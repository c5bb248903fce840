"""STS evaluation: Spearman with ties as scipy computes it, and the published all-MiniLM-L6-v2 figure."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import assert_close
from scipy import stats

from minisbert.data import read_sts
from minisbert.evaluation import evaluate_sts, pearson, rank, spearman


def test_rank_known_answer():
    """Ties share the mean of the ranks they span: 20 and 20 take ranks 2 and 3 → 2.5 each."""
    assert rank(np.array([10, 20, 20, 30])).tolist() == [1.0, 2.5, 2.5, 4.0]
    assert rank(np.array([3.0, 1.0, 2.0])).tolist() == [3.0, 1.0, 2.0]


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("ties", [False, True], ids=["distinct", "many-ties"])
def test_spearman_and_pearson_equal_scipy(seed, ties):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=200)
    y = x + rng.normal(size=200)
    if ties:  # STS gold scores are multiples of 0.2: ties everywhere
        x, y = np.round(x, 1), np.round(y * 5) / 5
    assert_close(spearman(x, y), stats.spearmanr(x, y).statistic, "float64")
    assert_close(pearson(x, y), stats.pearsonr(x, y).statistic, "float64")


def test_sts_benchmark_test_spearman(encoder, data_dir):
    """The published figure: all-MiniLM-L6-v2 scores 0.8203 Spearman (cosine) on sts-test."""
    pairs = read_sts(data_dir / "stsbenchmark" / "sts-test.csv")
    assert len(pairs) == 1379
    result = evaluate_sts(encoder, pairs)
    assert abs(result["spearman_cosine"] - 0.8204) <= 0.0005, result


def test_read_sts_ignores_extra_columns_and_keeps_quotes(tmp_path):
    path = tmp_path / "sts.csv"
    path.write_text(
        'main-news\tfile\t2012\t1\t4.200\tHe said "yes.\tShe said no\textra\tcolumns\n'
        "main-news\tfile\t2012\t2\t0.0\tA\tB\n",
        encoding="utf-8",
    )
    pairs = read_sts(path)
    assert [(p.sentence1, p.sentence2, p.score) for p in pairs] == [
        ('He said "yes.', "She said no", 4.2),
        ("A", "B", 0.0),
    ]


@pytest.mark.parametrize(
    "line, message",
    [("a\tb\tc\n", r"line 2: expected at least 7"), ("g\tf\t2012\t3\tfive\tA\tB\n", r"line 2: score 'five'")],
    ids=["short-line", "bad-score"],
)
def test_read_sts_names_file_and_line(tmp_path, line, message):
    path = tmp_path / "sts.csv"
    path.write_text("g\tf\t2012\t1\t1.0\tA\tB\n" + line, encoding="utf-8")
    with pytest.raises(ValueError, match=message):
        read_sts(path)


def test_data_path_uses_environment(tmp_path, monkeypatch, data_dir):
    monkeypatch.setenv("MINISBERT_DATA", str(data_dir))
    assert len(read_sts("stsbenchmark/sts-dev.csv")) == 1500
    monkeypatch.setenv("MINISBERT_DATA", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="nor under"):
        read_sts("stsbenchmark/sts-dev.csv")
