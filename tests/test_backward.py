"""The hand-derived backward passes of reference/ against torch autograd (float64, same weights and
inputs) and against central finite differences, piece by piece and for the whole encoder.

Every check has the same shape: pick a random upstream gradient G, call the loss ⟨out, G⟩ (so that
d loss / d out = G), and compare the gradients of every input and weight.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from helpers import assert_close, numerical_gradient, params_of, random_batch, random_model

from minisbert import BertConfig, preset
from minisbert.model import additive_attention_mask, attention
from minisbert.pooling import POOLING_FUNCTIONS, l2_normalize
from reference import model as ref
from reference import pooling as ref_pooling

ACTIVATIONS = ["gelu", "gelu_new", "relu"]
PADDINGS = {"no-padding": [5, 5], "ragged": [5, 2], "single": [4]}
CONFIGS = {
    "tiny": dict(),
    "one-head-one-layer": dict(num_attention_heads=1, num_hidden_layers=1),
    "eight-heads": dict(num_attention_heads=8, intermediate_size=48),
}


def tensor(x):
    return torch.tensor(x, dtype=torch.float64, requires_grad=True)


def rng_arrays(seed, *shapes):
    rng = np.random.default_rng(seed)
    return [rng.normal(size=s) for s in shapes]


def setup(config_name="tiny", padding="ragged", act="gelu"):
    config = preset("tiny", hidden_act=act, **CONFIGS[config_name])
    model = random_model(config)
    ids, mask, types = random_batch(config, PADDINGS[padding], pairs=True)
    return config, model, params_of(model), ids, mask, types


def torch_param_grads(module, prefix: str = "") -> dict[str, np.ndarray]:
    return {prefix + n: p.grad.numpy() for n, p in module.named_parameters() if p.grad is not None}


def check_param_grads(ours: dict, theirs: dict):
    assert set(ours) == set(theirs), set(ours) ^ set(theirs)
    for name in theirs:
        assert_close(ours[name], theirs[name], "float64")


# -- single operations ----------------------------------------------------------------------------


def test_linear():
    x, w, b, G = rng_arrays(0, (2, 3, 4), (5, 4), (5,), (2, 3, 5))
    tx, tw, tb = tensor(x), tensor(w), tensor(b)
    (F.linear(tx, tw, tb) * torch.tensor(G)).sum().backward()
    _, cache = ref.linear_forward(x, w, b)
    for ours, theirs in zip(ref.linear_backward(G, cache), (tx, tw, tb), strict=True):
        assert_close(ours, theirs.grad, "float64")


def test_layer_norm():
    x, w, b, G = rng_arrays(1, (2, 3, 6), (6,), (6,), (2, 3, 6))
    tx, tw, tb = tensor(x), tensor(w), tensor(b)
    (F.layer_norm(tx, (6,), tw, tb, eps=1e-5) * torch.tensor(G)).sum().backward()
    _, cache = ref.layer_norm_forward(x, w, b, 1e-5)
    for ours, theirs in zip(ref.layer_norm_backward(G, cache), (tx, tw, tb), strict=True):
        assert_close(ours, theirs.grad, "float64")


@pytest.mark.parametrize("name", ["gelu", "gelu_new", "relu"])
def test_activations(name):
    x, G = rng_arrays(2, (50,), (50,))
    tx = tensor(x)
    torch_fn = {"gelu": F.gelu, "gelu_new": lambda t: F.gelu(t, approximate="tanh"), "relu": F.relu}[name]
    (torch_fn(tx) * torch.tensor(G)).sum().backward()
    assert_close(ref.ACTIVATION_BACKWARDS[name](G, x), tx.grad, "float64")


def test_softmax_and_dropout():
    s, G = rng_arrays(3, (2, 3, 5), (2, 3, 5))
    ts = tensor(s)
    (torch.softmax(ts, -1) * torch.tensor(G)).sum().backward()
    assert_close(ref.softmax_backward(G, ref.softmax(s)), ts.grad, "float64")
    keep = (np.random.default_rng(4).random((2, 3, 5)) > 0.3).astype(np.float64)
    out, cache = ref.dropout_forward(s, keep, 0.3)
    assert_close(out, s * keep / 0.7, "float64")
    assert_close(ref.dropout_backward(G, cache), G * keep / 0.7, "float64")


@pytest.mark.parametrize("padding", PADDINGS)
def test_scaled_dot_product_attention(padding):
    """reference.model.attention_forward/backward against minisbert.model.attention and autograd:
    the same context and probabilities, and the gradients of q, k and v."""
    lengths = PADDINGS[padding]
    B, nh, T, hs = len(lengths), 3, max(lengths), 4
    q, k, v, G = rng_arrays(11, *[(B, nh, T, hs)] * 4)
    mask = (np.arange(T)[None, :] < np.array(lengths)[:, None]).astype(np.int64)  # (B, T)
    tq, tk, tv = tensor(q), tensor(k), tensor(v)
    additive = additive_attention_mask(torch.tensor(mask), torch.float64)
    t_context, t_probs = attention(tq, tk, tv, additive, torch.nn.Dropout(0.0))
    (t_context * torch.tensor(G)).sum().backward()
    context, cache = ref.attention_forward(q, k, v, ref.additive_attention_mask(mask))
    assert_close(context, t_context, "float64")
    assert_close(cache.probs, t_probs, "float64")
    assert_close(ref.attention(q, k, v, ref.additive_attention_mask(mask))[1], t_probs, "float64")
    for ours, theirs in zip(ref.attention_backward(G, cache), (tq, tk, tv), strict=True):
        assert_close(ours, theirs.grad, "float64")


def test_attention_backward_by_finite_differences():
    q, k, v, G = rng_arrays(12, *[(2, 2, 3, 4)] * 4)
    mask = ref.additive_attention_mask(np.array([[1, 1, 1], [1, 1, 0]]))
    dq, dk, dv = ref.attention_backward(G, ref.attention_forward(q, k, v, mask)[1])
    for x, dx in ((q, dq), (k, dk), (v, dv)):
        numeric = numerical_gradient(lambda: float((ref.attention_forward(q, k, v, mask)[0] * G).sum()), x)
        assert_close(dx, numeric, "finite_difference")


# -- blocks, against the torch modules ----------------------------------------------------------


@pytest.mark.parametrize("config_name", CONFIGS)
@pytest.mark.parametrize("padding", PADDINGS)
def test_self_attention_with_padding(config_name, padding):
    config, model, params, ids, mask, types = setup(config_name, padding)
    x, G = rng_arrays(5, (*ids.shape, config.hidden_size), (*ids.shape, config.hidden_size))
    attn, tx = model.encoder.layer[0].attention.self, tensor(x)
    (attn(tx, additive_attention_mask(mask, tx.dtype)) * torch.tensor(G)).sum().backward()
    prefix = "encoder.layer.0.attention.self."
    _, cache = ref.self_attention_forward(
        params, prefix, x, ref.additive_attention_mask(mask.numpy()), config
    )
    dx, grads = ref.self_attention_backward(G, cache)
    assert_close(dx, tx.grad, "float64")
    check_param_grads(grads, torch_param_grads(attn, prefix))


@pytest.mark.parametrize("act", ACTIVATIONS)
def test_intermediate_and_add_norm(act):
    config, model, params, ids, mask, types = setup(act=act)
    x, G = rng_arrays(6, (*ids.shape, config.hidden_size), (*ids.shape, config.hidden_size))
    layer, tx = model.encoder.layer[0], tensor(x)
    (layer.output(layer.intermediate(tx), residual=tx) * torch.tensor(G)).sum().backward()
    h, ff_cache = ref.intermediate_forward(params, "encoder.layer.0.", x, config)
    _, an_cache = ref.add_norm_forward(params, "encoder.layer.0.output.", h, x, config)
    dh, dx_residual, grads = ref.add_norm_backward(G, an_cache)
    dx, g = ref.intermediate_backward(dh, ff_cache)
    assert_close(dx + dx_residual, tx.grad, "float64")
    expected = torch_param_grads(layer.intermediate, "encoder.layer.0.intermediate.")
    expected |= torch_param_grads(layer.output, "encoder.layer.0.output.")
    check_param_grads(grads | g, expected)


@pytest.mark.parametrize("act", ACTIVATIONS)
@pytest.mark.parametrize("padding", PADDINGS)
def test_layer(act, padding):
    config, model, params, ids, mask, types = setup(padding=padding, act=act)
    x, G = rng_arrays(7, (*ids.shape, config.hidden_size), (*ids.shape, config.hidden_size))
    tx = tensor(x)
    (model.encoder.layer[1](tx, additive_attention_mask(mask, tx.dtype)) * torch.tensor(G)).sum().backward()
    _, cache = ref.layer_forward(params, 1, x, ref.additive_attention_mask(mask.numpy()), config)
    dx, grads = ref.layer_backward(G, cache)
    assert_close(dx, tx.grad, "float64")
    check_param_grads(grads, torch_param_grads(model.encoder.layer[1], "encoder.layer.1."))


@pytest.mark.parametrize("act", ACTIVATIONS)
@pytest.mark.parametrize("padding", PADDINGS)
@pytest.mark.parametrize("config_name", CONFIGS)
def test_whole_encoder(config_name, padding, act):
    """Every weight, embeddings included (the word table's rows scattered, [PAD]'s row zero)."""
    config, model, params, ids, mask, types = setup(config_name, padding, act)
    (G,) = rng_arrays(8, (*ids.shape, config.hidden_size))
    (model(ids, mask, types) * torch.tensor(G)).sum().backward()
    _, cache = ref.encoder_forward(params, ids.numpy(), mask.numpy(), config, types.numpy())
    expected = {k: v for k, v in torch_param_grads(model).items() if not k.startswith("pooler.")}
    check_param_grads(ref.encoder_backward(G, cache), expected)


@pytest.mark.parametrize("mode", list(POOLING_FUNCTIONS))
def test_pooling(mode):
    config, model, params, ids, mask, types = setup(padding="ragged")
    h, G = rng_arrays(9, (2, 5, 6), (2, 6))
    th = tensor(h)
    (POOLING_FUNCTIONS[mode](th, mask) * torch.tensor(G)).sum().backward()
    dh = ref_pooling.POOLING_BACKWARDS[mode](G, h, mask.numpy())
    assert_close(dh, th.grad, "float64")
    assert (dh[1, 2:] == 0).all()  # padding positions get nothing


def test_max_pooling_routes_to_the_arg_max_only():
    """h = [[1, 9], [5, 2]] (two tokens): max is [5, 9] from tokens 1 and 0; dout [10, 20] goes
    to h[1, 0] and h[0, 1] only."""
    h = np.array([[[1.0, 9.0], [5.0, 2.0]]])
    dh = ref_pooling.max_pooling_backward(np.array([[10.0, 20.0]]), h, np.array([[1, 1]]))
    assert dh.tolist() == [[[0.0, 20.0], [10.0, 0.0]]]


def test_l2_normalize():
    x, G = rng_arrays(10, (3, 4), (3, 4))
    tx = tensor(x)
    (l2_normalize(tx) * torch.tensor(G)).sum().backward()
    _, cache = ref_pooling.l2_normalize_forward(x)
    assert_close(ref_pooling.l2_normalize_backward(G, cache), tx.grad, "float64")


# -- finite differences -------------------------------------------------------------------------


def finite_difference_check(forward, backward_grads: dict, arrays: dict, G, samples: int = 6, seed: int = 0):
    """Compare each gradient with central differences of ⟨forward(), G⟩ at a few random entries."""
    rng = np.random.default_rng(seed)
    for name, array in arrays.items():
        for _ in range(samples):
            i = tuple(rng.integers(0, n) for n in array.shape)
            old = array[i]
            array[i] = old + 1e-6
            up = (forward() * G).sum()
            array[i] = old - 1e-6
            down = (forward() * G).sum()
            array[i] = old
            assert_close(backward_grads[name][i], (up - down) / 2e-6, "finite_difference")


@pytest.mark.parametrize("act", ACTIVATIONS)
def test_encoder_finite_differences(act):
    config = BertConfig(**{**preset("tiny").__dict__, "hidden_size": 8, "num_attention_heads": 2,
                           "intermediate_size": 12, "hidden_act": act})  # fmt: skip
    model = random_model(config)
    params = params_of(model)
    ids, mask, types = (t.numpy() for t in random_batch(config, [4, 2], pairs=True))
    (G,) = rng_arrays(11, (2, 4, 8))
    _, cache = ref.encoder_forward(params, ids, mask, config, types)
    grads = ref.encoder_backward(G, cache)
    checked = {k: params[k] for k in params if "layer.1." in k or "LayerNorm" in k or "token_type" in k}
    finite_difference_check(lambda: ref.encoder(params, ids, mask, config, types), grads, checked, G)


@pytest.mark.parametrize("mode", list(POOLING_FUNCTIONS))
def test_pooling_finite_differences(mode):
    h, G = rng_arrays(12, (2, 4, 3), (2, 3))
    mask = np.array([[1, 1, 1, 1], [1, 1, 0, 0]])
    dh = ref_pooling.POOLING_BACKWARDS[mode](G, h, mask)
    numeric = numerical_gradient(lambda: (ref_pooling.POOLING_FUNCTIONS[mode](h, mask) * G).sum(), h)
    assert_close(dh, numeric, "finite_difference")


def test_a_wrong_gradient_is_caught():
    """Forget that the mean and the variance depend on x (LayerNorm's backward taken as the one of
    a plain scaling, dx = r · dy · w): the finite-difference check fails."""
    x, w, b, G = rng_arrays(13, (2, 5), (5,), (5,), (2, 5))
    _, cache = ref.layer_norm_forward(x, w, b, 1e-5)
    wrong = cache.rstd * G * cache.weight  # (2, 5)
    numeric = numerical_gradient(lambda: (ref.layer_norm(x, w, b, 1e-5) * G).sum(), x)
    assert_close(ref.layer_norm_backward(G, cache)[0], numeric, "finite_difference")
    with pytest.raises(AssertionError, match="not close"):
        assert_close(wrong, numeric, "finite_difference")


# Each case returns (forward(inputs), backward(inputs) → input gradients, inputs, G); G is the
# upstream gradient, so the loss whose derivative is checked is ⟨forward(inputs), G⟩.


def linear_case():
    x, w, b, G = rng_arrays(14, (2, 3, 4), (5, 4), (5,), (2, 3, 5))

    def backward(a):
        return dict(
            zip("xwb", ref.linear_backward(G, ref.linear_forward(a["x"], a["w"], a["b"])[1]), strict=True)
        )

    return lambda a: ref.linear(a["x"], a["w"], a["b"]), backward, {"x": x, "w": w, "b": b}, G


def layer_norm_case():
    x, w, b, G = rng_arrays(15, (2, 3, 6), (6,), (6,), (2, 3, 6))

    def backward(a):
        cache = ref.layer_norm_forward(a["x"], a["w"], a["b"], 1e-5)[1]
        return dict(zip("xwb", ref.layer_norm_backward(G, cache), strict=True))

    return lambda a: ref.layer_norm(a["x"], a["w"], a["b"], 1e-5), backward, {"x": x, "w": w, "b": b}, G


def activation_case(name):
    x, G = rng_arrays(16, (3, 7), (3, 7))
    return (
        lambda a: ref.ACTIVATIONS[name](a["x"]),
        lambda a: {"x": ref.ACTIVATION_BACKWARDS[name](G, a["x"])},
        {"x": x},
        G,
    )


def softmax_case():
    s, G = rng_arrays(17, (2, 5), (2, 5))
    return (
        lambda a: ref.softmax(a["s"]),
        lambda a: {"s": ref.softmax_backward(G, ref.softmax(a["s"]))},
        {"s": s},
        G,
    )


def dropout_case():
    s, G = rng_arrays(18, (2, 5), (2, 5))
    keep = (np.random.default_rng(18).random((2, 5)) > 0.4).astype(np.float64)
    return (
        lambda a: ref.dropout_forward(a["s"], keep, 0.4)[0],
        lambda a: {"s": ref.dropout_backward(G, ref.dropout_forward(a["s"], keep, 0.4)[1])},
        {"s": s},
        G,
    )


def l2_normalize_case():
    x, G = rng_arrays(19, (3, 4), (3, 4))
    return (
        lambda a: ref_pooling.l2_normalize(a["x"]),
        lambda a: {"x": ref_pooling.l2_normalize_backward(G, ref_pooling.l2_normalize_forward(a["x"])[1])},
        {"x": x},
        G,
    )


def self_attention_case():
    config, model, params, ids, mask, types = setup("tiny", "ragged")
    x, G = rng_arrays(20, (*ids.shape, config.hidden_size), (*ids.shape, config.hidden_size))
    m, prefix = ref.additive_attention_mask(mask.numpy()), "encoder.layer.0.attention.self."

    def backward(a):
        cache = ref.self_attention_forward(params, prefix, a["x"], m, config)[1]
        return {"x": ref.self_attention_backward(G, cache)[0]}

    return lambda a: ref.self_attention(params, prefix, a["x"], m, config), backward, {"x": x}, G


SINGLE_OPS = {
    "linear": linear_case,
    "layer_norm": layer_norm_case,
    **{name: (lambda name=name: activation_case(name)) for name in ACTIVATIONS},
    "softmax": softmax_case,
    "dropout": dropout_case,
    "l2_normalize": l2_normalize_case,
    "self_attention": self_attention_case,
}


@pytest.mark.parametrize("op", SINGLE_OPS)
def test_single_op_finite_differences(op):
    """Each backward against central differences of ⟨forward, G⟩, at every input element."""
    forward, backward, inputs, G = SINGLE_OPS[op]()
    grads = backward(inputs)
    for name, array in inputs.items():
        numeric = numerical_gradient(lambda: (forward(inputs) * G).sum(), array)
        assert_close(grads[name], numeric, "finite_difference")
