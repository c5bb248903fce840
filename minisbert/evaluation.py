"""Evaluating sentence embeddings: STS correlation, classification accuracy, triplet accuracy and
retrieval.

Source: Reimers & Gurevych, "Sentence-BERT" (EMNLP 2019), section 4.1: "we compute the cosine-
similarity between the sentence embeddings [and] the Spearman's rank correlation between the
cosine-similarity of the sentence pairs and the gold labels". As sentence-transformers does, the
STS evaluation also reports Euclidean, Manhattan and dot-product scores.

Spearman's ρ is Pearson's r of the ranks; tied values share the mean of their ranks, as in
`scipy.stats.spearmanr`.

Each evaluator is a callable `evaluator(encoder) -> dict of metrics` with a `main` metric name,
which is what `training.fit` calls every N steps.

Shapes: N pairs or queries, M corpus texts, D embedding size.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np
import torch

from .data import LabeledPair, ScoredPair, Triplet


class Evaluator(Protocol):
    """What `training.fit` calls: `evaluator(encoder)` → metrics, and the name of the main one."""

    main: str

    def __call__(self, encoder) -> dict[str, float]: ...


# ---------------------------------------------------------------------------------------------
# correlation


def pearson(x: np.ndarray, y: np.ndarray) -> float:
    """r = Σ (x-x̄)(y-ȳ) / √(Σ (x-x̄)² Σ (y-ȳ)²)."""
    x = np.asarray(x, dtype=np.float64) - np.mean(x)
    y = np.asarray(y, dtype=np.float64) - np.mean(y)
    return float((x * y).sum() / np.sqrt((x * x).sum() * (y * y).sum()))


def rank(x: np.ndarray) -> np.ndarray:
    """Ranks from 1, ties sharing their mean rank: [10, 20, 20, 30] → [1, 2.5, 2.5, 4]."""
    # BEGIN EXERCISE spearman
    x = np.asarray(x)
    order = np.argsort(x, kind="stable")
    sorted_x = x[order]
    # each run of equal values gets the mean of the ranks it spans
    starts = np.flatnonzero(np.r_[True, sorted_x[1:] != sorted_x[:-1]])
    ends = np.r_[starts[1:], len(x)]
    mean_ranks = (starts + ends + 1) / 2.0  # mean of ranks start+1 .. end
    ranks = np.empty(len(x), dtype=np.float64)
    ranks[order] = np.repeat(mean_ranks, ends - starts)
    return ranks
    # END EXERCISE spearman


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman's ρ: Pearson's r of the ranks."""
    return pearson(rank(x), rank(y))


# ---------------------------------------------------------------------------------------------
# pair scores


def pair_scores(a: np.ndarray, b: np.ndarray) -> dict[str, np.ndarray]:
    """Similarity of each row pair (a_i, b_i) four ways, (N, D), (N, D) → (N,) each; distances are
    negated so that higher always means closer: cos(a, b), −‖a−b‖₂, −‖a−b‖₁ and a·b."""
    a, b = a.astype(np.float64), b.astype(np.float64)
    norms = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    return {
        "cosine": (a * b).sum(1) / np.maximum(norms, 1e-12),
        "euclidean": -np.linalg.norm(a - b, axis=1),
        "manhattan": -np.abs(a - b).sum(1),
        "dot": (a * b).sum(1),
    }


def encode_columns(encoder, columns: list[list[str]], batch_size: int) -> list[np.ndarray]:
    """Embed several equally long columns of sentences, each distinct sentence once: (N, D) each.

    STS and SICK repeat sentences (SICK's test pairs hold about half as many distinct sentences as
    sentence slots), so encoding the distinct ones and indexing saves that much time.
    """
    distinct = list(dict.fromkeys(s for column in columns for s in column))  # first-seen order
    row = {s: i for i, s in enumerate(distinct)}
    embeddings = encoder.encode(distinct, batch_size=batch_size)  # (U, D)
    return [embeddings[[row[s] for s in column]] for column in columns]  # (N, D) each


def encode_pairs(
    encoder, first: list[str], second: list[str], batch_size: int
) -> tuple[np.ndarray, np.ndarray]:
    """The embeddings (N, D) of both sides of N pairs, each distinct sentence encoded once."""
    a, b = encode_columns(encoder, [first, second], batch_size)
    return a, b


def evaluate_sts(encoder, pairs: list[ScoredPair], batch_size: int = 32) -> dict[str, float]:
    """Spearman and Pearson correlation between each similarity and the gold scores."""
    a, b = encode_pairs(encoder, [p.sentence1 for p in pairs], [p.sentence2 for p in pairs], batch_size)
    gold = np.array([p.score for p in pairs])
    result = {}
    for name, scores in pair_scores(a, b).items():
        result[f"spearman_{name}"] = spearman(scores, gold)
        result[f"pearson_{name}"] = pearson(scores, gold)
    return result


