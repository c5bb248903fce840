"""The BERT hyper-parameters, with Hugging Face's field names.

A `config.json` written by Hugging Face `transformers` holds many keys; the encoder needs only
the ones below. `BertConfig.from_json` reads such a file and ignores every other key, so the same
class loads BERT-base, MiniLM or a tiny test model.

Source: Devlin et al., "BERT" (NAACL 2019), section 3 and appendix A.2 for the base sizes.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from .files import read_json_object

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
        values = read_json_object(path, "BERT config")
        model_type = values.get("model_type", "bert")
        if model_type != "bert":
            raise ValueError(
                f"{path} describes a {model_type!r} model; minisbert loads BERT-architecture models only"
            )
        return cls.from_dict(values)

    def to_dict(self) -> dict:
        """The fields as a dict, with the keys `transformers` expects in a `config.json`."""
        return {"model_type": "bert", "architectures": ["BertModel"], **dataclasses.asdict(self)}


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
