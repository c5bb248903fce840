"""Pooling and normalisation in NumPy, float64 (mirrors minisbert/pooling.py).

Shapes: B batch, T tokens, C hidden size; `mask` is (B, T) with 1 for a token, 0 for padding.
"""

from __future__ import annotations

import numpy as np


def mean_pooling(hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Σ_t m_t h_t / Σ_t m_t: (B, T, C) → (B, C)."""
    m = mask[:, :, None].astype(hidden.dtype)  # (B, T, 1)
    return (hidden * m).sum(axis=1) / np.maximum(m.sum(axis=1), 1e-9)


def max_pooling(hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """max over real tokens, per dimension: (B, T, C) → (B, C)."""
    return np.where(mask[:, :, None] == 1, hidden, -np.inf).max(axis=1)


def cls_pooling(hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The first token's vector: (B, T, C) → (B, C)."""
    return hidden[:, 0]


def mean_sqrt_len_pooling(hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Σ_t m_t h_t / √(Σ_t m_t): (B, T, C) → (B, C)."""
    m = mask[:, :, None].astype(hidden.dtype)  # (B, T, 1)
    return (hidden * m).sum(axis=1) / np.sqrt(np.maximum(m.sum(axis=1), 1e-9))


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
