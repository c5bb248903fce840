"""Reading sentence-pair data sets from a path, deriving triplets, and batching them for training.

The data are not part of minisbert: point at them with a path, or set `MINISBERT_DATA` to the
folder that holds `stsbenchmark/` and `sick/`. Unset, a relative path is looked for in
`../shared/data` from the current folder, then beside the clone minisbert was installed from
(`data_folders`): the command line, the tests and the tutorials all look in the same places.

- STS benchmark (Cer et al., SemEval-2017): tab-separated, no header, no quoting,
  `genre  file  year  id  score  sentence1  sentence2  [extra columns]`, score from 0 to 5.
- SICK (Marelli et al., LREC 2014): a header line, then
  `pair_ID  sentence_A  sentence_B  relatedness_score  entailment_judgment`.
  This copy has no split; `split_sick` makes one from pair_ID: id % 10 == 0 is test,
  id % 10 == 1 is dev, the rest (80%) is train.
"""

from __future__ import annotations

import os
import random
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import torch

from .text_files import check_sentence, parse_decimal, parse_whole_number, read_lines, read_rows

DATA_ENV = "MINISBERT_DATA"
SICK_LABELS = ("ENTAILMENT", "NEUTRAL", "CONTRADICTION")  # label ids 0, 1, 2


@dataclass(frozen=True)
class ScoredPair:
    """Two sentences and a gold similarity score (0 to 5 for STS, 1 to 5 for SICK)."""

    sentence1: str
    sentence2: str
    score: float


@dataclass(frozen=True)
class LabeledPair:
    """A SICK pair: its id, the sentences, the relatedness (1 to 5) and the entailment label id."""

    pair_id: int
    sentence1: str
    sentence2: str
    score: float
    label: int


@dataclass(frozen=True)
class Triplet:
    """An anchor, a sentence that means the same (positive) and one that does not (negative)."""

    anchor: str
    positive: str
    negative: str


# ---------------------------------------------------------------------------------------------
# reading files


def data_folders() -> list[Path]:
    """Where data files given by a relative path are looked for: $MINISBERT_DATA if it is set,
    else `../shared/data` from the current folder and beside the clone of minisbert."""
    if os.environ.get(DATA_ENV):
        return [Path(os.environ[DATA_ENV])]
    beside_the_clone = Path(__file__).resolve().parents[1].parent / "shared" / "data"
    return list(dict.fromkeys([Path("..") / "shared" / "data", beside_the_clone]))


def data_folder() -> Path:
    """The first of `data_folders()` that holds the STS benchmark (else the first of them, for the
    error message of whoever reads from it)."""
    folders = data_folders()
    return next((f for f in folders if (f / "stsbenchmark").is_dir()), folders[0])


def data_path(path: str | Path) -> Path:
    """`path` as given if it exists, else relative to one of `data_folders()`; otherwise a
    FileNotFoundError that says where it looked."""
    path = Path(path)
    if path.exists():
        return path
    folders = data_folders()
    for folder in folders:
        if (folder / path).exists():
            return folder / path
    where = ", ".join(str(f) for f in folders)
    hint = "" if os.environ.get(DATA_ENV) else f"; set ${DATA_ENV} to the folder with stsbenchmark/"
    raise FileNotFoundError(f"data file not found: {path} (looked in the current folder and {where}{hint})")


STS_COLUMNS = ("genre", "file", "year", "id", "score", "sentence1", "sentence2")
SICK_COLUMNS = ("pair_ID", "sentence_A", "sentence_B", "relatedness_score", "entailment_judgment")


def read_sts(path: str | Path) -> list[ScoredPair]:
    """The pairs of an STS benchmark file such as `stsbenchmark/sts-test.csv`; malformed lines are
    a ValueError naming the file and the line (text_files.py says what is accepted)."""
    path = data_path(path)
    pairs = [
        ScoredPair(
            check_sentence(fields[5], "sentence1", path, number),
            check_sentence(fields[6], "sentence2", path, number),
            parse_decimal(fields[4], "score", 0.0, 5.0, path, number),
        )
        for number, fields in read_rows(path, STS_COLUMNS, extra=True)  # extra source columns
    ]
    if not pairs:
        raise ValueError(f"{path} holds no sentence pairs")
    return pairs


