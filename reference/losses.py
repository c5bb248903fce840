"""The SBERT losses in NumPy, float64, with hand-derived gradients (mirrors minisbert/losses.py).

Each loss has three functions:

    loss = softmax_loss(u, v, labels, weight, bias)                   # a float
    loss, cache = softmax_loss_forward(u, v, labels, weight, bias)
    grads = softmax_loss_backward(cache)                              # a dict of arrays

`grads` holds d loss / d input for every array input ("u", "v", "weight", "bias", ...), each of
its input's shape. The tests check them against torch autograd and against central finite
differences. All losses are means over the batch.

Shapes: B batch, D embedding size, K labels, F = D × number of concatenated parts.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .model import softmax
from .pooling import l2_normalize_backward, l2_normalize_forward

# ---------------------------------------------------------------------------------------------
# shared pieces: cross-entropy and cosine


def cross_entropy_forward(logits: np.ndarray, labels: np.ndarray):
    """mean_i −log softmax(z_i)[y_i]: (B, K) logits, (B,) integer labels."""
    p = softmax(logits, axis=-1)  # (B, K)
    loss = -np.log(p[np.arange(len(labels)), labels]).mean()
    return float(loss), (p, labels)


def cross_entropy_backward(cache) -> np.ndarray:
    """d loss / d z = (softmax(z) − onehot(y)) / B."""
    p, labels = cache
    dz = p.copy()  # (B, K)
    dz[np.arange(len(labels)), labels] -= 1.0
    return dz / len(labels)


class CosineCache(NamedTuple):
    u: np.ndarray  # (B, D)
    v: np.ndarray  # (B, D)
    nu: np.ndarray  # (B,), ‖u_i‖
    nv: np.ndarray  # (B,), ‖v_i‖
    c: np.ndarray  # (B,), cos(u_i, v_i)


def cosine_forward(u: np.ndarray, v: np.ndarray):
    """c_i = u_i·v_i / (‖u_i‖ ‖v_i‖): (B, D), (B, D) → (B,)."""
    # BEGIN EXERCISE cosine_loss
    nu = np.linalg.norm(u, axis=-1)  # (B,)
    nv = np.linalg.norm(v, axis=-1)  # (B,)
    c = (u * v).sum(-1) / (nu * nv)  # (B,)
    return c, CosineCache(u, v, nu, nv, c)
    # END EXERCISE cosine_loss


def cosine_backward(dc: np.ndarray, cache: CosineCache):
    """∂c/∂u = v / (‖u‖‖v‖) − c · u / ‖u‖², and the same with u and v swapped: (B,) → (B, D) twice."""
    # BEGIN EXERCISE cosine_backward
    u, v, nu, nv, c = cache.u, cache.v, cache.nu, cache.nv, cache.c
    g = dc[:, None]  # (B, 1), each row's upstream gradient
    du = g * (v / (nu * nv)[:, None] - c[:, None] * u / (nu**2)[:, None])  # (B, D)
    dv = g * (u / (nu * nv)[:, None] - c[:, None] * v / (nv**2)[:, None])  # (B, D)
    return du, dv
    # END EXERCISE cosine_backward


# ---------------------------------------------------------------------------------------------
# classification

DEFAULT_CONCATENATION = ("u", "v", "|u-v|")


def concatenate(u, v, parts=DEFAULT_CONCATENATION) -> np.ndarray:
    """(u, v, |u−v|) side by side: (B, D), (B, D) → (B, F)."""
    # BEGIN EXERCISE softmax_loss
    pieces = {"u": u, "v": v, "|u-v|": np.abs(u - v), "u*v": u * v}
    return np.concatenate([pieces[p] for p in parts], axis=-1)
    # END EXERCISE softmax_loss


def concatenate_backward(df: np.ndarray, u, v, parts=DEFAULT_CONCATENATION):
    """Split dF into its parts and send each back: d|u−v| = sign(u−v) to u and −sign(u−v) to v,
    d(u*v) = v to u and u to v."""
    D = u.shape[-1]
    du, dv = np.zeros_like(u), np.zeros_like(v)
    for i, part in enumerate(parts):
        g = df[:, i * D : (i + 1) * D]  # (B, D)
        if part == "u":
            du += g
        elif part == "v":
            dv += g
        elif part == "|u-v|":
            du += g * np.sign(u - v)
            dv -= g * np.sign(u - v)
        else:  # "u*v"
            du += g * v
            dv += g * u
    return du, dv


class SoftmaxLossCache(NamedTuple):
    u: np.ndarray  # (B, D)
    v: np.ndarray  # (B, D)
    features: np.ndarray  # (B, F), the concatenation the classifier sees
    weight: np.ndarray  # (K, F)
    concatenation: tuple  # the parts of f, e.g. ("u", "v", "|u-v|")
    cross_entropy: tuple  # (probabilities (B, K), labels (B,))


def softmax_loss_forward(u, v, labels, weight, bias, concatenation=DEFAULT_CONCATENATION):
    """Cross-entropy of softmax(W f + b), f = (u, v, |u−v|). weight (K, F), bias (K,)."""
    # BEGIN EXERCISE softmax_loss
    f = concatenate(u, v, concatenation)  # (B, F)
    logits = f @ weight.T + bias  # (B, K)
    loss, ce_cache = cross_entropy_forward(logits, labels)
    return loss, SoftmaxLossCache(u, v, f, weight, concatenation, ce_cache)
    # END EXERCISE softmax_loss


def softmax_loss_backward(cache: SoftmaxLossCache, dloss: float = 1.0) -> dict:
    """dz = (p − y)/B; dW = dzᵀ f; db = Σ_i dz_i; df = dz W, then back through the concatenation."""
    dz = dloss * cross_entropy_backward(cache.cross_entropy)  # (B, K)
    df = dz @ cache.weight  # (B, F)
    du, dv = concatenate_backward(df, cache.u, cache.v, cache.concatenation)
    return {"u": du, "v": dv, "weight": dz.T @ cache.features, "bias": dz.sum(0)}


def softmax_loss(u, v, labels, weight, bias, concatenation=DEFAULT_CONCATENATION) -> float:
    return softmax_loss_forward(u, v, labels, weight, bias, concatenation)[0]


# ---------------------------------------------------------------------------------------------
# regression


def cosine_similarity_loss_forward(u, v, scores):
    """mean_i (cos(u_i, v_i) − s_i)²."""
    # BEGIN EXERCISE cosine_loss
    c, cos_cache = cosine_forward(u, v)  # (B,)
    err = c - scores  # (B,)
    return float((err**2).mean()), (err, cos_cache)
    # END EXERCISE cosine_loss


def cosine_similarity_loss_backward(cache, dloss: float = 1.0) -> dict:
    """dc_i = 2 (c_i − s_i) / B, then through the cosine."""
    err, cos_cache = cache
    dc = dloss * 2.0 * err / len(err)  # (B,)
    du, dv = cosine_backward(dc, cos_cache)
    return {"u": du, "v": dv}


def cosine_similarity_loss(u, v, scores) -> float:
    return cosine_similarity_loss_forward(u, v, scores)[0]


# ---------------------------------------------------------------------------------------------
# triplet


class DistanceCache(NamedTuple):
    distance: str  # "euclidean", "manhattan" or "cosine"
    saved: np.ndarray | CosineCache  # x − y (B, D) for euclidean and manhattan, cos(x, y)'s cache for cosine
    d: np.ndarray | None  # (B,), the euclidean distances (None otherwise)


def distance_forward(x, y, distance: str):
    """(B,) distances and a cache. euclidean ‖x−y‖, cosine 1 − cos(x, y), manhattan Σ|x−y|."""
    if distance == "euclidean":
        d = np.linalg.norm(x - y, axis=-1)
        return d, DistanceCache(distance, x - y, d)
    if distance == "manhattan":
        return np.abs(x - y).sum(-1), DistanceCache(distance, x - y, None)
    if distance == "cosine":
        c, cos_cache = cosine_forward(x, y)
        return 1.0 - c, DistanceCache(distance, cos_cache, None)
    raise ValueError(f"distance {distance!r} is not one of euclidean, cosine, manhattan")


def distance_backward(dd, cache: DistanceCache):
    """∂‖x−y‖/∂x = (x−y)/‖x−y‖ (0 where x = y); ∂Σ|x−y|/∂x = sign(x−y); ∂(1−cos)/∂x = −∂cos/∂x.
    Each returns (dx, dy) with dy = −dx for the first two."""
    if cache.distance == "euclidean":
        d = cache.d  # (B,)
        safe = np.where(d > 0, d, 1.0)[:, None]  # (B, 1), no 0/0 where x = y
        dx = dd[:, None] * np.where(d[:, None] > 0, cache.saved / safe, 0.0)  # (B, D)
        return dx, -dx
    if cache.distance == "manhattan":
        dx = dd[:, None] * np.sign(cache.saved)  # (B, D)
        return dx, -dx
    return cosine_backward(-dd, cache.saved)


class TripletCache(NamedTuple):
    active: np.ndarray  # (B,) bool, the triplets inside the margin
    positive: DistanceCache  # of d(a, p)
    negative: DistanceCache  # of d(a, n)


def triplet_loss_forward(anchor, positive, negative, margin: float = 1.0, distance: str = "euclidean"):
    """mean_i max(d(a_i, p_i) − d(a_i, n_i) + margin, 0)."""
    # BEGIN EXERCISE triplet_loss
    dp, cache_p = distance_forward(anchor, positive, distance)  # (B,)
    dn, cache_n = distance_forward(anchor, negative, distance)  # (B,)
    hinge = dp - dn + margin  # (B,)
    return float(np.maximum(hinge, 0.0).mean()), TripletCache(hinge > 0, cache_p, cache_n)
    # END EXERCISE triplet_loss


def triplet_loss_backward(cache: TripletCache, dloss: float = 1.0) -> dict:
    """Only triplets inside the margin (hinge > 0) pass a gradient: +1/B to d(a,p), −1/B to d(a,n)."""
    g = dloss * cache.active.astype(np.float64) / len(cache.active)  # (B,)
    da_p, dpos = distance_backward(g, cache.positive)
    da_n, dneg = distance_backward(-g, cache.negative)
    return {"anchor": da_p + da_n, "positive": dpos, "negative": dneg}


def triplet_loss(anchor, positive, negative, margin: float = 1.0, distance: str = "euclidean") -> float:
    return triplet_loss_forward(anchor, positive, negative, margin, distance)[0]


# ---------------------------------------------------------------------------------------------
# multiple negatives ranking


class RankingCache(NamedTuple):
    a: np.ndarray  # (B, D), the normalised anchors
    c: np.ndarray  # (B or 2B, D), the normalised candidates
    norm_a: tuple  # l2_normalize_forward's cache of the anchors
    norm_c: tuple  # and of the candidates
    scale: float  # the inverse temperature of the scores
    cross_entropy: tuple  # (probabilities (B, B or 2B), labels (B,))
    batch: int  # B
    has_negatives: bool  # hard negatives were given


def multiple_negatives_ranking_loss_forward(anchors, positives, scale: float = 20.0, negatives=None):
    """Cross-entropy over S = scale · â ĉᵀ (B, B or 2B), the right answer for row i is column i."""
    # BEGIN EXERCISE mnrl
    candidates = positives if negatives is None else np.concatenate([positives, negatives])
    a, cache_a = l2_normalize_forward(anchors)  # (B, D)
    c, cache_c = l2_normalize_forward(candidates)  # (B or 2B, D)
    scores = scale * (a @ c.T)  # (B, B or 2B): scaled cosine of every anchor with every candidate
    loss, ce_cache = cross_entropy_forward(scores, np.arange(len(a)))
    return loss, RankingCache(a, c, cache_a, cache_c, scale, ce_cache, len(positives), negatives is not None)
    # END EXERCISE mnrl


def multiple_negatives_ranking_loss_backward(cache: RankingCache, dloss: float = 1.0) -> dict:
    """dS = (softmax(S) − I)/B; dâ = scale · dS ĉ; dĉ = scale · dSᵀ â; then through the normalisation."""
    # BEGIN EXERCISE mnrl
    dS = dloss * cross_entropy_backward(cache.cross_entropy)  # (B, B or 2B)
    da = l2_normalize_backward(cache.scale * dS @ cache.c, cache.norm_a)  # (B, D)
    dc = l2_normalize_backward(cache.scale * dS.T @ cache.a, cache.norm_c)  # (B or 2B, D)
    B = cache.batch
    grads = {"anchors": da, "positives": dc[:B]}
    if cache.has_negatives:
        grads["negatives"] = dc[B:]
    return grads
    # END EXERCISE mnrl


def multiple_negatives_ranking_loss(anchors, positives, scale: float = 20.0, negatives=None) -> float:
    return multiple_negatives_ranking_loss_forward(anchors, positives, scale, negatives)[0]
