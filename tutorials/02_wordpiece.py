# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # 02 · WordPiece: from text to token ids
#
# BERT reads neither characters nor whole words: it reads *WordPiece* tokens, pieces of words
# from a fixed vocabulary. This tutorial takes the tokenizer apart. First the four normalisation
# steps, one at a time, on a line of text built to trip them up; then the split into words; then
# the greedy longest-match that cuts a word into pieces, written out by hand. Then minisbert's
# fast wrapper (Hugging Face `tokenizers`, in Rust) against the pure-Python reference on every
# STS sentence: the same ids. Last, vocabularies learnt from the STS training text at sizes from
# 100 to 16,000, and how the pieces of a word change with the size.
#
# Read first: tutorial 01 (section 1), then `reference/tokenizer.py` (short, plain Python: the
# cells below call its step functions) and `minisbert/tokenizer.py`. It reads the STS benchmark
# from the data folder (`$MINISBERT_DATA`, or `../shared/data` beside the clone). About 10 s
# with `MINISBERT_FAST=1` (a slice of the data, four vocabulary sizes), about 30 s in full.

# %%
import tempfile
import time
import unicodedata
from collections import Counter
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from common import FAST, data_file, save_figure

from minisbert.data import read_sts
from minisbert.pretrained import default_model_folder
from minisbert.tokenizer import WordPieceTokenizer
from reference import tokenizer as ref

folder = default_model_folder()  # all-MiniLM-L6-v2: vocab.txt, tokenizer.json, ...
tokenizer = WordPieceTokenizer.from_pretrained(folder)  # the Rust pipeline, as sentence-transformers uses it
vocab = ref.read_vocab(folder / "vocab.txt")  # token → id (its line number): a plain dict
print(f"{len(vocab):,} tokens, e.g. ids 2000-2005: {list(vocab)[2000:2006]}")
assert len(vocab) == tokenizer.vocab_size == 30522  # BERT-base uncased's vocabulary

# %% [markdown]
# ## 1. Normalisation, one step at a time
#
# Before anything is split, the text is rewritten so that different spellings of the same word
# meet. Uncased BERT applies four steps, in this order (right to left):
#
# $$\mathrm{normalize} = \mathrm{lowercase} \circ \mathrm{strip\_accents} \circ \mathrm{space\_cjk}
# \circ \mathrm{clean}$$
#
# `reference/tokenizer.py` has a function for each of the first three; lowercasing is one line.
# The test line holds a tab, a zero-width space (U+200B), a bell character (U+0007), accents
# written two ways (é as one character; a followed by a combining acute accent), Chinese
# characters, an emoji, fullwidth letters, the ligature ﬁ and Greek capitals.


# %%
def lowercase(text: str) -> str:
    """Character by character, as BERT does (Python's str.lower() knows a rule BERT does not: Σ below)."""
    return "".join(ch.lower() for ch in text)


text = "Héllo\tWörld!\u200b\x07 Ma\u0301ria's café—北京 🤗 ＦＵＬＬ ﬁne ΣΑΣ"
steps = [("clean", ref.clean), ("space_cjk", ref.space_cjk), ("strip_accents", ref.strip_accents)]
steps.append(("lowercase", lowercase))
s = text
print(f"{'input':>13}: {text!r}")
for name, step in steps:
    s = step(s)
    print(f"{name:>13}: {s!r}")
normalized = s
assert normalized == ref.normalize(text)  # the four steps are the whole of normalize()

# %% [markdown]
# What each step did, checked one claim at a time:
#
# - **clean** turned the tab into a space and dropped the zero-width space and the bell: they
#   are control or format characters, invisible but not nothing to a computer.
# - **space_cjk** put spaces around each Chinese character, so that each becomes a word: Chinese
#   is written without spaces, and BERT's vocabulary holds single characters for it.
# - **strip_accents** decomposed each accented letter into letter + combining mark (Unicode NFD)
#   and dropped the marks. Both spellings of á end up as a plain a.
# - **lowercase**, character by character. Python's `"ΣΑΣ".lower()` gives "σας" with a final ς;
#   BERT gives "σασ", and the reference does what BERT does.
# - What it does **not** do: fold compatibility characters (Unicode NFKC). The fullwidth ＦＵＬＬ
#   stays fullwidth and the ligature ﬁ stays one character.

