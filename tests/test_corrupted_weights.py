"""Damaged weight files end in an error that names the file and the problem, never in a crash
deep inside a reader, and never in a huge allocation.

A model folder comes from a download, a disk or a colleague: its weights can be cut short, have
bytes flipped, or be written by hand with a mistake in it (or forged on purpose). The loader must
say which file is wrong and why (a ValueError, or a FileNotFoundError for a file that is not
there), the way `minisbert` reports every error. Property tests (tests/fuzzing.py) generate the
damage; plain tests name each case:

- `model.safetensors`: random bytes, truncation, forged headers (`minisbert/weight_checks.py`);
- `pytorch_model.bin`: truncation, random or flipped bytes, a corrupt pickle, a pickle of the
  wrong thing;
- sharded checkpoints whose shards disagree with their index;
- weights with the right names but integer or non-finite values.

"Never a huge allocation" is proven in a subprocess whose address space is capped (see
`test_forged_sizes_are_refused_before_anything_is_allocated`). Damaged config.json, modules.json
and pooling configs are in test_corrupted_configs.py; the folders are built by damaged_folders.py.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from damaged_folders import (
    FIRST,
    INDEX,
    SECOND,
    assert_named,
    f32,
    folder_with,
    loads_or_is_named,
    make_tiny_folder,
    pickled,
    safetensors_bytes,
    sharded,
    with_member,
    with_weights,
)
from fuzzing import fuzz
from hypothesis import given
from hypothesis import strategies as st
from safetensors.torch import load_file

from minisbert.pretrained import load_bert_model, read_state_dict
from minisbert.weight_checks import DTYPE_SIZES

# -- a tiny model folder, built once; each test damages its own copy of one file -------------------


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    """The tiny BERT's folder (damaged_folders.make_tiny_folder), shared by this module's tests."""
    return make_tiny_folder(tmp_path_factory.mktemp("tiny"))


@pytest.fixture(scope="module")
def state(tiny) -> dict[str, torch.Tensor]:
    return load_file(str(tiny / "model.safetensors"))


@pytest.fixture(scope="module")
def bin_bytes(state) -> bytes:
    return pickled(state)


@pytest.fixture(scope="module")
def scratch(tmp_path_factory) -> Path:
    """A folder that property tests overwrite on every input (hypothesis runs many inputs per test,
    and function-scoped tmp_path would be shared between them anyway)."""
    return tmp_path_factory.mktemp("scratch")


# -- 1. model.safetensors ---------------------------------------------------------------------

ONE = {"w": f32([2, 3], 0)}  # one tensor of 24 bytes
AFTER_LENGTH = len(json.dumps(ONE)) + 24  # the bytes of a file holding ONE after its header length
SAFETENSORS_DAMAGE = {
    "a file shorter than the header length": (
        b"\x01\x02\x03",
        "3 bytes, less than the 8 of its header length",
    ),
    "a header length of 2^63": (
        safetensors_bytes(ONE, bytes(24), length=2**63),
        rf"header length is 9,223,372,036,854,775,808 bytes, but the file has only {AFTER_LENGTH} bytes",
    ),
    "a header length just past the end": (
        safetensors_bytes(ONE, bytes(24), length=AFTER_LENGTH + 1),
        rf"header length is {AFTER_LENGTH + 1} bytes, but the file has only {AFTER_LENGTH}",
    ),
    "a header that is not JSON": (safetensors_bytes(b'{"w": {"dtype": "F32",', bytes(24)), "not valid JSON"),
    "a header that is not UTF-8": (safetensors_bytes(b'{"\xff": 1}'), "not valid JSON"),
    "a header that is a list": (safetensors_bytes([1, 2]), "must be a JSON object, got list"),
    "a shape of 10^12 x 10^12": (
        safetensors_bytes({"w": {**f32([2, 3], 0), "shape": [10**12, 10**12]}}, bytes(24)),
        r"shape \(1000000000000, 1000000000000\) needs 4,000,000,000,000,000,000,000,000 bytes",
    ),
    "a dtype that does not exist": (
        safetensors_bytes({"w": {**f32([2, 3], 0), "dtype": "F33"}}, bytes(24)),
        "tensor 'w' has dtype 'F33', not one of",
    ),
    "a negative dimension": (
        safetensors_bytes({"w": {**f32([2, 3], 0), "shape": [-2, -3]}}, bytes(24)),
        r"has shape \[-2, -3\], not a list of non-negative integers",
    ),
    "data_offsets past the end of the file": (
        safetensors_bytes({"w": {**f32([2, 3], 0), "data_offsets": [0, 2**40]}}, bytes(24)),
        r"data_offsets \[0, 1099511627776\], outside the data section of 24 bytes",
    ),
    "reversed data_offsets": (
        safetensors_bytes({"w": {**f32([2, 3], 0), "data_offsets": [24, 0]}}, bytes(24)),
        r"data_offsets \[24, 0\], outside the data section",
    ),
    "data_offsets that are not numbers": (
        safetensors_bytes({"w": {**f32([2, 3], 0), "data_offsets": ["0", "24"]}}, bytes(24)),
        r"data_offsets \['0', '24'\], not \[begin, end\]",
    ),
    "offsets whose size disagrees with dtype x shape": (
        safetensors_bytes({"w": {**f32([2, 3], 0), "data_offsets": [0, 20]}}, bytes(20)),
        r"dtype F32 and shape \(2, 3\) needs 24 bytes, but its data_offsets \[0, 20\] hold 20",
    ),
    "overlapping tensors": (
        safetensors_bytes({"a": f32([2, 3], 0), "b": f32([2, 3], 12)}, bytes(36)),
        "tensors 'a' and 'b' overlap",
    ),
    "a gap between tensors": (
        safetensors_bytes({"a": f32([2, 3], 0), "b": f32([2, 3], 28)}, bytes(52)),
        r"bytes 24\.\.28 of its data belong to no tensor",
    ),
    "bytes after the last tensor": (
        safetensors_bytes(ONE, bytes(30)),
        "tensors end at byte 24 of a data section of 30",
    ),
    "a tensor described by a number": (safetensors_bytes({"w": 7}), "tensor 'w' is described by int"),
}


@pytest.mark.parametrize("damage", SAFETENSORS_DAMAGE)
def test_a_damaged_safetensors_file_is_named(tmp_path, damage):
    content, problem = SAFETENSORS_DAMAGE[damage]
    (tmp_path / "model.safetensors").write_bytes(content)
    with pytest.raises(ValueError, match=problem) as err:
        read_state_dict(tmp_path)
    assert_named(err, tmp_path / "model.safetensors")


# Places in a file are drawn as integers and taken modulo the file's length, so that one
# strategy serves files of every size.
places = st.integers(0, 2**32)


@fuzz(ci_examples=60)
@given(
    cut=st.none() | places,
    writes=st.lists(st.tuples(places, st.binary(min_size=1, max_size=16)), max_size=8),
)
def test_truncated_or_overwritten_safetensors_is_named(tiny, scratch, cut, writes):
    """Cut at any length, or with random bytes written anywhere: it loads or the error names it."""
    content = bytearray((tiny / "model.safetensors").read_bytes())
    for at, chunk in writes:
        at %= len(content)
        content[at : at + len(chunk)] = chunk
    if cut is not None:
        content = content[: cut % len(content)]
    path = scratch / "model.safetensors"
    path.write_bytes(bytes(content))
    loads_or_is_named(lambda: read_state_dict(scratch), path)


@fuzz(ci_examples=30)
@given(content=st.binary(max_size=300))
def test_random_bytes_as_safetensors_are_named(scratch, content):
    path = scratch / "model.safetensors"
    path.write_bytes(content)
    loads_or_is_named(lambda: read_state_dict(scratch), path)


huge = st.integers(0, 2**64)
entries = st.fixed_dictionaries(
    {
        "dtype": st.sampled_from([*DTYPE_SIZES, "F33", "f32", ""]) | st.integers(),
        "shape": st.lists(st.integers(0, 5) | huge | st.integers(-3, -1), max_size=3) | st.text(max_size=3),
        "data_offsets": st.lists(st.integers(0, 64) | huge, min_size=0, max_size=3),
    }
)


@fuzz(ci_examples=100)
@given(
    header=st.dictionaries(st.text(max_size=4), entries | st.integers(), max_size=4),
    data_size=st.integers(0, 128),
    length_delta=st.sampled_from([0, 0, 0, 1, -1, 2**63]),
)
def test_a_forged_header_never_allocates_what_it_declares(scratch, header, data_size, length_delta):
    """Whatever a header declares (absurd shapes, unknown dtypes, offsets anywhere, a false header
    length), the file loads within its own size or the error names it."""
    raw = json.dumps(header).encode()
    path = scratch / "model.safetensors"
    path.write_bytes(safetensors_bytes(raw, bytes(data_size), length=max(len(raw) + length_delta, 0)))
    loads_or_is_named(lambda: read_state_dict(scratch), path)


# Run in a fresh Python whose address space (RLIMIT_AS) is capped at 1 GiB above what it uses
# once torch is imported. Peak RSS (resource.getrusage) would not do: torch.empty of 100 GB
# succeeds on Linux and touches no page, so RSS stays small while the allocation happened.
# Under the cap, any allocation of more than 1 GiB fails at once with a RuntimeError or
# MemoryError, which the test would see instead of the ValueError the checks give.
CAPPED_LOADER = """
import json, resource, sys
import torch
from minisbert.pretrained import load_bert_model

