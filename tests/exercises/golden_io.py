"""Recorded inputs and outputs of each exercise, and the one way the graded tests compare them.

Every graded test file defines, for its exercise,

    cases()         the inputs: a dict of NumPy arrays, made from a fixed seed;
    run(inputs)     calls the student's functions on them: a dict of outputs (arrays or tensors).

The teacher's `make_golden.py` (not in a student version) runs `run(cases())` on the solution and
saves inputs and outputs in `golden/<exercise>.npz` (plain arrays, no pickle). The tests load that
file, call `run` on the recorded inputs, and compare every output with the recorded one: a
student version can be graded without holding the solution, and each exercise is graded on its
own functions only. The grader reads the teacher's copy of these files, not the student's.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

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


def check_outputs(actual: dict, expected: dict, tolerance: str = "float64", only=None) -> None:
    """Every output (or those named in `only`) equal to the recorded one, within a named tolerance;
    a failure names the output, the shapes, the largest difference and where it is."""
    for name in only or expected:
        if name not in actual:
            raise AssertionError(f"output {name!r} is missing")
        try:
            assert_close(actual[name], expected[name], tolerance)
        except AssertionError as err:
            raise AssertionError(f"output {name!r}: {err}") from None