class STSEvaluator:
    """Spearman of cosine similarity on an STS-style set of scored pairs."""

    main = "spearman_cosine"

    def __init__(self, pairs: list[ScoredPair], batch_size: int = 32):
        self.pairs, self.batch_size = pairs, batch_size

    def __call__(self, encoder) -> dict[str, float]:
        return evaluate_sts(encoder, self.pairs, self.batch_size)


# ---------------------------------------------------------------------------------------------
# classification and triplets


def evaluate_classification(
    encoder, head, pairs: list[LabeledPair], batch_size: int = 32
) -> dict[str, float]:
    """Accuracy of a SoftmaxLoss head: argmax_k W (u, v, |u−v|) against the gold label."""
    u, v = encode_pairs(encoder, [p.sentence1 for p in pairs], [p.sentence2 for p in pairs], batch_size)
    param = next(head.parameters())
    with torch.inference_mode():
        logits = head.logits(*(torch.as_tensor(x, dtype=param.dtype, device=param.device) for x in (u, v)))
    predicted = logits.argmax(-1).cpu().numpy()
    return {"accuracy": float((predicted == np.array([p.label for p in pairs])).mean())}


class ClassificationEvaluator:
    main = "accuracy"

    def __init__(self, pairs: list[LabeledPair], head, batch_size: int = 32):
        self.pairs, self.head, self.batch_size = pairs, head, batch_size

    def __call__(self, encoder) -> dict[str, float]:
        return evaluate_classification(encoder, self.head, self.pairs, self.batch_size)


def evaluate_triplets(
    encoder, triplets: list[Triplet], distance: str = "euclidean", batch_size: int = 32
) -> dict[str, float]:
    """Triplet accuracy: the fraction with d(anchor, positive) < d(anchor, negative), for the
    distance `euclidean`, `cosine` or `manhattan` (the scores of `pair_scores`, higher = closer)."""
    if distance not in TRIPLET_DISTANCES:
        raise ValueError(f"distance {distance!r} is not one of {', '.join(TRIPLET_DISTANCES)}")
    columns = [[t.anchor for t in triplets], [t.positive for t in triplets], [t.negative for t in triplets]]
    a, p, n = encode_columns(encoder, columns, batch_size)  # (N, D) each
    closer_to_positive = pair_scores(a, p)[distance] > pair_scores(a, n)[distance]  # (N,)
    return {"accuracy": float(closer_to_positive.mean())}


TRIPLET_DISTANCES = ("euclidean", "cosine", "manhattan")


class TripletEvaluator:
    main = "accuracy"

    def __init__(self, triplets: list[Triplet], distance: str = "euclidean", batch_size: int = 32):
        self.triplets, self.distance, self.batch_size = triplets, distance, batch_size

    def __call__(self, encoder) -> dict[str, float]:
        return evaluate_triplets(encoder, self.triplets, self.distance, self.batch_size)


# ---------------------------------------------------------------------------------------------
# retrieval


def retrieval_metrics(scores: np.ndarray, relevant: list[set[int]], ks=(1, 5, 10)) -> dict[str, float]:
    """recall@k and MRR from a (N, M) query × corpus score matrix.

    recall@k: the share of a query's relevant documents among its k best, averaged over queries.
    MRR: the mean of 1 / rank of the first relevant document (rank 1 = best score).
    Example: relevant {2}, scores ranking documents 0, 2, 1 → recall@1 = 0, recall@5 = 1, MRR = 1/2.
    """
    if len(relevant) != len(scores):
        raise ValueError(f"{len(scores)} queries but {len(relevant)} sets of relevant documents")
    order = np.argsort(-scores, axis=1, kind="stable")  # (N, M), best first
    result = {f"recall@{k}": 0.0 for k in ks} | {"mrr": 0.0}
    for ranking, rel in zip(order, relevant, strict=True):
        hits = np.isin(ranking, list(rel))  # (M,)
        for k in ks:
            result[f"recall@{k}"] += hits[:k].sum() / max(len(rel), 1)
        first = np.flatnonzero(hits)
        result["mrr"] += 1.0 / (first[0] + 1) if len(first) else 0.0
    return {name: float(value / len(relevant)) for name, value in result.items()}


def evaluate_retrieval(
    encoder, queries: list[str], corpus: list[str], relevant: list[set[int]], ks=(1, 5, 10)
) -> dict[str, float]:
    """Embed queries and corpus, rank the corpus by cosine similarity for each query."""
    q = encoder.encode(queries, normalize=True)  # (N, D)
    c = encoder.encode(corpus, normalize=True)  # (M, D)
    return retrieval_metrics(q @ c.T, relevant, ks)
