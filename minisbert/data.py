"""Reading sentence-pair data sets from a path: the STS benchmark.

The data are not part of minisbert: point at them with a path, or set `MINISBERT_DATA` to the
folder that holds `stsbenchmark/` (e.g. `../shared/data`).

STS benchmark format (Cer et al., SemEval-2017): tab-separated, no header, no quoting,
`genre  file  year  id  score  sentence1  sentence2  [extra columns]`, score from 0 to 5.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DATA_ENV = "MINISBERT_DATA"


@dataclass(frozen=True)
class ScoredPair:
    """Two sentences and a gold similarity score (0 to 5 for STS)."""

    sentence1: str
    sentence2: str
    score: float


def data_path(path: str | Path) -> Path:
    """`path` as given if it exists, else relative to $MINISBERT_DATA; a clear error otherwise."""
    path = Path(path)
    if path.exists():
        return path
    root = os.environ.get(DATA_ENV)
    if root and (Path(root) / path).exists():
        return Path(root) / path
    hint = f" (nor under ${DATA_ENV}={root})" if root else f" (set ${DATA_ENV} to the data folder)"
    raise FileNotFoundError(f"data file not found: {path}{hint}")


def read_sts(path: str | Path) -> list[ScoredPair]:
    """The pairs of an STS benchmark file such as `stsbenchmark/sts-test.csv`.

    Lines are split on tabs, never parsed as CSV: sentences hold unbalanced quotes.
    """
    path = data_path(path)
    pairs = []
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            fields = line.rstrip("\n").split("\t")
            if len(fields) < 7:
                raise ValueError(
                    f"{path}, line {number}: expected at least 7 tab-separated fields, got {len(fields)}"
                )
            try:
                score = float(fields[4])
            except ValueError:
                raise ValueError(f"{path}, line {number}: score {fields[4]!r} is not a number") from None
            pairs.append(ScoredPair(fields[5], fields[6], score))
    if not pairs:
        raise ValueError(f"{path} holds no sentence pairs")
    return pairs
