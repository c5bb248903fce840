"""Generated text for the property tests: what students will really feed minisbert.

`hypothesis`'s plain `st.text()` draws mostly ordinary letters; the characters that break
tokenizers (combining marks, CJK and its extensions, control and format characters, private use,
unassigned code points, odd whitespace, very long words) come up rarely. `sentences()` builds each
text from words, and draws each word from one of those families on purpose.
"""

from __future__ import annotations

import functools

from hypothesis import strategies as st

# Families of characters (ranges of code points, both ends included) that trip tokenizers up.
FAMILIES = {
    "accented latin": [(0xC0, 0x24F), (0x1E00, 0x1EFF)],
    "combining marks": [(0x300, 0x36F), (0x483, 0x489), (0x591, 0x5BD), (0x1AB0, 0x1AFF), (0x20D0, 0x20FF)],
    "greek, cyrillic, arabic, indic": [(0x370, 0x3FF), (0x400, 0x4FF), (0x600, 0x6FF), (0x900, 0xDFF)],
    "cjk": [(0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0xF900, 0xFAFF), (0x2F800, 0x2FA1F)],
    # Extensions B to I, with the code points between them (2B820-2B91F included: left out below)
    "cjk extensions": [(0x20000, 0x2EE5F), (0x30000, 0x323AF)],
    "kana, hangul, fullwidth": [(0x3040, 0x30FF), (0xAC00, 0xD7A3), (0xFF00, 0xFFEF)],
    "control": [(0x00, 0x1F), (0x7F, 0x9F)],
    "format": [(0xAD, 0xAD), (0x200B, 0x200F), (0x202A, 0x202E), (0x2060, 0x2064), (0xFEFF, 0xFEFF)],
    "whitespace": [(0x09, 0x0D), (0x20, 0x20), (0x85, 0x85), (0xA0, 0xA0), (0x1680, 0x1680)]
    + [(0x2000, 0x200A), (0x2028, 0x2029), (0x202F, 0x202F), (0x205F, 0x205F), (0x3000, 0x3000)],
    "punctuation and symbols": [(0x21, 0x2F), (0x3A, 0x40), (0x2010, 0x205E), (0x3000, 0x303F)],
    "emoji": [(0x1F300, 0x1FAFF), (0xFE00, 0xFE0F), (0x1F3FB, 0x1F3FF)],
    "private use": [(0xE000, 0xF8FF), (0xF0000, 0xF00FF), (0x10FF00, 0x10FFFD)],
    "unassigned": [(0x0378, 0x0379), (0x2FE0, 0x2FEF), (0xE0080, 0xE00FF), (0x10FFFE, 0x10FFFF)],
    "next to the surrogates": [(0xD7B0, 0xD7FF), (0xE000, 0xE00F), (0xFFF0, 0xFFFF)],
    "anything": [(0x0, 0xD7FF), (0xE000, 0x10FFFF)],
}
COMMON_WORDS = ["the", "a", "man", "is", "playing", "guitar", "embeddings", "don't", "naïve", "Café"]


LONG_LETTERS = ["a", "é", "e\u0301", "北", "ß", "\U00020000", "\u200b"]  # 1 to 4 bytes a character
SPECIAL_LOOKALIKES = ["[CLS]", "[SEP]", "[PAD]", "[UNK]", "[MASK]", "[unused0]", "[sep]", "[SEP"]


def characters(family: str, excluded: frozenset[int]) -> st.SearchStrategy[str]:
    """One character of a family, never one of `excluded`."""
    code_points = st.one_of(*(st.integers(lo, hi) for lo, hi in FAMILIES[family]))
    return (code_points.filter(lambda cp: cp not in excluded) if excluded else code_points).map(chr)


@functools.cache  # hypothesis spends most of its time building strategies: build each one once
def sentences(excluded: frozenset[int] = frozenset()) -> st.SearchStrategy[str]:
    """Up to 8 words: ordinary, of one family, mixed from all, around BERT's 100-character limit,
    special tokens (or nearly); between two words a space, any whitespace, punctuation or nothing at
    all. No character of `excluded` (code points) appears."""
    chars = {family: characters(family, excluded) for family in FAMILIES}
    words = st.one_of(
        st.sampled_from(COMMON_WORDS),
        st.one_of(*(st.text(c, min_size=1, max_size=8) for c in chars.values())),  # of one family
        st.text(st.one_of(*chars.values()), min_size=1, max_size=8),  # mixed from all families
        st.builds(lambda letter, n: letter * n, st.sampled_from(LONG_LETTERS), st.integers(95, 130)),
        st.sampled_from(SPECIAL_LOOKALIKES),  # special tokens, or nearly
    )
    glue = st.one_of(st.just(" "), chars["whitespace"], chars["punctuation and symbols"], st.just(""))
    return st.lists(st.tuples(words, glue), max_size=8).map(lambda parts: "".join(w + g for w, g in parts))