# %%
assert ref.clean("a\tb\u200bc\x07") == "a bc"
assert ref.space_cjk("—北京") == "— 北  京 "
assert unicodedata.normalize("NFD", "é") == "e\u0301"  # é = e + combining acute accent
assert ref.strip_accents("café Ma\u0301ria") == "cafe Maria"
assert "ΣΑΣ".lower() == "σας" and lowercase("ΣΑΣ") == "σασ"
assert "ｆｕｌｌ" in normalized and "ﬁne" in normalized  # no NFKC: not "full", not "fine"

# %% [markdown]
# ## 2. Pre-tokenisation: words and punctuation
#
# Next the text is cut into words: at every whitespace, and around every punctuation character,
# which becomes a word of its own. "Punctuation" means the Unicode categories P\*, plus every
# ASCII character that is neither a letter nor a digit: "$" is a currency *symbol* (category Sc),
# yet BERT splits it off. A symbol outside ASCII, like the emoji, is not split off: it stays
# inside its word.

# %%
words = ref.pre_tokenize(normalized)
print(words)
assert words[:3] == ["hello", "world", "!"] and "—" in words and "北" in words and "京" in words
example = "don't stop-believing!!! $3.14 x^2+1"
print(ref.pre_tokenize(example))
assert ref.pre_tokenize(example) == [
    "don", "'", "t", "stop", "-", "believing", "!", "!", "!", "$", "3", ".", "14", "x", "^", "2", "+", "1"
]  # fmt: skip
assert unicodedata.category("$") == "Sc" and ref.is_punctuation("$")  # a symbol, split off anyway
assert ref.pre_tokenize("caf🤗 ok") == ["caf🤗", "ok"]  # the emoji stays inside its word

# %% [markdown]
# ## 3. Greedy longest-match, by hand
#
# Now each word becomes pieces of the vocabulary $V$. Start at the first character and take the
# *longest* piece in $V$; then continue from where it ended, with pieces that carry the prefix
# "##" (they continue a word). At position $i$ of word $w$ the piece ends at
#
# $$j^* = \max\,\{\, j \le |w| \;:\; p_i + w_{i:j} \in V \,\},
# \qquad p_0 = \text{""},\; p_{i>0} = \text{"\#\#"},$$
#
# and if no $j$ exists, the *whole word* becomes [UNK]. Here is the loop, printing each step:
# the candidates it tried, longest first, and the piece it found. (It is the exercise
# `wordpiece` of the assignment kit, so its lines are marked: a student version leaves them out.)


# %%
def wordpiece_by_hand(word: str, vocab: dict[str, int]) -> list[str]:
    # BEGIN EXERCISE wordpiece
    pieces, start = [], 0
    while start < len(word):
        tried = []
        for end in range(len(word), start, -1):  # the longest candidate first
            piece = word[start:end] if start == 0 else "##" + word[start:end]
            tried.append(piece)
            if piece in vocab:
                break
        else:  # no candidate was in the vocabulary: give up on the whole word
            print(f"  at {start}: tried {' '.join(tried)}: none is in the vocabulary → [UNK]")
            return ["[UNK]"]
        print(f"  at {start}: tried {' '.join(tried[:-1]) or '(nothing longer)'} → found {piece}")
        pieces.append(piece)
        start = end
    return pieces
    # END EXERCISE wordpiece


for word in ["unaffable", "caf🤗"]:
    print(word)
    pieces = wordpiece_by_hand(word, vocab)
    print("  pieces:", pieces)
    assert pieces == ref.wordpiece(word, vocab) == tokenizer.tokenize(word)
