"""The pure-Python WordPiece in reference/tokenizer.py against the `tokenizers`-based wrapper:
identical ids on every sentence of the STS benchmark and SICK, on hard cases, and on a freshly
trained vocabulary.

Where the two differ (characters that Python's newer Unicode tables know and those inside
`tokenizers` do not, e.g. U+061D of Unicode 14, and one typo in `tokenizers`' CJK ranges) is listed
in `reference.tokenizer.DIFFERENCES_FROM_TOKENIZERS`; tests/test_tokenizer_properties.py checks the
list on every code point and compares the two on generated text.
"""

from __future__ import annotations

import pytest
from helpers import TRICKY_PAIRS, TRICKY_TEXTS

from minisbert import WordPieceTokenizer
from minisbert.data import read_sick, read_sts
from reference import tokenizer as ref

UNLIMITED = 10**6  # the reference never truncates; neither does the wrapper for these comparisons

HARD_CASES = (
    TRICKY_TEXTS
    + [first + " " + second for first, second in TRICKY_PAIRS]
    + [
        "hello [SEP] world[CLS]x [MASK]",  # special tokens written in text stay whole
        "a\x0bb\x0cc\x85d",  # control characters that are also whitespace are dropped, not spaced
        "x\x1cy\x1fz",  # U+001C..U+001F: control for BERT, whitespace for Python's str.isspace
        "İstanbul ΣΑΣ",  # lowercasing character by character: no final sigma
        "ǅ ß ﬀ ﬁ Ⅻ ①",  # titlecase, ligatures, numerals
        "\u0301abc \u200b\u200c\u200d\u2060\ufeff",  # leading combining mark, zero-width characters
        "\ue000 private use \U000f0000",  # private use is dropped
        "$5 + 3^2 = <14> | ~`",  # ASCII symbols are punctuation for BERT
        "x" * 100 + " " + "y" * 101,  # 100 characters is still a word, 101 is [UNK]
        "supercalifragilisticexpialidocious" * 3,
        "",
    ]
)


@pytest.fixture(scope="module")
def vocab(model_folder):
    return ref.read_vocab(model_folder / "vocab.txt")


@pytest.fixture(scope="module")
def wrapper(model_folder):
    return WordPieceTokenizer.from_pretrained(model_folder)


def wrapper_ids(wrapper, texts) -> list[list[int]]:
    return [ids for ids, _ in wrapper.encode(texts, max_length=UNLIMITED)]


@pytest.mark.parametrize("text", HARD_CASES, ids=range(len(HARD_CASES)))
def test_hard_cases(vocab, wrapper, text):
    assert ref.encode(text, vocab) == wrapper_ids(wrapper, [text])[0]
    assert ref.tokenize(text, vocab) == wrapper.tokenize(text)


def test_every_sentence_of_sts_and_sick(vocab, wrapper, data_dir):
    texts = []
    for split in ("train", "dev", "test"):
        texts += [
            s
            for p in read_sts(data_dir / "stsbenchmark" / f"sts-{split}.csv")
            for s in (p.sentence1, p.sentence2)
        ]
    texts += [s for p in read_sick(data_dir / "sick" / "SICK.txt") for s in (p.sentence1, p.sentence2)]
    assert len(texts) == 2 * (5749 + 1500 + 1379 + 9927)
    mismatched = [
        t
        for t, a, b in zip(
            texts, (ref.encode(t, vocab) for t in texts), wrapper_ids(wrapper, texts), strict=True
        )
        if a != b
    ]
    assert mismatched == []


@pytest.mark.parametrize(
    "function, text, expected",
    [
        (ref.clean, "a\x00b\tc\x07d", "ab cd"),
        (ref.space_cjk, "ab北京", "ab 北  京 "),
        (ref.strip_accents, "Héllo naïve", "Hello naive"),
        (ref.pre_tokenize, "don't stop!", ["don", "'", "t", "stop", "!"]),
    ],
    ids=["clean", "cjk", "accents", "pre-tokenize"],
)
def test_each_step_known_answer(function, text, expected):
    assert function(text) == expected


def test_wordpiece_known_answer(vocab):
    """Greedy longest match first; a word that cannot be covered is one [UNK]."""
    assert ref.wordpiece("embeddings", vocab) == ["em", "##bed", "##ding", "##s"]
    assert ref.wordpiece("🤗", vocab) == ["[UNK]"]
    toy = {"un": 0, "##aff": 1, "##able": 2, "[UNK]": 3}
    assert ref.wordpiece("unaffable", toy) == ["un", "##aff", "##able"]
    assert ref.wordpiece("unaffablex", toy) == ["[UNK]"]


def test_trained_vocabulary_gives_the_same_ids_both_ways(tmp_path, data_dir):
    pairs = read_sts(data_dir / "stsbenchmark" / "sts-dev.csv")
    texts = [s for p in pairs for s in (p.sentence1, p.sentence2)]
    trained = WordPieceTokenizer.train(texts, vocab_size=1500)
    assert trained.vocab_size == 1500
    assert trained.ids_to_tokens(range(5)) == [
        "[PAD]",
        "[UNK]",
        "[CLS]",
        "[SEP]",
        "[MASK]",
    ]
    trained.save(tmp_path)
    assert {p.name for p in tmp_path.iterdir()} == {
        "vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"
    }  # fmt: skip
    vocab = ref.read_vocab(tmp_path / "vocab.txt")
    reloaded = [
        WordPieceTokenizer.from_pretrained(tmp_path),
        WordPieceTokenizer.from_vocab(tmp_path / "vocab.txt"),
    ]
    for text in texts[:500] + HARD_CASES:
        expected = ref.encode(text, vocab)
        assert all(wrapper_ids(tok, [text])[0] == expected for tok in [trained, *reloaded]), text


def test_training_a_vocabulary_needs_room():
    with pytest.raises(ValueError, match="no room beside the special tokens"):
        WordPieceTokenizer.train(["a b c"], vocab_size=5)
