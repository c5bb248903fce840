"""The WordPiece wrapper gives the same ids as BERT's own tokenizer.

Two oracles, both from `transformers` and built on the same vocab.txt: the original pure-Python
BERT tokenizer (`BertTokenizerLegacy`; in transformers 4 it is `BertTokenizer`) and the fast one
that sentence-transformers uses (`AutoTokenizer`). They agree on everything but one tie: when both
sentences of a pair are too long and equally long, the pure-Python one gives the odd token to
the first sentence, Hugging Face `tokenizers` (and so minisbert) to the second.
"""

from __future__ import annotations

import json

import pytest
import torch
from helpers import LONG_TEXT, TRICKY_PAIRS, TRICKY_TEXTS

from minisbert import WordPieceTokenizer

MAX_LENGTH = 256  # all-MiniLM-L6-v2's max_seq_length


def bert_reference_tokenizer(vocab_file):
    try:
        from transformers.models.bert.tokenization_bert_legacy import BertTokenizerLegacy as Slow
    except ImportError:  # transformers 4: BertTokenizer is the pure-Python one
        from transformers import BertTokenizer as Slow
    return Slow(str(vocab_file), do_lower_case=True)


@pytest.fixture(scope="module")
def oracle(model_folder):
    return bert_reference_tokenizer(model_folder / "vocab.txt")


@pytest.fixture(scope="module")
def fast_oracle(model_folder):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(model_folder))


@pytest.fixture(scope="module", params=["tokenizer.json", "vocab.txt"])
def tokenizer(request, model_folder):
    """Our tokenizer built both ways: from the model's tokenizer.json, and from vocab.txt alone."""
    if request.param == "tokenizer.json":
        return WordPieceTokenizer.from_pretrained(model_folder, max_length=MAX_LENGTH)
    return WordPieceTokenizer.from_vocab(model_folder / "vocab.txt", lowercase=True, max_length=MAX_LENGTH)


def ids_of(batch, row: int) -> list[int]:
    n = int(batch["attention_mask"][row].sum())
    return batch["input_ids"][row, :n].tolist()


@pytest.mark.parametrize("text", TRICKY_TEXTS, ids=range(len(TRICKY_TEXTS)))
def test_single_ids_match_bert(tokenizer, oracle, text):
    expected = oracle.encode(text, truncation=True, max_length=MAX_LENGTH)
    assert ids_of(tokenizer([text]), 0) == expected


@pytest.mark.parametrize("text", TRICKY_TEXTS, ids=range(len(TRICKY_TEXTS)))
def test_tokenize_matches_bert(tokenizer, oracle, text):
    assert tokenizer.tokenize(text) == oracle.tokenize(text)


@pytest.mark.parametrize("first, second", TRICKY_PAIRS, ids=range(len(TRICKY_PAIRS)))
def test_pair_ids_and_segments_match_bert(tokenizer, oracle, fast_oracle, first, second):
    batch = tokenizer([first], pairs=[second])
    ids = ids_of(batch, 0)
    segments = batch["token_type_ids"][0, : len(ids)].tolist()
    fast = fast_oracle(first, second, truncation="longest_first", max_length=MAX_LENGTH)
    assert (ids, segments) == (fast["input_ids"], fast["token_type_ids"])
    python = oracle(
        first, second, truncation="longest_first", max_length=MAX_LENGTH, return_token_type_ids=True
    )
    if first == second == LONG_TEXT:  # the documented tie: one token sits in the other sentence
        assert sum(python["token_type_ids"]) == sum(segments) - 1
    else:
        assert (ids, segments) == (python["input_ids"], python["token_type_ids"])


def test_known_pieces(tokenizer):
    """Lowercasing, accent stripping, CJK split, ## continuations and [UNK] on a worked example."""
    assert tokenizer.tokenize("Héllo, 北京!") == ["hello", ",", "北", "京", "!"]
    assert tokenizer.tokenize("embeddings") == ["em", "##bed", "##ding", "##s"]
    assert tokenizer.tokenize("🤗") == ["[UNK]"]
    assert tokenizer.tokenize("a" * 101) == ["[UNK]"]


def test_truncation_follows_max_seq_length_not_tokenizer_json(encoder, model_folder):
    """all-MiniLM-L6-v2's tokenizer.json truncates and pads at 128, its tokenizer_config.json says
    512, and the model reads 256 tokens (sentence_bert_config.json): the sentence encoder's
    tokenizer truncates at 256 and pads to the longest in each batch."""
    assert WordPieceTokenizer.from_pretrained(model_folder).max_length == 512  # the tokenizer's own files
    tokenizer = encoder.tokenizer
    assert tokenizer.max_length == encoder.max_seq_length == 256
    batch = tokenizer([LONG_TEXT, "short"])
    assert batch["input_ids"].shape == (2, 256)
    assert batch["input_ids"][0, -1].item() == tokenizer.sep_token_id
    assert tokenizer(["short"])["input_ids"].shape == (1, 3)  # no fixed padding to 128
    assert tokenizer([LONG_TEXT], max_length=40)["input_ids"].shape == (1, 40)


