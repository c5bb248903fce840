"""The divergence locator (`minisbert check`): on a correct encoder it finds nothing; with a
mistake put into one layer (or into a function every layer uses) it names that layer and the
sub-step, on the real weights and real sentences."""

from __future__ import annotations

import copy
import math
from pathlib import Path

import pytest
import torch

from minisbert.course import divergence
from minisbert.course.divergence import load_trace, locate_divergence
from minisbert.model import activation

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def trace():
    return load_trace(ROOT)


@pytest.fixture
def fresh(encoder):
    return copy.deepcopy(encoder)


def test_a_correct_encoder_has_no_divergence(fresh, trace):
    assert locate_divergence(fresh, trace) is None


def forgets_the_mask(attn):
    def forward(x, additive_mask):
        q, k, v = (attn.split_heads(proj(x)) for proj in (attn.query, attn.key, attn.value))
        context, _ = divergence.attention(q, k, v, torch.zeros_like(additive_mask), attn.dropout)
        return attn.merge_heads(context)

    return forward


def drops_the_residual(add_norm):
    return lambda x, residual: add_norm.LayerNorm(add_norm.dense(x))


MISTAKES = {  # name → (how to put it into layer k, the step the locator must name)
    "relu-instead-of-gelu": (
        lambda layer: setattr(layer.intermediate, "act", activation("relu")),
        "feed-forward",
    ),
    "self-attention-forgets-the-mask": (
        lambda layer: setattr(layer.attention.self, "forward", forgets_the_mask(layer.attention.self)),
        "self-attention module",
    ),
    "no-residual-after-feed-forward": (
        lambda layer: setattr(layer.output, "forward", drops_the_residual(layer.output)),
        "feed-forward add & norm",
    ),
    "wrong-attention-output-weights": (
        lambda layer: layer.attention.output.dense.weight.data.mul_(1.1),
        "attention add & norm",
    ),
}


@pytest.mark.parametrize("k", [0, 3, 5])
@pytest.mark.parametrize("mistake", MISTAKES)
def test_a_mistake_in_layer_k_is_named_there(fresh, trace, mistake, k):
    put, step = MISTAKES[mistake]
    put(fresh.model.encoder.layer[k])
    found = locate_divergence(fresh, trace)
    assert found is not None and (found.layer, found.step) == (k, step), str(found)
    assert f"layer {k}, {step}" in str(found)


def test_a_mistake_every_layer_shares_is_named_at_layer_0(fresh, trace, monkeypatch):
    """Attention scaled by √C instead of √hs: wrong in every layer, so layer 0 is the first."""

    correct = divergence.attention

    def wrong_scale(q, k, v, additive_mask, dropout):
        # q kᵀ / √hs with q shrunk by √nh is q kᵀ / √(nh · hs) = q kᵀ / √C
        return correct(q / math.sqrt(q.size(1)), k, v, additive_mask, dropout)

    monkeypatch.setattr(divergence, "attention", wrong_scale)
    found = locate_divergence(fresh, trace)
    assert (found.layer, found.step) == (0, "attention probabilities"), str(found)


def test_a_mistake_in_the_embeddings_is_named_before_the_layers(fresh, trace):
    emb = fresh.model.embeddings
    emb.forward = lambda ids, types: emb.LayerNorm(
        emb.word_embeddings(ids) + emb.token_type_embeddings(types)
    )
    found = locate_divergence(fresh, trace)
    assert (found.layer, found.step) == (None, "embeddings") and "before the layers" in str(found)


def test_max_pooling_instead_of_mean_is_named_after_the_layers(fresh, trace):
    fresh.pooling = type(fresh.pooling)(("max",), fresh.pooling.dimension)
    found = locate_divergence(fresh, trace)
    assert found.step == "pooling" and "after the layers" in str(found)


def test_the_check_command(capsys):
    assert divergence.check_command(ROOT) == 0
    assert "no difference" in capsys.readouterr().out


def test_the_trace_is_what_the_solution_computes(encoder, trace):
    """The committed trace is the one a correct encoder records now (it never goes stale)."""
    fresh_trace = divergence.record_trace(copy.deepcopy(encoder))
    assert set(fresh_trace) == set(trace)
    for key, value in fresh_trace.items():
        assert value.shape == trace[key].shape, key
        assert float(abs(value - trace[key]).max()) <= divergence.TRACE_TOLERANCE / 10, key
