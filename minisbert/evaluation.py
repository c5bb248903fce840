"""Evaluating sentence embeddings on semantic textual similarity (STS).

Source: Reimers & Gurevych, "Sentence-BERT" (EMNLP 2019), section 4.1: "we compute the cosine-
similarity between the sentence embeddings [and] the Spearman's rank correlation between the
cosine-similarity of the sentence pairs and the gold labels".

Spearman's ρ is Pearson's r of the ranks; tied values share the mean of their ranks, as in
`scipy.stats.spearmanr`.
"""

from __future__ import annotations

import numpy as np

from .data import ScoredPair


def pearson(x: np.ndarray, y: np.ndarray) -> float:
    """r = Σ (x-x̄)(y-ȳ) / √(Σ (x-x̄)² Σ (y-ȳ)²)."""
    x = np.asarray(x, dtype=np.float64) - np.mean(x)
    y = np.asarray(y, dtype=np.float64) - np.mean(y)
    return float((x * y).sum() / np.sqrt((x * x).sum() * (y * y).sum()))


def rank(x: np.ndarray) -> np.ndarray:
    """Ranks from 1, ties sharing their mean rank: [10, 20, 20, 30] → [1, 2.5, 2.5, 4]."""
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


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman's ρ: Pearson's r of the ranks."""
    return pearson(rank(x), rank(y))


def evaluate_sts(encoder, pairs: list[ScoredPair], batch_size: int = 32) -> dict[str, float]:
    """Spearman and Pearson correlation between cosine similarity and the gold scores."""
    a = encoder.encode([p.sentence1 for p in pairs], batch_size=batch_size, normalize=True)  # (N, D)
    b = encoder.encode([p.sentence2 for p in pairs], batch_size=batch_size, normalize=True)  # (N, D)
    cosine = (a.astype(np.float64) * b).sum(axis=1)  # (N,)
    gold = np.array([p.score for p in pairs])
    return {
        "spearman_cosine": spearman(cosine, gold),
        "pearson_cosine": pearson(cosine, gold),
        "pairs": len(pairs),
    }
