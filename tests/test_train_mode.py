"""Training mode: every one of BERT's dropouts acts where BERT puts it, and what it drops is what
the next step reads.

The mirror tests compare torch and NumPy in eval mode, where dropout is the identity, so they
cannot see a dropout that was removed, moved, or whose output is thrown away. Here the model runs
in training mode with dropout 0.3, hooks record what goes into and comes out of each module, and
each dropout is checked against BERT's placement (Devlin et al., appendix A.2; Vaswani et al.,
section 5.4):

    embeddings:       dropout(LayerNorm(word + position + type))      → the first layer's input
    attention:        softmax(q kᵀ/√hs + mask) → dropout → @ v         (the probabilities)
    each sub-layer:   LayerNorm(x + dropout(dense(h)))                 (attention output, feed-forward)
"""

from __future__ import annotations

from collections import defaultdict

import torch
from helpers import assert_close, random_batch, random_model

from minisbert import preset

CONFIG = preset("tiny", hidden_dropout_prob=0.3, attention_probs_dropout_prob=0.3)


def run_with_hooks(model, ids, mask, types):
    """Forward in training mode; returns {module name: [(inputs, output), ...]} for every module."""
    calls = defaultdict(list)
    handles = [
        module.register_forward_hook(
            lambda m, args, out, name=name: calls[name].append(
                ([a.detach().clone() for a in args if torch.is_tensor(a)], out.detach().clone())
            )
        )
        for name, module in model.named_modules()
        if name
    ]
    try:
        torch.manual_seed(0)
        output = model(ids, mask, types)
    finally:
        for h in handles:
            h.remove()
    return calls, output


def setup():
    model = random_model(CONFIG).train()
    ids, mask, types = random_batch(CONFIG, [7, 4, 2], pairs=True)
    calls, _ = run_with_hooks(model, ids, mask, types)
    return model, mask, calls


def test_every_dropout_runs_once_per_forward():
    model, _, calls = setup()
    dropouts = [n for n, m in model.named_modules() if isinstance(m, torch.nn.Dropout)]
    assert len(dropouts) == 1 + 3 * CONFIG.num_hidden_layers
    missing = [n for n in dropouts if len(calls[n]) != 1]
    assert not missing, f"these dropouts did not run exactly once: {missing}"


def test_dropout_changes_the_output_in_training_and_not_in_eval():
    model = random_model(CONFIG)
    ids, mask, types = random_batch(CONFIG, [7, 4, 2])
    torch.manual_seed(0)
    trained = model.train()(ids, mask, types)
    evaluated = model.eval()(ids, mask, types)
    assert not torch.allclose(trained, evaluated)
    torch.manual_seed(0)
    assert torch.equal(model.train()(ids, mask, types), trained)  # the seed fixes the masks


def test_the_embeddings_dropout_drops_the_normalised_sum_and_feeds_the_first_layer():
    _, _, calls = setup()
    ln_out = calls["embeddings.LayerNorm"][0][1]
    (drop_in,), drop_out = calls["embeddings.dropout"][0]
    assert_close(drop_in, ln_out, "float64")
    assert_close(calls["encoder.layer.0"][0][0][0], drop_out, "float64")


def test_attention_dropout_drops_the_probabilities_and_the_context_reads_them():
    _, mask, calls = setup()
    for i in range(CONFIG.num_hidden_layers):
        p = f"encoder.layer.{i}.attention.self."
        (probs,), dropped = calls[p + "dropout"][0]
        B, T = mask.shape
        assert probs.shape == (B, CONFIG.num_attention_heads, T, T), (
            "dropout must act on the (B, nh, T, T) probabilities"
        )
        assert_close(probs.sum(-1), torch.ones(probs.shape[:-1], dtype=probs.dtype), "float64")
        assert (probs.permute(0, 3, 1, 2)[mask == 0] == 0).all(), "padding keys must get exactly 0"
        v = calls[p + "value"][0][1].unflatten(-1, (CONFIG.num_attention_heads, -1))  # (B, T, nh, hs)
        # each head's context, written for the (B, T, nh, hs) layout: no heads to split or merge
        context = torch.einsum("bnts,bsnd->btnd", dropped, v).flatten(-2)  # (B, T, C)
        assert_close(calls[p[:-1]][0][1], context, "float64")


def test_each_sub_layer_drops_its_dense_output_before_the_residual_and_layer_norm():
    _, _, calls = setup()
    for i in range(CONFIG.num_hidden_layers):
        layer_input = calls[f"encoder.layer.{i}"][0][0][0]
        attention_output = calls[f"encoder.layer.{i}.attention"][0][1]
        for sub, residual in (("attention.output", layer_input), ("output", attention_output)):
            p = f"encoder.layer.{i}.{sub}."
            dense_out = calls[p + "dense"][0][1]
            (drop_in,), drop_out = calls[p + "dropout"][0]
            assert_close(drop_in, dense_out, "float64")
            (ln_in,), _ = calls[p + "LayerNorm"][0]
            assert_close(ln_in, residual + drop_out, "float64")
