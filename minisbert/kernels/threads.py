"""How minisbert's CPU threads wait for each other: a busy machine is a student's machine.

The cause. PyTorch spreads each operator of a forward pass (a matrix multiply, a GELU, a softmax)
over its intra-op threads with OpenMP: GNU libgomp in the Linux wheels (torch/lib/libgomp.so.1),
LLVM's libomp on macOS, Intel's on Windows. At the end of each operator the threads meet, and
one that is done early waits for the others. libgomp's default is to wait by spinning, 300,000
turns of a loop, before it sleeps (`GOMP_SPINCOUNT`; libomp spins 200 ms). On a quiet machine
that spares the cost of waking it. On a machine where another program wants the same cores,
the spinning thread takes CPU time from the thread it waits for and from the other program, and a
thread the kernel has put aside holds up the whole team until its next time slice: once per
operator, hundreds of operators a batch.

Measured on 2 cores of an AMD EPYC (AVX-512), torch 2.13 with libgomp: sentences/s of
`encode` on 200 STS test sentences (median of 3 rounds), quiet and while other processes run
(1 or 2 Python processes spinning in a loop, or a second torch process doing matrix multiplies);
lowest and highest of 2 to 4 runs each:

    threads, how they wait          quiet      1 Python loop   2 Python loops   torch process
    2, libgomp's default (spin)     550-617    18-200          13-168           16-133
    2, OMP_WAIT_POLICY=PASSIVE      480-540    248-317         176-243          177-181
    2, a short spin (10k-30k)       487-582    94-167          164-273
    1 (nothing to wait for)         323-338    155-280         74-258           125-247

With the default the collapse comes and goes from run to run (18 or 200 sent/s under the same
load): it is the scheduler's luck whether a spinner stands in the way. Passive waiting removes
it: a waiting thread sleeps at once and gives its core to whoever has work. The same in
`minisbert bench --busy` (all 2,758 sentences, two spinning processes; one run each): minisbert
went from 512 sent/s quiet to 97 busy with libgomp's default, from 398 to 208 waiting passively.

The choice. minisbert asks OpenMP to wait passively (`OMP_WAIT_POLICY=PASSIVE`, the OpenMP
standard's variable, which libgomp, libomp and Intel's runtime all read), and keeps torch's own
thread count, one per core the process may use. Passive waiting costs 7-9% on a quiet machine
(medians 527 against 569 sent/s; 411 against 450 on all 2,758 sentences, each woken thread takes
a system call) and keeps a busy one at a third of its quiet speed or more, where the default fell
to a fortieth. Not chosen: a shorter spin (libgomp only, and under one loop no better than the
default); one thread when the machine looks busy, which costs 40% on a quiet machine, was not
reliably faster than two passive threads under load, and would be decided by the load average, a
one-minute average that lags and counts minisbert's own previous commands.

Where it is set. OpenMP reads its environment once, when torch is imported; setting the variable
later changes nothing (measured: 13-183 sent/s under the same loads, as with the default). The
`minisbert` command (`cli.run`) and `python -m minisbert` both execute `minisbert/cli/__init__.py`
before any code of their own that imports torch, so that file calls `wait_passively()` first
(`import minisbert` alone loads no torch and sets nothing: its names load on first use). It
changes no result, only how idle threads wait; the processes minisbert starts inherit it (the
grader's test runs, torchrun's workers).

Overrides: set `OMP_WAIT_POLICY` (or libgomp's `GOMP_SPINCOUNT`, libomp's `KMP_BLOCKTIME`)
yourself and minisbert leaves it alone; `OMP_NUM_THREADS` sets the thread count, and
`minisbert bench --threads N` sets the bench's. A program that imports torch before minisbert
keeps OpenMP's default (`wait_policy()` says which is in effect).
"""

from __future__ import annotations

import os
import sys

# the variables through which a user says how OpenMP threads wait: the standard one, libgomp's
# (Linux) and libomp's (macOS; Intel's runtime too); any of them set is the user's choice
WAIT_VARIABLES = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "KMP_BLOCKTIME")
# the CPUs a process may run on: Linux has it, macOS and Windows do not
SCHED_GETAFFINITY = getattr(os, "sched_getaffinity", None)


def wait_passively(environ=os.environ, torch_loaded: bool | None = None) -> str:
    """Set OMP_WAIT_POLICY=PASSIVE in `environ` unless the user has already said how OpenMP
    threads wait, or unless it is too late. Returns what happened:

        "set"        OMP_WAIT_POLICY=PASSIVE added to `environ`
        "yours"      one of WAIT_VARIABLES is set already: left as it is
        "too late"   torch is imported already, its OpenMP has read the environment: nothing set

    `torch_loaded`: whether torch is imported (None: look in sys.modules)."""
    if any(name in environ for name in WAIT_VARIABLES):
        return "yours"
    if torch_loaded is None:
        torch_loaded = "torch" in sys.modules
    if torch_loaded:
        return "too late"
    environ["OMP_WAIT_POLICY"] = "PASSIVE"
    return "set"


def wait_policy(environ=os.environ) -> str:
    """How OpenMP threads wait in this process, as its environment says, for a report:
    "OMP_WAIT_POLICY=PASSIVE", or the user's variables, or "OpenMP's default (spin, then sleep)"."""
    given = [f"{name}={environ[name]}" for name in WAIT_VARIABLES if name in environ]
    return ", ".join(given) or "OpenMP's default (spin, then sleep)"


def usable_cores(affinity=SCHED_GETAFFINITY, cpu_count=os.cpu_count) -> int:
    """The cores this process may run on: its CPU affinity where the system has one (Linux:
    `taskset -c 0 minisbert ...` gives 1), else every logical CPU of the machine (macOS,
    Windows); at least 1. `affinity(0)` → set of CPU numbers, `cpu_count()` → int or None."""
    if affinity is not None:
        return max(1, len(affinity(0)))
    return max(1, cpu_count() or 1)


def thread_policy(threads: int, environ=os.environ) -> str:
    """One line for a report: "2 threads, 2 usable cores, OMP_WAIT_POLICY=PASSIVE"."""
    return f"{threads} threads, {usable_cores()} usable cores, {wait_policy(environ)}"
