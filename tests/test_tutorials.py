"""Every tutorial runs, as a plain script and (one of them, to prove the form) as an executed
notebook, in fast mode; its own assertions hold, it saves a figure, and it ends with exercises."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parents[1] / "tutorials"
TUTORIALS = sorted(HERE.glob("[0-9][0-9]_*.py"))
NOTEBOOK_TUTORIAL = "03_attention"  # quick, and draws inline figures


def fast_env(figures: Path) -> dict[str, str]:
    return {**os.environ, "MINISBERT_FIGURES": str(figures), "MINISBERT_FAST": "1"}


def test_the_series_is_numbered_once_each_and_indexed():
    numbers = [int(p.name[:2]) for p in TUTORIALS]
    assert numbers[0] == 1 and len(set(numbers)) == len(numbers), [p.name for p in TUTORIALS]
    index = (HERE / "README.md").read_text(encoding="utf-8")
    readme = (HERE.parent / "README.md").read_text(encoding="utf-8")
    assert all(p.name in index and p.name in readme for p in TUTORIALS)


@pytest.mark.parametrize("path", TUTORIALS, ids=lambda p: p.stem)
def test_tutorial_reads_as_a_notebook_and_ends_with_exercises(path):
    """Percent format (markdown and code cells), a numbered title, and 2 to 4 exercises."""
    text = path.read_text(encoding="utf-8")
    assert "format_name: percent" in text and "# %% [markdown]" in text
    assert re.search(rf"^# # {path.name[:2]} · ", text, re.M), "the first heading is '# NN · Title'"
    exercises = text.split("## Exercises", 1)
    assert len(exercises) == 2, "a section '## Exercises' ends the tutorial"
    count = len(re.findall(r"^# (\d+)\. ", exercises[1], re.M))
    assert 2 <= count <= 4, f"{count} numbered exercises"


@pytest.mark.parametrize("path", TUTORIALS, ids=lambda p: p.stem)
def test_tutorial_runs(path, tmp_path, model_folder, data_dir):
    result = subprocess.run(
        [sys.executable, str(path)], capture_output=True, text=True, env=fast_env(tmp_path), timeout=600
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert list(tmp_path.glob("*.png")), "the tutorial saved no figure"


def test_a_tutorial_runs_as_an_executed_notebook(tmp_path, model_folder, data_dir, monkeypatch):
    """The notebook form works too: jupytext makes the notebook, nbclient runs it in a kernel,
    and the written .ipynb holds the outputs and the figures."""
    import nbformat

    sys.path.insert(0, str(HERE))
    from build_notebooks import build_notebook

    for key, value in fast_env(tmp_path / "figures").items():
        monkeypatch.setenv(key, value)
    path = build_notebook(HERE / f"{NOTEBOOK_TUTORIAL}.py", tmp_path / "notebooks", timeout=600)
    notebook = nbformat.read(path, as_version=4)
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    assert any("image/png" in o.get("data", {}) for o in outputs), "no figure shown in the notebook"
    assert any(o.output_type == "stream" for o in outputs), "no printed output in the notebook"
