"""One SBERT training step in pure NumPy: both sentences of each pair through the same encoder
(the siamese network), the loss, every weight's gradient, and an AdamW update as torch computes
it (mirrors minisbert/training.py).

Siamese means one set of weights used twice, so a weight's gradient is the sum of what the first
sentences and the second sentences send back.

A batch is a dict of NumPy arrays: {"input_ids", "attention_mask", "token_type_ids"}, each (B, T).
"""

from __future__ import annotations

import numpy as np

from .losses import (
    cosine_similarity_loss_backward,
    cosine_similarity_loss_forward,
    softmax_loss_backward,
    softmax_loss_forward,
)
from .sentence_encoder import sentence_embeddings_backward, sentence_embeddings_forward

NO_DECAY = ("bias", "LayerNorm.weight")  # as minisbert's optimizer: no weight decay on these


def embed_pair(params, config, batch_a: dict, batch_b: dict, modes, normalize):
    def embed(batch):
        return sentence_embeddings_forward(
            params,
            batch["input_ids"],
            batch["attention_mask"],
            config,
            modes,
            normalize,
            batch.get("token_type_ids"),
        )

    (u, cache_u), (v, cache_v) = embed(batch_a), embed(batch_b)
    return u, v, cache_u, cache_v


def add_grads(a: dict, b: dict) -> dict:
    return {k: a[k] + b[k] for k in a}


def regression_step(params, config, batch_a, batch_b, scores, modes=("mean",), normalize=False):
    """(loss, grads) of mean (cos(u, v) − score)² over a batch of pairs."""
    u, v, cache_u, cache_v = embed_pair(params, config, batch_a, batch_b, modes, normalize)
    loss, cache = cosine_similarity_loss_forward(u, v, scores)
    g = cosine_similarity_loss_backward(cache)
    grads = add_grads(
        sentence_embeddings_backward(g["u"], cache_u), sentence_embeddings_backward(g["v"], cache_v)
    )
    return loss, grads


def classification_step(params, config, batch_a, batch_b, labels, modes=("mean",), normalize=False):
    """(loss, grads) of the softmax classifier over (u, v, |u−v|); the classifier's weights are
    params["classifier.weight"] (K, 3D) and params["classifier.bias"] (K,)."""
    u, v, cache_u, cache_v = embed_pair(params, config, batch_a, batch_b, modes, normalize)
    loss, cache = softmax_loss_forward(u, v, labels, params["classifier.weight"], params["classifier.bias"])
    g = softmax_loss_backward(cache)
    grads = add_grads(
        sentence_embeddings_backward(g["u"], cache_u), sentence_embeddings_backward(g["v"], cache_v)
    )
    return loss, grads | {"classifier.weight": g["weight"], "classifier.bias": g["bias"]}


def adamw_init(params: dict) -> dict:
    return {"step": 0, "m": {k: np.zeros_like(p) for k, p in params.items()},
            "v": {k: np.zeros_like(p) for k, p in params.items()}}  # fmt: skip


def adamw_step(params, grads, state, lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01):
    """One AdamW update (Loshchilov & Hutter, 2019), in torch's order of operations:

        p ← p (1 − lr·λ)                       decoupled weight decay (not on biases, LayerNorm)
        m ← β₁ m + (1 − β₁) g,  v ← β₂ v + (1 − β₂) g²
        p ← p − lr / (1 − β₁ᵗ) · m / (√v / √(1 − β₂ᵗ) + ε)

    Returns new (params, state); the inputs are not changed. Weights without a gradient stay.
    """
    # BEGIN EXERCISE adamw
    b1, b2 = betas
    t = state["step"] + 1
    new_params, m, v = dict(params), dict(state["m"]), dict(state["v"])
    for name, g in grads.items():
        p = params[name]
        if not name.endswith(NO_DECAY):
            p = p * (1.0 - lr * weight_decay)
        m[name] = b1 * m[name] + (1.0 - b1) * g
        v[name] = b2 * v[name] + (1.0 - b2) * g * g
        denom = np.sqrt(v[name]) / np.sqrt(1.0 - b2**t) + eps
        new_params[name] = p - lr / (1.0 - b1**t) * m[name] / denom
    return new_params, {"step": t, "m": m, "v": v}
    # END EXERCISE adamw
