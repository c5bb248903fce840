"""Checkpoints of a training run: written so that a crash at any moment leaves the last good one.

A run folder holds

    checkpoints/step-0000120/model/          the encoder, a standard model folder (model_folder.py)
    checkpoints/step-0000120/trainer_state.pt the step, optimizer, schedule, heads, random state, log
    checkpoints/latest                       the name of the newest complete checkpoint
    log.json, model/, loss.png, ...          written by training.py and plots.py

A checkpoint is written into a temporary folder (.step-0000120.tmp-PID-XXXX) and renamed into
place when complete; `latest` is then replaced by rename too. A run that is killed mid-write
leaves at most a hidden temporary folder, which no reader takes for a checkpoint and the next
write removes. `trainer_state.pt` holds tensors and plain containers only, so it is
read back with `torch.load(weights_only=True)`.
"""

from __future__ import annotations

import contextlib
import shutil
from pathlib import Path

import torch

from ..files.atomic import (
    atomic_write_text,
    remove_folder,
    remove_stale_temporaries,
    replace_folder,
    temporary_folder,
)
from ..model_folder import write_model_folder
from ..pretrained import load_weights

LATEST = "latest"


def write_checkpoint(run_dir: Path, step: int, encoder, state: dict, keep: int) -> Path:
    """Write checkpoints/step-N (the encoder's files and `state`) atomically, point `latest` at it,
    and remove all but the newest `keep` checkpoints."""
    folder = run_dir / "checkpoints"
    folder.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(folder)  # half-written by a run that was killed: never a checkpoint
    target = folder / f"step-{step:07d}"
    tmp = temporary_folder(target)
    try:
        write_model_folder(encoder, tmp / "model")
        torch.save(state, tmp / "trainer_state.pt")
        replace_folder(tmp, target)  # a resumed run passing the same step again replaces it whole
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    atomic_write_text(folder / LATEST, target.name + "\n")
    remove_old_checkpoints(folder, target, keep)
    return target


def remove_old_checkpoints(folder: Path, newest: Path, keep: int) -> None:
    """Keep `newest` and the `keep` - 1 before it. Any after it are left from a run that was killed
    before it could point `latest` at them: the resumed run writes them again, so they go too."""
    names = sorted(p.name for p in folder.glob("step-*"))  # names sort in step order
    older = [n for n in names if n < newest.name]
    later = [n for n in names if n > newest.name]
    for name in older[: max(len(older) - (keep - 1), 0)] + later:
        remove_folder(folder / name)  # hidden first: a crash never leaves a half-deleted step-N


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


@contextlib.contextmanager
def write_errors_named(what: str, run_dir: Path):
    """A write of the run that fails (a full disk, no permission) stops it with one message naming
    what could not be written and the checkpoint that a resumed run continues from."""
    try:
        yield
    except OSError as err:
        where = f" ({err.filename})" if err.filename else ""
        error = OSError(
            f"could not write {what}: {err.strerror or err}{where}; training stopped. The last "
            f"complete checkpoint: {describe_latest(run_dir)}; continue with --resume"
        )
        error.errno = err.errno  # the cause, for callers that look (errno.ENOSPC: disk full)
        raise error from err


def read_checkpoint(folder: Path, encoder) -> dict:
    """Load a checkpoint's weights into `encoder` (every key checked, as for any model folder) and
    return its trainer state."""
    try:
        state = torch.load(folder / "trainer_state.pt", weights_only=True)
    except Exception as err:  # a truncated or corrupt file fails deep inside the unpickler
        raise ValueError(f"could not read {folder / 'trainer_state.pt'}: {err}") from err
    load_weights(encoder.model, folder / "model")
    return state
