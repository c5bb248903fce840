"""Run the numerics-sensitive tests as other CPUs would: `make test-cpus`.

    python tests/cpu_capabilities.py                 # default and avx2, and avx512 where the CPU has it
    python tests/cpu_capabilities.py default         # one capability (what CI runs beside `make test`)

Students run minisbert on laptops whose CPUs differ: x86 with AVX2, with AVX-512 (some with bf16 and
VNNI instructions), or none of these, and ARM. The libraries under PyTorch pick their kernels by
what the CPU offers, and each kernel orders its sums its own way, so float32 results differ in the
last bits from one CPU to another. A test that holds on one CPU only is a test a student fails
with a correct solution. Three switches make this machine's libraries use a lesser CPU's kernels:

    ATEN_CPU_CAPABILITY      PyTorch's own vectorised kernels (softmax, GELU, LayerNorm, sums, ...):
                             default (no vector extensions), avx2, avx512
    ONEDNN_MAX_CPU_ISA       oneDNN (the linear layers and convolutions): SSE41, AVX2, AVX512_CORE
    MKL_ENABLE_INSTRUCTIONS  MKL (the batched products of attention): SSE4_2, AVX2, AVX512

A capability above the CPU's own is not emulated (the libraries fall back to what the CPU has):
this script says so and skips it. The tests run are those whose results depend on the kernels:
the model against its NumPy mirror, gradients, the sentence encoder and pretrained weights,
pooling and losses, training steps, the graded exercises with their alternative solutions, and
every tutorial in fast mode. Each run prints pytest's own count of what passed, failed and skipped,
and, for each named tolerance of `reference/compare.py`, the largest share of it that any
comparison used (1.0 would be a failure) and where: the margins the tolerances are chosen with.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CAPABILITIES = {
    "default": {
        "ATEN_CPU_CAPABILITY": "default",
        "ONEDNN_MAX_CPU_ISA": "SSE41",
        "MKL_ENABLE_INSTRUCTIONS": "SSE4_2",
    },
    "avx2": {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_ENABLE_INSTRUCTIONS": "AVX2"},
    "avx512": {
        "ATEN_CPU_CAPABILITY": "avx512",
        "ONEDNN_MAX_CPU_ISA": "AVX512_CORE",
        "MKL_ENABLE_INSTRUCTIONS": "AVX512",
    },
}

# the test files whose results depend on the CPU's kernels (plus the exercises' alternatives)
NUMERIC_TESTS = [
    "tests/test_model.py",
    "tests/test_backward.py",
    "tests/test_reference_training.py",
    "tests/test_sentence_encoder.py",
    "tests/test_pretrained.py",
    "tests/test_pooling.py",
    "tests/test_losses.py",
    "tests/test_encoder_properties.py",
    "tests/test_train_mode.py",
    "tests/test_training.py",
    "tests/test_unpadding.py",
    "tests/test_packed_linear.py",
    "tests/exercises",
    "tests/test_tutorials.py",
]
ALTERNATIVES = ["tests/test_assignment.py", "-k", "alternative"]


def capability_seen(env: dict) -> str:
    """What torch reports under these settings: DEFAULT, AVX2, AVX512 (lower than asked when the
    CPU lacks the instructions)."""
    code = "import torch; print(torch.backends.cpu.get_cpu_capability())"
    return subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True
    ).stdout.strip()


def pytest_summary(output: str) -> str:
    """The last line of pytest's report ("1 failed, 250 passed, 3 skipped in 80.1s")."""
    lines = [
        line.strip("= ")
        for line in output.splitlines()
        if " in " in line and ("passed" in line or "failed" in line)
    ]
    return lines[-1] if lines else "(no summary: see the output above)"


def shares_used(log: Path) -> str:
    """Per tolerance, the largest share of it used by one comparison, the count, and where."""
    worst: dict[str, tuple[float, str, int]] = {}
    for line in log.read_text(encoding="utf-8").splitlines() if log.exists() else []:
        entry = json.loads(line)
        share, at, count = worst.get(entry["tolerance"], (-1.0, "", 0))
        if entry["share"] > share:
            share, at = entry["share"], entry["at"]
        worst[entry["tolerance"]] = (share, at, count + 1)
    return "\n".join(
        f"    {name:18s} largest share used {share:6.3f} of {count:5d} comparisons, at {at}"
        for name, (share, at, count) in sorted(worst.items())
    )


def run(capability: str) -> tuple[str, int]:
    """pytest on the numeric tests under one capability: (summary, exit status)."""
    log = Path(tempfile.mkdtemp()) / "tolerances.jsonl"
    env = (
        os.environ | CAPABILITIES[capability] | {"OMP_NUM_THREADS": "1", "MINISBERT_TOLERANCE_LOG": str(log)}
    )
    seen = capability_seen(env)
    if seen.lower() != capability:
        return f"skipped: this CPU offers {seen or '?'}, not {capability}", 0
    summaries = []
    status = 0
    for tests in (NUMERIC_TESTS, ALTERNATIVES):
        command = [sys.executable, "-m", "pytest", "-n", "auto", "-q", "-p", "no:cacheprovider", *tests]
        done = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True)
        if done.returncode != 0:
            sys.stdout.write(done.stdout[-6000:] + done.stderr[-2000:])
            status = status or done.returncode
        summaries.append(pytest_summary(done.stdout))
    summary = f"torch reports {seen}; numeric tests: {summaries[0]}; alternative solutions: {summaries[1]}"
    return summary + "\n" + shares_used(log), status


def main(names: list[str]) -> int:
    unknown = [n for n in names if n not in CAPABILITIES]
    if unknown:
        print(
            f"unknown capability {', '.join(unknown)}; choose from {', '.join(CAPABILITIES)}", file=sys.stderr
        )
        return 2
    status = 0
    for name in names or list(CAPABILITIES):
        start = time.monotonic()
        summary, code = run(name)
        print(f"{name:8s} ({time.monotonic() - start:.0f} s) {summary}", flush=True)
        status = status or code
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
