"""Mirror tests: each piece of the torch encoder against the NumPy reference, in float64.

The same random weights and inputs go through `minisbert.model` and `reference.model`; one
`assert_close(..., "float64")` compares them. Padding patterns and activations are parametrized.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from helpers import assert_close, params_of, random_batch, random_model

from minisbert import BertConfig, BertModel, preset
from minisbert.model import BertSelfAttention, activation, additive_attention_mask
from reference import model as ref

CONFIGS = {
    "tiny": preset("tiny"),
    "one-head": preset("tiny", num_attention_heads=1, num_hidden_layers=1),
    "eight-heads-3-layers": preset("tiny", num_attention_heads=8, num_hidden_layers=3, intermediate_size=48),
}
PADDINGS = {"no-padding": [7, 7, 7], "ragged": [7, 3, 1], "single": [5]}
ACTIVATIONS = ["gelu", "gelu_new", "gelu_pytorch_tanh", "relu"]


def setup(config_name="tiny", padding="ragged", act="gelu", pairs=True):
    config = BertConfig(**{**CONFIGS[config_name].__dict__, "hidden_act": act})
    model = random_model(config)
    ids, mask, types = random_batch(config, PADDINGS[padding], pairs=pairs)
    return config, model, params_of(model), ids, mask, types


@pytest.mark.parametrize("padding", PADDINGS)
def test_embeddings(padding):
    config, model, params, ids, mask, types = setup(padding=padding)
    out = model.embeddings(ids, types)
    expected = ref.embeddings(params, ids.numpy(), types.numpy(), config)
    assert_close(out, expected, "float64")


@pytest.mark.parametrize("config_name", CONFIGS)
@pytest.mark.parametrize("padding", PADDINGS)
def test_self_attention_with_padding(config_name, padding):
    config, model, params, ids, mask, types = setup(config_name, padding)
    x = torch.randn(*ids.shape, config.hidden_size, dtype=torch.float64)
    attn = model.encoder.layer[0].attention.self
    out = attn(x, additive_attention_mask(mask, x.dtype))
    expected = ref.self_attention(
        params,
        "encoder.layer.0.attention.self.",
        x.numpy(),
        ref.additive_attention_mask(mask.numpy()),
        config,
    )
    assert_close(out, expected, "float64")


@pytest.mark.parametrize("act", ACTIVATIONS)
def test_intermediate(act):
    config, model, params, ids, mask, types = setup(act=act)
    x = torch.randn(*ids.shape, config.hidden_size, dtype=torch.float64)
    layer = model.encoder.layer[0]
    out = layer.output(layer.intermediate(x), residual=x)
    h = ref.intermediate(params, "encoder.layer.0.", x.numpy(), config)
    expected = ref.add_norm(params, "encoder.layer.0.output.", h, x.numpy(), config)
    assert_close(out, expected, "float64")


@pytest.mark.parametrize("act", ACTIVATIONS)
@pytest.mark.parametrize("padding", PADDINGS)
def test_layer(act, padding):
    config, model, params, ids, mask, types = setup(padding=padding, act=act)
    x = torch.randn(*ids.shape, config.hidden_size, dtype=torch.float64)
    out = model.encoder.layer[1](x, additive_attention_mask(mask, x.dtype))
    expected = ref.layer(params, 1, x.numpy(), ref.additive_attention_mask(mask.numpy()), config)
    assert_close(out, expected, "float64")


@pytest.mark.parametrize("act", ACTIVATIONS)
@pytest.mark.parametrize("padding", PADDINGS)
@pytest.mark.parametrize("config_name", CONFIGS)
def test_whole_encoder(config_name, padding, act):
    config, model, params, ids, mask, types = setup(config_name, padding, act)
    out = model(ids, mask, types)
    expected = ref.encoder(params, ids.numpy(), mask.numpy(), config, types.numpy())
    assert_close(out, expected, "float64")


def test_float32_model_against_float64_reference():
    config, model, params, ids, mask, types = setup()
    out = model.float()(ids, mask, types)
    assert out.dtype == torch.float32
    expected = ref.encoder(params, ids.numpy(), mask.numpy(), config, types.numpy())
    assert_close(out, expected, "fp32_model")


@pytest.mark.parametrize(
    "name, x, expected",
    [
        ("gelu", 1.0, 0.5 * (1 + math.erf(1 / math.sqrt(2)))),  # Φ(1) = 0.841345
        ("gelu", -3.0, -3.0 * 0.5 * (1 + math.erf(-3 / math.sqrt(2)))),  # ≈ -0.004050
        ("gelu_new", 1.0, 0.5 * (1 + math.tanh(math.sqrt(2 / math.pi) * 1.044715))),  # 0.841192
        ("relu", -2.0, 0.0),
        ("relu", 2.5, 2.5),
    ],
)
def test_activation_known_values(name, x, expected):
    """Worked values: gelu(1) = Φ(1) ≈ 0.8413, its tanh form ≈ 0.8412, relu clips at 0."""
    t = torch.tensor([x], dtype=torch.float64)
    assert_close(activation(name)(t), [expected], "float64")
    fn = ref.ACTIVATIONS[name]
    assert_close(fn(np.array([x])), [expected], "float64")


def test_additive_mask_known_answer():
    """[1, 1, 0] → [0, 0, most negative float], shaped (B, 1, 1, T) to broadcast over heads and queries."""
    mask = torch.tensor([[1, 1, 0]])
    out = additive_attention_mask(mask, torch.float32)
    assert out.shape == (1, 1, 1, 3)
    assert out.flatten().tolist() == [0.0, 0.0, torch.finfo(torch.float32).min]


def test_padding_gets_no_attention():
    """After the softmax, no query puts any weight on a padding key: exactly 0."""
    config, model, params, ids, mask, types = setup(padding="ragged")
    scores = torch.randn(3, config.num_attention_heads, 7, 7, dtype=torch.float64)
    probs = torch.softmax(scores + additive_attention_mask(mask, scores.dtype), dim=-1)
    assert (probs[2, :, :, 1:] == 0).all()
    assert_close(probs.sum(-1), torch.ones(3, config.num_attention_heads, 7, dtype=torch.float64), "float64")


def test_attention_maps_of_the_whole_model():
    """`attention_maps` returns every layer's probabilities (L, B, nh, T, T): rows sum to 1,
    padding keys get exactly 0, they equal the probabilities of a hand-run forward, and nothing
    is kept afterwards (the model does not hold on to memory)."""
    config, model, params, ids, mask, types = setup(padding="ragged")
    maps = model.attention_maps(ids, mask, types)
    L, nh = config.num_hidden_layers, config.num_attention_heads
    assert maps.shape == (L, 3, nh, 7, 7)
    assert (maps[:, 2, :, :, 1:] == 0).all()  # sentence 2 has one real token
    assert_close(maps.sum(-1), torch.ones(L, 3, nh, 7, dtype=torch.float64), "float64")
    assert all(layer.attention.self.probs is None for layer in model.encoder.layer)
    with torch.no_grad():  # layer 0 by hand: the same projections, scores and softmax
        attn = model.encoder.layer[0].attention.self
        x = model.embeddings(ids, types)
        q, k = attn.split_heads(attn.query(x)), attn.split_heads(attn.key(x))
        scores = q @ k.transpose(-2, -1) / math.sqrt(config.head_size)
        expected = torch.softmax(scores + additive_attention_mask(mask, x.dtype), dim=-1)
    assert_close(maps[0], expected, "float64")


def test_split_and_merge_heads_are_inverses():
    """split_heads puts features h·hs … (h+1)·hs − 1 into head h; merge_heads undoes it."""
    attn = BertSelfAttention(preset("tiny"))  # C = 32, nh = 4, hs = 8
    x = torch.arange(2 * 3 * 32, dtype=torch.float64).reshape(2, 3, 32)
    heads = attn.split_heads(x)
    assert heads.shape == (2, 4, 3, 8)
    assert torch.equal(heads[1, 2, 0], x[1, 0, 16:24])
    assert torch.equal(attn.merge_heads(heads), x)


def test_model_does_not_change_its_inputs():
    config, model, params, ids, mask, types = setup()
    before = [t.clone() for t in (ids, mask, types)]
    model(ids, mask, types)
    assert all(torch.equal(a, b) for a, b in zip(before, (ids, mask, types), strict=True))


@pytest.mark.parametrize(
    "ids, message",
    [
        (torch.zeros(3, dtype=torch.long), r"must be \(B, T\)"),
        (torch.zeros(1, 65, dtype=torch.long), "longer than max_position_embeddings"),
        (torch.full((1, 4), 100), r"token ids must lie in \[0, 100\)"),
    ],
    ids=["1d", "too-long", "id-out-of-vocab"],
)
def test_bad_inputs_are_named(ids, message):
    model = BertModel(preset("tiny"))
    with pytest.raises(ValueError, match=message):
        model(ids)


@pytest.mark.parametrize(
    "overrides, message",
    [
        (dict(hidden_size=30, num_attention_heads=4), "multiple of num_attention_heads"),
        (dict(hidden_act="swish"), "hidden_act 'swish' is not supported"),
    ],
)
def test_bad_configs_are_named(overrides, message):
    with pytest.raises(ValueError, match=message):
        preset("tiny", **overrides)


def test_config_reads_hugging_face_json_ignoring_unknown_keys(tmp_path):
    (tmp_path / "config.json").write_text(
        '{"model_type": "bert", "hidden_size": 64, "num_attention_heads": 2, "intermediate_size": 128,'
        ' "num_hidden_layers": 3, "layer_norm_eps": 1e-7, "gradient_checkpointing": false,'
        ' "architectures": ["BertForMaskedLM"], "transformers_version": "4.8.2"}'
    )
    config = BertConfig.from_json(tmp_path)
    assert (config.hidden_size, config.num_attention_heads, config.head_size) == (64, 2, 32)
    assert config.layer_norm_eps == 1e-7
    assert config.vocab_size == 30522  # BERT-base default for a key the file lacks


def test_config_rejects_other_architectures(tmp_path):
    (tmp_path / "config.json").write_text('{"model_type": "gpt2"}')
    with pytest.raises(ValueError, match="'gpt2' model"):
        BertConfig.from_json(tmp_path)
    with pytest.raises(FileNotFoundError, match="no BERT config"):
        BertConfig.from_json(tmp_path / "elsewhere")


def test_unknown_preset():
    with pytest.raises(KeyError, match="unknown preset 'huge'"):
        preset("huge")
