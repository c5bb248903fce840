"""Damaged config files end in an error that names the file and the field, never in a crash
later on, and never in a model sized by a typo.

A model folder comes from a download, a disk or a colleague: its JSON files can be cut short or
written by hand with a mistake in them. The loader must say which file is wrong and why (a
ValueError, or a FileNotFoundError for a file that is not there), the way `minisbert` reports
every error. Property tests (tests/fuzzing.py) generate the damage; plain tests name each case:

- `config.json`: wrong types and ranges for every field, missing sizes, absurd sizes;
- `modules.json` and `1_Pooling/config.json`: wrong structure, paths leading outside the folder,
  pooling modes that do not exist or are all off, a width that disagrees with the model.

Damaged weight files are in test_corrupted_weights.py; the folders are built by damaged_folders.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from damaged_folders import NORMALIZE, POOLING, TRANSFORMER, assert_named, folder_with, make_tiny_folder
from fuzzing import fuzz
from hypothesis import given
from hypothesis import strategies as st

from minisbert.config import MAX_PARAMETERS, BertConfig, preset
from minisbert.model_folder import read_model_folder
from minisbert.pooling import LEGACY_KEYS, POOLING_FUNCTIONS, PoolingConfig

# -- a tiny model folder, built once; each test damages its own copy of one file -------------------


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    """The tiny BERT's folder (damaged_folders.make_tiny_folder), shared by this module's tests."""
    return make_tiny_folder(tmp_path_factory.mktemp("tiny"))


@pytest.fixture(scope="module")
def scratch(tmp_path_factory) -> Path:
    """A folder that property tests overwrite on every input (hypothesis runs many inputs per test,
    and function-scoped tmp_path would be shared between them anyway)."""
    return tmp_path_factory.mktemp("scratch")


# -- 1. config.json ---------------------------------------------------------------------------

TINY_CONFIG = {"model_type": "bert", **preset("tiny").__dict__}
CONFIG_DAMAGE = {
    "invalid JSON": ('{"hidden_size": }', "config.json is not valid JSON"),
    "a list instead of an object": (
        "[32, 4]",
        r"config.json must hold a JSON object \(BERT config\), got list",
    ),
    "hidden_size given as a string": (
        {"hidden_size": "32"},
        r"hidden_size must be an integer of at least 1, got '32'",
    ),
    "num_attention_heads given as a float": (
        {"num_attention_heads": 4.0},
        "num_attention_heads must be an integer of at least 1, got 4.0",
    ),
    "num_hidden_layers given as true": ({"num_hidden_layers": True}, "num_hidden_layers must be an integer"),
    "intermediate_size given as null": ({"intermediate_size": None}, "intermediate_size must be an integer"),
    "a hidden_size of zero": ({"hidden_size": 0}, "hidden_size must be an integer of at least 1, got 0"),
    "a negative vocab_size": ({"vocab_size": -5}, "vocab_size must be an integer of at least 1, got -5"),
    "one position only": (
        {"max_position_embeddings": 1},
        "max_position_embeddings must be an integer of at least 2",
    ),
    "hidden_size not divisible by the heads": (
        {"hidden_size": 30},
        r"hidden_size \(30\) must be a multiple of num_attention_heads \(4\)",
    ),
    "a vocab_size of 10^12": ({"vocab_size": 10**12}, "more than any BERT"),
    "a negative layer_norm_eps": ({"layer_norm_eps": -1e-12}, "layer_norm_eps must be a positive number"),
    "a layer_norm_eps that is not a number": (
        {"layer_norm_eps": "small"},
        "layer_norm_eps must be a positive",
    ),
    "a layer_norm_eps of NaN": ({"layer_norm_eps": float("nan")}, "layer_norm_eps must be a positive number"),
    "a dropout of 1.5": ({"hidden_dropout_prob": 1.5}, r"hidden_dropout_prob must be a number in \[0, 1\)"),
    "a pad_token_id outside the vocabulary": (
        {"pad_token_id": 100},
        r"pad_token_id must be an integer id below",
    ),
    "hidden_act given as a number": ({"hidden_act": 3}, "hidden_act must be a string"),
}


def config_text(change) -> str:
    return change if isinstance(change, str) else json.dumps({**TINY_CONFIG, **change})


@pytest.mark.parametrize("damage", CONFIG_DAMAGE)
def test_a_wrong_config_json_names_the_file_and_the_field(tmp_path, damage):
    change, problem = CONFIG_DAMAGE[damage]
    (tmp_path / "config.json").write_text(config_text(change))
    with pytest.raises(ValueError, match=problem) as err:
        BertConfig.from_json(tmp_path)
    assert_named(err, tmp_path / "config.json")


@pytest.mark.parametrize(
    "key", ["hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size"]
)
def test_a_config_json_without_a_size_is_refused(tmp_path, key):
    """A missing size would quietly become BERT-base's, and fail later for a reason nobody sees."""
    (tmp_path / "config.json").write_text(json.dumps({k: v for k, v in TINY_CONFIG.items() if k != key}))
    with pytest.raises(ValueError, match=f"config.json lacks {key}: the sizes"):
        BertConfig.from_json(tmp_path)


