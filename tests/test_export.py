"""The ONNX export (minisbert/deploy/export.py): the graph that ONNX Runtime runs gives minisbert's vectors.

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
from minisbert.deploy.export import ONNX_FILE, export_onnx, onnx_encode, onnx_session
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


def test_a_failed_export_leaves_no_folder_and_the_old_one_whole(encoder, tmp_path, monkeypatch):
    """The folder and its graph appear together or not at all: an export that fails while writing
    the graph leaves no new folder, and with overwrite=True the old folder as it was."""
    from minisbert.deploy import export

    def failing(encoder, path):
        path.write_bytes(b"half a graph")
        raise RuntimeError("the exporter failed")

    monkeypatch.setattr(export, "export_graph", failing)
    with pytest.raises(RuntimeError, match="the exporter failed"):
        export_onnx(encoder, tmp_path / "new")
    old = tmp_path / "old"
    old.mkdir()
    (old / "notes.txt").write_text("mine")
    encoder.train()  # the encoder comes back in the mode it was in, even after a failure
    try:
        with pytest.raises(RuntimeError, match="the exporter failed"):
            export_onnx(encoder, old, overwrite=True)
        assert encoder.training
    finally:
        encoder.eval()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["old"]  # no new folder, no temporary
    assert [p.name for p in old.iterdir()] == ["notes.txt"] and (old / "notes.txt").read_text() == "mine"


def test_without_the_exporters_packages_the_error_says_what_to_install(
    encoder, tmp_path, monkeypatch, capsys
):
    from minisbert.cli import main
    from minisbert.deploy import export

    missing = "no_such_package_for_minisbert"
    monkeypatch.setattr(export, "EXPORTER_PACKAGES", ("onnx", missing))
    with pytest.raises(ImportError, match=rf"needs the {missing} package\(s\).*pip install"):
        export_onnx(encoder, tmp_path / "new")
    assert main(["export", "--onnx", str(tmp_path / "new")]) == 1  # one line, exit status 1
    err = capsys.readouterr().err
    assert err.startswith(
        "minisbert export: error: exporting to ONNX needs the no_such_package_for_minisbert"
    )
    assert err.count("\n") == 1
    assert not (tmp_path / "new").exists()  # checked before anything was written
