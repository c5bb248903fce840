"""Checkpoints of a training run: written so that a crash at any moment leaves the last good one.

A run folder holds

    checkpoints/step-0000120/model/          the encoder, a standard model folder (model_folder.py)
    checkpoints/step-0000120/trainer_state.pt the step, optimizer, schedule, heads, random state, log
    checkpoints/latest                       the name of the newest complete checkpoint
    log.json, model/, loss.png, ...          written by training.py and plots.py

A checkpoint is written into a temporary folder and renamed into place when complete; `latest` is
then replaced by rename too. `trainer_state.pt` holds tensors and plain containers only, so it is
read back with `torch.load(weights_only=True)`.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import torch

from .files import atomic_write_text
from .model_folder import write_model_folder
from .pretrained import load_weights

LATEST = "latest"


def write_checkpoint(run_dir: Path, step: int, encoder, state: dict, keep: int) -> Path:
    """Write checkpoints/step-N (the encoder's files and `state`) atomically, point `latest` at it,
    and remove all but the newest `keep` checkpoints."""
    folder = run_dir / "checkpoints"
    folder.mkdir(parents=True, exist_ok=True)
    name = f"step-{step:07d}"
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=folder))
    try:
        write_model_folder(encoder, tmp / "model")
        torch.save(state, tmp / "trainer_state.pt")
        if (folder / name).exists():  # a resumed run passing the same step again
            shutil.rmtree(folder / name)
        os.rename(tmp, folder / name)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    atomic_write_text(folder / LATEST, name + "\n")
    for old in sorted(folder.glob("step-*"))[:-keep]:
        shutil.rmtree(old)  # names sort in step order; the newest `keep` stay
    return folder / name


def latest_checkpoint(run_dir: Path | None) -> Path:
    """The folder of the newest complete checkpoint of a run."""
    if run_dir is None:
        raise ValueError("resume needs the output_dir of the run")
    pointer = run_dir / "checkpoints" / LATEST
    if not pointer.is_file():
        raise FileNotFoundError(f"no checkpoint to resume from in {run_dir / 'checkpoints'}")
    folder = pointer.parent / pointer.read_text(encoding="utf-8").strip()
    if not (folder / "trainer_state.pt").is_file():
        raise FileNotFoundError(f"{pointer} names {folder.name}, which holds no trainer_state.pt")
    return folder


def describe_latest(run_dir: Path | None) -> str:
    """The newest checkpoint's folder, or "none was written", for error messages."""
    try:
        return str(latest_checkpoint(run_dir))
    except (FileNotFoundError, ValueError):
        return "none was written"


def read_checkpoint(folder: Path, encoder) -> dict:
    """Load a checkpoint's weights into `encoder` (every key checked, as for any model folder) and
    return its trainer state."""
    try:
        state = torch.load(folder / "trainer_state.pt", weights_only=True)
    except Exception as err:  # a truncated or corrupt file fails deep inside the unpickler
        raise ValueError(f"could not read {folder / 'trainer_state.pt'}: {err}") from err
    load_weights(encoder.model, folder / "model")
    return state
