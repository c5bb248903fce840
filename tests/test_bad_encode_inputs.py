"""What `encode` and `similarity` do with inputs that are not a plain list of sentences.

A student passes `encoder.encode(df["text"])`, a generator, bytes read from a file, a list with a
NaN where a cell was empty. The right answer is either the right vectors or a TypeError that
names the first wrong item and its type (`sentences[3] is bytes, not str`), never a message from
deep inside the tokenizer. The shapes at the edges are fixed too: a single string gives (D,), a
list of one (1, D), an empty list (0, D); a million empty strings are a million equal vectors;
a megabyte-long string is truncated to `max_seq_length` tokens, so it encodes as its first words.

Most tests use a tiny encoder learnt from a few sentences (`tiny`): the input checks do not need
the real model, and a tiny model encodes 20,000 sentences in about a second.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from fuzzing import fuzz
from helpers import assert_close
from hypothesis import given
from hypothesis import strategies as st

from minisbert import SentenceEncoder
from minisbert.config import preset


@pytest.fixture(scope="module")
def tiny() -> SentenceEncoder:
    texts = ["a man eats food", "the sky is blue", "a dog runs in the park"] * 5
    return SentenceEncoder.from_scratch(texts, preset("tiny"), vocab_size=60, max_seq_length=16)


class SeriesLike:
    """What a pandas Series looks like to a caller: it iterates over its values, but `s[0]`
    looks up the label 0, which this one does not have (its labels start at 10)."""

    def __init__(self, values):
        self.values = list(values)

    def __len__(self):
        return len(self.values)

    def __iter__(self):
        return iter(self.values)

    def __getitem__(self, label):
        return self.values[label - 10]  # labels 10, 11, ...: 0 is a KeyError-like miss


WRONG_CONTAINERS = {
    "None": (None, r"^sentences must be a list of strings, got NoneType$"),
    "a number": (42, r"^sentences must be a list of strings, got int$"),
    "bytes": (b"A man eats.", r"^sentences must be a list of strings, got bytes$"),
    "a dict": ({"A man eats.": 1}, r"^sentences must be a list of strings, got dict$"),
    "a set (no order)": ({"A man eats.", "b"}, r"^sentences must be a list of strings, got set$"),
    "a 0-d array": (np.array("A man eats."), r"^sentences must be a list of strings, got ndarray$"),
}
WRONG_ITEMS = {
    "None in a list": (["ok", None], r"^sentences\[1\] is NoneType, not str"),
    "a number": (["ok", "fine", 3], r"^sentences\[2\] is int, not str: 3"),
    "NaN (an empty spreadsheet cell)": (["ok", float("nan")], r"^sentences\[1\] is float, not str: nan"),
    "bytes in a list": (["ok", b"bytes"], r"^sentences\[1\] is bytes, not str: b'bytes'"),
    "a nested list": ([["A man eats."]], r"^sentences\[0\] is list, not str"),
    "a 2-d array of strings": (np.array([["a", "b"]]), r"^sentences\[0\] is ndarray, not str"),
    "a dict in a list": (["ok", {"text": "a"}], r"^sentences\[1\] is dict, not str"),
}


@pytest.mark.parametrize("value, message", WRONG_CONTAINERS.values(), ids=WRONG_CONTAINERS.keys())
def test_what_is_not_a_list_of_sentences_is_a_type_error(tiny, value, message):
    with pytest.raises(TypeError, match=message):
        tiny.encode(value)


@pytest.mark.parametrize("value, message", WRONG_ITEMS.values(), ids=WRONG_ITEMS.keys())
def test_a_wrong_item_is_named_by_its_index_and_type(tiny, value, message):
    with pytest.raises(TypeError, match=message):
        tiny.encode(value)


def test_similarity_names_the_argument_and_the_item(tiny):
    with pytest.raises(TypeError, match=r"^b\[1\] is bytes, not str"):
        tiny.similarity(["a man eats"], ["the sky", b"bytes"])
    with pytest.raises(TypeError, match=r"^a\[0\] is NoneType, not str"):
        tiny.similarity([None])
    with pytest.raises(TypeError, match=r"^a must be an \(N, D\) array of numbers or sentences"):
        tiny.similarity([[0.1, 0.2], [0.3]])  # ragged rows
    with pytest.raises(ValueError, match=r"a holds 32-dimensional embeddings but b 3-dimensional ones"):
        tiny.similarity(tiny.encode(["a"]), np.ones((2, 3)))
    with pytest.raises(TypeError, match=r"^batch_size must be an int, got str"):
        tiny.encode(["a"], batch_size="32")


@pytest.mark.parametrize(
    "make",
    [
        lambda texts: (t for t in texts),
        lambda texts: np.array(texts),
        lambda texts: np.array(texts, dtype=object),
        SeriesLike,
        tuple,
    ],
    ids=["a generator", "a numpy array of str", "a numpy object array", "a pandas-like series", "a tuple"],
)
def test_any_sequence_of_sentences_encodes_like_the_list(tiny, make):
    texts = ["a man eats food", "the sky", "", "a dog runs in the park"]
    assert np.array_equal(tiny.encode(make(texts)), tiny.encode(texts))
    assert np.array_equal(tiny.similarity(make(texts)), tiny.similarity(texts))


def test_the_shapes_at_the_edges(tiny):
    """A string gives (D,), a list of one (1, D), an empty list (0, D) (and a (0, 0) similarity)."""
    one = tiny.encode("a man eats food")
    assert one.shape == (32,) and tiny.encode(["a man eats food"]).shape == (1, 32)
    assert np.array_equal(tiny.encode(["a man eats food"])[0], one)
    empty = tiny.encode([])
    assert (empty.shape, empty.dtype) == ((0, 32), np.float32)
    assert tiny.similarity([]).shape == (0, 0) and tiny.similarity([], ["a", "b"]).shape == (0, 2)
    assert tiny.similarity(torch.ones(1, 32, dtype=torch.bfloat16), ["a"]).shape == (1, 1)


def many_empty_strings_are_equal_vectors(encoder, n: int):
    vectors = encoder.encode([""] * n)
    assert vectors.shape == (n, encoder.dimension)
    assert np.array_equal(vectors, np.broadcast_to(vectors[0], vectors.shape))  # all the same bits
    assert_close(vectors[0], encoder.encode(""), "fp32_model")  # alone, other kernels: not bit-equal


def test_twenty_thousand_empty_strings_are_equal_vectors(tiny):
    many_empty_strings_are_equal_vectors(tiny, 20_000)  # about 1 s


@pytest.mark.fuzz
@pytest.mark.slow  # 45 s to 150 s: run by `make fuzz` (and `make test-slow`), not in CI
def test_a_million_empty_strings_are_equal_vectors(tiny):
    many_empty_strings_are_equal_vectors(tiny, 1_000_000)


def test_a_megabyte_string_encodes_as_its_first_words(encoder):
    """Truncation keeps [CLS], the first max_seq_length − 2 tokens and [SEP]: each of these words
    is one token, so 1 MB of text encodes exactly as its first 254 words."""
    text = ("the quick brown fox jumps over the lazy dog " * 30_000)[:1_000_000]
    words = text.split()
    assert encoder.max_seq_length == 256
    assert len(encoder.tokenizer.encode([" ".join(words[:254])])[0][0]) == 256
    whole = encoder.encode(text)
    assert_close(whole, encoder.encode(" ".join(words[:254])), "fp32_model")
    assert np.abs(whole - encoder.encode(" ".join(words[:253]))).max() > 1e-4  # one word fewer differs


# -- generated: lists that mix sentences and other things ---------------------------------------

NOT_STRINGS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),  # NaN among them
    st.binary(max_size=5),
    st.lists(st.text(max_size=3), max_size=2),
    st.dictionaries(st.text(max_size=2), st.integers(), max_size=1),
    st.just(np.float64("nan")),
    st.just(np.array(["a"])),
)
ITEMS = st.lists(st.one_of(st.text(max_size=12), st.text(max_size=12), NOT_STRINGS), max_size=8)
CONTAINERS = st.sampled_from([list, tuple, iter, SeriesLike])


@fuzz(ci_examples=200)
@given(items=ITEMS, container=CONTAINERS)
def test_the_first_item_that_is_not_a_string_is_named(tiny, items, container):
    """Whatever the mix, encode names exactly the first item that is not a str (and its type), or,
    when every item is one, returns one vector per item."""
    bad = [i for i, item in enumerate(items) if not isinstance(item, str)]
    if not bad:
        assert tiny.encode(container(items)).shape == (len(items), 32)
        return
    first = bad[0]
    with pytest.raises(TypeError, match=rf"^sentences\[{first}\] is {type(items[first]).__name__}, not str"):
        tiny.encode(container(items))