assert ref.wordpiece("unaffable", vocab) == ["una", "##ffa", "##ble"]
assert tokenizer.tokenize("caf🤗") == ["[UNK]"]  # one unknown character loses the whole word
assert tokenizer.tokenize("a" * 100) != ["[UNK]"] and tokenizer.tokenize("a" * 101) == ["[UNK]"]

# %% [markdown]
# Greedy is not grammar. BERT's own README splits "unaffable" as un ##aff ##able to illustrate
# the idea; the real vocabulary holds "una", which is longer than "un", so greedy takes it. And
# one character the vocabulary lacks turns "caf🤗" into a single [UNK]: the model loses "caf"
# too. Words longer than 100 characters are [UNK] without trying.
#
# Put together, normalisation, pre-tokenisation and WordPiece turn the test line into:

# %%
pieces = ref.tokenize(text, vocab)
print(pieces)
assert pieces == [p for w in words for p in ref.wordpiece(w, vocab)]  # tokenize = the three steps
assert pieces == tokenizer.tokenize(text)  # the Rust pipeline agrees on the tricky line
assert pieces.count("[UNK]") == 2  # 🤗 and ｆｕｌｌ

# %% [markdown]
# ## 4. The wrapper and the reference, on real text
#
# `minisbert.tokenizer.WordPieceTokenizer` builds the same steps out of Hugging Face `tokenizers`
# components (BertNormalizer, BertPreTokenizer, WordPiece) and adds [CLS] … [SEP]; it is what
# `SentenceEncoder` uses, because it is fast. `reference.tokenizer.encode` is the readable twin.
# Token ids are integers, so "the same" means equal, with no tolerance: every sentence of the
# STS benchmark (the dev split in fast mode), one by one.


# %%
def sts_sentences(split: str) -> list[str]:
    pairs = read_sts(data_file(f"stsbenchmark/sts-{split}.csv"))
    return sorted({s for pair in pairs for s in (pair.sentence1, pair.sentence2)})


train_texts, dev_texts = sts_sentences("train"), sts_sentences("dev")
real = dev_texts if FAST else sorted({*train_texts, *dev_texts, *sts_sentences("test")})
start = time.perf_counter()
wrapper_ids = [ids for ids, _ in tokenizer.encode(real)]  # [CLS] ... [SEP], no padding
wrapper_seconds = time.perf_counter() - start
start = time.perf_counter()
reference_ids = [ref.encode(sentence, vocab) for sentence in real]
reference_seconds = time.perf_counter() - start
same = sum(a == b for a, b in zip(wrapper_ids, reference_ids, strict=True))
print(f"{same:,} of {len(real):,} STS sentences get the same ids "
      f"(wrapper {wrapper_seconds:.2f} s, reference {reference_seconds:.2f} s)")  # fmt: skip
assert wrapper_ids == reference_ids
print(real[0], "\n", wrapper_ids[0], "\n", tokenizer.ids_to_tokens(wrapper_ids[0]))
assert wrapper_ids[0][0] == vocab["[CLS]"] == 101 and wrapper_ids[0][-1] == vocab["[SEP]"] == 102

# %% [markdown]
# ## 5. Learning a vocabulary
#
# Where does a vocabulary come from? It is learnt from text. Start with every character (and its
# "##" form); then, again and again, glue together the pair of adjacent pieces that occurs most
# often in the training words, and add the result to the vocabulary, until it holds `vocab_size`
# tokens. `WordPieceTokenizer.train(texts, vocab_size)` does this with the `tokenizers` trainer,
# which is byte-pair encoding's (Sennrich et al. 2016); the vocabulary is then used with the
# greedy longest-match above. Google's original WordPiece (Schuster & Nakajima 2012) chooses the
# pair that most raises the likelihood of the text instead, which favours pairs whose parts are
# rare on their own:
#
# $$(a, b)^* = \arg\max_{(a,b)} \mathrm{count}(ab) \;\;\text{(the trainer here)}, \qquad
# (a, b)^* = \arg\max_{(a,b)} \frac{\mathrm{count}(ab)}{\mathrm{count}(a)\,\mathrm{count}(b)}
# \;\;\text{(likelihood)}.$$
#
# A pair seen only once is never glued (`min_frequency=2`), so on a small text the vocabulary
# stops growing before it reaches a large `vocab_size`. We learn vocabularies of several sizes
# from the STS training sentences and cut the words of the *dev* sentences with each: sentences the
# trainer never saw (many of their words it did see, some it did not).

