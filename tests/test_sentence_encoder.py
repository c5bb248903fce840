"""The sentence encoder on the real all-MiniLM-L6-v2 weights, against the published implementation.

Three oracles: the committed golden file (made once by tests/golden/make_golden.py with
sentence-transformers), sentence-transformers itself run live, and the NumPy reference.
"""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
import torch
from folders import make_bert_folder, make_st_folder
from golden.make_golden import load_golden
from helpers import LONG_TEXT, TRICKY_TEXTS, assert_close

from minisbert import PoolingConfig, SentenceEncoder
from minisbert.data import read_sts
from reference.pretrained import load_config, load_params
from reference.sentence_encoder import sentence_embeddings


def test_matches_golden_file(encoder):
    sentences, golden = load_golden()
    assert_close(encoder.encode(sentences), golden, "pretrained_golden")


@pytest.mark.parametrize("batch_size", [1, 7, 32])
def test_matches_sentence_transformers_live(encoder, st_model, data_dir, batch_size):
    """Tricky text plus a random sample of STS sentences, in any batch size."""
    pairs = read_sts(data_dir / "stsbenchmark" / "sts-dev.csv")
    sample = random.Random(batch_size).sample([p.sentence1 for p in pairs], 40)
    sentences = TRICKY_TEXTS + sample
    expected = st_model.encode(sentences, batch_size=32)
    assert_close(encoder.encode(sentences, batch_size=batch_size), expected, "pretrained_golden")


def test_reference_matches_on_real_weights(encoder, model_folder):
    sentences = TRICKY_TEXTS[:12] + [LONG_TEXT]
    batch = encoder.tokenizer(sentences, max_length=encoder.max_seq_length)
    expected = sentence_embeddings(
        load_params(model_folder),
        batch["input_ids"].numpy(),
        batch["attention_mask"].numpy(),
        load_config(model_folder),
        modes=("mean",),
        normalize=True,
    )
    assert_close(encoder.encode(sentences), expected, "fp32_model")


POOLINGS = ["mean", "max", "cls", "mean_sqrt_len_tokens", ("cls", "mean")]


@pytest.mark.parametrize("normalize", [True, False], ids=["normalize", "no-normalize"])
@pytest.mark.parametrize("pooling", POOLINGS, ids=lambda p: p if isinstance(p, str) else "+".join(p))
def test_sentence_transformers_folders(tmp_path, model_folder, pooling, normalize):
    """Folders written by sentence-transformers load to its own embeddings and to the reference's."""
    make_bert_folder(tmp_path / "bert", model_folder, hidden_act="gelu_new")
    st = make_st_folder(tmp_path / "st", tmp_path / "bert", pooling, normalize, max_seq_length=64)
    ours = SentenceEncoder.from_pretrained(tmp_path / "st")
    modes = (pooling,) if isinstance(pooling, str) else pooling
    assert (ours.pooling.modes, ours.normalize, ours.max_seq_length) == (modes, normalize, 64)
    sentences = TRICKY_TEXTS
    embeddings = ours.encode(sentences)
    assert_close(embeddings, st.encode(sentences), "pretrained_golden")
    batch = ours.tokenizer(sentences, max_length=64)
    expected = sentence_embeddings(
        load_params(tmp_path / "st"),
        batch["input_ids"].numpy(),
        batch["attention_mask"].numpy(),
        load_config(tmp_path / "st"),
        modes=modes,
        normalize=normalize,
    )
    assert_close(embeddings, expected, "fp32_model")


def test_plain_bert_folder_gets_mean_pooling(tmp_path, model_folder):
    from sentence_transformers import SentenceTransformer

    make_bert_folder(tmp_path, model_folder, fmt="bin", task_model=True)
    ours = SentenceEncoder.from_pretrained(tmp_path)
    assert (ours.pooling.modes, ours.normalize) == (("mean",), False)
    theirs = SentenceTransformer(str(tmp_path), device="cpu")  # also makes mean pooling
    assert_close(ours.encode(TRICKY_TEXTS[:8]), theirs.encode(TRICKY_TEXTS[:8]), "pretrained_golden")


# -- encode's contract ----------------------------------------------------------------------------


def test_empty_list_gives_zero_rows(encoder):
    out = encoder.encode([])
    assert out.shape == (0, 384) and out.dtype == np.float32


def test_empty_string_is_cls_sep(encoder):
    batch = encoder.tokenizer([""])
    assert batch["input_ids"].tolist() == [[101, 102]]
    with torch.inference_mode():
        expected = encoder(**batch)[0]
    assert_close(encoder.encode([""])[0], expected, "fp32_op")


def test_non_string_is_type_error_naming_index(encoder):
    with pytest.raises(TypeError, match=r"sentences\[2\] is float"):
        encoder.encode(["a", "b", 3.5])


def test_single_string_gives_a_vector(encoder):
    v = encoder.encode("A man is playing a guitar.")
    assert v.shape == (384,)
    assert_close(v, encoder.encode(["A man is playing a guitar."])[0], "fp32_op")