def test_padding_to_longest_in_batch(tokenizer):
    batch = tokenizer(["one", "one two three", ""])
    assert batch["input_ids"].shape == (3, 5)
    assert batch["attention_mask"].tolist() == [[1, 1, 1, 0, 0], [1, 1, 1, 1, 1], [1, 1, 0, 0, 0]]
    assert batch["input_ids"][0, 3:].tolist() == [tokenizer.pad_token_id] * 2
    assert batch["input_ids"].dtype == torch.int64
    assert batch["token_type_ids"].sum() == 0


def test_decode_round_trip(tokenizer):
    batch = tokenizer(["Hello, World! Embeddings are fun."])
    assert tokenizer.decode(batch["input_ids"][0]) == "hello, world! embeddings are fun."
    assert tokenizer.decode([101, 7592, 102], skip_special_tokens=False) == "[CLS] hello [SEP]"


def test_empty_batch(tokenizer):
    batch = tokenizer([])
    assert batch["input_ids"].shape == (0, 0)


@pytest.mark.parametrize(
    "texts, message",
    [
        (["fine", 3, "fine"], r"texts\[1\] is int"),
        (["fine", None], r"texts\[1\] is NoneType"),
        (42, "list of strings, got int"),
    ],
    ids=["int", "none", "not-a-list"],
)
def test_bad_texts_name_the_problem(tokenizer, texts, message):
    with pytest.raises(TypeError, match=message):
        tokenizer(texts)


def test_a_single_string_is_a_batch_of_one(tokenizer):
    assert tokenizer("Hello there")["input_ids"].tolist() == tokenizer(["Hello there"])["input_ids"].tolist()
    assert tokenizer("A", pairs="B")["token_type_ids"].tolist() == [[0, 0, 0, 1, 1]]


def test_pairs_must_match_texts(tokenizer):
    with pytest.raises(ValueError, match="2 texts but 1 pairs"):
        tokenizer(["a", "b"], pairs=["c"])


def test_max_length_too_small(tokenizer):
    with pytest.raises(ValueError, match="no room"):
        tokenizer(["a"], max_length=1)


def test_missing_files_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="neither tokenizer.json nor vocab.txt"):
        WordPieceTokenizer.from_pretrained(tmp_path)
    with pytest.raises(FileNotFoundError, match="vocab.txt"):
        WordPieceTokenizer.from_vocab(tmp_path / "vocab.txt")


def test_vocab_without_special_tokens(tmp_path):
    (tmp_path / "vocab.txt").write_text("[PAD]\nhello\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"\[UNK\], \[CLS\], \[SEP\]"):
        WordPieceTokenizer.from_vocab(tmp_path / "vocab.txt")


def test_vocab_folder_reads_do_lower_case(tmp_path, model_folder):
    """A folder with vocab.txt and tokenizer_config.json {"do_lower_case": false} keeps case."""
    (tmp_path / "vocab.txt").write_bytes((model_folder / "vocab.txt").read_bytes())
    (tmp_path / "tokenizer_config.json").write_text('{"do_lower_case": false}')
    cased = WordPieceTokenizer.from_pretrained(tmp_path)
    assert cased.tokenize("Hello")[0] != "hello"
    (tmp_path / "tokenizer_config.json").write_text('{"do_lower_case": true}')
    assert WordPieceTokenizer.from_pretrained(tmp_path).tokenize("Hello") == ["hello"]


def test_ids_to_tokens_names_every_id(tokenizer):
    """The public way from ids back to tokens, special tokens and padding included."""
    batch = tokenizer(["Hello world!", "Hi"])
    assert tokenizer.ids_to_tokens(batch["input_ids"][0]) == ["[CLS]", "hello", "world", "!", "[SEP]"]
    assert tokenizer.ids_to_tokens(batch["input_ids"][1]) == ["[CLS]", "hi", "[SEP]", "[PAD]", "[PAD]"]


def test_saved_tokenizer_files_say_what_it_does(tokenizer, tmp_path):
    """save() writes the four Hugging Face tokenizer files, and tokenizer_config.json tells the
    truth about lowercasing and the length limit."""
    tokenizer.save(tmp_path, model_max_length=128)
    assert {p.name for p in tmp_path.iterdir()} == {
        "tokenizer.json", "vocab.txt", "tokenizer_config.json", "special_tokens_map.json"
    }  # fmt: skip
    settings = json.loads((tmp_path / "tokenizer_config.json").read_text())
    assert settings["do_lower_case"] is True and settings["model_max_length"] == 128
    cased = WordPieceTokenizer.from_vocab(tmp_path / "vocab.txt", lowercase=False)
    assert tokenizer.lowercase and not cased.lowercase
    assert WordPieceTokenizer.from_pretrained(tmp_path, lowercase_first=True).lowercase