json_values = (
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.integers(-2, 200)
    | st.floats(allow_nan=True) | st.text(max_size=5) | st.lists(st.integers(), max_size=2)
)  # fmt: skip


@fuzz(ci_examples=150)
@given(changes=st.dictionaries(st.sampled_from(sorted(TINY_CONFIG)), json_values, max_size=4))
def test_any_config_json_is_valid_or_names_the_file_and_a_field(scratch, changes):
    path = scratch / "config.json"
    path.write_text(json.dumps({**TINY_CONFIG, **changes}))
    try:
        config = BertConfig.from_json(path)
    except ValueError as err:
        assert str(path) in str(err) and any(key in str(err) for key in changes), err
        return
    sizes = [config.vocab_size, config.hidden_size, config.num_hidden_layers, config.intermediate_size]
    assert all(type(n) is int and n >= 1 for n in sizes)
    assert config.hidden_size % config.num_attention_heads == 0
    assert config.parameter_count <= MAX_PARAMETERS and config.layer_norm_eps > 0


# -- 2. modules.json and 1_Pooling/config.json --------------------------------------------------

MODULES_DAMAGE = {
    "invalid JSON": ("[{", "modules.json is not valid JSON"),
    "an object instead of a list": (TRANSFORMER, "modules.json must be a list of modules"),
    "a module without a path": ([{"type": TRANSFORMER["type"]}, POOLING], 'each with a "type" and a "path"'),
    "a module without a type": ([{"path": ""}, POOLING], 'each with a "type" and a "path"'),
    "a module that is a string": (["Transformer"], 'each with a "type" and a "path"'),
    "an unknown module type": (
        [TRANSFORMER, {"path": "2_Dense", "type": "sentence_transformers.models.Dense"}],
        r"lists \['Transformer', 'Dense'\]: minisbert supports",
    ),
    "a path leading up out of the folder": (
        [TRANSFORMER, {**POOLING, "path": "../1_Pooling"}],
        r"module path '\.\./1_Pooling', which leads outside",
    ),
    "an absolute path": (
        [{**TRANSFORMER, "path": "/etc"}, POOLING],
        r"module path '/etc', which leads outside",
    ),
}


@pytest.mark.parametrize("damage", MODULES_DAMAGE)
def test_a_wrong_modules_json_is_named(tmp_path, tiny, damage):
    modules, problem = MODULES_DAMAGE[damage]
    folder = folder_with(
        tmp_path,
        tiny,
        **{"modules.json": modules if isinstance(modules, str) else json.dumps(modules)},
    )
    with pytest.raises(ValueError, match=problem) as err:
        read_model_folder(folder)
    assert_named(err, folder / "modules.json")


