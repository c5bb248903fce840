"""Properties of `SentenceEncoder.encode` on generated text (tests/generated_text.py).

Whatever the text, a sentence's vector must not depend on the company it is encoded in: not on
the batch size (which decides how much padding it gets), nor on the order of the list (which
decides its batch). Attention masks out the padding, so the vectors may differ only by float32
rounding: the `fp32_model` tolerance. And every vector is finite, of the model's dimension, and of
unit length when the model normalises.

The encoder is a tiny random BERT with the real vocabulary and room for 512 tokens: padding and
batching work the same at any size, and a tiny model runs the 10,000 inputs of `make fuzz` in
minutes. (tests/test_sentence_encoder.py checks the real all-MiniLM-L6-v2 on the tricky texts.)
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from fuzzing import fuzz
from generated_text import sentences
from helpers import assert_close
from hypothesis import given
from hypothesis import strategies as st

from minisbert import SentenceEncoder, WordPieceTokenizer
from minisbert.config import preset
from minisbert.model import BertModel


@pytest.fixture(scope="module")
def tiny(model_folder) -> SentenceEncoder:
    torch.manual_seed(0)
    tokenizer = WordPieceTokenizer.from_pretrained(model_folder)
    config = preset("tiny", vocab_size=tokenizer.vocab_size, max_position_embeddings=512)
    return SentenceEncoder(BertModel(config), tokenizer, normalize=True, max_seq_length=512)


@fuzz(ci_examples=40)
@given(
    texts=st.lists(sentences(), min_size=1, max_size=8),
    batch_size=st.integers(1, 6),
    order=st.randoms(use_true_random=False),
)
def test_a_vector_does_not_depend_on_its_batch_or_its_place(tiny, texts, batch_size, order):
    together = tiny.encode(texts, batch_size=len(texts))  # (N, D), one batch
    assert together.shape == (len(texts), tiny.dimension)
    assert np.isfinite(together).all()
    assert_close(np.linalg.norm(together, axis=1), np.ones(len(texts)), "fp32_model")

    assert_close(tiny.encode(texts, batch_size=batch_size), together, "fp32_model")

    permutation = list(range(len(texts)))
    order.shuffle(permutation)
    shuffled = tiny.encode([texts[i] for i in permutation], batch_size=batch_size)  # (N, D)
    assert_close(shuffled, together[permutation], "fp32_model")
