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

Special tokens written in the text ("[SEP]") are kept whole, as the wrapper keeps them.
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

MAX_CHARS_PER_WORD = 100
SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")

# The Unicode White_Space property (what Rust's char::is_whitespace tests). Python's str.isspace
# differs: it also counts U+001C..U+001F, which BERT treats as control characters.
WHITESPACE = set("\t\n\x0b\x0c\r \x85\xa0\u1680\u2028\u2029\u202f\u205f\u3000") | {
    chr(c) for c in range(0x2000, 0x200B)
}

# CJK ideograph blocks, as in BERT's _is_chinese_char
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
    cp = ord(ch)
    return any(lo <= cp <= hi for lo, hi in CJK_RANGES)


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


def encode(text: str, vocab: dict[str, int], lowercase: bool = True) -> list[int]:
    """Token ids with [CLS] first and [SEP] last, no truncation: "" → [CLS, SEP]."""
    ids = [vocab[t] for t in tokenize(text, vocab, lowercase)]
    return [vocab["[CLS]"], *ids, vocab["[SEP]"]]
