# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # 05 · Loading weights: every tensor of all-MiniLM-L6-v2, and what the loader says
#
# A pretrained model is a folder: `config.json` says how big each part is, `model.safetensors`
# holds the numbers, one named tensor per weight. This tutorial opens that file and looks at every
# tensor (its name, its shape, its role in the encoder), counts where the 22.7 million numbers sit,
# shows the short table of renaming rules that lets minisbert read older checkpoints, checks that
# the NumPy reference reads exactly the same numbers, and then breaks checkpoints on purpose to
# read what the loader says.
#
# Read first: tutorials 01 (the inference path) and 04 (the encoder layer), then
# `minisbert/pretrained.py` and `reference/pretrained.py`. No data set needed; it runs in a few
# seconds.

# %%
import json
import re
import shutil
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch
from common import save_figure
from safetensors.torch import save_file

from minisbert.config import BertConfig
from minisbert.pretrained import (
    DEFAULT_SHA256,
    IGNORED,
    RENAMES,
    default_model_folder,
    ignore_reason,
    load_bert_model_with_report,
    read_state_dict,
    rename_key,
    verify_sha256,
)
from minisbert.tokenizer import WordPieceTokenizer
from reference.compare import max_differences
from reference.pretrained import load_params

folder = default_model_folder()  # the embedded all-MiniLM-L6-v2 (sha256 checked)
checkpoint = read_state_dict(folder)  # {name: tensor}, keyed as in the file
config = BertConfig.from_json(folder)
C, L, I, V = config.hidden_size, config.num_hidden_layers, config.intermediate_size, config.vocab_size
print(f"{len(checkpoint)} tensors; C={C}, L={L} layers, I={I}, V={V}")

# %% [markdown]
# ## 1. Every tensor and its role
#
# The names follow the module tree of Hugging Face's `BertModel`, which minisbert copies on
# purpose: `encoder.layer.3.attention.self.query.weight` is the query projection $W_Q$ of layer 3.
# A `Linear` stores its weight as (out, in): the query weight is (C, C), the feed-forward's first
# weight (I, C) and its second (C, I). Six layers hold the same tensors, so the table writes the
# layer number as `{i}` and lists each kind once.

# %%
ROLES = [  # (role, pattern): the first pattern that matches a key gives its role
    ("embeddings", r"_embeddings\.weight$"),
    ("attention q/k/v", r"attention\.self\."),
    ("attention output", r"attention\.output\.dense\."),
    ("feed-forward", r"(intermediate|output)\.dense\."),
    ("LayerNorm", r"LayerNorm\."),
    ("pooler (not loaded)", r"^pooler\."),
    ("buffer (not a weight)", r"position_ids$"),
]


def role(key: str) -> str:
    return next(name for name, pattern in ROLES if re.search(pattern, key))


kinds: dict[str, dict] = {}  # key with the layer number replaced by {i} → role, shape, count
for key, tensor in checkpoint.items():
    kind = re.sub(r"layer\.\d+\.", "layer.{i}.", key)
    entry = kinds.setdefault(kind, dict(role=role(key), shape=tuple(tensor.shape), copies=0))
    entry["copies"] += 1
    assert entry["shape"] == tuple(tensor.shape)  # every layer has the same shapes

for name, _ in ROLES:
    print(f"\n{name}")
    for kind, e in kinds.items():
        if e["role"] == name:
            each = int(np.prod(e["shape"]))
            print(f"  {kind:52s} {str(e['shape']):12s} {each:>10,} × {e['copies']}")
assert all(e["copies"] in (1, L) for e in kinds.values())
assert kinds["encoder.layer.{i}.intermediate.dense.weight"]["shape"] == (I, C)
assert kinds["encoder.layer.{i}.output.dense.weight"]["shape"] == (C, I)

# %% [markdown]
# ## 2. Where the parameters are
#
# Count the floating-point numbers (the `position_ids` buffer holds integers 0..511, not weights).
# BERT's size follows from the config:
#
# $$N = \underbrace{(V + P + S)\,C + 2C}_{\text{embeddings, LayerNorm}}
#     + L\,\big[\underbrace{4(C^2 + C)}_{\text{attention}} + \underbrace{2CI + I + C}_{\text{feed-forward}}
#     + \underbrace{4C}_{\text{2 LayerNorms}}\big] + \underbrace{C^2 + C}_{\text{pooler}}$$
#
# with $P$ = 512 positions (`max_position_embeddings`) and $S$ = 2 token types (`type_vocab_size`).
# The pooler, $\tanh(W h_{[CLS]} + b)$, was trained for BERT's next-sentence task; Sentence-BERT
# pools the token vectors itself, so minisbert skips it.

