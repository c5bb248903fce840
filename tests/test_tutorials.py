"""Every tutorial runs, as a plain script, and its own assertions hold."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

TUTORIALS = sorted((Path(__file__).resolve().parents[1] / "tutorials").glob("[0-9][0-9]_*.py"))


def test_there_are_tutorials():
    assert TUTORIALS


@pytest.mark.parametrize("path", TUTORIALS, ids=lambda p: p.stem)
def test_tutorial_runs(path, tmp_path, model_folder):
    env = {**os.environ, "MINISBERT_FIGURES": str(tmp_path), "MINISBERT_FAST": "1", "MPLBACKEND": "Agg"}
    result = subprocess.run([sys.executable, str(path)], capture_output=True, text=True, env=env, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert list(tmp_path.glob("*.png")), "the tutorial saved no figure"
