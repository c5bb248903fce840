"""The tokenizer wrapper (Hugging Face `tokenizers`) and reference/tokenizer.py (plain Python) agree on
generated text, on every code point of Unicode, or exactly where DIFFERENCES_FROM_TOKENIZERS says.

Two kinds of test:

- Every code point (0 to 0x10FFFF; the 2,048 surrogates D800-DFFF cannot be in a Python str, so
  they are left out): is it dropped or kept, whitespace, punctuation or CJK (its own word), and what
  do accent stripping and lowercasing make of it? Each code point is put between two letters
  ("a" + c + "a") and thousands of them are normalized and pre-tokenized at once by each side. A
  group on which the two sides agree is done; a group on which they differ is halved until the
  code points that differ are found one by one. The differences found must be exactly the listed
  ones: a difference that disappeared (a new `tokenizers` or Python) and one that appeared both fail.
- Property tests: texts built from words of chosen kinds (combining marks, CJK and its extensions,
  control and format characters, private use, unassigned code points, whitespace of every kind,
  words over 100 characters, special tokens written in the text) give the same ids on both sides,
  uncased and cased, alone, in pairs, and truncated. They leave out the listed code points, which
  the sweep covers.

Run with `-s` to see the counts that the sweep prints.
"""

from __future__ import annotations

import json
import re
import unicodedata

import generated_text
import pytest
import tokenizers
from fuzzing import fuzz
from hypothesis import given
from hypothesis import strategies as st

from minisbert import WordPieceTokenizer
from reference import tokenizer as ref

UNLIMITED = 10**6  # a max_length that truncates nothing
SURROGATES = range(0xD800, 0xE000)
ALL_CODE_POINTS = [cp for cp in range(0x110000) if cp not in SURROGATES]
GROUP = 512  # code points normalized at once by each side in the sweep
LISTED = ref.differing_code_points(lowercase=True)  # the most: "always" and "lowercasing" entries
THIS_RUN = {"unicodedata": unicodedata.unidata_version, "tokenizers": tokenizers.__version__}
VERSIONS = f"this run: {THIS_RUN}; the list was made with {ref.DIFFERENCES_MEASURED_WITH}"


@pytest.fixture(scope="module")
def vocab(model_folder):
    return ref.read_vocab(model_folder / "vocab.txt")


@pytest.fixture(scope="module")
def uncased(model_folder):
    """all-MiniLM-L6-v2's tokenizer as the sentence encoder loads it, from its tokenizer.json."""
    return WordPieceTokenizer.from_pretrained(model_folder)


@pytest.fixture(scope="module")
def built(model_folder):
    """The same vocabulary in the pipeline minisbert builds itself (`bert_pipeline`), uncased and cased."""
    vocab_file = model_folder / "vocab.txt"
    return {
        True: WordPieceTokenizer.from_vocab(vocab_file, lowercase=True),
        False: WordPieceTokenizer.from_vocab(vocab_file, lowercase=False),
    }


# -- every code point ----------------------------------------------------------------------------


def wrapper_view(tokenizer: WordPieceTokenizer, chars: list[str]) -> tuple[str, list[str]]:
    """What `tokenizers` makes of "a" c1 "a" c2 "a" ...: the normalized text and its words."""
    normalized = tokenizer.tokenizer.normalizer.normalize_str("a" + "a".join(chars) + "a")
    return normalized, [word for word, _ in tokenizer.tokenizer.pre_tokenizer.pre_tokenize_str(normalized)]


def reference_view(chars: list[str], lowercase: bool) -> tuple[str, list[str]]:
    """The same through reference/tokenizer.py."""
    normalized = ref.normalize("a" + "a".join(chars) + "a", lowercase)
    return normalized, ref.pre_tokenize(normalized)


def differing(tokenizer: WordPieceTokenizer, chars: list[str], lowercase: bool) -> list[str]:
    """The characters that the two treat differently: all of `chars` compared at once, and a group
    that differs halved until single characters remain. (Each character sits between two a's, so it
    cannot change how its neighbours are treated: a group differs exactly when one of them does.)"""
    if wrapper_view(tokenizer, chars) == reference_view(chars, lowercase):
        return []
    if len(chars) == 1:
        return chars
    half = len(chars) // 2
    return differing(tokenizer, chars[:half], lowercase) + differing(tokenizer, chars[half:], lowercase)


def describe(cps) -> str:
    return ", ".join(f"{cp:04X} {unicodedata.name(chr(cp), '(unassigned)')}" for cp in sorted(cps)[:20])


@pytest.mark.parametrize(
    "lowercase", [True, False], ids=["uncased: accents stripped and lowercased", "cased: kept as written"]
)
def test_every_code_point_is_treated_alike_except_the_listed_ones(built, lowercase):
    if THIS_RUN != ref.DIFFERENCES_MEASURED_WITH:  # other Unicode data: other differences, said aloud
        pytest.skip(
            f"the list of differences holds for other versions ({VERSIONS}); run this test with -s "
            "to see what differs here (the CJK test below still runs)"
        )
    chars = [chr(cp) for cp in ALL_CODE_POINTS]
    found = set()
    for start in range(0, len(chars), GROUP):
        found.update(ord(c) for c in differing(built[lowercase], chars[start : start + GROUP], lowercase))
    listed = ref.differing_code_points(lowercase)
    print(f"\n{len(ALL_CODE_POINTS):,} code points compared, {len(found):,} differ ({VERSIONS})")
    assert not found - listed, f"differ but are not listed: {describe(found - listed)}; {VERSIONS}"
    assert not listed - found, f"listed but no longer differ: {describe(listed - found)}; {VERSIONS}"


