"""Fixtures shared by the tests: the pretrained model, the data sets and the published implementation.

Tests that need the pretrained weights or the data sets fail (they do not skip) when these are
missing: `make test` installs the weights, and the data live in ../shared/data or $MINISBERT_DATA.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))  # for `import helpers`
os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing is ever fetched from a hub
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture(scope="session")
def model_folder() -> Path:
    from minisbert.pretrained import default_model_folder

    return default_model_folder()  # raises with the install command if it is missing


@pytest.fixture(scope="session")
def data_dir() -> Path:
    folder = Path(os.environ.get("MINISBERT_DATA", ROOT.parent / "shared" / "data"))
    if not (folder / "stsbenchmark" / "sts-test.csv").is_file():
        pytest.fail(f"the data sets are not at {folder}: set MINISBERT_DATA to the folder with stsbenchmark/")
    return folder


@pytest.fixture(scope="session")
def encoder(model_folder):
    from minisbert import SentenceEncoder

    return SentenceEncoder.from_pretrained()


@pytest.fixture(scope="session")
def st_model(model_folder):
    """The published implementation, sentence-transformers, on the same folder."""
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(model_folder), device="cpu")
