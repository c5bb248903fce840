"""Reading a BERT folder into NumPy (mirrors minisbert/pretrained.py), without torch.

Only `model.safetensors` is read: a `pytorch_model.bin` is a pickle that only torch can open.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from types import SimpleNamespace

import numpy as np
from safetensors.numpy import load_file

# the same renames as minisbert/pretrained.py: task-model prefix, TensorFlow-era LayerNorm names
RENAMES = [
    (r"^bert\.", ""),
    (r"LayerNorm\.gamma$", "LayerNorm.weight"),
    (r"LayerNorm\.beta$", "LayerNorm.bias"),
]

CONFIG_DEFAULTS = dict(hidden_act="gelu", layer_norm_eps=1e-12)


def load_params(folder: str | Path) -> dict[str, np.ndarray]:
    """The weights of `folder/model.safetensors` as float64 arrays keyed by the torch names."""
    path = Path(folder) / "model.safetensors"
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found (the reference reads safetensors files only)")
    params = {}
    for key, value in load_file(str(path)).items():
        for pattern, replacement in RENAMES:
            key = re.sub(pattern, replacement, key)
        params[key] = value.astype(np.float64) if value.dtype.kind == "f" else value
    return params


def load_config(folder: str | Path) -> SimpleNamespace:
    """`config.json` as an object with attributes (`config.hidden_size`, ...)."""
    path = Path(folder) / "config.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found")
    return SimpleNamespace(**{**CONFIG_DEFAULTS, **json.loads(path.read_text(encoding="utf-8"))})
