"""Exercise heads: splitting (B, T, C) into nh heads (B, nh, T, hs) and merging them back
(minisbert/model.py, `BertSelfAttention.split_heads` and `merge_heads`)."""

from __future__ import annotations

import numpy as np
import torch

from exercises.golden_io import check_outputs, load_golden
from minisbert import preset
from minisbert.model import BertSelfAttention

EXERCISE = "heads"


def attention_module() -> BertSelfAttention:
    return BertSelfAttention(preset("tiny", hidden_size=12, num_attention_heads=3))  # hs = 4


def cases() -> dict[str, np.ndarray]:
    x = np.arange(2 * 5 * 12, dtype=np.float64).reshape(2, 5, 12)  # (B, T, C): every value distinct
    heads = np.random.default_rng(1).normal(size=(2, 3, 5, 4))  # (B, nh, T, hs)
    return {"x": x, "heads": heads}


def run(inputs: dict) -> dict[str, torch.Tensor]:
    attn = attention_module()
    return {
        "split": attn.split_heads(torch.tensor(inputs["x"])),
        "merged": attn.merge_heads(torch.tensor(inputs["heads"])),
    }


def test_split_heads():
    inputs, expected = load_golden(EXERCISE)
    out = run(inputs)
    assert tuple(out["split"].shape) == (2, 3, 5, 4), f"split_heads gave shape {tuple(out['split'].shape)}"
    check_outputs(out, expected, only=["split"])


def test_merge_heads():
    inputs, expected = load_golden(EXERCISE)
    check_outputs(run(inputs), expected, only=["merged"])


def test_merge_undoes_split():
    attn = attention_module()
    x = torch.tensor(cases()["x"])
    assert torch.equal(attn.merge_heads(attn.split_heads(x)), x), "merge_heads(split_heads(x)) != x"
