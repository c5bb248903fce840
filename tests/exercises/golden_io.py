"""Recorded inputs and outputs of each exercise, and the one way the graded tests compare them.

Every graded test file defines, for its exercise,

    cases()         the inputs: a dict of NumPy arrays, made from a fixed seed;
    run(inputs)     calls the student's functions on them: a dict of outputs (arrays or tensors).

The teacher's `make_golden.py` (not in a student version) runs `run(cases())` on the solution and
saves inputs and outputs in `golden/<exercise>.npz` (plain arrays, no pickle). The tests load that
file, call `run` on the recorded inputs, and compare every output with the recorded one: a
student version can be graded without holding the solution, and each exercise is graded on its
own functions only. The grader reads the teacher's copy of these files, not the student's.

Everything random in a case is drawn here, from NumPy's generator with a fixed seed, and passed
in: weights, inputs and dropout masks alike. torch's own random draws are not the same on every
CPU (its normal_ has a separate AVX2 kernel; its dropout masks come from MKL's generator on x86
and from another elsewhere), so outputs recorded from them would fail a correct solution on a
student's laptop.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from reference.compare import assert_close, to_numpy

GOLDEN_DIR = Path(__file__).resolve().parent / "golden"


def golden_path(exercise: str) -> Path:
    return GOLDEN_DIR / f"{exercise}.npz"


def save_golden(exercise: str, inputs: dict, outputs: dict) -> Path:
    arrays = {f"in/{k}": to_numpy(v) for k, v in inputs.items()}
    arrays |= {f"out/{k}": to_numpy(v) for k, v in outputs.items()}
    GOLDEN_DIR.mkdir(parents=True, exist_ok=True)
    path = golden_path(exercise)
    np.savez_compressed(path, **arrays)
    return path


def load_golden(exercise: str) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """(inputs, expected outputs) recorded for an exercise."""
    with np.load(golden_path(exercise), allow_pickle=False) as data:
        inputs = {k[3:]: data[k] for k in data.files if k.startswith("in/")}
        outputs = {k[4:]: data[k] for k in data.files if k.startswith("out/")}
    return inputs, outputs


class RecordedDropout(nn.Module):
    """Dropout whose mask is given instead of drawn: in training, x · keep / (1 − p), with `keep`
    a 0/1 array of x's shape (recorded with the case); in eval mode, x unchanged.

    It stands in for `nn.Dropout(p)` wherever a graded test needs dropout on, so that where the
    student applies dropout is graded the same way on every CPU (see the module's docstring).
    """

    def __init__(self, keep: np.ndarray, p: float):
        super().__init__()
        self.p = p
        self.register_buffer("keep", torch.tensor(keep, dtype=torch.float64))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return x
        if x.shape != self.keep.shape:
            raise AssertionError(
                f"dropout was applied to a tensor of shape {tuple(x.shape)}; at this point the "
                f"solution applies it to one of shape {tuple(self.keep.shape)}"
            )
        return x * self.keep / (1.0 - self.p)


def keep_mask(generator: np.random.Generator, shape: tuple, p: float) -> np.ndarray:
    """A dropout mask: each element kept (1) with probability 1 − p, else dropped (0)."""
    return (generator.uniform(size=shape) >= p).astype(np.float64)


def attempt(fn, *args):
    """fn(*args), or the AssertionError it raised (a RecordedDropout applied in the wrong place),
    kept as the output so that only the tests that check this output fail, with its message."""
    try:
        return fn(*args)
    except AssertionError as err:
        return err


def check_outputs(actual: dict, expected: dict, tolerance: str = "float64", only=None) -> None:
    """Every output (or those named in `only`) equal to the recorded one, within a named tolerance;
    a failure names the output, the shapes, the largest difference and where it is."""
    for name in only or expected:
        if name not in actual:
            raise AssertionError(f"output {name!r} is missing")
        if isinstance(actual[name], AssertionError):  # see attempt()
            raise AssertionError(f"output {name!r}: {actual[name]}")
        try:
            assert_close(actual[name], expected[name], tolerance)
        except AssertionError as err:
            raise AssertionError(f"output {name!r}: {err}") from None
