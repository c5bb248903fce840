"""BERT's forward pass in NumPy, float64, one plain function per step (mirrors minisbert/model.py).

`config` is any object with BERT's field names as attributes (`hidden_size`, `num_attention_heads`,
`hidden_act`, `layer_norm_eps`, `num_hidden_layers`); `pretrained.load_config` makes one.

Shapes: B batch, T tokens, C hidden size, nh heads, hs head size, I intermediate size.
"""

from __future__ import annotations

import math

import numpy as np

_erf = np.frompyfunc(math.erf, 1, 1)  # NumPy has no erf; math.erf is exact to float64


def linear(x: np.ndarray, weight: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """x Wᵀ + b, with W stored (out, in) as in torch: (..., in) → (..., out)."""
    return x @ weight.T + bias


def layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, eps: float) -> np.ndarray:
    """(x - mean) / √(var + eps) · w + b over the last axis; var is the biased (1/C) variance."""
    mean = x.mean(axis=-1, keepdims=True)  # (..., 1)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)  # (..., 1)
    return (x - mean) / np.sqrt(var + eps) * weight + bias


def gelu(x: np.ndarray) -> np.ndarray:
    """0.5 x (1 + erf(x / √2)), BERT's exact GELU."""
    return 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0)).astype(x.dtype))


def gelu_tanh(x: np.ndarray) -> np.ndarray:
    """0.5 x (1 + tanh(√(2/π) (x + 0.044715 x³))), the tanh approximation."""
    return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x**3)))


def relu(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, 0.0)


ACTIVATIONS = {"gelu": gelu, "gelu_new": gelu_tanh, "gelu_pytorch_tanh": gelu_tanh, "relu": relu}


def softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """exp(x) / Σ exp(x), shifted by the max first so that exp never overflows."""
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def additive_attention_mask(attention_mask: np.ndarray, dtype=np.float64) -> np.ndarray:
    """(B, T) of 1/0 → (B, 1, 1, T) of 0 for tokens and the most negative finite float for padding."""
    keep = attention_mask[:, None, None, :].astype(dtype)  # (B, 1, 1, T)
    return (1.0 - keep) * np.finfo(dtype).min


def embeddings(params: dict, input_ids: np.ndarray, token_type_ids: np.ndarray, config) -> np.ndarray:
    """LayerNorm(word[ids] + position[0..T-1] + token_type[segments]): (B, T) → (B, T, C)."""
    p = "embeddings."
    T = input_ids.shape[1]
    x = (
        params[p + "word_embeddings.weight"][input_ids]  # (B, T, C)
        + params[p + "position_embeddings.weight"][:T]  # (T, C)
        + params[p + "token_type_embeddings.weight"][token_type_ids]  # (B, T, C)
    )
    return layer_norm(x, params[p + "LayerNorm.weight"], params[p + "LayerNorm.bias"], config.layer_norm_eps)


def self_attention(params: dict, prefix: str, x: np.ndarray, mask: np.ndarray, config) -> np.ndarray:
    """Multi-head self-attention (B, T, C) → (B, T, C); `mask` is the (B, 1, 1, T) additive mask."""
    B, T, C = x.shape
    nh = config.num_attention_heads
    hs = C // nh

    def heads(name: str) -> np.ndarray:
        y = linear(x, params[f"{prefix}{name}.weight"], params[f"{prefix}{name}.bias"])  # (B, T, C)
        return y.reshape(B, T, nh, hs).transpose(0, 2, 1, 3)  # (B, nh, T, hs)

    # 1) project to q, k, v and split heads
    q, k, v = heads("query"), heads("key"), heads("value")  # (B, nh, T, hs) each
    # 2) scaled dot-product attention, padding keys masked
    scores = q @ k.transpose(0, 1, 3, 2) / math.sqrt(hs) + mask  # (B, nh, T, T)
    probs = softmax(scores, axis=-1)  # (B, nh, T, T)
    context = probs @ v  # (B, nh, T, hs)
    # 3) merge heads
    return context.transpose(0, 2, 1, 3).reshape(B, T, C)  # (B, T, C)


def add_norm(params: dict, prefix: str, x: np.ndarray, residual: np.ndarray, config) -> np.ndarray:
    """LayerNorm(residual + dense(x)): the post-LN output of a sub-layer."""
    h = linear(x, params[prefix + "dense.weight"], params[prefix + "dense.bias"])  # (B, T, C)
    w, b = params[prefix + "LayerNorm.weight"], params[prefix + "LayerNorm.bias"]
    return layer_norm(residual + h, w, b, config.layer_norm_eps)  # (B, T, C)


def feed_forward(params: dict, prefix: str, x: np.ndarray, config) -> np.ndarray:
    """act(x W₁ᵀ + b₁): the widening half of the feed-forward block, (B, T, C) → (B, T, I)."""
    h = linear(x, params[prefix + "intermediate.dense.weight"], params[prefix + "intermediate.dense.bias"])
    return ACTIVATIONS[config.hidden_act](h)  # (B, T, I)


def layer(params: dict, i: int, x: np.ndarray, mask: np.ndarray, config) -> np.ndarray:
    """One post-LN transformer layer: attention sub-layer, then feed-forward sub-layer."""
    p = f"encoder.layer.{i}."
    a = self_attention(params, p + "attention.self.", x, mask, config)  # (B, T, C)
    x = add_norm(params, p + "attention.output.", a, x, config)  # (B, T, C)
    h = feed_forward(params, p, x, config)  # (B, T, I)
    return add_norm(params, p + "output.", h, x, config)  # (B, T, C)


def encoder(
    params: dict, input_ids: np.ndarray, attention_mask: np.ndarray, config, token_type_ids=None
) -> np.ndarray:
    """The whole BERT encoder: token ids (B, T) → last hidden state (B, T, C)."""
    if token_type_ids is None:
        token_type_ids = np.zeros_like(input_ids)
    x = embeddings(params, input_ids, token_type_ids, config)  # (B, T, C)
    mask = additive_attention_mask(attention_mask, x.dtype)  # (B, 1, 1, T)
    for i in range(config.num_hidden_layers):
        x = layer(params, i, x, mask, config)  # (B, T, C)
    return x
