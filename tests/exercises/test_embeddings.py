"""Exercise embeddings: word + position + token-type embeddings, LayerNorm, dropout
(minisbert/model.py, `BertEmbeddings.forward`)."""

from __future__ import annotations

import numpy as np
import torch

from exercises.golden_io import RecordedDropout, attempt, check_outputs, keep_mask, load_golden
from minisbert import preset
from minisbert.model import BertEmbeddings

EXERCISE = "embeddings"


DROPOUT = 0.3  # the hidden dropout of the training-mode case


def module(inputs: dict) -> BertEmbeddings:
    """The tiny preset's embeddings, in float64, with the recorded weights (far from BERT's tiny
    init, so that every term shows)."""
    embeddings = BertEmbeddings(preset("tiny", hidden_dropout_prob=DROPOUT)).double()
    with torch.no_grad():
        for name, p in embeddings.named_parameters():
            p.copy_(torch.tensor(inputs[f"weight/{name}"]))
    return embeddings


def cases() -> dict[str, np.ndarray]:
    g = np.random.default_rng(2)
    ids = g.integers(1, 100, size=(3, 7))
    types = (np.arange(7)[None, :] >= np.array([[3], [5], [7]])).astype(np.int64)  # segment B after A
    weights = {
        f"weight/{name}": g.normal(1.0 if "LayerNorm.weight" in name else 0.0, 0.5, size=tuple(p.shape))
        for name, p in BertEmbeddings(preset("tiny")).named_parameters()
    }
    keep = keep_mask(g, (*ids.shape, preset("tiny").hidden_size), DROPOUT)  # (B, T, C)
    return {"input_ids": ids, "token_type_ids": types, "keep": keep} | weights


def run(inputs: dict) -> dict[str, torch.Tensor]:
    ids, types = torch.tensor(inputs["input_ids"]), torch.tensor(inputs["token_type_ids"])
    out = {"eval": module(inputs).eval()(ids, types)}
    training = module(inputs).train()
    training.dropout = RecordedDropout(inputs["keep"], DROPOUT)  # dropout on, with the recorded mask
    out["train"] = attempt(training, ids, types)
    return out


def test_embeddings_in_eval_mode():
    inputs, expected = load_golden(EXERCISE)
    check_outputs(run(inputs), expected, only=["eval"])


def test_dropout_comes_after_layer_norm_in_training():
    inputs, expected = load_golden(EXERCISE)
    check_outputs(run(inputs), expected, only=["train"])


def test_inputs_are_not_changed():
    inputs = cases()
    ids, types = torch.tensor(inputs["input_ids"]), torch.tensor(inputs["token_type_ids"])
    before = ids.clone(), types.clone()
    module(inputs)(ids, types)
    assert torch.equal(ids, before[0]) and torch.equal(types, before[1])
