"""BERT's forward and backward passes in NumPy, float64 (mirrors minisbert/model.py).

Each step is a pure function. The plain form returns the output:

    y = layer_norm(x, w, b, eps)

and, for every step that training goes back through, a `_forward` form returns a cache too, and a
`_backward` form turns the gradient of the output into the gradients of the inputs and weights:

    y, cache = layer_norm_forward(x, w, b, eps)
    dx, dw, db = layer_norm_backward(dy, cache)

Whole blocks (attention, layer, encoder) return their weight gradients in a dict keyed by the
torch `state_dict()` names, so that `grads[name]` has the shape of `params[name]`.

`config` is any object with BERT's field names as attributes (`hidden_size`, `num_attention_heads`,
`hidden_act`, `layer_norm_eps`, `num_hidden_layers`); `pretrained.load_config` makes one.

Shapes: B batch, T tokens, C hidden size, nh heads, hs head size, I intermediate size.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

_erf = np.frompyfunc(math.erf, 1, 1)  # NumPy has no erf; math.erf is exact to float64
SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)

# ---------------------------------------------------------------------------------------------
# linear and LayerNorm


def linear(x: np.ndarray, weight: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """x Wᵀ + b, with W stored (out, in) as in torch: (..., in) → (..., out)."""
    return x @ weight.T + bias


def linear_forward(x, weight, bias):
    return linear(x, weight, bias), (x, weight)


def linear_backward(dout: np.ndarray, cache):
    """y = x Wᵀ + b  ⇒  dx = dy W,  dW = Σ dyᵀ x,  db = Σ dy (sums over every leading axis)."""
    x, weight = cache
    dx = dout @ weight  # (..., in)
    dw = dout.reshape(-1, dout.shape[-1]).T @ x.reshape(-1, x.shape[-1])  # (out, in)
    db = dout.reshape(-1, dout.shape[-1]).sum(0)  # (out,)
    return dx, dw, db


def layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, eps: float) -> np.ndarray:
    """(x - mean) / √(var + eps) · w + b over the last axis; var is the biased (1/C) variance."""
    return layer_norm_forward(x, weight, bias, eps)[0]


class LayerNormCache(NamedTuple):
    xhat: np.ndarray  # (..., C), the normalised input
    weight: np.ndarray  # (C,)
    rstd: np.ndarray  # (..., 1), 1 / √(var + eps)


def layer_norm_forward(x, weight, bias, eps: float):
    # BEGIN EXERCISE layer_norm
    mean = x.mean(axis=-1, keepdims=True)  # (..., 1)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)  # (..., 1)
    rstd = 1.0 / np.sqrt(var + eps)  # (..., 1)
    xhat = (x - mean) * rstd  # (..., C)
    return xhat * weight + bias, LayerNormCache(xhat, weight, rstd)
    # END EXERCISE layer_norm


def layer_norm_backward(dout, cache: LayerNormCache):
    """With x̂ = (x − μ)·r and g = dy·w:  dx = r (g − mean(g) − x̂ · mean(g x̂)),
    dw = Σ dy x̂, db = Σ dy. The two means are what μ and r depend on every x_i."""
    # BEGIN EXERCISE layer_norm
    g = dout * cache.weight  # (..., C)
    xhat = cache.xhat
    dx = cache.rstd * (g - g.mean(-1, keepdims=True) - xhat * (g * xhat).mean(-1, keepdims=True))
    C = xhat.shape[-1]
    dw = (dout * xhat).reshape(-1, C).sum(0)  # (C,)
    db = dout.reshape(-1, C).sum(0)  # (C,)
    return dx, dw, db
    # END EXERCISE layer_norm


# ---------------------------------------------------------------------------------------------
# activations, softmax, dropout


def gelu(x: np.ndarray) -> np.ndarray:
    """0.5 x (1 + erf(x / √2)), BERT's exact GELU."""
    return 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0)).astype(x.dtype))