def wrapper_cjk(normalizer) -> set[int]:
    """The code points that a normalizer doing nothing but `handle_chinese_chars` puts spaces around."""
    chars = "".join(chr(cp) for cp in ALL_CODE_POINTS if cp != 0x20)  # so every space out is one it added
    normalized = normalizer.normalize_str(chars)
    found = {ord(match[1]) for match in re.finditer(" (.) ", normalized, flags=re.DOTALL)}
    assert len(normalized) == len(chars) + 2 * len(found)  # nothing else was added or taken away
    return found


def as_ranges(cps: set[int]) -> list[str]:
    """{1, 2, 3, 10} → ["1-3", "A-A"]."""
    ranges: list[list[int]] = []
    for cp in sorted(cps):
        if ranges and ranges[-1][1] == cp - 1:
            ranges[-1][1] = cp
        else:
            ranges.append([cp, cp])
    return [f"{lo:X}-{hi:X}" for lo, hi in ranges]


def test_cjk_ranges_agree_on_every_code_point_except_the_listed_typo():
    """The reference's CJK_RANGES are BERT's; `tokenizers` has its own copy: compared on all of
    Unicode, not only inside the listed ranges, they differ only where the list says."""
    from tokenizers import normalizers

    only_cjk = normalizers.BertNormalizer(
        clean_text=False, handle_chinese_chars=True, strip_accents=False, lowercase=False
    )
    theirs = wrapper_cjk(only_cjk)
    ours = {cp for cp in ALL_CODE_POINTS if ref.is_cjk(chr(cp))}
    print(f"\nCJK for tokenizers: {as_ranges(theirs)}; for the reference: {as_ranges(ours)}")
    (typo,) = [d for d in ref.DIFFERENCES_FROM_TOKENIZERS if "CJK" in d.reference]
    assert ours ^ theirs == set(ref.code_points(typo.code_points)), describe(ours ^ theirs)


def test_tokenizer_json_has_the_pipeline_minisbert_builds(uncased, built):
    """So the sweep over the built pipeline covers the tokenizer.json that the sentence encoder loads."""

    def steps_1_and_2(tokenizer):
        settings = json.loads(tokenizer.tokenizer.to_str())
        return settings["normalizer"], settings["pre_tokenizer"]

    assert steps_1_and_2(uncased) == steps_1_and_2(built[True])


# -- generated text (tests/generated_text.py), without the listed code points: the sweep checks those


def sentences():
    return generated_text.sentences(frozenset(LISTED))


def wrapper_ids(tokenizer, texts, max_length=UNLIMITED) -> list[list[int]]:
    return [ids for ids, _ in tokenizer.encode(texts, max_length=max_length)]


@fuzz(ci_examples=100)
@given(texts=st.lists(sentences(), min_size=1, max_size=4))
def test_uncased_ids_are_the_reference_ids(uncased, built, vocab, texts):
    expected = [ref.encode(text, vocab) for text in texts]
    assert wrapper_ids(uncased, texts) == expected  # the tokenizer.json of the model folder
    assert wrapper_ids(built[True], texts) == expected  # the pipeline built from vocab.txt


@fuzz(ci_examples=60)
@given(texts=st.lists(sentences(), min_size=1, max_size=4))
def test_cased_ids_are_the_reference_ids(built, vocab, texts):
    assert wrapper_ids(built[False], texts) == [ref.encode(text, vocab, lowercase=False) for text in texts]


@fuzz(ci_examples=60)
@given(first=sentences(), second=sentences(), max_length=st.integers(3, 40))
def test_pairs_are_truncated_like_the_reference(uncased, vocab, first, second, max_length):
    """Longest first, as `tokenizers` does it; a single text loses its last tokens."""
    assert uncased.encode([first], [second], max_length=max_length) == [
        ref.encode_pair(first, second, vocab, max_length=max_length)
    ]
    alone = ref.encode(first, vocab, max_length=max_length - 1)
    assert uncased.encode([first], max_length=max_length - 1) == [(alone, [0] * len(alone))]


@pytest.mark.parametrize(
    "n_first, n_second, room, kept",
    [
        (3, 4, 10, (3, 4)),
        (10, 3, 8, (5, 3)),
        (3, 10, 8, (3, 5)),
        (10, 10, 7, (3, 4)),
        (10, 9, 7, (4, 3)),
        (4, 10, 7, (3, 4)),
    ],
    ids=[
        "a pair that fits is kept whole",
        "a short second sentence is kept and the long first one cut",
        "a short first sentence is kept and the long second one cut",
        "two equally long sentences: the odd token goes to the second",
        "two long sentences: the odd token goes to the longer",
        "a shorter sentence longer than half the room is cut to half too",
    ],
)
def test_longest_first_worked_examples(n_first, n_second, room, kept):
    assert ref.longest_first(n_first, n_second, room) == kept
