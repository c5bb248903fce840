"""The BERT hyper-parameters, with Hugging Face's field names.

A `config.json` written by Hugging Face `transformers` holds many keys; the encoder needs only
the ones below. `BertConfig.from_json` reads such a file and ignores every other key, so the same
class loads BERT-base, MiniLM or a tiny test model.

Source: Devlin et al., "BERT" (NAACL 2019), section 3 and appendix A.2 for the base sizes.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path

from .json_files import read_json_object

# The activations `hidden_act` may name. "gelu" is the exact form x * Phi(x) with the error
# function; "gelu_new" and "gelu_pytorch_tanh" are the tanh approximation used by GPT-2 and
# some BERT variants; "relu" is max(x, 0).
SUPPORTED_ACTIVATIONS = ("gelu", "gelu_new", "gelu_pytorch_tanh", "relu")


@dataclass
class BertConfig:
    """Sizes of a BERT encoder. Field names and defaults are those of BERT-base in `transformers`."""

    vocab_size: int = 30522
    hidden_size: int = 768  # C
    num_hidden_layers: int = 12
    num_attention_heads: int = 12  # nh; head size hs = C // nh
    intermediate_size: int = 3072  # I, the feed-forward width
    hidden_act: str = "gelu"
    hidden_dropout_prob: float = 0.1
    attention_probs_dropout_prob: float = 0.1
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
    layer_norm_eps: float = 1e-12
    pad_token_id: int = 0
    initializer_range: float = 0.02
    position_embedding_type: str = "absolute"  # BERT's learned positions 0..T-1

    def __post_init__(self) -> None:
        check_fields(self)
        if self.hidden_size % self.num_attention_heads != 0:
            raise ValueError(
                f"hidden_size ({self.hidden_size}) must be a multiple of "
                f"num_attention_heads ({self.num_attention_heads})"
            )
        if self.position_embedding_type != "absolute":
            raise ValueError(
                f"position_embedding_type {self.position_embedding_type!r} is not supported; "
                "minisbert implements BERT's learned absolute positions"
            )
        if self.hidden_act not in SUPPORTED_ACTIVATIONS:
            raise ValueError(
                f"hidden_act {self.hidden_act!r} is not supported; "
                f"choose one of {', '.join(SUPPORTED_ACTIVATIONS)}"
            )

    @property
    def parameter_count(self) -> int:
        """The number of weights of a `BertModel` of these sizes (BERT's pooler not included):
        V·C + P·C + S·C + 2C for the embeddings, and per layer 4(C² + C) for attention,
        2C·I + I + C for the feed-forward and 4C for the two LayerNorms."""
        C, I = self.hidden_size, self.intermediate_size
        embeddings = (self.vocab_size + self.max_position_embeddings + self.type_vocab_size + 2) * C
        layer = 4 * (C * C + C) + 2 * C * I + I + C + 4 * C
        return embeddings + self.num_hidden_layers * layer

    @property
    def head_size(self) -> int:
        """hs, the width of one attention head."""
        return self.hidden_size // self.num_attention_heads

    @classmethod
    def from_dict(cls, values: dict) -> BertConfig:
        """Build a config from a dict, keeping the known keys and ignoring the rest."""
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})

    @classmethod
    def from_json(cls, path: str | Path) -> BertConfig:
        """Read a Hugging Face `config.json` (a file, or a folder that holds one)."""
        path = Path(path) / "config.json" if Path(path).is_dir() else Path(path)  # errors name the file
        values = read_json_object(path, "BERT config")
        model_type = values.get("model_type", "bert")
        if model_type != "bert":
            raise ValueError(
                f"{path} describes a {model_type!r} model (model_type); minisbert loads BERT models only"
            )
        missing = [key for key in REQUIRED_KEYS if key not in values]
        if missing:
            raise ValueError(f"{path} lacks {', '.join(missing)}: the sizes of the model it describes")
        try:
            return cls.from_dict(values)
        except ValueError as err:
            raise ValueError(f"{path}: {err}") from None

    def to_dict(self) -> dict:
        """The fields as a dict, with the keys `transformers` expects in a `config.json`."""
        return {"model_type": "bert", "architectures": ["BertModel"], **dataclasses.asdict(self)}


# ---------------------------------------------------------------------------------------------
# checking the values: a config.json is user input, and a wrong size would only show up later as
# a crash deep in torch, or as an allocation of terabytes

# The layer sizes differ from model to model, and a default (BERT-base's) would only hide the
# problem until the weights do not fit; vocab_size may default to BERT's own 30,522 WordPieces,
# which most BERT models share (as in `transformers`)
REQUIRED_KEYS = ("hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size")
# (field, smallest value): sizes must be positive, and a sentence needs two positions, [CLS] [SEP]
SIZES = (
    ("vocab_size", 1),
    ("hidden_size", 1),
    ("num_hidden_layers", 1),
    ("num_attention_heads", 1),
    ("intermediate_size", 1),
    ("max_position_embeddings", 2),
    ("type_vocab_size", 1),
)
PROBABILITIES = ("hidden_dropout_prob", "attention_probs_dropout_prob")
# Megatron-BERT, the largest published BERT, has 3.9 billion weights: a config.json that asks for
# more is a typo or a forgery, refused before a single weight is allocated
MAX_PARAMETERS = 4_000_000_000


def is_int(value) -> bool:
    """True for a JSON integer; bool is a subclass of int in Python, but `true` is no size."""
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value) -> bool:
    """True for a finite JSON number (int or float), not a bool, not NaN or infinity."""
    return (is_int(value) or isinstance(value, float)) and math.isfinite(value)


def check_fields(config: BertConfig) -> None:
    """Raise a ValueError naming the first field whose value has the wrong type or range."""
    for name, least in SIZES:
        value = getattr(config, name)
        if not is_int(value) or value < least:
            raise ValueError(f"{name} must be an integer of at least {least}, got {value!r}")
    for name in PROBABILITIES:
        value = getattr(config, name)
        if not is_number(value) or not 0 <= value < 1:
            raise ValueError(f"{name} must be a number in [0, 1), got {value!r}")
    eps = config.layer_norm_eps
    if not is_number(eps) or eps <= 0:
        raise ValueError(f"layer_norm_eps must be a positive number, got {eps!r}")
    spread = config.initializer_range
    if not is_number(spread) or spread < 0:
        raise ValueError(f"initializer_range must be a number of at least 0, got {spread!r}")
    pad = config.pad_token_id  # null is allowed: no padding row
    if pad is not None and (not is_int(pad) or not 0 <= pad < config.vocab_size):
        raise ValueError(
            f"pad_token_id must be an integer id below vocab_size ({config.vocab_size}), got {pad!r}"
        )
    for name in ("hidden_act", "position_embedding_type"):
        if not isinstance(getattr(config, name), str):
            raise ValueError(f"{name} must be a string, got {getattr(config, name)!r}")
    if config.parameter_count > MAX_PARAMETERS:
        counted = [name for name, _ in SIZES if name != "num_attention_heads"]  # the sizes in the count
        raise ValueError(
            f"these sizes make a model of {config.parameter_count:,} weights, more than any BERT "
            f"(at most {MAX_PARAMETERS:,}); check {', '.join(counted)}"
        )


# Small named presets for tests and tutorials. Dropout is off so that outputs are deterministic.
PRESETS = {
    # two layers, four heads of size 8: small enough to check by finite differences
    "tiny": dict(
        vocab_size=100,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=64,
        max_position_embeddings=64,
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
    ),
    # the shape of all-MiniLM-L6-v2, with random weights
    "minilm": dict(
        hidden_size=384,
        num_hidden_layers=6,
        num_attention_heads=12,
        intermediate_size=1536,
    ),
    "bert-base": dict(),
}


def preset(name: str, **overrides) -> BertConfig:
    """A named config, e.g. `preset("tiny", hidden_act="relu")`."""
    if name not in PRESETS:
        raise KeyError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")
    return BertConfig(**{**PRESETS[name], **overrides})