# %%
P, S, pooler = config.max_position_embeddings, config.type_vocab_size, C * C + C
assert torch.equal(checkpoint["embeddings.position_ids"], torch.arange(P)[None])  # (1, P) integers
count = {}  # role → number of floats in the checkpoint
for key, tensor in checkpoint.items():
    if tensor.is_floating_point():
        count[role(key)] = count.get(role(key), 0) + tensor.numel()
total = sum(count.values())
formula = (V + P + S) * C + 2 * C + L * (4 * (C * C + C) + 2 * C * I + I + C + 4 * C) + pooler
model, report = load_bert_model_with_report(folder)
loaded = sum(p.numel() for p in model.parameters())
print(f"checkpoint: {total:,} numbers; formula: {formula:,}; pooler: {pooler:,}; minisbert: {loaded:,}")
assert total == formula == 22_713_216
assert count["pooler (not loaded)"] == pooler and loaded == total - pooler
word = checkpoint["embeddings.word_embeddings.weight"].numel()
print(f"the word-embedding table alone: {word:,} numbers, {word / total:.1%} of the checkpoint")
assert word / total > 0.5  # more than half of the model is a lookup table
in_layers = sum(p.numel() for p in model.encoder.parameters())  # the 6 layers
print(f"loaded: embeddings {(loaded - in_layers) / loaded:.1%}, the {L} layers {in_layers / loaded:.1%}")
assert loaded - in_layers > in_layers  # a small model: its vocabulary outweighs all its layers

# %%
groups = {  # bar label → number of floats
    "word embeddings": word,
    "position + type embeddings": count["embeddings"] - word,
    f"attention q/k/v ({L} layers)": count["attention q/k/v"],
    f"attention output ({L} layers)": count["attention output"],
    f"feed-forward ({L} layers)": count["feed-forward"],
    f"LayerNorms ({2 * L + 1})": count["LayerNorm"],
    "pooler (not loaded)": count["pooler (not loaded)"],
}
assert sum(groups.values()) == total
colors = ["tab:blue"] * 2 + ["tab:orange"] * 4 + ["tab:gray"]
fig, ax = plt.subplots(figsize=(9, 3.8))
ax.barh(list(groups), list(groups.values()), color=colors)
for y, n in enumerate(groups.values()):
    ax.text(n + total / 100, y, f"{n:,} ({n / total:.2%})", va="center")
ax.set_xlim(0, 0.72 * total)
ax.xaxis.set_major_formatter(lambda x, _: f"{x / 1e6:.0f}M")
ax.invert_yaxis()
ax.set_xlabel(f"number of parameters (in brackets: share of the checkpoint's {total:,})")
ax.legend(
    [plt.Rectangle((0, 0), 1, 1, color=c) for c in ("tab:blue", "tab:orange", "tab:gray")],
    ["embeddings", f"the {L} encoder layers (+ all LayerNorms)", "in the file, not loaded"],
    loc="lower right",
)
ax.set_title("all-MiniLM-L6-v2: half of all numbers are one lookup table, the word embeddings")
save_figure(fig, "05_parameters.png")

# %% [markdown]
# ## 3. Renaming rules
#
# Checkpoints of the same architecture do not all use the same names. A task model
# (`BertForMaskedLM`, `BertForSequenceClassification`) nests the encoder under `bert.`; checkpoints
# converted from TensorFlow call LayerNorm's scale and shift `gamma` and `beta`. minisbert handles
# this with one table of regex renames, applied in order, and a list of keys to skip, each with its
# reason. Nothing else is special.

# %%
for pattern, replacement in RENAMES:
    print(f"rename  {pattern:24s} → {replacement!r}")
for pattern, why in IGNORED:
    print(f"ignore  {pattern:24s} {why}")
assert rename_key("bert.encoder.layer.0.output.LayerNorm.gamma") == "encoder.layer.0.output.LayerNorm.weight"
assert rename_key("bert.embeddings.LayerNorm.beta") == "embeddings.LayerNorm.bias"
assert ignore_reason("cls.predictions.bias").startswith("the pre-training heads")
assert ignore_reason("encoder.layer.0.output.dense.weight") is None  # a real weight is never skipped