used = int(next(l for l in open("/proc/self/status") if l.startswith("VmSize")).split()[1]) * 1024
cap = used + 2**30
resource.setrlimit(resource.RLIMIT_AS, (cap, cap))

def outcome(load):
    try:
        load()
        return "loaded"
    except Exception as err:
        return f"{type(err).__name__}: {err}"

results = {"a 2 GiB tensor (the cap works)": outcome(lambda: torch.empty(2**29))}
results.update({folder: outcome(lambda: load_bert_model(folder)) for folder in sys.argv[1:]})
print(json.dumps(results))
"""


def test_forged_sizes_are_refused_before_anything_is_allocated(tmp_path, tiny):
    config = json.loads((tiny / "config.json").read_text())
    forged = {
        # 10^12 × 32 float32 weights: 128 TB, more than MAX_PARAMETERS
        "vocab_size 10^12": (
            {"config.json": json.dumps({**config, "vocab_size": 10**12})},
            "more than any BERT",
        ),
        # 10^8 × 32 = 3.2 billion weights, under MAX_PARAMETERS but 13 GB for a 22,000-weight file
        "vocab_size 10^8": ({"config.json": json.dumps({**config, "vocab_size": 10**8})}, "holds only 22,"),
        "header length 2^63": (
            {"model.safetensors": safetensors_bytes(ONE, bytes(24), 2**63)},
            "header length",
        ),
        "a 2^40-element tensor": (
            {"model.safetensors": safetensors_bytes({"w": f32([2**20, 2**20], 0)}, bytes(24))},
            "outside the data section",
        ),
    }
    folders = {
        name: folder_with(tmp_path / str(i), tiny, **files)
        for i, (name, (files, _)) in enumerate(forged.items())
    }
    folders["the intact tiny model"] = tiny
    result = subprocess.run(
        [sys.executable, "-c", CAPPED_LOADER, *map(str, folders.values())],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    outcomes = json.loads(result.stdout)
    assert outcomes.pop("a 2 GiB tensor (the cap works)").startswith(("RuntimeError", "MemoryError"))
    assert outcomes[str(tiny)] == "loaded"
    for name, (_, problem) in forged.items():
        assert outcomes[str(folders[name])].startswith("ValueError: "), (name, outcomes[str(folders[name])])
        assert problem in outcomes[str(folders[name])], (name, outcomes[str(folders[name])])


# -- 2. pytorch_model.bin ---------------------------------------------------------------------

BIN_DAMAGE = {
    "truncated to half": (lambda good: good[: len(good) // 2], "could not read weights from"),
    "random bytes": (lambda good: bytes(range(256)) * 4, "could not read weights from"),
    "a valid zip with a corrupt pickle": (
        lambda good: with_member(good, "data.pkl", b"\x80\x02}q\x00(X\x01\x00\x00\x00"),
        "could not read weights from",
    ),
    "a pickle of a list of tensors": (
        lambda good: pickled([torch.zeros(2)]),
        "does not hold a flat dict of tensors",
    ),
    "a dict holding a string": (
        lambda good: pickled({"w": "weights"}),
        "does not hold a flat dict of tensors",
    ),
    "a dict nested one level": (
        lambda good: pickled({"state_dict": {"w": torch.zeros(2)}}),
        "does not hold a flat dict of tensors",
    ),
    "a dict with an integer key": (
        lambda good: pickled({0: torch.zeros(2)}),
        "does not hold a flat dict of tensors",
    ),
}


@pytest.mark.parametrize("damage", BIN_DAMAGE)
def test_a_damaged_bin_file_is_named(tmp_path, bin_bytes, damage):
    make, problem = BIN_DAMAGE[damage]
    (tmp_path / "pytorch_model.bin").write_bytes(make(bin_bytes))
    with pytest.raises(ValueError, match=problem) as err:
        read_state_dict(tmp_path)
    assert_named(err, tmp_path / "pytorch_model.bin")


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")  # torch's word on a damaged pickle
@fuzz(ci_examples=40)
@given(
    cut=st.none() | places,
    flips=st.lists(st.tuples(places, st.integers(0, 7)), max_size=8),
    random_bytes=st.none() | st.binary(max_size=400),
)
def test_truncated_flipped_or_random_bin_is_named(bin_bytes, scratch, cut, flips, random_bytes):
    """A .bin cut anywhere, with bits flipped anywhere, or made of random bytes: loads or is named."""
    content = bytearray(bin_bytes if random_bytes is None else random_bytes) or bytearray(b"\0")
    for at, bit in flips:
        content[at % len(content)] ^= 1 << bit
    if cut is not None:
        content = content[: cut % len(content)]
    folder = scratch / "bin"
    folder.mkdir(exist_ok=True)
    (folder / "pytorch_model.bin").write_bytes(bytes(content))
    loads_or_is_named(lambda: read_state_dict(folder), folder / "pytorch_model.bin")


# -- 3. sharded checkpoints ---------------------------------------------------------------------

SHARD_DAMAGE = {
    "a key in both shards": (
        lambda shards, _: shards[SECOND].update({"embeddings.word_embeddings.weight": torch.zeros(100, 32)}),
        r"'embeddings\.word_embeddings\.weight' is in two shards of .*: " + FIRST + " and " + SECOND,
    ),
    "a key the index assigns to a shard that lacks it": (
        lambda shards, _: shards[FIRST].pop("embeddings.LayerNorm.bias"),
        f"assigns 'embeddings.LayerNorm.bias' to {FIRST}, which does not hold it",
    ),
    "a key in a shard that the index does not list": (
        lambda _, weight_map: weight_map.pop("embeddings.LayerNorm.bias"),
        f"{FIRST} holds 'embeddings.LayerNorm.bias', which {INDEX} does not assign to it",
    ),
    "a shard outside the folder": (
        lambda _, weight_map: weight_map.update({"embeddings.LayerNorm.bias": "../" + FIRST}),
        r"lists shard '\.\./model-00001-of-00002\.safetensors': shards are file names in its folder",
    ),
}


@pytest.mark.parametrize("damage", SHARD_DAMAGE)
def test_shards_that_disagree_with_their_index_are_named(tmp_path, tiny, state, damage):
    change, problem = SHARD_DAMAGE[damage]
    folder = sharded(tmp_path / "sharded", tiny, state, change)
    with pytest.raises(ValueError, match=problem):
        read_state_dict(folder)


def test_a_missing_shard_is_named(tmp_path, tiny, state):
    folder = sharded(tmp_path / "sharded", tiny, state, lambda shards, weight_map: None)
    (folder / SECOND).unlink()
    with pytest.raises(FileNotFoundError, match=f"shard {SECOND} listed in {INDEX} is missing from {folder}"):
        read_state_dict(folder)


# -- the right names, the wrong values ------------------------------------------------------------


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float64], ids=str)
def test_half_and_double_precision_weights_load_as_float32(tmp_path, tiny, state, dtype):
    """Checkpoints are often published in float16 or bfloat16: they load, converted to float32
    (exactly: every float16 and bfloat16 value is a float32 value), as `transformers` loads them."""
    model = load_bert_model(with_weights(tmp_path, tiny, {k: v.to(dtype) for k, v in state.items()}))
    weight = model.state_dict()["encoder.layer.0.attention.self.query.weight"]
    assert weight.dtype == torch.float32
    assert torch.equal(weight, state["encoder.layer.0.attention.self.query.weight"].to(dtype).float())


@pytest.mark.parametrize("fmt", ["safetensors", "bin"])
def test_integer_weights_are_refused_naming_the_weight(tmp_path, tiny, state, fmt):
    """int64 weights would be copied into the float weights without a word: refused instead."""
    state = {**state, "encoder.layer.1.output.dense.weight": torch.ones(32, 64, dtype=torch.int64)}
    with pytest.raises(
        ValueError, match=r"weight 'encoder\.layer\.1\.output\.dense\.weight' is stored as torch\.int64"
    ):
        load_bert_model(with_weights(tmp_path, tiny, state, fmt))


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")], ids=["NaN", "inf", "-inf"])
def test_non_finite_weights_are_refused_naming_the_weight(tmp_path, tiny, state, bad):
    """One NaN in a weight makes every embedding NaN: refused at loading, naming the weight."""
    weight = state["encoder.layer.0.intermediate.dense.bias"].clone()
    weight[3] = bad
    state = {**state, "encoder.layer.0.intermediate.dense.bias": weight}
    with pytest.raises(
        ValueError, match=r"'encoder\.layer\.0\.intermediate\.dense\.bias' holds 1 NaN or infinite"
    ):
        load_bert_model(with_weights(tmp_path, tiny, state))
