"""The sentence-transformers folder format, read and written in this one place.

A sentence-transformers model folder describes the whole pipeline of `SentenceEncoder`:

    modules.json                 the pipeline: Transformer, Pooling, optionally Normalize, each with
                                 the sub-folder that holds its files
    sentence_bert_config.json    the Transformer's `max_seq_length` and `do_lower_case`
    1_Pooling/config.json        the pooling modes (see `PoolingConfig.from_dict`)
    2_Normalize/                 present when the embeddings are L2-normalised
    config.json, model.safetensors          the BERT encoder (read and written by `pretrained.py`)
    tokenizer.json, vocab.txt, ...          the tokenizer (read and written by `tokenizer.py`)

`read_model_folder` reads each of these description files once and returns what they say;
`SentenceEncoder.from_pretrained` builds the encoder from it. A plain BERT folder (no
modules.json) is read as a Transformer followed by mean pooling, the SBERT paper's default.
`write_model_folder` writes the same format, so that minisbert and sentence-transformers both
load what minisbert saves (`SentenceEncoder.save_pretrained` writes it into a new folder first, so
that a crash never leaves half a model: minisbert/files/saving.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .json_files import read_json, write_json
from .pooling import PoolingConfig
from .pretrained import write_weights

MODULE_TYPE = "sentence_transformers.models.{}"
SUPPORTED_PIPELINE = "Transformer, then Pooling, then optionally Normalize"


@dataclass(frozen=True)
class ModelFolder:
    """What a model folder says about the pipeline."""

    bert_folder: Path  # holds config.json, the weights and the tokenizer files
    pooling: PoolingConfig
    normalize: bool
    max_seq_length: int | None  # None: the tokenizer's own limit
    do_lower_case: bool  # lowercase before the tokenizer's own normalisation


# ---------------------------------------------------------------------------------------------
# reading


def read_modules(folder: Path) -> list[tuple[str, str]]:
    """(kind, sub-folder) of each module in modules.json; a plain BERT folder is one Transformer."""
    path = folder / "modules.json"
    modules = read_json(path, default=[{"path": "", "type": MODULE_TYPE.format("Transformer")}])
    if not isinstance(modules, list) or not all(
        isinstance(m, dict) and isinstance(m.get("type"), str) and isinstance(m.get("path"), str)
        for m in modules
    ):
        raise ValueError(f'{path} must be a list of modules, each with a "type" and a "path" (strings)')
    for m in modules:
        # a module's files are inside the model folder: "../x" or "/x" would read from elsewhere
        parts = Path(m["path"]).parts
        if Path(m["path"]).is_absolute() or ".." in parts:
            raise ValueError(f"{path} gives module path {m['path']!r}, which leads outside {folder}")
    return [(m["type"].rsplit(".", 1)[-1], m["path"]) for m in modules]


def read_model_folder(folder: str | Path) -> ModelFolder:
    """Read modules.json, sentence_bert_config.json and the pooling config of a model folder."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"model folder not found: {folder}")
    modules = read_modules(folder)
    kinds = [kind for kind, _ in modules]
    if kinds[:1] != ["Transformer"] or kinds[1:] not in (
        [],
        ["Pooling"],
        ["Normalize"],
        ["Pooling", "Normalize"],
    ):
        raise ValueError(f"{folder / 'modules.json'} lists {kinds}: minisbert supports {SUPPORTED_PIPELINE}")
    paths = dict(modules)
    bert_folder = folder / paths["Transformer"]
    settings = read_json(bert_folder / "sentence_bert_config.json", default={})
    if not isinstance(settings, dict):
        raise ValueError(f"{bert_folder / 'sentence_bert_config.json'} must hold a JSON object")
    max_seq_length = settings.get("max_seq_length")
    if max_seq_length is not None and (not isinstance(max_seq_length, int) or max_seq_length < 2):
        raise ValueError(
            f"{bert_folder / 'sentence_bert_config.json'}: max_seq_length must be an integer of at "
            f"least 2 ([CLS] and [SEP]), got {max_seq_length!r}"
        )
    pooling = PoolingConfig.from_json(folder / paths["Pooling"]) if "Pooling" in paths else PoolingConfig()
    if "Pooling" in paths:
        check_pooling_width(pooling, folder / paths["Pooling"] / "config.json", bert_folder / "config.json")
    return ModelFolder(
        bert_folder=bert_folder,
        pooling=pooling,
        normalize="Normalize" in paths,
        max_seq_length=max_seq_length,
        do_lower_case=bool(settings.get("do_lower_case", False)),
    )


def check_pooling_width(pooling: PoolingConfig, pooling_path: Path, config_path: Path) -> None:
    """The pooling config's word_embedding_dimension must be the BERT's hidden_size: checked here,
    where both file names are known, so that the error can name them."""
    config = read_json(config_path, default=None)  # a missing config.json is named when it is read
    width = config.get("hidden_size") if isinstance(config, dict) else None
    if pooling.dimension is not None and isinstance(width, int) and pooling.dimension != width:
        raise ValueError(
            f"{pooling_path} pools {pooling.dimension}-dimensional token vectors, but {config_path} "
            f"gives hidden_size {width}"
        )


# ---------------------------------------------------------------------------------------------
# writing


def write_model_folder(encoder, folder: str | Path) -> None:
    """Write every file of `encoder` (a SentenceEncoder) into `folder`, in the format above."""
    folder = Path(folder)
    write_weights(encoder.model, folder)
    encoder.tokenizer.save(folder, model_max_length=encoder.max_seq_length)
    # the tokenizer's own settings already say whether it lowercases: no extra lowercasing step
    write_json(
        folder / "sentence_bert_config.json",
        {"max_seq_length": encoder.max_seq_length, "do_lower_case": False},
    )
    modules = [("", "Transformer"), ("1_Pooling", "Pooling")]
    if encoder.normalize:
        modules.append(("2_Normalize", "Normalize"))
    write_json(
        folder / "modules.json",
        [
            {"idx": i, "name": str(i), "path": path, "type": MODULE_TYPE.format(kind)}
            for i, (path, kind) in enumerate(modules)
        ],
    )
    write_json(folder / "1_Pooling" / "config.json", encoder.pooling.to_dict())
    if encoder.normalize:
        write_json(folder / "2_Normalize" / "config.json", {})