def gelu_backward(dout, x):
    """d/dx x Φ(x) = Φ(x) + x φ(x), with φ the standard normal density."""
    cdf = 0.5 * (1.0 + _erf(x / math.sqrt(2.0)).astype(x.dtype))
    pdf = np.exp(-0.5 * x * x) / math.sqrt(2.0 * math.pi)
    return dout * (cdf + x * pdf)


def gelu_tanh(x: np.ndarray) -> np.ndarray:
    """0.5 x (1 + tanh(√(2/π) (x + 0.044715 x³))), the tanh approximation."""
    return 0.5 * x * (1.0 + np.tanh(SQRT_2_OVER_PI * (x + 0.044715 * x**3)))


def gelu_tanh_backward(dout, x):
    """With t = tanh(u), u = √(2/π)(x + 0.044715 x³): 0.5(1 + t) + 0.5 x (1 − t²) u'."""
    t = np.tanh(SQRT_2_OVER_PI * (x + 0.044715 * x**3))
    du = SQRT_2_OVER_PI * (1.0 + 3 * 0.044715 * x * x)
    return dout * (0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * du)


def relu(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, 0.0)


def relu_backward(dout, x):
    return dout * (x > 0)


ACTIVATIONS = {"gelu": gelu, "gelu_new": gelu_tanh, "gelu_pytorch_tanh": gelu_tanh, "relu": relu}
ACTIVATION_BACKWARDS = {
    "gelu": gelu_backward, "gelu_new": gelu_tanh_backward, "gelu_pytorch_tanh": gelu_tanh_backward,
    "relu": relu_backward,
}  # fmt: skip


def softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """exp(x) / Σ exp(x), shifted by the max first so that exp never overflows."""
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def softmax_backward(dp, p):
    """p = softmax(s)  ⇒  ds = p (dp − Σ_j dp_j p_j): the Jacobian diag(p) − p pᵀ applied to dp."""
    # BEGIN EXERCISE softmax_backward
    return p * (dp - (dp * p).sum(-1, keepdims=True))
    # END EXERCISE softmax_backward


def dropout_forward(x, keep, p: float):
    """Inverted dropout with a given 0/1 mask `keep`: x · keep / (1 − p), so the mean is unchanged."""
    return x * keep / (1.0 - p), (keep, p)


def dropout_backward(dout, cache):
    keep, p = cache
    return dout * keep / (1.0 - p)


def additive_attention_mask(attention_mask: np.ndarray, dtype=np.float64) -> np.ndarray:
    """(B, T) of 1/0 → (B, 1, 1, T) of 0 for tokens and the most negative finite float for padding."""
    keep = attention_mask[:, None, None, :].astype(dtype)  # (B, 1, 1, T)
    return (1.0 - keep) * np.finfo(dtype).min


# ---------------------------------------------------------------------------------------------
# embeddings


def embeddings(params: dict, input_ids: np.ndarray, token_type_ids: np.ndarray, config) -> np.ndarray:
    """LayerNorm(word[ids] + position[0..T-1] + token_type[segments]): (B, T) → (B, T, C)."""
    return embeddings_forward(params, input_ids, token_type_ids, config)[0]


class EmbeddingsCache(NamedTuple):
    input_ids: np.ndarray  # (B, T)
    token_type_ids: np.ndarray  # (B, T)
    layer_norm: LayerNormCache
    shapes: dict  # the shape of each embedding table, keyed like params
    pad_token_id: int


def embeddings_forward(params, input_ids, token_type_ids, config):
    # BEGIN EXERCISE embeddings
    p = "embeddings."
    T = input_ids.shape[1]
    x = (
        params[p + "word_embeddings.weight"][input_ids]  # (B, T, C)
        + params[p + "position_embeddings.weight"][:T]  # (T, C)
        + params[p + "token_type_embeddings.weight"][token_type_ids]  # (B, T, C)
    )
    w, b = params[p + "LayerNorm.weight"], params[p + "LayerNorm.bias"]
    out, ln_cache = layer_norm_forward(x, w, b, config.layer_norm_eps)
    shapes = {k: params[k].shape for k in params if k.startswith(p)}
    return out, EmbeddingsCache(
        input_ids, token_type_ids, ln_cache, shapes, getattr(config, "pad_token_id", 0)
    )
    # END EXERCISE embeddings