def read_sick(path: str | Path) -> list[LabeledPair]:
    """The pairs of `sick/SICK.txt`, labels as ids into SICK_LABELS; malformed lines (a wrong header,
    a misspelled label, a repeated pair_ID, ...) are a ValueError naming the file and the line."""
    path = data_path(path)
    rows = read_rows(path, SICK_COLUMNS, extra=False)
    check_sick_header(path, next(rows, None))
    pairs, seen = [], {}
    for number, fields in rows:
        pair_id = parse_whole_number(fields[0], "pair_ID", path, number)
        if pair_id in seen:
            raise ValueError(f"{path}, line {number}: pair_ID {pair_id} is already on line {seen[pair_id]}")
        seen[pair_id] = number
        sentences = [check_sentence(fields[i], SICK_COLUMNS[i], path, number) for i in (1, 2)]
        score = parse_decimal(fields[3], "relatedness_score", 1.0, 5.0, path, number)
        if fields[4] not in SICK_LABELS:
            raise ValueError(
                f"{path}, line {number}: label {fields[4]!r} is not one of {', '.join(SICK_LABELS)}"
            )
        pairs.append(LabeledPair(pair_id, *sentences, score, SICK_LABELS.index(fields[4])))
    if not pairs:
        raise ValueError(f"{path} holds no sentence pairs (only a header)")
    return pairs


def check_sick_header(path: Path, first: tuple[int, list[str]] | None) -> None:
    """SICK.txt starts with its header; without it, the first pair would be skipped silently."""
    if first is None:
        raise ValueError(f"{path} is empty: it holds no sentence pairs")
    number, fields = first
    if tuple(fields) != SICK_COLUMNS:
        raise ValueError(
            f"{path}, line {number}: expected the header {' '.join(SICK_COLUMNS)}, "
            f"got {' '.join(fields)!r:.80}"
        )


def first_line(path: Path) -> str:
    """The first line of a file, without a BOM or its line ending; undecodable bytes replaced."""
    with open(path, encoding="utf-8-sig", errors="replace") as f:
        return f.readline().rstrip("\r\n")


def is_sick(path: str | Path) -> bool:
    """Whether a file is SICK.txt (its header starts with pair_ID) rather than an STS file."""
    return first_line(Path(path)).startswith("pair_ID\t")


def sick_split(pair_id: int) -> str:
    """The documented SICK split: pair_ID % 10 == 0 → "test", == 1 → "dev", otherwise "train"."""
    return {0: "test", 1: "dev"}.get(pair_id % 10, "train")


def split_sick(pairs: list[LabeledPair]) -> dict[str, list[LabeledPair]]:
    """The pairs of each split of `sick_split`: {"train": [...], "dev": [...], "test": [...]}."""
    splits = {"train": [], "dev": [], "test": []}
    for pair in pairs:
        splits[sick_split(pair.pair_id)].append(pair)
    return splits


def read_texts(path: str | Path) -> list[str]:
    """Every sentence of a file: both sides of each pair of an STS file or SICK.txt, else each
    non-blank line of a UTF-8 text file."""
    path = data_path(path)
    if is_sick(path):
        return [s for p in read_sick(path) for s in (p.sentence1, p.sentence2)]
    if first_line(path).count("\t") >= 6:
        return [s for p in read_sts(path) for s in (p.sentence1, p.sentence2)]
    return [line for _, line in read_lines(path) if line.strip()]


# ---------------------------------------------------------------------------------------------
# triplets