# %% [markdown]
# To see the rules at work, write an old-style checkpoint: every real key gets the `bert.` prefix,
# every LayerNorm weight and bias becomes gamma and beta, and a masked-LM head (`cls.*`) is added,
# as in a `BertForMaskedLM` file. Loading it must give the very same model: outputs equal bit for
# bit. The report lists the head among the ignored keys, and the loader logs a warning about it
# (you will see it in the output: a task head left behind is worth knowing about).


# %%
def write_folder(path: Path, state: dict | None, config_values: dict | None = None) -> Path:
    """A BERT folder: config.json (the real one, or `config_values`) and model.safetensors
    (`state` written out, or with `state=None` a link to the real file)."""
    path.mkdir(parents=True, exist_ok=True)
    values = config_values or json.loads((folder / "config.json").read_text())
    (path / "config.json").write_text(json.dumps(values))
    if state is None:
        (path / "model.safetensors").symlink_to(folder / "model.safetensors")
    else:
        save_file({k: v.contiguous() for k, v in state.items()}, str(path / "model.safetensors"))
    return path


def old_style(key: str) -> str:
    key = "bert." + key
    return key.replace("LayerNorm.weight", "LayerNorm.gamma").replace("LayerNorm.bias", "LayerNorm.beta")


tmp = Path(tempfile.mkdtemp())  # every folder of this tutorial goes here, deleted at the end
old = {old_style(k): v for k, v in checkpoint.items()}
old["cls.predictions.bias"] = torch.zeros(V)  # the masked-LM head's output bias
old_model, old_report = load_bert_model_with_report(write_folder(tmp / "old_style", old))
print(old_report.summary().replace(str(tmp), "<tmp>"))
assert len(old_report.renamed) == len(old_report.loaded) == len(model.state_dict())
assert old_report.renamed["bert.embeddings.LayerNorm.gamma"] == "embeddings.LayerNorm.weight"
assert set(old_report.ignored) == {
    "bert.embeddings.position_ids",
    "bert.pooler.dense.weight",
    "bert.pooler.dense.bias",
    "cls.predictions.bias",
}

tokenizer = WordPieceTokenizer.from_pretrained(folder)
batch = tokenizer(["Loading weights is renaming keys.", "A short one."])
with torch.inference_mode():
    hidden, old_hidden = model(**batch), old_model(**batch)  # (B, T, C) each
print("max |original − old-style| =", max_differences(old_hidden, hidden))
assert torch.equal(old_hidden, hidden)  # the same numbers in the same places: identical outputs

# %% [markdown]
# ## 4. The NumPy reference reads the same numbers
#
# `reference/pretrained.py` reads `model.safetensors` without torch, applies the same renames and
# turns every float into float64 (exact: every float32 is a float64). It skips nothing, so its
# dict also holds the pooler and `position_ids`; the reference encoder simply never looks them up.

# %%
params = load_params(folder)  # {name: float64 array}
old_params = load_params(tmp / "old_style")  # the renamed folder, read back to the same names
for key, tensor in model.state_dict().items():
    assert params[key].dtype == np.float64 and params[key].shape == tuple(tensor.shape), key
    assert np.array_equal(params[key], tensor.numpy()), key  # every number equal, not just close
    assert np.array_equal(old_params[key], params[key]), key
print(f"all {len(model.state_dict())} weights equal in minisbert and reference; reference extras:")
print(sorted(set(params) - set(model.state_dict())))
assert set(params) - set(model.state_dict()) == {
    "embeddings.position_ids",
    "pooler.dense.weight",
    "pooler.dense.bias",
}

# %% [markdown]
# ## 5. When a checkpoint does not fit
#
# A loader that quietly skips what it does not understand leaves those weights at their random
# initialisation, and the model "works", only worse. minisbert's loader fails instead, and its
# message names what is wrong. Each case below is a folder made from the real checkpoint with one
# thing spoiled.


# %%
def loader_error(path: Path) -> str:
    """The message of the error the loader raises on `path` (it must raise one)."""
    try:
        load_bert_model_with_report(path)
    except (KeyError, ValueError, FileNotFoundError) as err:
        message = str(err.args[0]).replace(str(tmp), "<tmp>")
        parts = message.split("; ")  # one complaint per wrong weight
        more = f"\n  ... and {len(parts) - 2} more" if len(parts) > 2 else ""
        print(f"{type(err).__name__}: " + ";\n  ".join(parts[:2]) + more + "\n")
        return message
    raise AssertionError(f"{path} loaded without complaint")


