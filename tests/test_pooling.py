"""Pooling: worked examples, mirror tests against NumPy, config reading, and invariance to padding."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from helpers import assert_close

from minisbert.pooling import POOLING_FUNCTIONS, PoolingConfig, l2_normalize, pool
from reference import pooling as ref

MODES = list(POOLING_FUNCTIONS)

# one sentence of two tokens, [1, 3] and [5, 7], then a padding token [100, -100]
HIDDEN = torch.tensor([[[1.0, 3.0], [5.0, 7.0], [100.0, -100.0]]], dtype=torch.float64)
MASK = torch.tensor([[1, 1, 0]])


@pytest.mark.parametrize(
    "mode, expected",
    [
        ("mean", [3.0, 5.0]),  # ([1, 3] + [5, 7]) / 2
        ("max", [5.0, 7.0]),  # per dimension: max(1, 5), max(3, 7); padding's 100 is ignored
        ("cls", [1.0, 3.0]),  # the first token
        ("mean_sqrt_len_tokens", [6.0 / 2**0.5, 10.0 / 2**0.5]),  # ([1, 3] + [5, 7]) / √2
    ],
)
def test_known_answers(mode, expected):
    """Worked by hand in the comments; padding never counts."""
    assert_close(POOLING_FUNCTIONS[mode](HIDDEN, MASK), [expected], "float64")
    assert_close(ref.POOLING_FUNCTIONS[mode](HIDDEN.numpy(), MASK.numpy()), [expected], "float64")


def test_l2_normalize_known_answer():
    """[3, 4] has length 5 → [0.6, 0.8]; the zero vector stays zero instead of NaN."""
    x = torch.tensor([[3.0, 4.0], [0.0, 0.0]], dtype=torch.float64)
    assert_close(l2_normalize(x), [[0.6, 0.8], [0.0, 0.0]], "float64")
    assert_close(ref.l2_normalize(x.numpy()), [[0.6, 0.8], [0.0, 0.0]], "float64")


@pytest.mark.parametrize(
    "modes", [(m,) for m in MODES] + [("cls", "mean"), ("max", "mean", "mean_sqrt_len_tokens")]
)
def test_mirror_random(modes):
    g = torch.Generator().manual_seed(0)
    hidden = torch.randn(4, 6, 5, generator=g, dtype=torch.float64)
    mask = (torch.arange(6)[None] < torch.tensor([6, 3, 1, 4])[:, None]).long()
    out = pool(hidden, mask, modes)
    assert out.shape == (4, 5 * len(modes))
    assert_close(out, ref.pool(hidden.numpy(), mask.numpy(), modes), "float64")
    assert_close(l2_normalize(out), ref.l2_normalize(out.numpy()), "float64")


@pytest.mark.parametrize("mode", MODES)
def test_pooling_does_not_modify_its_input(mode):
    hidden, mask = HIDDEN.clone(), MASK.clone()
    POOLING_FUNCTIONS[mode](hidden, mask)
    assert torch.equal(hidden, HIDDEN) and torch.equal(mask, MASK)


@pytest.mark.parametrize("mode", MODES)
def test_every_mode_ignores_padding_even_when_padding_is_larger(mode):
    """Changing what sits in padded positions never changes the result."""
    other = HIDDEN.clone()
    other[0, 2] = torch.tensor([1e6, 1e6])
    assert torch.equal(POOLING_FUNCTIONS[mode](HIDDEN, MASK), POOLING_FUNCTIONS[mode](other, MASK))


@pytest.mark.parametrize(
    "config, modes",
    [
        ({"word_embedding_dimension": 384, "pooling_mode_mean_tokens": True}, ("mean",)),
        (
            {
                "word_embedding_dimension": 384,
                "pooling_mode_cls_token": True,
                "pooling_mode_mean_tokens": False,
            },
            ("cls",),
        ),
        ({"pooling_mode_max_tokens": True, "pooling_mode_cls_token": True}, ("cls", "max")),  # fixed order
        ({"pooling_mode_mean_sqrt_len_tokens": True}, ("mean_sqrt_len_tokens",)),
        ({"word_embedding_dimension": 384}, ("mean",)),  # no flag set: sentence-transformers' default
        ({"embedding_dimension": 384, "pooling_mode": "max"}, ("max",)),
        ({"embedding_dimension": 384, "pooling_mode": ["mean", "cls"]}, ("mean", "cls")),
    ],
    ids=["legacy-mean", "legacy-cls", "legacy-two", "legacy-sqrt", "legacy-none", "new-max", "new-list"],
)
def test_config_reads_both_forms(tmp_path, config, modes):
    (tmp_path / "config.json").write_text(json.dumps(config))
    assert PoolingConfig.from_json(tmp_path).modes == modes


@pytest.mark.parametrize(
    "config",
    [{"pooling_mode": "weightedmean"}, {"pooling_mode_lasttoken": True}, {"pooling_mode": "avg"}],
    ids=["weightedmean", "lasttoken", "typo"],
)
def test_unsupported_modes_are_named(config):
    with pytest.raises(ValueError, match="is not supported"):
        PoolingConfig.from_dict(config)


def test_config_round_trip():
    config = PoolingConfig(modes=("cls", "max"), dimension=8)
    assert PoolingConfig.from_dict(config.to_dict()) == config
    assert config.output_dimension == 16


def test_invariance_on_real_encoder_for_every_mode(encoder):
    """A sentence alone and batched with a much longer one gives the same vector, for every mode."""
    short = "A man is playing a guitar."
    long = " ".join(["The children are playing football in the park on a sunny afternoon."] * 12)
    batch = encoder.tokenizer([short, long])
    alone = encoder.tokenizer([short])
    with torch.inference_mode():
        hidden_batch = encoder.model(**batch)
        hidden_alone = encoder.model(**alone)
    assert batch["input_ids"].shape[1] > 5 * alone["input_ids"].shape[1]
    for mode in MODES:
        in_batch = POOLING_FUNCTIONS[mode](hidden_batch, batch["attention_mask"])[0]
        by_itself = POOLING_FUNCTIONS[mode](hidden_alone, alone["attention_mask"])[0]
        assert_close(in_batch, by_itself, "fp32_model")


def test_shuffling_a_batch_permutes_the_output(encoder):
    sentences = ["One.", "Two sentences here.", "And a third, longer one with more words.", ""]
    out = encoder.encode(sentences)
    perm = np.array([2, 0, 3, 1])
    shuffled = encoder.encode([sentences[i] for i in perm])
    assert_close(shuffled, out[perm], "fp32_model")