POOLING_DAMAGE = {
    "invalid JSON": ('{"pooling_mode": ', "is not valid JSON"),
    "a string instead of an object": ('"mean"', r"must hold a JSON object \(pooling config\), got str"),
    "every legacy flag off": (
        {"pooling_mode_mean_tokens": False, "pooling_mode_cls_token": False},
        "no pooling mode is on: pooling_mode_cls_token, pooling_mode_mean_tokens are all false",
    ),
    "an unknown mode": ({"pooling_mode": "weightedmean"}, "pooling mode 'weightedmean' is not supported"),
    "an empty list of modes": ({"pooling_mode": []}, "needs at least one mode"),
    "a mode given as a number": (
        {"pooling_mode": 5},
        "pooling_mode must be a mode name or a list of them, got 5",
    ),
    "a legacy flag given as a string": (
        {"pooling_mode_mean_tokens": "yes"},
        "pooling_mode_mean_tokens must be true or false, got 'yes'",
    ),
    "a dimension given as a string": (
        {"word_embedding_dimension": "32", "pooling_mode": "mean"},
        "the embedding dimension must be a positive integer, got '32'",
    ),
    "a dimension that disagrees with the model": (
        {"word_embedding_dimension": 64, "pooling_mode": "mean"},
        r"pools 64-dimensional token vectors, but .*config\.json gives hidden_size 32",
    ),
}


@pytest.mark.parametrize("damage", POOLING_DAMAGE)
def test_a_wrong_pooling_config_is_named(tmp_path, tiny, damage):
    config, problem = POOLING_DAMAGE[damage]
    text = config if isinstance(config, str) else json.dumps(config)
    folder = folder_with(
        tmp_path, tiny, **{"modules.json": json.dumps([TRANSFORMER, POOLING]), "1_Pooling__config.json": text}
    )
    with pytest.raises(ValueError, match=problem) as err:
        read_model_folder(folder)
    assert_named(err, folder / "1_Pooling" / "config.json")


def test_a_missing_pooling_folder_is_named(tmp_path, tiny):
    modules = [TRANSFORMER, {**POOLING, "path": "3_Pooling"}]
    folder = folder_with(tmp_path, tiny, **{"modules.json": json.dumps(modules)})
    with pytest.raises(FileNotFoundError, match=r"no pooling config found: .*/3_Pooling does not exist"):
        read_model_folder(folder)


module_entries = st.dictionaries(
    st.sampled_from(["path", "type", "idx", "name"]),
    st.sampled_from(["", "1_Pooling", "2_Normalize", "../x", "/tmp", "nowhere", "a/../../b", "."])
    | st.sampled_from([TRANSFORMER["type"], POOLING["type"], NORMALIZE["type"], "Dense", ""])
    | json_values,
)
any_json = st.recursive(
    json_values,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3),
    max_leaves=8,
)


@fuzz(ci_examples=150)
@given(
    modules=st.lists(module_entries | st.sampled_from([TRANSFORMER, POOLING, NORMALIZE]), max_size=4)
    | any_json
)
def test_any_modules_json_reads_or_names_a_file(tiny, modules):
    """Whatever modules.json says, the folder reads, or the error names one of its files."""
    (tiny / "modules.json").write_text(json.dumps(modules))
    try:
        read_model_folder(tiny)
    except (ValueError, FileNotFoundError) as err:
        assert str(tiny) in str(err), err
    finally:
        (tiny / "modules.json").write_text(json.dumps([TRANSFORMER, POOLING, NORMALIZE]))


pooling_keys = st.sampled_from(
    ["pooling_mode", "word_embedding_dimension", "embedding_dimension", *sorted(LEGACY_KEYS)]
)
pooling_values = json_values | st.sampled_from(
    ["mean", "max", "cls", "weightedmean", ["mean", "max"], 32, 64]
)


@fuzz(ci_examples=150)
@given(config=st.dictionaries(pooling_keys, pooling_values, max_size=4) | any_json)
def test_any_pooling_config_reads_or_names_the_file(scratch, config):
    path = scratch / "config.json"
    path.write_text(json.dumps(config))
    try:
        pooling = PoolingConfig.from_json(path)
    except ValueError as err:
        assert str(path) in str(err), err
        return
    assert pooling.modes and all(mode in POOLING_FUNCTIONS for mode in pooling.modes)
    assert pooling.dimension is None or type(pooling.dimension) is int and pooling.dimension > 0
