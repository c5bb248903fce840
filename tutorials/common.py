"""What every tutorial starts with: the fast switch, where figures go, where the data sets are.

    from common import DATA, FAST, data_file, save_figure

- `FAST` is True when `MINISBERT_FAST=1`: the test suite runs every tutorial that way, on fewer
  examples and steps, so that none can rot. A reader runs the full version.
- Figures go to `tutorials/figures/` (or `$MINISBERT_FIGURES`).
- The data sets (STS benchmark, SICK) are read from `$MINISBERT_DATA`, or from `../shared/data`
  beside the clone; `data_file("stsbenchmark/sts-dev.csv")` names what is missing if they are not
  there.

Run as a script, figures are only saved; in a notebook (opened with jupytext, or executed by
`make notebooks`), they are also shown under the cell that draws them.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import matplotlib

from minisbert.data import data_folder, data_path

IN_NOTEBOOK = "ipykernel" in sys.modules
if not IN_NOTEBOOK:
    matplotlib.use("Agg")  # no window: a script saves its figures and goes on

HERE = Path(__file__).resolve().parent
FAST = os.environ.get("MINISBERT_FAST") == "1"
FIGURES = Path(os.environ.get("MINISBERT_FIGURES", HERE / "figures"))
DATA = data_folder()  # $MINISBERT_DATA, or ../shared/data beside the clone (minisbert/data.py)


def data_file(relative: str) -> Path:
    """A file of the data folder, or a clear error saying where it was looked for."""
    return data_path(DATA / relative)


def claim(title: str) -> str:
    """A figure title that states what the full run shows; fast mode's few steps show nothing,
    and its figures say so instead."""
    return "fast mode: too short to show what training does (run the full tutorial)" if FAST else title


def save_figure(fig, name: str) -> Path:
    """Save `fig` as FIGURES/name (PNG), show it in a notebook, and free it in a script."""
    import matplotlib.pyplot as plt

    FIGURES.mkdir(parents=True, exist_ok=True)
    path = FIGURES / name
    fig.savefig(path, dpi=120, bbox_inches="tight")
    print(f"figure saved: {path}")
    if IN_NOTEBOOK:
        from IPython.display import display

        display(fig)  # shown under the cell, whatever matplotlib's backend
    plt.close(fig)
    return path
