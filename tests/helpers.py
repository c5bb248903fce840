"""Shared test helpers: the tricky texts, random models and batches, and numerical gradients.

Every numeric comparison in the tests goes through `assert_close(actual, expected, "<name>")`
with a tolerance named in `reference/compare.py`, re-exported here.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from reference.compare import TOLERANCES, assert_close, max_differences, to_numpy  # noqa: F401


def int8_missing() -> str | None:
    """Why this torch cannot run precision int8 (PyTorch's x86 quantised kernels, fbgemm, are not
    in its ARM builds, Apple silicon included), or None when it can."""
    from minisbert.kernels.packed_linear import int8_engine

    try:
        int8_engine()
        return None
    except ValueError as err:
        return str(err)


# on tests that run int8: skipped, naming the missing kernel, where this torch has none
INT8_MISSING = int8_missing()
needs_int8 = pytest.mark.skipif(INT8_MISSING is not None, reason=str(INT8_MISSING))

LONG_TEXT = " ".join(["The quick brown fox jumps over the lazy dog near the riverbank."] * 40)

# Text that trips tokenizers and encoders up. Each line says what it exercises.
TRICKY_TEXTS = [
    "A man is playing a guitar.",
    "",  # empty: BERT encodes it as [CLS] [SEP]
    "   ",  # whitespace only
    "\t\n\r\n",
    "Héllo Wörld, naïve café résumé — Ångström façade",  # accents stripped by lowercasing
    "e\u0301 a\u0308 n\u0303 (combining accents)",
    "北京欢迎你。東京と大阪 한국어",  # CJK characters become single tokens
    "Emoji 🤗🎉👩‍👩‍👧 and symbols ∑∫≈ ☃ ♞",  # unknown symbols → [UNK]
    "zero\u200bwidth\u200cnon\u200djoiner and soft\u00adhyphen",  # zero-width and format characters
    "control \x00\x07\x1b chars \ufeff BOM \x7f",  # control characters are dropped
    "Visit https://example.com/path?q=1&r=two#frag or mail a.b@c.org",  # URLs split at punctuation
    "pneumonoultramicroscopicsilicovolcanoconiosis antidisestablishmentarianism",  # ## pieces
    "a" * 150,  # a word over 100 characters is [UNK]
    "don't stop-believing!!! (really?) [brackets] {braces} «quotes»",
    "Numbers 3.14159, 1,000,000 and 2026-11-27",
    "ＦＵＬＬＷＩＤＴＨ ｔｅｘｔ and the ﬁ ligature",
    "Ελληνικά Русский العربية עברית हिन्दी",
    "UPPER lower MiXeD CaSe",
    "tab\tseparated\nnew line\r\ncarriage\u2028line separator\u00a0nbsp",
    LONG_TEXT,  # over max_seq_length: truncated
]

# (first, second) sentence pairs for the pair-encoding tests
TRICKY_PAIRS = [
    ("A man is eating food.", "A man is eating a piece of bread."),
    ("", "An empty first sentence."),
    ("Café 北京 🤗", "résumé\u200b naïve"),
    (LONG_TEXT, "A short second sentence."),
    ("A short first sentence.", LONG_TEXT),
    (LONG_TEXT, LONG_TEXT),
]


def random_model(config, seed: int = 0, dtype=torch.float64):
    """A BertModel whose every weight is random (not BERT's near-zero init), so mirror tests bite."""
    from minisbert import BertModel

    torch.manual_seed(seed)
    model = BertModel(config).to(dtype).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.copy_(torch.randn_like(p) * 0.3 + (1.0 if "LayerNorm.weight" in name else 0.0))
    return model


def params_of(model) -> dict[str, np.ndarray]:
    """The reference's view of a torch model: its state_dict as NumPy arrays."""
    return {k: v.detach().cpu().numpy() for k, v in model.state_dict().items()}


def random_batch(config, lengths: list[int], seed: int = 0, pairs: bool = False):
    """Token ids (B, T) padded on the right to max(lengths), with the matching mask and segments."""
    g = torch.Generator().manual_seed(seed)
    B, T = len(lengths), max(lengths)
    input_ids = torch.randint(1, config.vocab_size, (B, T), generator=g)
    mask = (torch.arange(T)[None, :] < torch.tensor(lengths)[:, None]).long()
    input_ids = input_ids * mask  # pad id 0 after each sentence
    token_type_ids = (torch.arange(T)[None, :] >= torch.tensor(lengths)[:, None] // 2).long() * mask
    if not pairs:
        token_type_ids = torch.zeros_like(input_ids)
    return input_ids, mask, token_type_ids


def numerical_gradient(f, x: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Central differences (f(x + eps·e_i) − f(x − eps·e_i)) / 2eps for every element i of x.

    `f` takes no argument and reads `x`, which is changed in place and restored element by element.
    Error O(eps²) from the Taylor series plus O(1e-16 / eps) from rounding: about 1e-9 at eps=1e-6.
    """
    grad = np.zeros_like(x, dtype=np.float64)
    for i in np.ndindex(x.shape):
        old = x[i]
        x[i] = old + eps
        up = f()
        x[i] = old - eps
        down = f()
        x[i] = old
        grad[i] = (up - down) / (2 * eps)
    return grad