# %%
sizes = [100, 300, 1000, 3000] if FAST else [100, 200, 500, 1000, 2000, 4000, 8000, 16000]
train_sample = train_texts[::4] if FAST else train_texts  # FAST: every 4th training sentence
held_out = dev_texts[::4] if FAST else dev_texts
dev_words = Counter(w for t in held_out for w in ref.pre_tokenize(ref.normalize(t)))  # word → count
alphabet = {ch for t in train_sample for ch in ref.normalize(t) if not ch.isspace()}
examples = ["playing", "guitar", "snowboarding", "unbelievably", "embeddings", "sbert"]
rows = []  # (vocabulary size, pieces per word, share of words whole, share of words [UNK])
splits = {word: {} for word in examples}
with tempfile.TemporaryDirectory() as tmp:
    for size in sizes:
        learnt = WordPieceTokenizer.train(train_sample, size)
        learnt.save(Path(tmp) / str(size))  # a model folder's tokenizer files, vocab.txt included
        learnt_vocab = ref.read_vocab(Path(tmp) / str(size) / "vocab.txt")
        # the reference reads the learnt vocabulary and gives the wrapper's ids
        assert [ids for ids, _ in learnt.encode(held_out)] == [ref.encode(t, learnt_vocab) for t in held_out]
        assert all(ch in learnt_vocab or "##" + ch in learnt_vocab for ch in alphabet)  # every character
        cut = {w: ref.wordpiece(w, learnt_vocab) for w in dev_words}
        n = sum(dev_words.values())
        rows.append((
            learnt.vocab_size,
            sum(len(cut[w]) * c for w, c in dev_words.items()) / n,
            sum(c for w, c in dev_words.items() if len(cut[w]) == 1 and cut[w] != ["[UNK]"]) / n,
            sum(c for w, c in dev_words.items() if cut[w] == ["[UNK]"]) / n,
        ))  # fmt: skip
        for word in examples:
            splits[word][size] = learnt.tokenize(word)
        print(f"asked {size:>6,}: got {learnt.vocab_size:>6,} tokens; {rows[-1][1]:.3f} pieces per dev word")
got, per_word, whole, unknown = (np.array(column) for column in zip(*rows, strict=True))
pretrained_cut = {w: ref.wordpiece(w, vocab) for w in dev_words}
pretrained_per_word = sum(len(pretrained_cut[w]) * c for w, c in dev_words.items()) / sum(dev_words.values())
print(f"all-MiniLM-L6-v2's 30,522 tokens: {pretrained_per_word:.3f} pieces per dev word")

# %% [markdown]
# What the numbers say, asserted:
#
# - A bigger vocabulary cuts the held-out words into fewer pieces on average.
# - The share of [UNK] does not move with the size: every character of the training text is in
#   every vocabulary, so a word is [UNK] only if it holds a character never seen in training.
# - No vocabulary is larger than asked, except where the characters alone (as `x` or `##x`, or
#   both) and the five special tokens need more room: in full mode, asked 100, it has 104.
# - The largest size asked for is not reached in full mode: the vocabulary stops growing once no
#   pair occurs twice (it reaches about 12,386 tokens; the trainer breaks ties between pairs of
#   equal count in no fixed order, so a run may end a token or two either side).

