"""Record the inputs and a correct solution's outputs of every exercise into golden/<id>.npz.

    python tests/exercises/make_golden.py            # all exercises (run on the solution!)
    python tests/exercises/make_golden.py attention  # one
    python tests/exercises/make_golden.py trace      # the encoder trace of `minisbert check`

Each test file of this folder defines `cases()` and `run(inputs)` (see golden_io.py). Run this
on the full solution, never on a student version; `tests/test_assignment.py` checks that the
committed files are what this script makes.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE.parents[1])]  # tests/ (for `exercises`) and the repository

from exercises.golden_io import save_golden  # noqa: E402
from minisbert.course.exercises import EXERCISES  # noqa: E402


def record(exercise_id: str) -> Path:
    module = importlib.import_module(f"exercises.test_{exercise_id}")
    inputs = module.cases()
    return save_golden(exercise_id, inputs, module.run(inputs))


def record_encoder_trace() -> Path:
    """The trace `minisbert check` compares a student's encoder with (see minisbert/course/divergence.py)."""
    import numpy as np

    from minisbert import SentenceEncoder
    from minisbert.course.divergence import TRACE_FILE, record_trace

    path = HERE.parents[1] / TRACE_FILE
    np.savez_compressed(path, **record_trace(SentenceEncoder.from_pretrained()))
    return path


def main(names: list[str]) -> None:
    for exercise in EXERCISES:
        if not names or exercise.id in names:
            print("recorded", record(exercise.id))
    if not names or "trace" in names:
        print("recorded", record_encoder_trace())


if __name__ == "__main__":
    main(sys.argv[1:])