def embeddings_backward(dout, cache: EmbeddingsCache) -> dict:
    """A table lookup passes the gradient of each token back to the row it read: rows read
    several times sum their gradients (np.add.at), rows never read get 0. The [PAD] row is never
    trained (BERT's word embedding has padding_idx)."""
    shapes, p = cache.shapes, "embeddings."
    dx, dw, db = layer_norm_backward(dout, cache.layer_norm)  # (B, T, C)
    grads = {p + "LayerNorm.weight": dw, p + "LayerNorm.bias": db}
    for name, ids in (("word_embeddings", cache.input_ids), ("token_type_embeddings", cache.token_type_ids)):
        table = np.zeros(shapes[f"{p}{name}.weight"], dtype=dout.dtype)
        np.add.at(table, ids.reshape(-1), dx.reshape(-1, dx.shape[-1]))
        grads[f"{p}{name}.weight"] = table
    grads[p + "word_embeddings.weight"][cache.pad_token_id] = 0.0  # as torch's Embedding(padding_idx=...)
    positions = np.zeros(shapes[p + "position_embeddings.weight"], dtype=dout.dtype)
    positions[: dx.shape[1]] = dx.sum(0)  # position t is read by every sentence
    grads[p + "position_embeddings.weight"] = positions
    return grads


# ---------------------------------------------------------------------------------------------
# attention


