"""Sentence embeddings in NumPy: encoder → pooling → optional normalisation (mirrors
minisbert/sentence_encoder.py). Tokenization is not here: pass token ids made by any tokenizer.

Shapes: B batch, T tokens, C hidden size, D = C × number of pooling modes.
"""

from __future__ import annotations

import numpy as np

from .model import encoder
from .pooling import l2_normalize, pool


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
