"""The ONNX export (minisbert/export.py): the graph that ONNX Runtime runs gives minisbert's vectors.

Checked on the real all-MiniLM-L6-v2 (mean pooling, normalised) with the tricky texts of
tests/helpers.py (empty strings, control characters, CJK, a text longer than max_seq_length) in
batches of several sizes, and on a tiny random BERT with other pooling modes (CLS, max and mean
together, not normalised), so that the graph is shown to hold the pooling the folder asks for and
not only the one of all-MiniLM-L6-v2. Tolerance `fp32_model`: two float32 engines that sum in
different orders.
"""

from __future__ import annotations

import pytest
import torch
from helpers import TRICKY_TEXTS, assert_close

from minisbert import SentenceEncoder
from minisbert.config import preset
from minisbert.export import ONNX_FILE, export_onnx, onnx_encode, onnx_session
from minisbert.model import BertModel
from minisbert.pooling import PoolingConfig

pytest.importorskip("onnxruntime", reason="the test extra installs onnxruntime")  # make test has it


@pytest.fixture(scope="module")
def exported(encoder, tmp_path_factory):
    folder = tmp_path_factory.mktemp("onnx") / "minilm"
    export_onnx(encoder, folder)
    return folder


@pytest.mark.parametrize("batch_size", [1, 8], ids=lambda b: f"batches-of-{b}")
def test_the_exported_graph_gives_minisberts_vectors(encoder, exported, batch_size):
    session = onnx_session(exported)
    vectors = onnx_encode(session, encoder.tokenizer, TRICKY_TEXTS, encoder.max_seq_length, batch_size)
    assert_close(vectors, encoder.encode(TRICKY_TEXTS), "fp32_model")  # (N, D) both


def test_the_export_folder_is_a_model_folder_too(encoder, exported):
    assert (exported / ONNX_FILE).is_file()
    again = SentenceEncoder.from_pretrained(exported)
    assert_close(again.encode(TRICKY_TEXTS[:5]), encoder.encode(TRICKY_TEXTS[:5]), "fp32_model")


def test_the_graph_holds_the_folders_pooling(encoder, tmp_path):
    torch.manual_seed(0)
    config = preset("tiny", vocab_size=encoder.tokenizer.vocab_size)
    pooling = PoolingConfig(modes=("cls", "max", "mean"), dimension=config.hidden_size)
    tiny = SentenceEncoder(BertModel(config), encoder.tokenizer, pooling, normalize=False, max_seq_length=40)
    export_onnx(tiny, tmp_path / "tiny")
    vectors = onnx_encode(onnx_session(tmp_path / "tiny"), tiny.tokenizer, TRICKY_TEXTS, 40, batch_size=5)
    assert vectors.shape == (len(TRICKY_TEXTS), 3 * config.hidden_size)
    assert_close(vectors, tiny.encode(TRICKY_TEXTS), "fp32_model")


def test_exporting_over_a_model_folder_is_refused_unless_asked(encoder, exported):
    with pytest.raises(FileExistsError, match="overwrite"):
        export_onnx(encoder, exported)


def test_the_command_line_refuses_a_folder_that_holds_something(exported, capsys):
    from minisbert.cli import main

    with pytest.raises(SystemExit) as stopped:  # refused before any work: exit 2
        main(["export", "--onnx", str(exported)])
    assert stopped.value.code == 2
    assert "is not empty" in capsys.readouterr().err
