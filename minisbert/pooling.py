"""Pooling: turn the token vectors (B, T, C) of a batch into one sentence vector each (B, C).

Source: Reimers & Gurevych, "Sentence-BERT" (EMNLP 2019), section 3: "We experiment with three
pooling strategies: Using the output of the CLS-token, computing the mean of all output vectors
(MEAN-strategy), and computing a max-over-time of the output vectors (MAX-strategy)."
sentence-transformers adds mean-sqrt-len (the sum divided by √n instead of n).

Every mode reads the attention mask, so padding never changes a sentence's vector. No function
writes into its input.

Shapes: B batch, T tokens, C hidden size; `mask` is (B, T) with 1 for a token and 0 for padding.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from .json_files import read_json_object

# ---------------------------------------------------------------------------------------------
# the pooling functions


def mean_pooling(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Σ_t m_t h_t / Σ_t m_t. Example: tokens [1, 3], [5, 7] and padding → [3, 5]."""
    # BEGIN EXERCISE pooling
    m = mask.unsqueeze(-1).to(hidden.dtype)  # (B, T, 1)
    summed = (hidden * m).sum(dim=1)  # (B, C)
    counts = m.sum(dim=1).clamp(min=1e-9)  # (B, 1), never divide by zero
    return summed / counts  # (B, C)
    # END EXERCISE pooling


def max_pooling(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """max_t h_t over real tokens, per dimension. Example: [1, 7], [5, 3] → [5, 7]."""
    # BEGIN EXERCISE pooling
    padding = (mask == 0).unsqueeze(-1)  # (B, T, 1)
    # masked_fill returns a new tensor: the caller's hidden states stay as they were
    return hidden.masked_fill(padding, float("-inf")).max(dim=1).values  # (B, C)
    # END EXERCISE pooling


def cls_pooling(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The vector of the first token, [CLS] (padding is always on the right)."""
    return hidden[:, 0]  # (B, C)


def mean_sqrt_len_pooling(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Σ_t m_t h_t / √(Σ_t m_t) = mean · √n. Example: tokens [1, 3], [5, 7] → [6, 10] / √2."""
    counts = mask.sum(dim=1, keepdim=True).to(hidden.dtype).clamp(min=1e-9)  # (B, 1), n per sentence
    return mean_pooling(hidden, mask) * counts.sqrt()  # (B, C)


# The names are sentence-transformers' `pooling_mode` strings.
POOLING_FUNCTIONS = {
    "cls": cls_pooling,
    "max": max_pooling,
    "mean": mean_pooling,
    "mean_sqrt_len_tokens": mean_sqrt_len_pooling,
}


def pool(hidden: torch.Tensor, mask: torch.Tensor, modes: tuple[str, ...] = ("mean",)) -> torch.Tensor:
    """Apply each mode and concatenate the results: (B, T, C) → (B, len(modes) * C)."""
    return torch.cat([POOLING_FUNCTIONS[m](hidden, mask) for m in modes], dim=-1)


def l2_normalize(x: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """x / max(‖x‖₂, eps) along the last dimension, so that dot product = cosine similarity."""
    return x / x.norm(dim=-1, keepdim=True).clamp(min=eps)


# ---------------------------------------------------------------------------------------------
# reading sentence-transformers' 1_Pooling/config.json

# The old form has one boolean per mode; several true modes are concatenated in this order.
LEGACY_KEYS = {
    "pooling_mode_cls_token": "cls",
    "pooling_mode_max_tokens": "max",
    "pooling_mode_mean_tokens": "mean",
    "pooling_mode_mean_sqrt_len_tokens": "mean_sqrt_len_tokens",
    "pooling_mode_weightedmean_tokens": "weightedmean",
    "pooling_mode_lasttoken": "lasttoken",
}


@dataclass(frozen=True)
class PoolingConfig:
    """Which pooling modes to apply, in order, and the width C of the token vectors."""

    modes: tuple[str, ...] = ("mean",)
    dimension: int | None = None

    def __post_init__(self) -> None:
        if not self.modes:
            raise ValueError("a PoolingConfig needs at least one mode")
        unknown = [m for m in self.modes if m not in POOLING_FUNCTIONS]
        if unknown:
            raise ValueError(
                f"pooling mode {unknown[0]!r} is not supported; minisbert implements "
                f"{', '.join(POOLING_FUNCTIONS)}"
            )

    @property
    def output_dimension(self) -> int | None:
        return None if self.dimension is None else self.dimension * len(self.modes)

    @classmethod
    def from_dict(cls, values: dict) -> PoolingConfig:
        """Read either `{"pooling_mode": "mean"}` (newer) or `{"pooling_mode_mean_tokens": true, ...}`.
        Raises a ValueError naming the key whose value has the wrong type, or the mode unknown."""
        dimension = values.get("embedding_dimension", values.get("word_embedding_dimension"))
        positive_int = isinstance(dimension, int) and not isinstance(dimension, bool) and dimension > 0
        if dimension is not None and not positive_int:
            raise ValueError(f"the embedding dimension must be a positive integer, got {dimension!r}")
        if "pooling_mode" in values:
            mode = values["pooling_mode"]
            modes = (mode,) if isinstance(mode, str) else mode
            if not isinstance(modes, (list, tuple)) or not all(isinstance(m, str) for m in modes):
                raise ValueError(f"pooling_mode must be a mode name or a list of them, got {mode!r}")
            return cls(modes=tuple(modes), dimension=dimension)
        flags = {key: values[key] for key in LEGACY_KEYS if key in values}
        wrong = [key for key, on in flags.items() if not isinstance(on, bool)]
        if wrong:
            raise ValueError(f"{wrong[0]} must be true or false, got {flags[wrong[0]]!r}")
        # a file with no flag at all means sentence-transformers' default, mean; one whose flags
        # are all false asks for nothing, which is a broken file rather than a request for mean
        if flags and not any(flags.values()):
            raise ValueError(f"no pooling mode is on: {', '.join(flags)} are all false")
        modes = tuple(name for key, name in LEGACY_KEYS.items() if flags.get(key, False))
        return cls(modes=modes or ("mean",), dimension=dimension)

    @classmethod
    def from_json(cls, path: str | Path) -> PoolingConfig:
        """Read `1_Pooling/config.json` (the file, or the folder that holds it)."""
        path = Path(path)
        path = path / "config.json" if path.is_dir() else path
        try:
            return cls.from_dict(read_json_object(path, "pooling config"))
        except ValueError as err:
            message = str(err)  # read_json_object's errors name the file already
            raise ValueError(message if str(path) in message else f"{path}: {message}") from None

    def to_dict(self) -> dict:
        """The newer sentence-transformers form."""
        mode = self.modes[0] if len(self.modes) == 1 else list(self.modes)
        return {"embedding_dimension": self.dimension, "pooling_mode": mode, "include_prompt": True}
