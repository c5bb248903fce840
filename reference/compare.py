"""The one table of named tolerances and the one comparison, used by the tests, the tutorials and
the assignment grader alike.

    assert_close(actual, expected, "float64")

passes when |actual − expected| ≤ atol + rtol·|expected| everywhere, for the (atol, rtol) named
in `TOLERANCES`, and otherwise fails with a message a reader can act on: the shapes, how many
elements differ, the largest absolute and relative difference, and the worst element with its
index, actual and expected value. Loosening a tolerance needs a comment naming the source of the
error. NumPy and the standard library only: torch tensors are accepted (by `.detach()`) without
importing torch.
"""

from __future__ import annotations

import numpy as np

# name → (atol, rtol)
TOLERANCES = {
    # the same float64 math in torch and NumPy: only the order of additions differs
    "float64": (1e-10, 1e-9),
    # one float32 operation against float64 (rounding of a single op, ~1e-7 relative)
    "fp32_op": (1e-6, 1e-5),
    # a whole float32 model against float64 or against another float32 implementation:
    # rounding accumulates through the layers and matmul blocking orders sums differently
    "fp32_model": (1e-5, 0.0),
    # minisbert against the published implementation (sentence-transformers) or its golden file
    "pretrained_golden": (1e-5, 0.0),
    # a float32 training run against one whose batches were split differently (N ranks of b
    # against one process of N·b): sums ordered differently in every step, carried through a few
    # optimizer steps (measured: 1.5e-7 after 8 AdamW steps at lr 1e-3)
    "fp32_training": (1e-5, 0.0),
    # a float32 model against itself under bf16 autocast (8 significant bits in every matmul):
    # measured at most 2.3e-3 on the unit-length all-MiniLM-L6-v2 vectors of the STS test sentences
    "bf16_model": (1e-2, 0.0),
    # a float32 model against itself with int8 linear layers (minisbert/packed_linear.py): weights
    # and activations rounded to 255 levels in every layer; measured at most 8.4e-2 (reduce_range,
    # an AVX2 CPU) on the unit-length all-MiniLM-L6-v2 vectors of the STS test sentences
    "int8_model": (1.5e-1, 0.0),
    # central differences: O(eps²) truncation plus O(1e-16 / eps) rounding, eps = 1e-6
    "finite_difference": (1e-7, 1e-5),
}


def to_numpy(x) -> np.ndarray:
    """An array from a NumPy array, a number, a list or a torch tensor (on any device)."""
    if hasattr(x, "detach"):  # a torch tensor: leave the graph, come to the CPU
        return x.detach().cpu().numpy()
    return np.asarray(x)


def max_differences(actual, expected) -> tuple[float, float]:
    """(max |a − e|, max |a − e| / |e|) over all elements."""
    a = to_numpy(actual).astype(np.float64)
    e = to_numpy(expected).astype(np.float64)
    diff = np.abs(a - e)
    rel = diff / np.maximum(np.abs(e), np.finfo(np.float64).tiny)
    return float(diff.max(initial=0.0)), float(rel.max(initial=0.0))


def assert_close(actual, expected, tolerance: str) -> None:
    """|actual − expected| ≤ atol + rtol·|expected| everywhere, for a named tolerance."""
    if tolerance not in TOLERANCES:
        raise KeyError(f"no tolerance named {tolerance!r}; the table has {', '.join(TOLERANCES)}")
    atol, rtol = TOLERANCES[tolerance]
    a, e = to_numpy(actual), to_numpy(expected)
    if a.shape != e.shape:
        raise AssertionError(f"shapes differ: got {a.shape}, expected {e.shape}")
    a64, e64 = a.astype(np.float64), e.astype(np.float64)
    bad = ~(np.abs(a64 - e64) <= atol + rtol * np.abs(e64))  # NaN counts as a difference
    if bad.any():
        abs_diff, rel_diff = max_differences(a, e)
        excess = np.where(bad, np.nan_to_num(np.abs(a64 - e64), nan=np.inf), -1.0)
        worst = np.unravel_index(int(np.argmax(excess)), a.shape) if a.ndim else ()
        raise AssertionError(
            f"not close at tolerance {tolerance!r} (atol={atol}, rtol={rtol}), shape {a.shape}: "
            f"{int(bad.sum())} of {bad.size} elements differ; max abs diff {abs_diff:.3e}, "
            f"max rel diff {rel_diff:.3e}; worst at index {tuple(int(i) for i in worst)}: "
            f"got {a64[worst]!r}, expected {e64[worst]!r}"
        )