def sick_triplets(pairs: list[LabeledPair]) -> dict[str, list[Triplet]]:
    """Hard triplets from SICK, split by anchor: {"train": [...], "dev": [...], "test": [...]}.

    For every sentence A with an ENTAILMENT partner and a CONTRADICTION partner (a pair with A on
    either side), one triplet per entailed sentence B: (A, B, C), where C contradicts A (the
    contradicting partners are taken in turn). SICK's contradictions are mostly negations
    ("There is no man playing a guitar"), close in wording to A: hard negatives.

    The split follows `split_sick`'s rule applied to the smallest pair_ID of the anchor, so every
    triplet of one anchor lands in one split. With the full SICK: 926 train, 87 dev, 96 test.
    """
    entailed, contradicting = defaultdict(list), defaultdict(list)
    first_id = {}
    for p in pairs:
        for s in (p.sentence1, p.sentence2):
            first_id[s] = min(first_id.get(s, p.pair_id), p.pair_id)
        if SICK_LABELS[p.label] == "ENTAILMENT":
            entailed[p.sentence1].append(p.sentence2)
        elif SICK_LABELS[p.label] == "CONTRADICTION":
            contradicting[p.sentence1].append(p.sentence2)
            contradicting[p.sentence2].append(p.sentence1)
    splits = {"train": [], "dev": [], "test": []}
    for anchor, positives in entailed.items():
        negatives = contradicting.get(anchor)
        if not negatives:
            continue
        for i, positive in enumerate(positives):
            splits[sick_split(first_id[anchor])].append(
                Triplet(anchor, positive, negatives[i % len(negatives)])
            )
    return splits


def sts_triplets(pairs: list[ScoredPair], seed: int = 0, positive_score: float = 4.0) -> list[Triplet]:
    """One triplet per STS pair scored at least `positive_score` (of 5): anchor sentence1, positive
    sentence2, and as the negative a random sentence of another pair, drawn with `seed`."""
    sentences = sorted({s for p in pairs for s in (p.sentence1, p.sentence2)})
    rng = random.Random(seed)
    return [
        Triplet(p.sentence1, p.sentence2, random_other(rng, sentences, {p.sentence1, p.sentence2}))
        for p in pairs
        if p.score >= positive_score
    ]


def random_other(rng: random.Random, sentences: list[str], exclude: set[str]) -> str:
    while True:
        s = rng.choice(sentences)
        if s not in exclude:
            return s


# ---------------------------------------------------------------------------------------------
# batching for training


class TokenizedColumns:
    """Training examples as text columns, tokenized once; batches are padded to their own longest.

    `columns` holds one list of texts per input of the loss: [sentence1s, sentence2s] for pairs,
    [anchors, positives, negatives] for triplets. `targets` is a tensor (N,) of scores or label
    ids, or None when the loss needs none (triplet, MNRL).
    """

    def __init__(self, tokenizer, columns: list[list[str]], targets=None, max_length: int | None = None):
        lengths = {len(c) for c in columns}
        if len(lengths) != 1:
            raise ValueError(f"all columns must have the same number of texts, got {sorted(lengths)}")
        self.tokenizer = tokenizer
        self.columns = [tokenizer.encode(c, max_length=max_length) for c in columns]
        self.targets = None if targets is None else torch.as_tensor(targets)
        if self.targets is not None and len(self.targets) != len(self):
            raise ValueError(f"{len(self.targets)} targets for {len(self)} examples")

    def __len__(self) -> int:
        return len(self.columns[0])

    def num_batches(self, batch_size: int) -> int:
        return len(self) // batch_size  # the last, smaller batch is dropped, as a fixed batch size wants

    def batch(self, rows) -> tuple[list[dict[str, torch.Tensor]], torch.Tensor | None]:
        """The padded inputs of each column for these rows, and their targets."""
        inputs = [self.tokenizer.pad([column[i] for i in rows]) for column in self.columns]
        return inputs, None if self.targets is None else self.targets[rows]

    def order(self, seed: int, epoch: int) -> list[int]:
        return epoch_order(len(self), seed, epoch)


def epoch_order(n: int, seed: int, epoch: int) -> list[int]:
    """The shuffled order of n examples in an epoch: a function of (seed, epoch) only, so that a
    resumed run visits the examples in the same order as an uninterrupted one."""
    g = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    return torch.randperm(n, generator=g).tolist()
