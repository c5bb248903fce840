"""The one table of named tolerances and the one comparison, used by the tests, the tutorials and
the assignment grader alike.

    assert_close(actual, expected, "float64")

passes when |actual − expected| ≤ atol + rtol·|expected| everywhere, for the (atol, rtol) named
in `TOLERANCES`, and otherwise fails with a message a reader can act on: the shapes, how many
elements differ, the largest absolute and relative difference, and the worst element with its
index, actual and expected value. Loosening a tolerance needs a comment naming the source of the
error. NumPy and the standard library only: torch tensors are accepted (by `.detach()`) without
importing torch.

How much of its tolerance each comparison used is logged when $MINISBERT_TOLERANCE_LOG names a
file (one JSON line per call): `make test-cpus` runs the tests so under each CPU capability and
prints, per tolerance, the largest share used. The margins quoted below come from those runs.
"""

from __future__ import annotations

import json
import os
import sys

import numpy as np

# name → (atol, rtol). Each says where its error comes from and what `make test-cpus` measured:
# the largest share of the tolerance that any passing comparison used, under PyTorch's default
# (no vector extensions), AVX2 and AVX-512 kernels (oneDNN and MKL held to the same), on an AMD
# EPYC with AVX-512, 2026-12-06. A share above 1 is a failure; every tolerance keeps a margin of at
# least 2× over the worst CPU measured, so a CPU whose kernels sum in yet another order passes.
TOLERANCES = {
    # the same float64 math in torch and NumPy: only the order of additions differs (~1e-16
    # relative a step). Largest share used: 0.003 on every capability.
    "float64": (1e-10, 1e-9),
    # one float32 operation without a long sum (an elementwise op, a LayerNorm or softmax over one
    # row, a cosine) against float64: the rounding of a single op, ~6e-8 relative. Largest share
    # used: 0.21 (default), 0.17 (AVX2, AVX-512), at tutorial 04's embeddings against NumPy.
    "fp32_op": (1e-6, 1e-5),
    # one float32 layer: a matrix product over K ≤ 1,536 terms, then GELU or add & LayerNorm,
    # against float64 (or against the same layer summed in another order). The product's rounding
    # grows with the size of the terms it sums (|x|·|w|, ~√K · 6e-8 · Σ), not with the result, so
    # an output near 0 keeps an absolute error. Measured up to 8.9e-6 on MiniLM's layer 0
    # feed-forward (K = 384), which used 0.99 of "fp32_op" with ATEN_CPU_CAPABILITY=default alone
    # (oneDNN and MKL at the CPU's own); of this one, a largest share of 0.026 (default) to 0.034
    # (AVX-512).
    "fp32_layer": (5e-5, 1e-5),
    # a whole float32 model against float64 or another float32 implementation (transformers),
    # compared on the real tokens: rounding carried through six layers, each LayerNorm bringing
    # it back to scale. Largest share used: 0.47 (AVX2), 0.46 (AVX-512), 0.45 (default), at the
    # last hidden states of all-MiniLM-L6-v2 against transformers. Padding positions are not
    # compared: nothing reads them and their rounding differs more (1.06e-5 seen on AVX-512).
    "fp32_model": (1e-5, 0.0),
    # minisbert against the published implementation (sentence-transformers) or its golden file,
    # made on another CPU: unit-length sentence vectors, rounding of two fp32 models. Largest
    # share used: 0.38 (default and AVX-512), 0.33 (AVX2).
    "pretrained_golden": (1e-5, 0.0),
    # a float32 training run against one whose batches were split differently (N ranks of b
    # against one process of N·b): sums ordered differently in every step, carried through a few
    # optimizer steps (measured: 1.5e-7 after 8 AdamW steps at lr 1e-3; share 0.012 everywhere)
    "fp32_training": (1e-5, 0.0),
    # a float32 model against itself under bf16 autocast (8 significant bits in every matmul):
    # measured at most 2.3e-3 on the unit-length all-MiniLM-L6-v2 vectors of the STS test
    # sentences; in the tests, share 0.15 to 0.18 (CPUs with and without bf16 instructions)
    "bf16_model": (1e-2, 0.0),
    # a float32 model against itself with int8 linear layers (minisbert/kernels/packed_linear.py): weights
    # and activations rounded to 255 levels in every layer; measured at most 8.4e-2 (reduce_range,
    # an AVX2 CPU) on the unit-length all-MiniLM-L6-v2 vectors of the STS test sentences; in the
    # tests, share 0.24 on every capability (int8 runs fbgemm's kernels, whatever ATen's)
    "int8_model": (1.5e-1, 0.0),
    # central differences: O(eps²) truncation plus O(1e-16 / eps) rounding, eps = 1e-6; float64
    # throughout, so the same on every CPU (share 0.02)
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
    if not bad.any():
        log_share_used(tolerance, a64, e64, atol, rtol)  # only those that pass: some tests expect a failure
        return
    abs_diff, rel_diff = max_differences(a, e)
    excess = np.where(bad, np.nan_to_num(np.abs(a64 - e64), nan=np.inf), -1.0)
    worst = np.unravel_index(int(np.argmax(excess)), a.shape) if a.ndim else ()
    raise AssertionError(
        f"not close at tolerance {tolerance!r} (atol={atol}, rtol={rtol}), shape {a.shape}: "
        f"{int(bad.sum())} of {bad.size} elements differ; max abs diff {abs_diff:.3e}, "
        f"max rel diff {rel_diff:.3e}; worst at index {tuple(int(i) for i in worst)}: "
        f"got {a64[worst]!r}, expected {e64[worst]!r}"
    )


def log_share_used(tolerance: str, a64: np.ndarray, e64: np.ndarray, atol: float, rtol: float) -> None:
    """Append {tolerance, share: max |a − e| / (atol + rtol·|e|), at: the caller} to the file named
    by $MINISBERT_TOLERANCE_LOG, if set (see the module's docstring)."""
    path = os.environ.get("MINISBERT_TOLERANCE_LOG")
    if not path or a64.size == 0:
        return
    share = float(np.nan_to_num(np.abs(a64 - e64) / (atol + rtol * np.abs(e64)), nan=np.inf).max())
    caller = sys._getframe(2)  # the frame that called assert_close
    at = f"{os.path.basename(caller.f_code.co_filename)}:{caller.f_lineno}"
    with open(path, "a", encoding="utf-8") as log:  # one short write: safe from parallel workers
        log.write(json.dumps({"tolerance": tolerance, "share": share, "at": at}) + "\n")
