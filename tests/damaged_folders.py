"""Build small model folders and damage them: the pieces shared by test_corrupted_weights.py and
test_corrupted_configs.py.

Each of those modules makes one intact tiny folder per module (`make_tiny_folder`, in its `tiny`
fixture); each test then damages its own copy of one file (`folder_with`, or the builders of
damaged weight files below) and checks the error with `assert_named` or `loads_or_is_named`.
The fixtures themselves stay in the test modules: pytest shares fixtures between modules only
through conftest.py.
"""

from __future__ import annotations

import io
import json
import math
import zipfile
from pathlib import Path

import pytest
import torch
from folders import save_weights
from helpers import random_model
from safetensors.torch import save_file

from minisbert.config import preset
from minisbert.pretrained import write_weights

TRANSFORMER = {"path": "", "type": "sentence_transformers.models.Transformer"}
POOLING = {"path": "1_Pooling", "type": "sentence_transformers.models.Pooling"}
NORMALIZE = {"path": "2_Normalize", "type": "sentence_transformers.models.Normalize"}


# -- the intact folder, and copies of it with some files written over -----------------------------


def make_tiny_folder(folder: Path) -> Path:
    """A sentence-transformers folder around the "tiny" BERT (hidden_size 32): config.json,
    model.safetensors, modules.json and 1_Pooling/config.json. No tokenizer: nothing here needs one."""
    write_weights(random_model(preset("tiny")), folder)
    (folder / "modules.json").write_text(json.dumps([TRANSFORMER, POOLING, NORMALIZE]))
    (folder / "1_Pooling").mkdir()
    (folder / "1_Pooling" / "config.json").write_text(
        '{"word_embedding_dimension": 32, "pooling_mode": "mean"}'
    )
    (folder / "2_Normalize").mkdir()
    return folder


def folder_with(tmp_path: Path, tiny: Path, **files: bytes | str) -> Path:
    """A copy of config.json and the weights of `tiny`, with `files` (name → content) written over."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    for name in ("config.json", "model.safetensors"):
        (tmp_path / name).write_bytes((tiny / name).read_bytes())
    for name, content in files.items():
        path = tmp_path / name.replace("__", "/")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content.encode() if isinstance(content, str) else content)
    return tmp_path


def with_weights(tmp_path: Path, tiny: Path, state: dict, fmt: str = "safetensors") -> Path:
    """A folder with `tiny`'s config.json and `state` as its weights, in `fmt` ("safetensors" or "bin")."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "config.json").write_bytes((tiny / "config.json").read_bytes())
    save_weights(state, tmp_path, fmt)
    return tmp_path


# -- what every damaged file must give: an error that names it ------------------------------------


def assert_named(err: pytest.ExceptionInfo, path: Path) -> None:
    assert str(path) in str(err.value), f"the message does not name {path}: {err.value}"


def loads_or_is_named(read, path: Path) -> None:
    """The property every damaged weight file must have: it reads as a flat dict of tensors, or
    raises a ValueError that names it. Any other exception fails the test."""
    try:
        state = read()
    except ValueError as err:
        assert str(path) in str(err), f"the message does not name {path}: {err}"
        return
    assert all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items())
    # a header can only describe the bytes the file holds: nothing larger was allocated
    assert sum(v.numel() * v.element_size() for v in state.values()) <= path.stat().st_size


# -- weight files written byte by byte ------------------------------------------------------------


def safetensors_bytes(header, data: bytes = b"", length: int | None = None) -> bytes:
    """A safetensors file: 8-byte little-endian header length, the JSON header, the data."""
    raw = header if isinstance(header, bytes) else json.dumps(header).encode()
    return (len(raw) if length is None else length).to_bytes(8, "little") + raw + data


def f32(shape, begin):
    """The header entry of a float32 tensor of `shape` whose data starts at byte `begin`."""
    size = math.prod(shape) * 4
    return {"dtype": "F32", "shape": shape, "data_offsets": [begin, begin + size]}


def pickled(value) -> bytes:
    """`value` as torch.save writes it: a zip archive holding a pickle (data.pkl) and the tensors."""
    buffer = io.BytesIO()
    torch.save(value, buffer)
    return buffer.getvalue()


def with_member(archive: bytes, suffix: str, content: bytes) -> bytes:
    """A copy of the zip `archive` (torch.save's format) with the member ending in `suffix` replaced."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(archive)) as old, zipfile.ZipFile(out, "w") as new:
        for item in old.infolist():
            new.writestr(item, content if item.filename.endswith(suffix) else old.read(item))
    return out.getvalue()


INDEX = "model.safetensors.index.json"
FIRST, SECOND = "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"


def sharded(folder: Path, tiny: Path, state: dict, change) -> Path:
    """`tiny`'s weights in two shards; `change(shards, weight_map)` damages them before writing."""
    keys = sorted(state)
    shards = {FIRST: {k: state[k] for k in keys[::2]}, SECOND: {k: state[k] for k in keys[1::2]}}
    weight_map = {k: name for name, tensors in shards.items() for k in tensors}
    change(shards, weight_map)
    folder.mkdir()
    (folder / "config.json").write_bytes((tiny / "config.json").read_bytes())
    for name, tensors in shards.items():
        save_file(tensors, str(folder / name))
    (folder / INDEX).write_text(json.dumps({"weight_map": weight_map}))
    return folder
