"""Checks on weight files and their tensors, made before anything is built from them.

A weight file is input like any other: a download cut short, a flipped bit, a forged file. The
safetensors format (https://github.com/huggingface/safetensors, "Format") is

    8 bytes    N, the length of the header: an unsigned little-endian 64-bit integer
    N bytes    a JSON object {name: {"dtype": "F32", "shape": [384], "data_offsets": [begin, end]},
               ..., "__metadata__": {...}}
    the rest   the data section: tensor `name` is the bytes data[begin:end]

`check_safetensors_header` checks all of it against the size of the file, with Python integers
(which cannot overflow), before the file is handed to safetensors: whatever a forged header
declares, nothing larger than the file itself is ever allocated. `check_weight_values` checks
the tensors a model is about to load: floating point, and finite.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import torch

# bytes per element of each safetensors dtype (the names of its specification)
DTYPE_SIZES = {
    "BOOL": 1, "U8": 1, "I8": 1, "F8_E5M2": 1, "F8_E4M3": 1,
    "I16": 2, "U16": 2, "F16": 2, "BF16": 2,
    "I32": 4, "U32": 4, "F32": 4,
    "I64": 8, "U64": 8, "F64": 8,
}  # fmt: skip
MAX_HEADER_BYTES = 100_000_000  # safetensors' own limit: a header is a table of names, never more
LENGTH_BYTES = 8


def corrupt(path: Path, problem: str) -> ValueError:
    """The error for a damaged weight file, worded as `pretrained.read_weight_file` words its own."""
    return ValueError(f"could not read weights from {path}: {problem}")


def read_safetensors_header(path: Path) -> tuple[dict, int]:
    """The parsed JSON header of a safetensors file and the size of its data section, in bytes.
    Raises a ValueError naming the file when the header cannot be what the file holds."""
    size = path.stat().st_size
    with open(path, "rb") as f:
        if size < LENGTH_BYTES:
            raise corrupt(path, f"{size} bytes, less than the 8 of its header length")
        length = int.from_bytes(f.read(LENGTH_BYTES), "little")
        # checked before reading: a forged length of 2^63 must not become a read of 2^63 bytes
        if length > min(size - LENGTH_BYTES, MAX_HEADER_BYTES):
            raise corrupt(
                path,
                f"its header length is {length:,} bytes, but the file has only "
                f"{size - LENGTH_BYTES:,} bytes after it (truncated, or not a safetensors file)",
            )
        raw = f.read(length)
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise corrupt(path, f"its header is not valid JSON ({err})") from None
    if not isinstance(header, dict):
        raise corrupt(path, f"its header must be a JSON object, got {type(header).__name__}")
    return header, size - LENGTH_BYTES - length


def tensor_span(path: Path, name: str, entry, data_size: int) -> tuple[int, int]:
    """(begin, end) of tensor `name` in the data section, after checking that its header entry is
    well formed, lies inside the data section and is exactly dtype size × Π shape bytes long."""
    where = f"tensor {name!r}"
    if not isinstance(entry, dict):
        raise corrupt(path, f"{where} is described by {type(entry).__name__}, not an object")
    dtype, shape, offsets = entry.get("dtype"), entry.get("shape"), entry.get("data_offsets")
    if dtype not in DTYPE_SIZES:
        raise corrupt(path, f"{where} has dtype {dtype!r}, not one of {', '.join(DTYPE_SIZES)}")
    if not isinstance(shape, list) or not all(is_count(n) for n in shape):
        raise corrupt(path, f"{where} has shape {shape!r}, not a list of non-negative integers")
    if not (isinstance(offsets, list) and len(offsets) == 2 and all(is_count(n) for n in offsets)):
        raise corrupt(path, f"{where} has data_offsets {offsets!r}, not [begin, end]")
    begin, end = offsets
    if not begin <= end <= data_size:
        raise corrupt(
            path,
            f"{where} has data_offsets [{begin}, {end}], outside the data section of {data_size:,} bytes "
            "(reversed, or past the end of the file)",
        )
    expected = math.prod(shape) * DTYPE_SIZES[dtype]  # exact: Python integers do not overflow
    if end - begin != expected:
        raise corrupt(
            path,
            f"{where} of dtype {dtype} and shape {tuple(shape)} needs {expected:,} bytes, "
            f"but its data_offsets [{begin}, {end}] hold {end - begin:,}",
        )
    return begin, end


def is_count(value) -> bool:
    """A non-negative JSON integer (not a bool)."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def check_safetensors_header(path: Path) -> None:
    """Raise a ValueError naming `path` and the problem unless its header describes tensors that
    fill its data section exactly, one after another, as the format requires."""
    header, data_size = read_safetensors_header(path)
    spans = sorted(
        (*tensor_span(path, name, entry, data_size), name)
        for name, entry in header.items()
        if name != "__metadata__"
    )
    position, previous = 0, None
    for begin, end, name in spans:
        if begin < position:
            raise corrupt(path, f"tensors {previous!r} and {name!r} overlap")
        if begin > position:
            raise corrupt(path, f"bytes {position}..{begin} of its data belong to no tensor")
        position, previous = end, name
    if position != data_size:
        raise corrupt(path, f"its tensors end at byte {position:,} of a data section of {data_size:,}")


def check_weight_values(key: str, tensor: torch.Tensor) -> None:
    """Raise a ValueError naming `key` unless the tensor is floating point and finite.

    float16, bfloat16 and float64 are fine: loading copies them into the model's float32 weights
    (what `transformers` does too). Integers are not: copying int64 into a float weight would
    work silently, but BERT's weights are never integers, so such a file is the wrong file or a
    quantized one that needs its own loader. NaN or infinity in a weight would make every
    embedding NaN without a word: better to say so at loading, naming the weight."""
    if not tensor.is_floating_point():
        raise ValueError(
            f"weight {key!r} is stored as {tensor.dtype} in the checkpoint: BERT's weights are floating "
            "point (a quantized or wrong file?)"
        )
    bad = tensor.numel() - int(torch.isfinite(tensor).sum())
    if bad:
        raise ValueError(f"weight {key!r} holds {bad:,} NaN or infinite value(s) in the checkpoint")
