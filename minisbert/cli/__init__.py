"""The `minisbert` command line: one module per command (encode.py, train.py, ...), gathered by
parser.py, whose docstring lists them all.

First of all, before anything imports torch: OpenMP reads how its threads wait when torch loads,
so the command sets the policy here (kernels/threads.py) before `main` and the commands load it.
"""

from ..kernels.threads import wait_passively

wait_passively()

from .parser import main, run  # noqa: E402 (after the wait policy, on purpose)

__all__ = ["main", "run"]
