"""Pooling and normalisation in NumPy, float64, forward and backward (mirrors minisbert/pooling.py).

Each `*_backward(dout, hidden, mask)` returns the gradient with respect to `hidden`: padding
positions always get 0.

Shapes: B batch, T tokens, C hidden size; `mask` is (B, T) with 1 for a token, 0 for padding.
"""

from __future__ import annotations

import numpy as np


def mean_pooling(hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Σ_t m_t h_t / Σ_t m_t: (B, T, C) → (B, C)."""
    # BEGIN EXERCISE pooling
    m = mask[:, :, None].astype(hidden.dtype)  # (B, T, 1)
    return (hidden * m).sum(axis=1) / np.maximum(m.sum(axis=1), 1e-9)
    # END EXERCISE pooling


def max_pooling(hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """max over real tokens, per dimension: (B, T, C) → (B, C)."""
    # BEGIN EXERCISE pooling
    return np.where(mask[:, :, None] == 1, hidden, -np.inf).max(axis=1)
    # END EXERCISE pooling


def cls_pooling(hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The first token's vector: (B, T, C) → (B, C)."""
    return hidden[:, 0]


def mean_sqrt_len_pooling(hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Σ_t m_t h_t / √(Σ_t m_t) = mean · √n: (B, T, C) → (B, C)."""
    counts = np.maximum(mask.sum(axis=1, keepdims=True), 1e-9)  # (B, 1), n per sentence
    return mean_pooling(hidden, mask) * np.sqrt(counts)  # (B, C)


POOLING_FUNCTIONS = {
    "cls": cls_pooling,
    "max": max_pooling,
    "mean": mean_pooling,
    "mean_sqrt_len_tokens": mean_sqrt_len_pooling,
}


def pool(hidden: np.ndarray, mask: np.ndarray, modes=("mean",)) -> np.ndarray:
    """Each mode's vector, concatenated: (B, T, C) → (B, len(modes) · C)."""
    return np.concatenate([POOLING_FUNCTIONS[m](hidden, mask) for m in modes], axis=-1)


def l2_normalize(x: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    """x / max(‖x‖₂, eps) along the last axis."""
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), eps)


# ---------------------------------------------------------------------------------------------
# backward


def mean_pooling_backward(dout, hidden, mask):
    """Each real token gets dout / n (n real tokens); padding gets 0."""
    keep = mask[..., None].astype(dout.dtype)  # (B, T, 1), 1 for a token
    return dout[:, None, :] * keep / np.maximum(keep.sum(axis=1, keepdims=True), 1e-9)


def max_pooling_backward(dout, hidden, mask):
    """The gradient of each dimension goes to the token that held the maximum (the first one on
    a tie, as torch's max does), and to no other token."""
    held_max = (hidden == max_pooling(hidden, mask)[:, None, :]) & (mask[:, :, None] == 1)  # (B, T, C)
    winner = held_max.argmax(axis=1)  # (B, C), the first token holding the maximum
    dh = np.zeros_like(hidden)
    b, c = np.meshgrid(np.arange(hidden.shape[0]), np.arange(hidden.shape[2]), indexing="ij")
    dh[b, winner, c] = dout
    return dh


def cls_pooling_backward(dout, hidden, mask):
    dh = np.zeros_like(hidden)
    dh[:, 0] = dout
    return dh


def mean_sqrt_len_pooling_backward(dout, hidden, mask):
    keep = mask[..., None].astype(dout.dtype)  # (B, T, 1), 1 for a token
    return dout[:, None, :] * keep / np.sqrt(np.maximum(keep.sum(axis=1, keepdims=True), 1e-9))


POOLING_BACKWARDS = {
    "cls": cls_pooling_backward,
    "max": max_pooling_backward,
    "mean": mean_pooling_backward,
    "mean_sqrt_len_tokens": mean_sqrt_len_pooling_backward,
}


def pool_backward(dout, hidden, mask, modes=("mean",)):
    """Split the gradient of the concatenation per mode and add up what each sends back."""
    C = hidden.shape[-1]
    return sum(POOLING_BACKWARDS[m](dout[:, i * C : (i + 1) * C], hidden, mask) for i, m in enumerate(modes))


def l2_normalize_forward(x: np.ndarray, eps: float = 1e-12):
    """x̂ = x / max(‖x‖, eps) per row, and the cache for the backward."""
    n = np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), eps)  # (B, 1)
    xhat = x / n
    return xhat, (xhat, n)


def l2_normalize_backward(dxhat: np.ndarray, cache) -> np.ndarray:
    """dx = (dx̂ − x̂ (x̂·dx̂)) / ‖x‖: the part of dx̂ along x̂ does not change the direction."""
    xhat, n = cache
    return (dxhat - xhat * (xhat * dxhat).sum(-1, keepdims=True)) / n
