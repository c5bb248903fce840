"""STS evaluation: Spearman with ties as scipy computes it, and the published all-MiniLM-L6-v2 figure."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers import assert_close
from scipy import stats

from minisbert.data import LabeledPair, ScoredPair, Triplet, read_sts
from minisbert.evaluation import (
    encode_pairs,
    evaluate_classification,
    evaluate_retrieval,
    evaluate_sts,
    evaluate_triplets,
    pair_scores,
    pearson,
    rank,
    retrieval_metrics,
    spearman,
)


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
    with pytest.raises(FileNotFoundError, match=r"sts-dev.csv \(looked in the current folder and "):
        read_sts("stsbenchmark/sts-dev.csv")


def test_retrieval_metrics_known_answer():
    """Query 0: relevant {2}, ranking 0, 2, 1 → recall@1 = 0, recall@2 = 1, reciprocal rank 1/2.
    Query 1: relevant {0, 1}, ranking 1, 2, 0 → recall@1 = 1/2, recall@2 = 1/2, reciprocal rank 1.
    Means: recall@1 = 0.25, recall@2 = 0.75, MRR = 0.75."""
    scores = np.array([[0.9, 0.1, 0.5], [0.2, 0.8, 0.4]])
    result = retrieval_metrics(scores, [{2}, {0, 1}], ks=(1, 2))
    assert result == pytest.approx({"recall@1": 0.25, "recall@2": 0.75, "mrr": 0.75})
    with pytest.raises(ValueError, match="2 queries but 1 sets"):
        retrieval_metrics(scores, [{2}])


def test_retrieval_on_real_model(encoder):
    queries = ["How do I cook pasta?", "What is the capital of France?"]
    corpus = [
        "Paris is the capital and largest city of France.",
        "The cat sleeps.",
        "Boil water, add salt and cook the pasta for ten minutes.",
    ]
    result = evaluate_retrieval(encoder, queries, corpus, [{2}, {0}], ks=(1,))
    assert result == {"recall@1": 1.0, "mrr": 1.0}


def test_triplet_accuracy_known_answer():
    """A fake encoder maps each text to a fixed vector: the first triplet is right, the second wrong."""
    vectors = {"a": [0.0, 0.0], "near": [1.0, 0.0], "far": [5.0, 0.0]}

    class Fixed:
        def encode(self, texts, batch_size=32):
            return np.array([vectors[t] for t in texts], dtype=np.float32)

    triplets = [Triplet("a", "near", "far"), Triplet("a", "far", "near")]
    assert evaluate_triplets(Fixed(), triplets) == {"accuracy": 0.5}


def test_each_distinct_sentence_is_encoded_once():
    """Pairs repeat sentences (within and across sides): evaluation encodes each one once and
    gives every pair its own vectors back in order."""
    calls = []

    class Counting:
        def encode(self, texts, batch_size=32):
            calls.append(list(texts))
            return np.array([[len(t), 1.0] for t in texts], dtype=np.float32)

    pairs = [ScoredPair("a", "bb", 1.0), ScoredPair("bb", "a", 2.0), ScoredPair("a", "ccc", 3.0)]
    a, b = encode_pairs(Counting(), [p.sentence1 for p in pairs], [p.sentence2 for p in pairs], 8)
    assert calls == [["a", "bb", "ccc"]]
    assert a[:, 0].tolist() == [1, 2, 1] and b[:, 0].tolist() == [2, 1, 3]


@pytest.mark.parametrize("distance", ["euclidean", "cosine", "manhattan"])
def test_triplet_accuracy_uses_the_pair_scores_of_sts(distance):
    """One way to measure closeness: the triplet evaluator reads `pair_scores` (higher = closer)."""
    vectors = {"a": [1.0, 0.0], "same-direction": [3.0, 0.1], "other-direction": [0.0, 1.0]}

    class Fixed:
        def encode(self, texts, batch_size=32):
            return np.array([vectors[t] for t in texts])

    triplets = [Triplet("a", "same-direction", "other-direction")]
    by_scores = (
        pair_scores(np.array([vectors["a"]]), np.array([vectors["same-direction"]]))[distance]
        > (pair_scores(np.array([vectors["a"]]), np.array([vectors["other-direction"]]))[distance])
    )
    assert evaluate_triplets(Fixed(), triplets, distance) == {"accuracy": float(by_scores[0])}
    with pytest.raises(ValueError, match="distance 'dot' is not one of"):
        evaluate_triplets(Fixed(), triplets, "dot")


def test_classification_accuracy_counts_argmax(encoder):
    from minisbert.losses import SoftmaxLoss

    head = SoftmaxLoss(encoder.dimension, 3)
    torch.nn.init.zeros_(head.classifier.weight)
    with torch.no_grad():
        head.classifier.bias.copy_(torch.tensor([0.0, 1.0, 0.0]))  # always predicts label 1
    pairs = [LabeledPair(i, "a", "b", 3.0, label) for i, label in enumerate([1, 1, 0, 2])]
    assert evaluate_classification(encoder, head, pairs) == {"accuracy": 0.5}