# %%
assert np.all(np.diff(per_word) <= 0) and np.all(np.diff(got) >= 0)
# never above the size asked, except where the characters alone (x, ##x) and the special tokens
# need more room: then the smallest vocabulary, which holds just them
assert np.all(got <= np.maximum(sizes, got[0]))
assert np.all(unknown == unknown[0])
unknown_words = [w for w in dev_words if ref.wordpiece(w, learnt_vocab) == ["[UNK]"]]
print("dev words that are [UNK] at every size:", unknown_words)
assert all(any(ch not in alphabet for ch in w) for w in unknown_words)
if not FAST:
    assert 12_000 < got[-1] < sizes[-1]  # short of the size asked, never above it

# %% [markdown]
# And word by word, printing a split each time it changes: a frequent word of the training text
# ("playing") becomes one token early, a rarer one ("snowboarding") later, and words the trainer
# never saw ("embeddings", "sbert") stay in pieces, which grow longer as the vocabulary grows.

# %%
for word in examples:
    print(word)
    previous = None
    for size, size_got in zip(sizes, got, strict=True):
        if splits[word][size] != previous:
            print(f"  {size_got:>7,} tokens: {' '.join(splits[word][size])}")
        previous = splits[word][size]
    print(f"   30,522 tokens: {' '.join(ref.wordpiece(word, vocab))}   (all-MiniLM-L6-v2)")
    counts = [len(splits[word][size]) for size in sizes]
    assert np.all(np.diff(counts) <= 0), word  # never more pieces with more tokens
assert splits["playing"][sizes[-1]] == ["playing"] and len(splits["embeddings"][sizes[-1]]) > 1
assert all(len(splits[word][sizes[0]]) > 1 for word in examples)  # the smallest: short pieces only

# %%
whole_words = [w for w, cut in pretrained_cut.items() if len(cut) == 1 and cut != ["[UNK]"]]
pretrained_whole = sum(dev_words[w] for w in whole_words)
fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
minilm = dict(color="r", marker="*", ms=14, ls="none", label="all-MiniLM-L6-v2 (Wikipedia, books)")
left.plot(got, per_word, "o-", label="learnt from STS train")
left.plot([len(vocab)], [pretrained_per_word], **minilm)
left.set(ylabel="WordPiece pieces per word", title="Bigger vocabularies cut words into fewer pieces")
right.plot(got, 100 * whole, "o-", label="words kept whole")
right.plot(got, 100 * unknown, "s--", label=f"words lost to [UNK] ({100 * unknown[0]:.2f}% at every size)")
right.plot([len(vocab)], [100 * pretrained_whole / sum(dev_words.values())], **minilm)
right.set(ylabel="% of the words of STS-dev", ylim=(-3, 103))
right.set_title("[UNK] stays flat: it comes from unseen characters")
for ax in (left, right):
    ax.set(xscale="log", xlabel="vocabulary size (tokens)")
    ax.grid(alpha=0.3)
    ax.legend()
save_figure(fig, "02_vocabulary_size.png")

# %% [markdown]
# ## Exercises
#
# 1. **Greedy is not the fewest pieces.** Write `fewest_pieces(word, vocab)`, which tries every
#    way of cutting the word (dynamic programming over the end of the first piece). Check:
#    `len(fewest_pieces(w, vocab)) <= len(ref.wordpiece(w, vocab))` for every word of the STS dev
#    sentences, and exactly 6 of its 6,316 distinct words get fewer pieces (one is "inground":
#    ing ##rou ##nd by greedy, in ##ground at best).
# 2. **Why 12,386?** Learn the 16,000-token vocabulary again with `min_frequency=1`. Check:
#    `WordPieceTokenizer.train(train_texts, 16000, min_frequency=1).vocab_size == 16000`. Why
#    does it grow now, and what kind of tokens does it add?
# 3. **NFKC.** BERT does not fold compatibility characters. Apply
#    `unicodedata.normalize("NFKC", ...)` before `ref.tokenize` and check that
#    `ref.tokenize(unicodedata.normalize("NFKC", "ＦＵＬＬ ﬁne"), vocab) == ["full", "fine"]`.
#    Which tokens of section 1's test line change, and which would still be [UNK]?
