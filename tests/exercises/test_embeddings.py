"""Exercise embeddings: word + position + token-type embeddings, LayerNorm, dropout
(minisbert/model.py, `BertEmbeddings.forward`)."""

from __future__ import annotations

import numpy as np
import torch

from exercises.golden_io import check_outputs, load_golden
from minisbert import preset
from minisbert.model import BertEmbeddings

EXERCISE = "embeddings"


def module(dropout: float = 0.0) -> BertEmbeddings:
    torch.manual_seed(0)
    embeddings = BertEmbeddings(preset("tiny", hidden_dropout_prob=dropout)).double()
    with torch.no_grad():  # far from BERT's tiny init, so that every term shows
        for name, p in embeddings.named_parameters():
            p.normal_(1.0 if "LayerNorm.weight" in name else 0.0, 0.5)
    return embeddings


def cases() -> dict[str, np.ndarray]:
    g = np.random.default_rng(2)
    ids = g.integers(1, 100, size=(3, 7))
    types = (np.arange(7)[None, :] >= np.array([[3], [5], [7]])).astype(np.int64)  # segment B after A
    return {"input_ids": ids, "token_type_ids": types}


def run(inputs: dict) -> dict[str, torch.Tensor]:
    ids, types = torch.tensor(inputs["input_ids"]), torch.tensor(inputs["token_type_ids"])
    out = {"eval": module().eval()(ids, types)}
    torch.manual_seed(1)
    out["train"] = module(dropout=0.3).train()(ids, types)
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
    module()(ids, types)
    assert torch.equal(ids, before[0]) and torch.equal(types, before[1])