def split_heads(x: np.ndarray, nh: int) -> np.ndarray:
    """(B, T, C) → (B, nh, T, hs)."""
    # BEGIN EXERCISE heads
    B, T, C = x.shape
    return x.reshape(B, T, nh, C // nh).transpose(0, 2, 1, 3)
    # END EXERCISE heads


def merge_heads(x: np.ndarray) -> np.ndarray:
    """(B, nh, T, hs) → (B, T, C): the inverse of split_heads, and also its backward."""
    # BEGIN EXERCISE heads
    B, nh, T, hs = x.shape
    return x.transpose(0, 2, 1, 3).reshape(B, T, nh * hs)
    # END EXERCISE heads


def attention(q: np.ndarray, k: np.ndarray, v: np.ndarray, mask: np.ndarray):
    """softmax(q kᵀ / √hs + mask) v on (B, nh, T, hs) q, k, v and the (B, 1, 1, T) additive mask:
    returns the context (B, nh, T, hs) and the probabilities (B, nh, T, T), as minisbert's does."""
    context, cache = attention_forward(q, k, v, mask)
    return context, cache.probs


class AttentionCache(NamedTuple):
    q: np.ndarray  # (B, nh, T, hs)
    k: np.ndarray  # (B, nh, T, hs)
    v: np.ndarray  # (B, nh, T, hs)
    probs: np.ndarray  # (B, nh, T, T), each row sums to 1


def attention_forward(q, k, v, mask):
    """As `attention`, returning (context, cache); the probabilities are `cache.probs`."""
    # BEGIN EXERCISE attention
    hs = q.shape[-1]
    scores = q @ k.transpose(0, 1, 3, 2) / math.sqrt(hs) + mask  # (B, nh, T, T)
    probs = softmax(scores, axis=-1)  # (B, nh, T, T)
    return probs @ v, AttentionCache(q, k, v, probs)  # (B, nh, T, hs)
    # END EXERCISE attention


def attention_backward(dcontext: np.ndarray, cache: AttentionCache):
    """Back through probs @ v, the softmax and q kᵀ / √hs: returns (dq, dk, dv). The mask is a
    constant: padding keys get no gradient because their probabilities are exactly 0."""
    probs = cache.probs  # (B, nh, T, T)
    dprobs = dcontext @ cache.v.transpose(0, 1, 3, 2)  # (B, nh, T, T)
    dv = probs.transpose(0, 1, 3, 2) @ dcontext  # (B, nh, T, hs)
    dscores = softmax_backward(dprobs, probs) / math.sqrt(cache.q.shape[-1])  # (B, nh, T, T)
    dq = dscores @ cache.k  # (B, nh, T, hs)
    dk = dscores.transpose(0, 1, 3, 2) @ cache.q  # (B, nh, T, hs)
    return dq, dk, dv


def self_attention(params: dict, prefix: str, x: np.ndarray, mask: np.ndarray, config) -> np.ndarray:
    """Multi-head self-attention (B, T, C) → (B, T, C); `mask` is the (B, 1, 1, T) additive mask."""
    return self_attention_forward(params, prefix, x, mask, config)[0]


class SelfAttentionCache(NamedTuple):
    prefix: str  # e.g. "encoder.layer.0.attention.self."
    projections: dict  # "query" / "key" / "value" → the cache of that linear projection
    attention: AttentionCache


def self_attention_forward(params, prefix, x, mask, config):
    nh = config.num_attention_heads
    # 1) project to q, k, v and split heads
    heads, projections = {}, {}
    for name in ("query", "key", "value"):
        y, projections[name] = linear_forward(
            x, params[f"{prefix}{name}.weight"], params[f"{prefix}{name}.bias"]
        )
        heads[name] = split_heads(y, nh)  # (B, nh, T, hs)
    # 2) scaled dot-product attention, padding keys masked
    context, attn_cache = attention_forward(
        heads["query"], heads["key"], heads["value"], mask
    )  # (B, nh, T, hs)
    # 3) merge heads
    out = merge_heads(context)  # (B, T, C)
    return out, SelfAttentionCache(prefix, projections, attn_cache)


def self_attention_backward(dout, cache: SelfAttentionCache):
    """Back through merge, attention and the three projections; x feeds all three, so its
    gradient is their sum."""
    nh = cache.attention.q.shape[1]
    dq, dk, dv = attention_backward(split_heads(dout, nh), cache.attention)  # (B, nh, T, hs) each
    dx, grads = 0.0, {}
    for name, d in (("query", dq), ("key", dk), ("value", dv)):
        dxi, dw, db = linear_backward(merge_heads(d), cache.projections[name])
        dx = dx + dxi
        grads[f"{cache.prefix}{name}.weight"], grads[f"{cache.prefix}{name}.bias"] = dw, db
    return dx, grads


# ---------------------------------------------------------------------------------------------
# the sub-layers, a layer, the encoder


def add_norm(params: dict, prefix: str, x: np.ndarray, residual: np.ndarray, config) -> np.ndarray:
    """LayerNorm(residual + dense(x)): the post-LN output of a sub-layer."""
    return add_norm_forward(params, prefix, x, residual, config)[0]


class AddNormCache(NamedTuple):
    prefix: str  # e.g. "encoder.layer.0.output."
    dense: tuple  # the linear layer's cache
    layer_norm: LayerNormCache


def add_norm_forward(params, prefix, x, residual, config):
    h, lin_cache = linear_forward(x, params[prefix + "dense.weight"], params[prefix + "dense.bias"])
    w, b = params[prefix + "LayerNorm.weight"], params[prefix + "LayerNorm.bias"]
    out, ln_cache = layer_norm_forward(residual + h, w, b, config.layer_norm_eps)  # (B, T, C)
    return out, AddNormCache(prefix, lin_cache, ln_cache)


def add_norm_backward(dout, cache: AddNormCache):
    """Returns (dx, dresidual, grads): the residual passes the LayerNorm's gradient straight on."""
    dsum, dw_ln, db_ln = layer_norm_backward(dout, cache.layer_norm)
    dx, dw, db = linear_backward(dsum, cache.dense)
    p = cache.prefix
    grads = {
        p + "dense.weight": dw,
        p + "dense.bias": db,
        p + "LayerNorm.weight": dw_ln,
        p + "LayerNorm.bias": db_ln,
    }
    return dx, dsum, grads


def intermediate(params: dict, prefix: str, x: np.ndarray, config) -> np.ndarray:
    """act(x W₁ᵀ + b₁): the widening half of the feed-forward block (minisbert's BertIntermediate,
    the checkpoint's `intermediate.dense`), (B, T, C) → (B, T, I)."""
    return intermediate_forward(params, prefix, x, config)[0]


class IntermediateCache(NamedTuple):
    name: str  # e.g. "encoder.layer.0.intermediate.dense."
    dense: tuple  # the linear layer's cache
    h: np.ndarray  # (B, T, I), the input of the activation
    act: str  # config.hidden_act


def intermediate_forward(params, prefix, x, config):
    name = prefix + "intermediate.dense."
    h, lin_cache = linear_forward(x, params[name + "weight"], params[name + "bias"])  # (B, T, I)
    return ACTIVATIONS[config.hidden_act](h), IntermediateCache(name, lin_cache, h, config.hidden_act)


def intermediate_backward(dout, cache: IntermediateCache):
    dx, dw, db = linear_backward(ACTIVATION_BACKWARDS[cache.act](dout, cache.h), cache.dense)
    return dx, {cache.name + "weight": dw, cache.name + "bias": db}


def layer(params: dict, i: int, x: np.ndarray, mask: np.ndarray, config) -> np.ndarray:
    """One post-LN transformer layer: attention sub-layer, then feed-forward sub-layer."""
    return layer_forward(params, i, x, mask, config)[0]


class LayerCache(NamedTuple):
    attention: SelfAttentionCache
    attention_output: AddNormCache  # residual + LayerNorm after attention
    intermediate: IntermediateCache
    output: AddNormCache  # residual + LayerNorm after the feed-forward


def layer_forward(params, i, x, mask, config):
    p = f"encoder.layer.{i}."
    a, attn_cache = self_attention_forward(params, p + "attention.self.", x, mask, config)  # (B, T, C)
    x1, an1_cache = add_norm_forward(params, p + "attention.output.", a, x, config)  # (B, T, C)
    h, ff_cache = intermediate_forward(params, p, x1, config)  # (B, T, I)
    out, an2_cache = add_norm_forward(params, p + "output.", h, x1, config)  # (B, T, C)
    return out, LayerCache(attn_cache, an1_cache, ff_cache, an2_cache)


def layer_backward(dout, cache: LayerCache):
    """The forward in reverse; x1 feeds both the feed-forward and the second residual, x both the
    attention and the first residual, so each gets the sum of its two gradients."""
    dh, dx1_residual, grads = add_norm_backward(dout, cache.output)
    dx1, g = intermediate_backward(dh, cache.intermediate)
    grads |= g
    da, dx_residual, g = add_norm_backward(dx1 + dx1_residual, cache.attention_output)
    grads |= g
    dx, g = self_attention_backward(da, cache.attention)
    return dx + dx_residual, grads | g


def encoder(params: dict, input_ids: np.ndarray, attention_mask: np.ndarray, config, token_type_ids=None):
    """The whole BERT encoder: token ids (B, T) → last hidden state (B, T, C)."""
    return encoder_forward(params, input_ids, attention_mask, config, token_type_ids)[0]


class EncoderCache(NamedTuple):
    embeddings: EmbeddingsCache
    layers: list  # a LayerCache per layer


def encoder_forward(params, input_ids, attention_mask, config, token_type_ids=None):
    if token_type_ids is None:
        token_type_ids = np.zeros_like(input_ids)
    x, emb_cache = embeddings_forward(params, input_ids, token_type_ids, config)  # (B, T, C)
    mask = additive_attention_mask(attention_mask, x.dtype)  # (B, 1, 1, T)
    layer_caches = []
    for i in range(config.num_hidden_layers):
        x, cache = layer_forward(params, i, x, mask, config)  # (B, T, C)
        layer_caches.append(cache)
    return x, EncoderCache(emb_cache, layer_caches)


def encoder_backward(dhidden, cache: EncoderCache) -> dict:
    """Gradients of every weight, keyed like `params`, from the gradient of the last hidden state."""
    grads = {}
    dx = dhidden
    for layer_cache in reversed(cache.layers):
        dx, g = layer_backward(dx, layer_cache)
        grads |= g
    return grads | embeddings_backward(dx, cache.embeddings)
