"""Exercise wordpiece: greedy longest-match-first WordPiece in pure Python
(reference/tokenizer.py, `wordpiece`), on BERT's real vocabulary and on a toy one."""

from __future__ import annotations

import numpy as np
import pytest

from exercises.golden_io import load_golden
from minisbert.pretrained import default_model_folder
from reference.tokenizer import read_vocab, wordpiece

EXERCISE = "wordpiece"
WORDS = [
    "the", "embeddings", "unaffable", "pneumonoultramicroscopicsilicovolcanoconiosis", "tokenization",
    "running", "x", "##", "[UNK]", "a" * 100, "a" * 101, "naïve", "北", "🤗", "hello123", "transformers",
    "antidisestablishmentarianism", "zzzzqqqq", "re", "##ing",
]  # fmt: skip
TOY = {"un": 0, "##aff": 1, "##able": 2, "a": 3, "##b": 4, "ab": 5, "##c": 6}


def cases() -> dict[str, np.ndarray]:
    return {"words": np.array(WORDS)}


def run(inputs: dict) -> dict[str, np.ndarray]:
    vocab = read_vocab(default_model_folder() / "vocab.txt")
    pieces = [" ".join(wordpiece(str(w), vocab)) for w in inputs["words"]]
    return {"pieces": np.array(pieces)}


def test_known_answers_on_a_toy_vocabulary():
    """Longest match first: "abc" → ab, ##c (not a, ##b, ##c)."""
    assert wordpiece("unaffable", TOY) == ["un", "##aff", "##able"]
    assert wordpiece("abc", TOY) == ["ab", "##c"]
    assert wordpiece("abb", TOY) == ["ab", "##b"]


def test_no_fit_anywhere_makes_the_whole_word_unknown():
    assert wordpiece("unaffablex", TOY) == ["[UNK]"], "one position without a piece: the whole word is [UNK]"
    assert wordpiece("b", TOY) == ["[UNK]"], "a word cannot start with a continuation piece"


@pytest.mark.parametrize("index", range(len(WORDS)), ids=WORDS)
def test_pieces_on_bert_vocabulary(index):
    inputs, expected = load_golden(EXERCISE)
    got = run(inputs)["pieces"][index]
    assert got == expected["pieces"][index], (
        f"{WORDS[index]!r}: got {got!r}, expected {expected['pieces'][index]!r}"
    )
