"""Property tests on generated input: how `@fuzz` runs them, counts them and reports them.

A property test states something that must hold for *every* input of a kind, and lets
`hypothesis` generate the inputs: odd Unicode, broken files, wrong arguments. It is written as

    @fuzz(ci_examples=100)
    @given(text=st.text())
    def test_something_holds(text):
        ...

`@fuzz` (above `@given`) sets how many inputs to try:

- in `make test` (and CI), `ci_examples` of them, the same ones on every run (derandomized), so
  that CI never fails on an input it did not see the day before;
- in `make fuzz`, MINISBERT_FUZZ_EXAMPLES of them (10,000 there), new random ones on every run.

It also counts, per property, the inputs tried and the *unexpected exceptions* (an exception
that escaped the test body: a crash, or an assertion that failed). pytest prints the table at
the end of the run. A failing property fails its test as usual, with the smallest input that
hypothesis could shrink it to.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, settings
from hypothesis.errors import HypothesisException

FUZZ_EXAMPLES = int(os.environ.get("MINISBERT_FUZZ_EXAMPLES", "0"))  # 0: not fuzzing, CI counts


@dataclass
class Count:
    tried: int = 0
    unexpected: int = 0


COUNTS: dict[str, Count] = {}  # property (test name) → its count, for the table at the end


def fuzz(ci_examples: int):
    """Decorate a `@given` test: run it on ci_examples inputs (or MINISBERT_FUZZ_EXAMPLES) and
    count its inputs and unexpected exceptions."""

    def decorate(test):
        count = COUNTS.setdefault(test.__name__, Count())
        inner = test.hypothesis.inner_test  # the body that @given calls once per input

        @functools.wraps(inner)
        def counted(*args, **kwargs):
            count.tried += 1
            try:
                return inner(*args, **kwargs)
            except HypothesisException:  # assume() and friends: hypothesis's own control flow
                raise
            except Exception:  # (not BaseException: hypothesis stops a draw with its own StopTest)
                count.unexpected += 1
                raise

        test.hypothesis.inner_test = counted
        chosen = settings(
            max_examples=FUZZ_EXAMPLES or ci_examples,
            deadline=None,  # a slow input is not a wrong one; timings vary with the machine
            derandomize=not FUZZ_EXAMPLES,
            database=None,  # no .hypothesis/ folder: each run stands alone
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        )
        return pytest.mark.fuzz(chosen(test))

    return decorate


def report_lines() -> list[str]:
    """The table that pytest prints at the end of a run with property tests."""
    if not COUNTS or not any(c.tried for c in COUNTS.values()):
        return []
    width = max(len(name) for name in COUNTS)
    lines = [f"{'property':{width}s}  {'inputs tried':>12s}  {'unexpected exceptions':>21s}"]
    for name, c in sorted(COUNTS.items()):
        if c.tried:
            lines.append(f"{name:{width}s}  {c.tried:12,d}  {c.unexpected:21d}")
    return lines


# With `pytest -n 2` (pytest-xdist, as `make test` runs), the properties run in worker processes:
# each worker sends its counts to the main process at the end (conftest.py), which adds them up.


def counts_to_send() -> dict[str, list[int]]:
    return {name: [c.tried, c.unexpected] for name, c in COUNTS.items() if c.tried}


def add_counts(received: dict[str, list[int]]) -> None:
    for name, (tried, unexpected) in received.items():
        count = COUNTS.setdefault(name, Count())
        count.tried += tried
        count.unexpected += unexpected
