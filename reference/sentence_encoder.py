"""Sentence embeddings in NumPy: encoder → pooling → optional normalisation, forward and backward
(mirrors minisbert/sentence_encoder.py). Tokenization is not here: pass token ids made by any
tokenizer (reference/tokenizer.py has one).

Shapes: B batch, T tokens, C hidden size, D = C × number of pooling modes.
"""

from __future__ import annotations

import numpy as np

from .model import encoder, encoder_backward, encoder_forward
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
    return pooled, (enc_cache, hidden, attention_mask, modes, norm_cache)


def sentence_embeddings_backward(dembeddings, cache) -> dict:
    """Gradients of every encoder weight from the gradient of the sentence embeddings (B, D)."""
    enc_cache, hidden, attention_mask, modes, norm_cache = cache
    if norm_cache is not None:
        dembeddings = l2_normalize_backward(dembeddings, norm_cache)
    dhidden = pool_backward(dembeddings, hidden, attention_mask, modes)  # (B, T, C)
    return encoder_backward(dhidden, enc_cache)
