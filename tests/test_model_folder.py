"""The sentence-transformers folder format, read and written in `minisbert/model_folder.py`:
what each description file says, and a clear error naming the file for each malformed one."""

from __future__ import annotations

import json

import pytest
import torch
from folders import make_bert_folder

from minisbert import SentenceEncoder
from minisbert.model_folder import read_model_folder

TRANSFORMER = {"path": "", "type": "sentence_transformers.models.Transformer"}
POOLING = {"path": "1_Pooling", "type": "sentence_transformers.models.Pooling"}
NORMALIZE = {"path": "2_Normalize", "type": "sentence_transformers.models.Normalize"}


def test_the_default_model_folder(model_folder):
    layout = read_model_folder(model_folder)
    assert layout.bert_folder == model_folder
    assert (layout.pooling.modes, layout.normalize, layout.max_seq_length) == (("mean",), True, 256)
    assert layout.do_lower_case is False


def test_a_plain_bert_folder_is_transformer_then_mean_pooling(tmp_path, model_folder):
    make_bert_folder(tmp_path, model_folder)
    layout = read_model_folder(tmp_path)
    assert (layout.pooling.modes, layout.normalize, layout.max_seq_length) == (("mean",), False, None)


def test_do_lower_case_lowercases_before_the_tokenizer(tmp_path, model_folder):
    """sentence_bert_config.json's do_lower_case is passed to the tokenizer when it is built."""
    make_bert_folder(tmp_path, model_folder)
    (tmp_path / "tokenizer_config.json").write_text('{"do_lower_case": false}')
    (tmp_path / "tokenizer.json").unlink()  # built from vocab.txt, which keeps case
    cased = SentenceEncoder.from_pretrained(tmp_path)
    assert cased.tokenizer.tokenize("Hello") == ["[UNK]"]  # the vocabulary is lowercase only
    (tmp_path / "sentence_bert_config.json").write_text('{"do_lower_case": true, "max_seq_length": 32}')
    lowered = SentenceEncoder.from_pretrained(tmp_path)
    assert lowered.tokenizer.tokenize("Hello") == ["hello"] and lowered.max_seq_length == 32


@pytest.mark.parametrize(
    "modules, message",
    [
        ("{not json", r"modules.json is not valid JSON"),
        ({"type": "Transformer"}, r"modules.json must be a list of modules"),
        ([TRANSFORMER, {"path": 3, "type": "x"}], r"modules.json must be a list of modules"),
        ([POOLING, TRANSFORMER], r"lists \['Pooling', 'Transformer'\]: minisbert supports Transformer"),
        ([TRANSFORMER, NORMALIZE, POOLING], r"lists \['Transformer', 'Normalize', 'Pooling'\]"),
        ([], r"lists \[\]"),
    ],
    ids=[
        "invalid-json",
        "not-a-list",
        "path-not-a-string",
        "pooling-first",
        "normalize-before-pooling",
        "empty",
    ],
)
def test_malformed_modules_json_is_named(tmp_path, model_folder, modules, message):
    make_bert_folder(tmp_path, model_folder)
    text = modules if isinstance(modules, str) else json.dumps(modules)
    (tmp_path / "modules.json").write_text(text)
    with pytest.raises(ValueError, match=message):
        read_model_folder(tmp_path)


@pytest.mark.parametrize(
    "settings, message",
    [
        ('{"max_seq_length": "long"}', "max_seq_length must be an integer of at least 2"),
        ('{"max_seq_length": 1}', "max_seq_length must be an integer of at least 2"),
        ("[1, 2]", "sentence_bert_config.json must hold a JSON object"),
        ("{", "sentence_bert_config.json is not valid JSON"),
    ],
)
def test_malformed_sentence_bert_config_is_named(tmp_path, model_folder, settings, message):
    make_bert_folder(tmp_path, model_folder)
    (tmp_path / "sentence_bert_config.json").write_text(settings)
    with pytest.raises(ValueError, match=message):
        read_model_folder(tmp_path)


def test_malformed_pooling_config_is_named(tmp_path, model_folder):
    make_bert_folder(tmp_path, model_folder)
    (tmp_path / "modules.json").write_text(json.dumps([TRANSFORMER, POOLING]))
    with pytest.raises(FileNotFoundError, match="no pooling config found"):
        read_model_folder(tmp_path)
    (tmp_path / "1_Pooling").mkdir()
    (tmp_path / "1_Pooling" / "config.json").write_text('"mean"')
    with pytest.raises(ValueError, match=r"1_Pooling/config.json must hold a JSON object"):
        read_model_folder(tmp_path)


def test_written_folder_reads_back_the_same(encoder, tmp_path):
    """What save_pretrained writes, read_model_folder reads back: one format, both directions."""
    encoder.save_pretrained(tmp_path / "saved")
    layout = read_model_folder(tmp_path / "saved")
    assert (layout.pooling, layout.normalize, layout.max_seq_length) == (
        encoder.pooling,
        encoder.normalize,
        encoder.max_seq_length,
    )
    again = SentenceEncoder.from_pretrained(tmp_path / "saved")
    assert torch.equal(torch.as_tensor(again.encode(["a b"])), torch.as_tensor(encoder.encode(["a b"])))