missing = {k: v for k, v in checkpoint.items() if k != "encoder.layer.5.attention.self.value.bias"}
message = loader_error(write_folder(tmp / "missing", missing))
assert "encoder.layer.5.attention.self.value.bias (384,)" in message

transposed = {**checkpoint}  # TensorFlow stores a dense kernel as (in, out): a classic mistake
transposed["encoder.layer.2.intermediate.dense.weight"] = checkpoint[
    "encoder.layer.2.intermediate.dense.weight"
].T
message = loader_error(write_folder(tmp / "transposed", transposed))
assert "'encoder.layer.2.intermediate.dense.weight' has shape (384, 1536)" in message
assert "but (1536, 384)" in message

unknown = {**checkpoint, "encoder.rel_embeddings.weight": torch.zeros(512, C)}  # not a BERT key
message = loader_error(write_folder(tmp / "unknown", unknown))
assert "'encoder.rel_embeddings.weight' matches no weight" in message

truncated = write_folder(tmp / "truncated", {})  # then overwritten by a download that stopped halfway
data = (folder / "model.safetensors").read_bytes()
(truncated / "model.safetensors").write_bytes(data[: len(data) // 2])
message = loader_error(truncated)
assert message.startswith("could not read weights from <tmp>/truncated/model.safetensors")

wrong_config = {**json.loads((folder / "config.json").read_text()), "intermediate_size": 3072}
message = loader_error(write_folder(tmp / "wrong_config", None, wrong_config))
assert (
    "'encoder.layer.0.intermediate.dense.weight' has shape (1536, 384) in the checkpoint but (3072, 384)"
    in message
)

# %% [markdown]
# Two things the shape checks cannot see. A **flipped byte** inside a tensor leaves the file
# readable: one number changes and the reader does not complain. That is why
# `default_model_folder()` compares the file's sha256 with the published one. And a config that
# changes **no shape**, such as 6 heads of 64 instead of 12 of 32 (both 384 wide), loads fine
# and computes something else: exercise 4 measures how much.

# %%
flipped = write_folder(tmp / "flipped", {}) / "model.safetensors"
shutil.copy(folder / "model.safetensors", flipped)
with open(flipped, "r+b") as f:
    f.seek(flipped.stat().st_size // 2)  # somewhere in the middle of the numbers
    byte = f.read(1)
    f.seek(-1, 1)
    f.write(bytes([byte[0] ^ 0x40]))
spoilt = read_state_dict(flipped.parent)  # reads without complaint
changed = {k: int((spoilt[k] != v).sum()) for k, v in checkpoint.items() if not torch.equal(spoilt[k], v)}
print("read without complaint; numbers changed:", changed)
assert len(changed) == 1 and list(changed.values()) == [1]
try:
    verify_sha256(flipped, DEFAULT_SHA256)
    raise AssertionError("a flipped byte went unnoticed")
except ValueError as err:
    print(str(err).replace(str(tmp), "<tmp>")[:120], "...")
    assert "flipped/model.safetensors is corrupt: sha256" in str(err)

shutil.rmtree(tmp)

# %% [markdown]
# ## Exercises
#
# 1. Count the parameters of BERT-base (`minisbert.config.preset("bert-base")`: C = 768, 12 layers,
#    I = 3072) with the formula of section 2, pooler included. Check your number against
#    `sum(p.numel() for p in BertModel(preset("bert-base")).parameters()) + 768 * 768 + 768`.
# 2. What share of all-MiniLM-L6-v2's loaded weights would remain if the vocabulary were cut to
#    the 8,000 most frequent tokens? Compute it from `count`, then check your formula on
#    `BertModel(preset("minilm", vocab_size=8000))`.
# 3. Write a checkpoint whose keys start with `model.bert.` (as some training frameworks save
#    them) and read the loader's message. Which one-line rule, added to `RENAMES`, would make it
#    load? Check with `rename_key` before you edit anything.
# 4. Write two folders with the real weights (`write_folder(path, None, values)`) whose
#    `config.json` changes no shape: `"num_attention_heads": 6` in one, `"hidden_act": "gelu_new"`
#    (GELU's tanh approximation) in the other. Both load without complaint. Measure
#    `max_differences(their_hidden, hidden)` on the batch of section 3: which one stays within the
#    "fp32_model" tolerance of `reference.compare.TOLERANCES`, and which one is another model?
