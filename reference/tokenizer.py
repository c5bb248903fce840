"""BERT's WordPiece tokenization in pure Python (mirrors minisbert/tokenizer.py, which wraps the
Rust `tokenizers` library). No NumPy even: strings, `unicodedata` and a dict.

Source: Devlin et al., "BERT" (NAACL 2019), section 3 and Google's original tokenization.py;
Wu et al. (2016) for WordPiece. The steps and their order follow Hugging Face `tokenizers`'
BertNormalizer, BertPreTokenizer and WordPiece model, so the ids are the same as the wrapper's:

1. clean: drop NUL, U+FFFD and control characters; every whitespace character becomes a space;
2. CJK: put spaces around each CJK ideograph, so that each becomes its own word;
3. strip accents (when lowercasing): NFD decomposition, then drop the combining marks (Mn);
4. lowercase;
5. pre-tokenize: split on whitespace, and make every punctuation character its own word;
6. WordPiece: split each word greedily into the longest pieces in the vocabulary, continuations
   prefixed with "##"; a word with no such split, or longer than 100 characters, is [UNK].

Special tokens written in the text ("[SEP]") are kept whole, as the wrapper keeps them. Section 7
puts two sentences together and truncates them as `tokenizers` does; section 8 lists the code
points on which this file and `tokenizers` differ, and why.
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path
from typing import NamedTuple

MAX_CHARS_PER_WORD = 100
SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")

# The Unicode White_Space property (what Rust's char::is_whitespace tests). Python's str.isspace
# differs: it also counts U+001C..U+001F, which BERT treats as control characters.
WHITESPACE = set("\t\n\x0b\x0c\r \x85\xa0\u1680\u2028\u2029\u202f\u205f\u3000") | {
    chr(c) for c in range(0x2000, 0x200B)
}

# CJK ideograph blocks, as in BERT's _is_chinese_char (Extensions F, G, H came later: not listed).
# `tokenizers` starts the sixth range at 0x2B920: see DIFFERENCES_FROM_TOKENIZERS at the end.
CJK_RANGES = [
    (0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0x2A700, 0x2B73F),
    (0x2B740, 0x2B81F), (0x2B820, 0x2CEAF), (0xF900, 0xFAFF), (0x2F800, 0x2FA1F),
]  # fmt: skip


def read_vocab(path: str | Path) -> dict[str, int]:
    """vocab.txt: one token a line, its id the line number from 0 (as minisbert.tokenizer.read_vocab)."""
    lines = Path(path).read_text(encoding="utf-8").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return {token: i for i, token in enumerate(lines)}


# ---------------------------------------------------------------------------------------------
# 1-4: normalisation


def is_control(ch: str) -> bool:
    """Control (Cc), format (Cf, e.g. the zero-width space) and private-use (Co) characters,
    except tab, newline and return, which count as whitespace. Unassigned code points (Cn) are
    kept, as `tokenizers` keeps them."""
    return ch not in "\t\n\r" and unicodedata.category(ch) in ("Cc", "Cf", "Co", "Cs")


def is_cjk(ch: str) -> bool:
    """Whether ch lies in one of the CJK_RANGES: "北" → True, "a" → False."""
    cp = ord(ch)
    for lo, hi in CJK_RANGES:  # a plain loop: twice as fast as any(...), and it runs on every character
        if lo <= cp <= hi:
            return True
    return False


def clean(text: str) -> str:
    """Step 1: "a\\x00b\\tc" → "ab c"."""
    out = []
    for ch in text:
        if ch == "\x00" or ch == "\ufffd" or is_control(ch):
            continue  # dropped first: so \x0b, \x0c and \x85, control and whitespace both, go
        out.append(" " if ch in WHITESPACE else ch)
    return "".join(out)


def space_cjk(text: str) -> str:
    """Step 2: "北京" → " 北  京 "."""
    return "".join(f" {ch} " if is_cjk(ch) else ch for ch in text)


def strip_accents(text: str) -> str:
    """Step 3: "Héllo" → "Hello": decompose é into e + ◌́ (NFD), drop the nonspacing mark."""
    return "".join(ch for ch in unicodedata.normalize("NFD", text) if unicodedata.category(ch) != "Mn")


def normalize(text: str, lowercase: bool = True) -> str:
    """Steps 1 to 4, in the order `tokenizers` applies them."""
    text = space_cjk(clean(text))
    if lowercase:  # BERT strips accents exactly when it lowercases (strip_accents=None)
        # character by character: "ΣΑΣ" → "σασ"; str.lower() of the whole would end in a final ς
        text = "".join(ch.lower() for ch in strip_accents(text))
    return text


# ---------------------------------------------------------------------------------------------
# 5: pre-tokenisation


def is_punctuation(ch: str) -> bool:
    """ASCII symbols count as punctuation too ("$", "+", "^"), as in BERT; then Unicode P*."""
    cp = ord(ch)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(ch).startswith("P")


def pre_tokenize(text: str) -> list[str]:
    """Step 5: "don't stop!" → ["don", "'", "t", "stop", "!"]."""
    words, current = [], []
    for ch in text:
        if ch in WHITESPACE or is_punctuation(ch):
            if current:
                words.append("".join(current))
                current = []
            if not ch in WHITESPACE:  # noqa: E713  (reads as the rule: punctuation is kept)
                words.append(ch)
        else:
            current.append(ch)
    if current:
        words.append("".join(current))
    return words


# ---------------------------------------------------------------------------------------------
# 6: WordPiece


def wordpiece(word: str, vocab: dict[str, int]) -> list[str]:
    """Step 6, greedy longest match first: "embeddings" → ["em", "##bed", "##ding", "##s"]."""
    # BEGIN EXERCISE wordpiece
    if len(word) > MAX_CHARS_PER_WORD:
        return ["[UNK]"]
    pieces, start = [], 0
    while start < len(word):
        end = len(word)
        while end > start:
            piece = word[start:end] if start == 0 else "##" + word[start:end]
            if piece in vocab:
                break
            end -= 1
        if end == start:  # no piece of the vocabulary fits here: the whole word is unknown
            return ["[UNK]"]
        pieces.append(piece)
        start = end
    return pieces
    # END EXERCISE wordpiece


def tokenize(text: str, vocab: dict[str, int], lowercase: bool = True) -> list[str]:
    """All the WordPiece tokens of a text, special tokens written in it kept whole."""
    specials = [t for t in SPECIAL_TOKENS if t in vocab]
    pattern = "(" + "|".join(re.escape(t) for t in specials) + ")" if specials else None
    tokens = []
    for i, part in enumerate(re.split(pattern, text) if pattern else [text]):
        if i % 2 == 1:  # re.split puts the matched separators at odd positions
            tokens.append(part)
            continue
        for word in pre_tokenize(normalize(part, lowercase)):
            tokens.extend(wordpiece(word, vocab))
    return tokens


def encode(
    text: str, vocab: dict[str, int], lowercase: bool = True, max_length: int | None = None
) -> list[int]:
    """Token ids with [CLS] first and [SEP] last, at most max_length of them (None: all): "" → [CLS, SEP]."""
    ids = [vocab[t] for t in tokenize(text, vocab, lowercase)]
    if max_length is not None:
        ids = ids[: max_length - 2]  # the last tokens go; [CLS] and [SEP] always stay
    return [vocab["[CLS]"], *ids, vocab["[SEP]"]]


# ---------------------------------------------------------------------------------------------
# 7: pairs of sentences, and how a pair is truncated


def longest_first(n_first: int, n_second: int, room: int) -> tuple[int, int]:
    """How many tokens each sentence of a pair keeps so that both fit in `room` (as `tokenizers`'
    "longest_first"): the shorter keeps all of its tokens if they fit in half the room and the longer
    gets the rest; otherwise each gets half, the odd token going to the longer (to the second if they
    are as long). (10, 3, 8) → (5, 3); (10, 10, 7) → (3, 4); (10, 9, 7) → (4, 3)."""
    if n_first + n_second <= room:
        return n_first, n_second
    shorter = min(n_first, n_second)
    keep_shorter = shorter if shorter <= room // 2 else room // 2
    keep_longer = room - keep_shorter
    return (keep_longer, keep_shorter) if n_first > n_second else (keep_shorter, keep_longer)


def encode_pair(
    first: str, second: str, vocab: dict[str, int], lowercase: bool = True, max_length: int | None = None
) -> tuple[list[int], list[int]]:
    """(ids, segment ids) of [CLS] first [SEP] second [SEP]: segment 0 up to the first [SEP], then 1."""
    a = [vocab[t] for t in tokenize(first, vocab, lowercase)]
    b = [vocab[t] for t in tokenize(second, vocab, lowercase)]
    if max_length is not None:
        keep_a, keep_b = longest_first(len(a), len(b), max_length - 3)  # room beside [CLS] and two [SEP]
        a, b = a[:keep_a], b[:keep_b]
    cls, sep = vocab["[CLS]"], vocab["[SEP]"]
    return [cls, *a, sep, *b, sep], [0] * (len(a) + 2) + [1] * (len(b) + 1)


# ---------------------------------------------------------------------------------------------
# 8: where this file and `tokenizers` differ
#
# The wrapper (minisbert/tokenizer.py) runs Hugging Face `tokenizers`, written in Rust; this file
# runs Python's `unicodedata`. Both follow BERT's rules, but each looks characters up in its own
# Unicode tables, and tables have versions: a character added to Unicode (or moved to another
# category) after a table was made is unassigned (Cn) for that table. `tokenizers` uses three tables
# of different ages: Rust's own (whitespace, lowercasing: Unicode 16 or later), the
# `unicode_categories` crate (control, format, punctuation, nonspacing marks: Unicode 8.0, 2015) and
# `unicode-normalization-alignments` (NFD: older than Unicode 13). Python 3.11's `unicodedata` is
# Unicode 14.0. The first entry is not about versions: a typo in `tokenizers`' list of CJK ranges.
#
# tests/test_tokenizer_properties.py compares the two on every code point and checks this list both
# ways: each code point listed still differs, and no other one does. Code points are hexadecimal, as
# in the Unicode charts; "0890-0891" is a range, both ends included. Surrogates (D800-DFFF) cannot be
# in a Python str, so they are not compared. All of these are rare: none occurs in STS or SICK.

# the Unicode data of Python's unicodedata, and the tokenizers release, that the list was measured on
DIFFERENCES_MEASURED_WITH = {"unicodedata": "14.0.0", "tokenizers": "0.23.3"}


class Difference(NamedTuple):
    code_points: str  # "0890-0891 08E2"
    when: str  # "always", or "lowercasing" (only when accents are stripped and text lowercased)
    reference: str  # what this file does with them
    tokenizers: str  # what the wrapper does
    reason: str


DIFFERENCES_FROM_TOKENIZERS = [
    Difference(
        "2B820-2B91F", "always",
        reference="CJK (Extension E): each its own word, as in BERT's _is_chinese_char (2B820-2CEAF)",
        tokenizers="not CJK: part of the word around it",
        reason="`tokenizers` starts this range at 2B920, a typo; the wrapper keeps it, since "
        "sentence-transformers tokenizes with `tokenizers` and minisbert must give its ids",
    ),
    Difference(
        "0890-0891 08E2 110CD 13430-13438", "always",
        reference="format characters (Cf): dropped",
        tokenizers="kept, inside the word around them",
        reason="added in Unicode 9 to 12: unassigned in the Unicode 8.0 table, and BERT keeps Cn",
    ),
    Difference(
        "061D 09FD 0A76 0C77 0C84 1B7D-1B7E 2E43-2E4F 2E52-2E5D 10EAD 10F55-10F59 10F86-10F89 "
        "1144B-1144F 1145A-1145B 1145D 11660-1166C 116B9 1183B 11944-11946 119E2 11A3F-11A46 "
        "11A9A-11A9C 11A9E-11AA2 11C41-11C45 11C70-11C71 11EF7-11EF8 11FFF 12FF1-12FF2 16E97-16E9A "
        "16FE2 1E95E-1E95F", "always",
        reference="punctuation (P*): each its own word",
        tokenizers="part of the word around it",
        reason="added in Unicode 9 to 14: unassigned in the Unicode 8.0 table",
    ),
    Difference(
        "166D 111C9", "always",
        reference="a symbol (So) and a nonspacing mark (Mn): part of the word (the mark stripped)",
        tokenizers="punctuation: each its own word",
        reason="both were punctuation (Po) in Unicode 8.0 and changed category later (12 and 11)",
    ),
    Difference(
        "07FD 0898-089F 08CA-08E1 09FE 0AFA-0AFF 0B55 0C04 0C3C 0D00 0D3B-0D3C 0D81 0EBA 180F "
        "1885-1886 1ABF-1ACE 1DF6-1DFB A82C A8C5 A8FF A9BD 10D24-10D27 10EAB-10EAC 10F46-10F50 "
        "10F82-10F85 11070 11073-11074 110C2 111CF 1123E 1133B 11438-1143F 11442-11444 11446 1145E "
        "1182F-11837 11839-1183A 1193B-1193C 1193E 11943 119D4-119D7 119DA-119DB 119E0 11A01-11A0A "
        "11A33-11A38 11A3B-11A3E 11A47 11A51-11A56 11A59-11A5B 11A8A-11A96 11A98-11A99 11C30-11C36 "
        "11C38-11C3D 11C3F 11C92-11CA7 11CAA-11CB0 11CB2-11CB3 11CB5-11CB6 11D31-11D36 11D3A "
        "11D3C-11D3D 11D3F-11D45 11D47 11D90-11D91 11D95 11D97 11EF3-11EF4 16F4F 16FE4 1CF00-1CF2D "
        "1CF30-1CF46 1E000-1E006 1E008-1E018 1E01B-1E021 1E023-1E024 1E026-1E02A 1E130-1E136 1E2AE "
        "1E2EC-1E2EF 1E944-1E94A", "lowercasing",
        reference="nonspacing marks (Mn): stripped with the accents",
        tokenizers="kept",
        reason="added in Unicode 9 to 14: unassigned in the Unicode 8.0 table",
    ),
    Difference(
        "1734", "lowercasing",
        reference="a spacing mark (Mc): kept",
        tokenizers="stripped as an accent",
        reason="a nonspacing mark (Mn) in Unicode 8.0, a spacing one since Unicode 14",
    ),
    Difference(
        "11938", "lowercasing",
        reference="NFD splits it in two (11935 11930)",
        tokenizers="kept whole",
        reason="a Unicode 13 character: `tokenizers`' NFD table has no decomposition for it",
    ),
    Difference(
        "1C89 A7CB-A7CC A7CE A7D2 A7D4 A7DA A7DC 10D50-10D65 16EA0-16EB8", "lowercasing",
        reference="unassigned (Cn): kept as they are",
        tokenizers="lowercased",
        reason="capital letters added after Unicode 14, which Rust's newer tables know",
    ),
]  # fmt: skip


def code_points(spec: str) -> list[int]:
    """The code points of a spec: "0890-0891 08E2" → [0x890, 0x891, 0x8E2]."""
    out = []
    for part in spec.split():
        first, _, last = part.partition("-")
        out.extend(range(int(first, 16), int(last or first, 16) + 1))
    return out


def differing_code_points(lowercase: bool = True) -> set[int]:
    """Every code point that DIFFERENCES_FROM_TOKENIZERS lists for this setting."""
    return {
        cp
        for d in DIFFERENCES_FROM_TOKENIZERS
        if d.when == "always" or lowercase
        for cp in code_points(d.code_points)
    }