def test_long_text_is_truncated_to_max_seq_length(encoder):
    """Text over 256 tokens embeds like its first 254 word pieces (+ [CLS], [SEP])."""
    pieces = encoder.tokenizer.tokenize(LONG_TEXT)
    assert len(pieces) > 256
    head = encoder.tokenizer.decode(encoder.tokenizer([LONG_TEXT])["input_ids"][0])
    assert len(encoder.tokenizer.tokenize(head)) == 254
    assert_close(encoder.encode([LONG_TEXT]), encoder.encode([head]), "fp32_model")
    assert not np.allclose(encoder.encode([LONG_TEXT + " extra words"]), 0)


def test_normalize_follows_the_folder_or_the_caller(encoder):
    sentences = ["A man is playing a guitar.", "Stocks fell."]
    default = encoder.encode(sentences)
    raw = encoder.encode(sentences, normalize=False)
    assert_close(np.linalg.norm(default, axis=1), [1.0, 1.0], "fp32_op")
    assert not np.allclose(np.linalg.norm(raw, axis=1), 1.0)
    assert_close(raw / np.linalg.norm(raw, axis=1, keepdims=True), default, "fp32_op")


def test_output_is_in_input_order_whatever_the_lengths(encoder):
    sentences = ["short", LONG_TEXT, "a middle-sized sentence here", ""]
    together = encoder.encode(sentences, batch_size=2)
    one_by_one = np.stack([encoder.encode([s])[0] for s in sentences])
    assert_close(together, one_by_one, "fp32_model")


def test_encode_leaves_training_mode_and_gradients_alone(encoder):
    """encode() switches dropout off while it runs (the model's dropout is 0.1, so a forward in
    training mode would give other vectors each time) and puts the training mode back."""
    sentences = ["a", "A man is playing a guitar."]
    in_eval = encoder.encode(sentences)
    encoder.train()
    try:
        in_train = encoder.encode(sentences)
        assert encoder.training and all(m.training for m in encoder.modules())
    finally:
        encoder.eval()
    np.testing.assert_array_equal(in_train, in_eval)
    assert all(p.grad is None for p in encoder.parameters())


def test_progress_bar(encoder, capsys):
    encoder.encode(["a sentence"] * 20, batch_size=2, show_progress=True)
    assert "encoding" in capsys.readouterr().err
    encoder.encode(["a sentence"] * 20, batch_size=2)  # not a terminal: no bar
    assert capsys.readouterr().err == ""


def test_bf16_vectors_are_close_to_fp32(encoder, data_dir):
    """Mixed precision (devices.py): bf16 matrix multiplies change the unit-length vectors by at
    most the bf16_model tolerance, and do not change their order of similarity much."""
    sentences = [p.sentence1 for p in read_sts(data_dir / "stsbenchmark" / "sts-dev.csv")[:32]]
    # short texts only: on a CPU without bf16 instructions (AVX2 only) bf16 runs ~6× slower than fp32
    sentences += [text for text in TRICKY_TEXTS if text is not LONG_TEXT]
    fp32 = encoder.encode(sentences)
    bf16 = encoder.encode(sentences, precision="bf16")
    assert bf16.dtype == np.float32  # computed narrow, returned as float32
    assert_close(bf16, fp32, "bf16_model")
    assert np.abs(bf16 - fp32).max() > 1e-5  # bf16 really ran: the vectors are not fp32's
    assert (bf16 * fp32).sum(1).min() > 0.999  # cosine of each bf16 vector with its fp32 one
    with pytest.raises(ValueError, match="precision 'int4' is not one of fp32, bf16, fp16"):
        encoder.encode(["a"], precision="int4")


def test_bad_batch_size(encoder):
    with pytest.raises(ValueError, match="batch_size must be at least 1"):
        encoder.encode(["a"], batch_size=0)


def test_similarity(encoder):
    a = encoder.encode(["A man is eating food.", "A man eats something."])
    sim = encoder.similarity(a, a)
    assert sim.shape == (2, 2)
    assert_close(np.diag(sim), [1.0, 1.0], "fp32_op")
    assert sim[0, 1] > 0.7
    assert_close(
        encoder.similarity(["A man is eating food."], ["A man eats something."]), sim[:1, 1:], "fp32_op"
    )
    assert encoder.similarity(a, a[:1]).shape == (2, 1)


def test_device_can_be_chosen(model_folder):
    encoder = SentenceEncoder.from_pretrained(model_folder, device="cpu")
    assert encoder.device == torch.device("cpu")
    assert encoder.to("cpu").encode(["x"]).shape == (1, 384)


def test_unsupported_module_is_named(tmp_path, model_folder):
    make_bert_folder(tmp_path, model_folder)
    modules = [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Dense", "type": "sentence_transformers.models.Dense"},
    ]
    (tmp_path / "modules.json").write_text(json.dumps(modules))
    with pytest.raises(ValueError, match="Dense"):
        SentenceEncoder.from_pretrained(tmp_path)


def test_pooling_width_must_match_model(tmp_path, model_folder):
    from minisbert.pretrained import load_bert_model

    make_bert_folder(tmp_path, model_folder)
    with pytest.raises(
        ValueError, match="pooling expects 384-dimensional token vectors but the model's hidden_size is 32"
    ):
        SentenceEncoder(
            load_bert_model(tmp_path), encoder_tokenizer(model_folder), PoolingConfig(dimension=384)
        )


def encoder_tokenizer(folder):
    from minisbert import WordPieceTokenizer

    return WordPieceTokenizer.from_pretrained(folder)


def test_missing_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="model folder not found"):
        SentenceEncoder.from_pretrained(tmp_path / "missing")
