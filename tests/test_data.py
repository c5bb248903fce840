"""Reading SICK and STS, the documented SICK split, derived triplets, and batching."""

from __future__ import annotations

import pytest
import torch

from minisbert import WordPieceTokenizer
from minisbert.data import (
    SICK_LABELS,
    TokenizedColumns,
    read_sick,
    read_sts,
    sick_split,
    sick_triplets,
    split_sick,
    sts_triplets,
)

HEADER = "pair_ID\tsentence_A\tsentence_B\trelatedness_score\tentailment_judgment\n"


@pytest.fixture(scope="module")
def sick(data_dir):
    return read_sick(data_dir / "sick" / "SICK.txt")


def test_sick_reads_every_pair(sick):
    assert len(sick) == 9927
    first = sick[0]
    assert (first.pair_id, first.score, SICK_LABELS[first.label]) == (1, 4.5, "NEUTRAL")
    assert first.sentence1.startswith("A group of kids is playing in a yard")


def test_sick_split_is_by_pair_id(sick):
    splits = split_sick(sick)
    assert {k: len(v) for k, v in splits.items()} == {"train": 7936, "dev": 996, "test": 995}
    assert all(p.pair_id % 10 == 0 for p in splits["test"]) and all(
        p.pair_id % 10 == 1 for p in splits["dev"]
    )


@pytest.mark.parametrize(
    "pair_id, split", [(10, "test"), (11, "dev"), (12, "train"), (9999, "train"), (1, "dev")]
)
def test_sick_split_rule(pair_id, split):
    """One rule, used for the pairs and for the triplets' anchors."""
    assert sick_split(pair_id) == split


def test_sick_triplets_are_hard_and_split_by_anchor(sick):
    splits = sick_triplets(sick)
    assert {k: len(v) for k, v in splits.items()} == {"train": 926, "dev": 87, "test": 96}
    anchors = {k: {t.anchor for t in v} for k, v in splits.items()}
    assert not anchors["train"] & anchors["test"] and not anchors["train"] & anchors["dev"]
    labels = {(p.sentence1, p.sentence2): SICK_LABELS[p.label] for p in sick}
    for t in splits["test"]:
        assert labels[(t.anchor, t.positive)] == "ENTAILMENT"
        assert "CONTRADICTION" in (labels.get((t.anchor, t.negative)), labels.get((t.negative, t.anchor)))


def test_sts_triplets(data_dir):
    pairs = read_sts(data_dir / "stsbenchmark" / "sts-dev.csv")
    triplets = sts_triplets(pairs, seed=0)
    assert len(triplets) == sum(p.score >= 4.0 for p in pairs)
    assert triplets == sts_triplets(pairs, seed=0)  # deterministic
    assert all(t.negative not in (t.anchor, t.positive) for t in triplets)


@pytest.mark.parametrize(
    "body, message",
    [
        ("1\tA\tB\t4.5\n", r"line 2: expected at least 5"),
        ("x\tA\tB\t4.5\tNEUTRAL\n", r"line 2: pair_ID 'x' is not a valid int"),
        ("1\tA\tB\thigh\tNEUTRAL\n", r"line 2: relatedness_score 'high'"),
        ("1\tA\tB\t4.5\tMAYBE\n", r"line 2: label 'MAYBE' is not one of"),
        ("", "holds no sentence pairs"),
    ],
    ids=["short-line", "bad-id", "bad-score", "bad-label", "empty"],
)
def test_malformed_sick_names_file_and_line(tmp_path, body, message):
    path = tmp_path / "SICK.txt"
    path.write_text(HEADER + body, encoding="utf-8")
    with pytest.raises(ValueError, match=message):
        read_sick(path)


def test_tokenized_columns_pad_each_batch_to_its_longest(model_folder):
    tok = WordPieceTokenizer.from_pretrained(model_folder)
    data = TokenizedColumns(tok, [["a", "a b c d e", "a b"], ["x", "y", "z"]], [0.1, 0.2, 0.3])
    (first, second), targets = data.batch([0, 2])
    assert first["input_ids"].shape == (2, 4)  # [CLS] a b [SEP]; not padded to the 7 of row 1
    assert second["input_ids"].shape == (2, 3)
    assert torch.equal(targets, torch.tensor([0.1, 0.3], dtype=targets.dtype))
    assert data.order(seed=0, epoch=1) == data.order(seed=0, epoch=1)  # a function of (seed, epoch) only
    assert sorted(data.order(seed=0, epoch=1)) == [0, 1, 2]
    assert data.num_batches(2) == 1


def test_tokenized_columns_check_lengths(model_folder):
    tok = WordPieceTokenizer.from_pretrained(model_folder)
    with pytest.raises(ValueError, match="same number of texts"):
        TokenizedColumns(tok, [["a", "b"], ["c"]])
    with pytest.raises(ValueError, match="3 targets for 2 examples"):
        TokenizedColumns(tok, [["a", "b"], ["c", "d"]], [1, 2, 3])


def test_data_files_are_found_where_the_tests_and_tutorials_find_them(tmp_path, monkeypatch):
    """Without $MINISBERT_DATA, a relative data path is looked for in ../shared/data from the
    current folder (then beside the clone); with it, only there; a miss names every place."""
    from minisbert.data import DATA_ENV, data_folder, data_path

    sts = tmp_path / "shared" / "data" / "stsbenchmark"
    sts.mkdir(parents=True)
    (sts / "sts-dev.csv").write_text("", encoding="utf-8")
    (tmp_path / "clone").mkdir()
    monkeypatch.chdir(tmp_path / "clone")
    monkeypatch.delenv(DATA_ENV, raising=False)
    assert data_path("stsbenchmark/sts-dev.csv").resolve() == (sts / "sts-dev.csv").resolve()
    assert data_folder().resolve() == sts.parent.resolve()
    monkeypatch.setenv(DATA_ENV, str(tmp_path / "elsewhere"))
    with pytest.raises(
        FileNotFoundError, match=r"sts-dev.csv \(looked in the current folder and .*elsewhere\)"
    ):
        data_path("stsbenchmark/sts-dev.csv")
    monkeypatch.setenv(DATA_ENV, str(sts.parent))
    assert data_path("stsbenchmark/sts-dev.csv") == sts / "sts-dev.csv"
