"""Sentence embeddings in NumPy: encoder → pooling → optional normalisation, forward and backward
(mirrors minisbert/sentence_encoder.py). Tokenization is not here: pass token ids made by any
tokenizer (reference/tokenizer.py has one).

Shapes: B batch, T tokens, C hidden size, D = C × number of pooling modes.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .model import EncoderCache, encoder, encoder_backward, encoder_forward
from .pooling import l2_normalize, l2_normalize_backward, l2_normalize_forward, pool, pool_backward


def sentence_embeddings(
    params: dict,
    input_ids: np.ndarray,
    attention_mask: np.ndarray,
    config,
    modes=("mean",),
    normalize: bool = False,
    token_type_ids=None,
) -> np.ndarray:
    """(B, T) token ids → (B, D) sentence embeddings, float64."""
    hidden = encoder(params, input_ids, attention_mask, config, token_type_ids)  # (B, T, C)
    embeddings = pool(hidden, attention_mask, modes)  # (B, D)
    return l2_normalize(embeddings) if normalize else embeddings


class SentenceCache(NamedTuple):
    encoder: EncoderCache
    hidden: np.ndarray  # (B, T, C), the last hidden state
    attention_mask: np.ndarray  # (B, T)
    modes: tuple  # the pooling modes
    normalize: tuple | None  # the l2_normalize cache, or None without normalisation


def sentence_embeddings_forward(
    params, input_ids, attention_mask, config, modes=("mean",), normalize=False, token_type_ids=None
):
    """As `sentence_embeddings`, with the cache for `sentence_embeddings_backward`."""
    hidden, enc_cache = encoder_forward(
        params, input_ids, attention_mask, config, token_type_ids
    )  # (B, T, C)
    pooled = pool(hidden, attention_mask, modes)  # (B, D)
    norm_cache = None
    if normalize:
        pooled, norm_cache = l2_normalize_forward(pooled)
    return pooled, SentenceCache(enc_cache, hidden, attention_mask, modes, norm_cache)


def sentence_embeddings_backward(dembeddings, cache: SentenceCache) -> dict:
    """Gradients of every encoder weight from the gradient of the sentence embeddings (B, D)."""
    if cache.normalize is not None:
        dembeddings = l2_normalize_backward(dembeddings, cache.normalize)
    dhidden = pool_backward(dembeddings, cache.hidden, cache.attention_mask, cache.modes)  # (B, T, C)
    return encoder_backward(dhidden, cache.encoder)
