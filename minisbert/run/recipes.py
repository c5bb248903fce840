"""The training set-ups of the SBERT paper: for each objective, which data, loss and evaluators.

    regression      STS benchmark (sts-train.csv; dev and test beside it) or SICK relatedness;
                    CosineSimilarityLoss with gold score / 5 (STS) or (score − 1) / 4 (SICK)
    classification  SICK entailment, 3 labels; SoftmaxLoss over (u, v, |u−v|)
    triplet         hard SICK triplets (anchor, entailed, contradicting), or STS triplets with
                    random negatives; TripletLoss (Euclidean, margin 1)
    mnrl            the same triplets, negatives as hard negatives; MultipleNegativesRankingLoss

A recipe returns the objective to train, a dev evaluator for `fit` and a test evaluator.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..data import (
    LabeledPair,
    ScoredPair,
    TokenizedColumns,
    data_path,
    is_sick,
    read_sick,
    read_sts,
    sick_triplets,
    split_sick,
    sts_triplets,
)
from ..evaluation import ClassificationEvaluator, STSEvaluator, TripletEvaluator
from ..losses import CosineSimilarityLoss, SoftmaxLoss, TripletLoss
from ..training import Objective
from .distributed import GlobalBatchMNRL


@dataclass
class Recipe:
    objective: Objective
    dev: object  # an evaluator
    test: object


def sts_splits(path: Path) -> dict[str, list[ScoredPair]]:
    """sts-train.csv and its sts-dev.csv and sts-test.csv siblings."""
    siblings = {
        split: path.with_name(path.name.replace("train", split)) for split in ("train", "dev", "test")
    }
    missing = [str(p) for p in siblings.values() if not p.is_file()]
    if "train" not in path.name or missing:
        raise FileNotFoundError(
            "an STS training file needs sts-train.csv, sts-dev.csv and sts-test.csv side by side; "
            f"missing: {missing or path}"
        )
    return {split: read_sts(p) for split, p in siblings.items()}


def as_scored(pairs: list[LabeledPair]) -> list[ScoredPair]:
    return [ScoredPair(p.sentence1, p.sentence2, p.score) for p in pairs]


def pair_columns(pairs) -> list[list[str]]:
    return [[p.sentence1 for p in pairs], [p.sentence2 for p in pairs]]


def regression_recipe(path: Path, encoder, **_) -> Recipe:
    if is_sick(path):
        splits = {k: as_scored(v) for k, v in split_sick(read_sick(path)).items()}
        targets = [(p.score - 1.0) / 4.0 for p in splits["train"]]  # SICK relatedness runs 1..5
    else:
        splits = sts_splits(path)
        targets = [p.score / 5.0 for p in splits["train"]]  # STS runs 0..5
    data = TokenizedColumns(encoder.tokenizer, pair_columns(splits["train"]), targets, encoder.max_seq_length)
    objective = Objective("regression", data, CosineSimilarityLoss())
    return Recipe(objective, STSEvaluator(splits["dev"]), STSEvaluator(splits["test"]))


def classification_recipe(path: Path, encoder, **_) -> Recipe:
    if not is_sick(path):
        raise ValueError(f"classification needs labelled pairs: give SICK.txt, not {path.name}")
    splits = split_sick(read_sick(path))
    labels = [p.label for p in splits["train"]]
    data = TokenizedColumns(encoder.tokenizer, pair_columns(splits["train"]), labels, encoder.max_seq_length)
    head = SoftmaxLoss(encoder.dimension, num_labels=3)
    objective = Objective("classification", data, head)
    return Recipe(
        objective, ClassificationEvaluator(splits["dev"], head), ClassificationEvaluator(splits["test"], head)
    )


def triplet_splits(path: Path):
    if is_sick(path):
        return sick_triplets(read_sick(path))
    return {split: sts_triplets(pairs, seed=0) for split, pairs in sts_splits(path).items()}


def triplet_recipe(path: Path, encoder, margin=1.0, distance="euclidean", **_) -> Recipe:
    splits = triplet_splits(path)
    train = splits["train"]
    columns = [[t.anchor for t in train], [t.positive for t in train], [t.negative for t in train]]
    data = TokenizedColumns(encoder.tokenizer, columns, max_length=encoder.max_seq_length)
    objective = Objective("triplet", data, TripletLoss(margin, distance))
    return Recipe(
        objective, TripletEvaluator(splits["dev"], distance), TripletEvaluator(splits["test"], distance)
    )


def mnrl_recipe(path: Path, encoder, scale=20.0, **_) -> Recipe:
    """The triplets again; MNRL reads their negatives as extra hard negatives. It scores by cosine,
    so its triplet accuracy is measured with the cosine distance."""
    recipe = triplet_recipe(path, encoder, distance="cosine")
    recipe.objective = Objective("mnrl", recipe.objective.data, GlobalBatchMNRL(scale))
    return recipe


RECIPES = {
    "regression": regression_recipe,
    "classification": classification_recipe,
    "triplet": triplet_recipe,
    "mnrl": mnrl_recipe,
}


def build_recipe(kind: str, data: str | Path, encoder, **options) -> Recipe:
    """The objective, dev and test evaluators of one of RECIPES on a data file.
    `options`: margin and distance (triplet), scale (mnrl)."""
    if kind not in RECIPES:
        raise ValueError(f"objective {kind!r} is not one of {', '.join(RECIPES)}")
    return RECIPES[kind](data_path(data), encoder, **options)
