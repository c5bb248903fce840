"""The thread policy (threads.py) and `minisbert bench --busy`: the policy's choices on given
environments and core counts, never the machine's; the competing load of the busy bench started
and gone afterwards, whatever happens; the busy report's structure. No speed is asserted: the
bench prints its figures."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from minisbert.bench import throughput as bench
from minisbert.cli import main
from minisbert.data import read_sts
from minisbert.kernels.threads import WAIT_VARIABLES, thread_policy, usable_cores, wait_passively, wait_policy

# -- the wait policy ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "environ, torch_loaded, expected, policy",
    [
        ({}, False, "set", "PASSIVE"),
        ({}, True, "too late", None),  # OpenMP has read its environment when torch loaded
        ({"OMP_WAIT_POLICY": "ACTIVE"}, False, "yours", "ACTIVE"),
        ({"OMP_WAIT_POLICY": "passive"}, True, "yours", "passive"),
        ({"GOMP_SPINCOUNT": "10000"}, False, "yours", None),  # libgomp's own spin count: not mixed
        ({"KMP_BLOCKTIME": "0"}, False, "yours", None),
    ],
    ids=["nothing-set", "torch-first", "active", "passive-after-torch", "spincount", "blocktime"],
)
def test_wait_passively_sets_the_policy_only_when_nobody_has(environ, torch_loaded, expected, policy):
    assert wait_passively(environ, torch_loaded=torch_loaded) == expected
    assert environ.get("OMP_WAIT_POLICY") == policy


@pytest.mark.parametrize("name", WAIT_VARIABLES)
@pytest.mark.parametrize("value", ["ACTIVE", "0", "", "INFINITE"])
def test_a_wait_variable_the_user_set_is_never_overridden(name, value):
    environ = {name: value, "PATH": "/usr/bin"}
    wait_passively(environ, torch_loaded=False)
    assert environ == {name: value, "PATH": "/usr/bin"}


def python_env_without_wait_variables() -> dict:
    """This process's environment less the wait variables (`import minisbert` here may have set one)."""
    return {k: v for k, v in os.environ.items() if k not in WAIT_VARIABLES}


@pytest.mark.parametrize(
    "given, expected",
    [({}, "PASSIVE"), ({"OMP_WAIT_POLICY": "ACTIVE"}, "ACTIVE")],
    ids=["default-passive", "users-active-kept"],
)
def test_the_command_line_waits_passively_unless_told_otherwise(given, expected):
    """What the `minisbert` command sees: `import minisbert.cli` in a fresh process runs
    minisbert/cli/__init__.py first, before torch loads."""
    code = "import os, sys, minisbert.cli; print(os.environ.get('OMP_WAIT_POLICY'), 'torch' in sys.modules)"
    env = {**python_env_without_wait_variables(), **given}
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == [expected, "True"]


@pytest.mark.parametrize(
    "environ, expected",
    [
        ({}, "OpenMP's default (spin, then sleep)"),
        ({"OMP_WAIT_POLICY": "PASSIVE"}, "OMP_WAIT_POLICY=PASSIVE"),
        ({"KMP_BLOCKTIME": "0", "OMP_WAIT_POLICY": "ACTIVE"}, "OMP_WAIT_POLICY=ACTIVE, KMP_BLOCKTIME=0"),
    ],
    ids=["default", "passive", "two-variables"],
)
def test_wait_policy_says_what_the_environment_says(environ, expected):
    assert wait_policy(environ) == expected


def test_thread_policy_names_threads_cores_and_waiting():
    line = thread_policy(3, {"OMP_WAIT_POLICY": "PASSIVE"})
    assert re.fullmatch(r"3 threads, \d+ usable cores, OMP_WAIT_POLICY=PASSIVE", line), line


# -- the cores a process may use ---------------------------------------------------------------


@pytest.mark.parametrize(
    "affinity, cpu_count, expected",
    [
        (
            lambda pid: {0, 2, 5},
            lambda: 8,
            3,
        ),  # Linux under `taskset -c 0,2,5`: the affinity, not the machine
        (lambda pid: set(), lambda: 8, 1),  # never 0
        (None, lambda: 8, 8),  # macOS, Windows: no affinity call, every logical CPU
        (None, lambda: None, 1),  # os.cpu_count() may not know
    ],
    ids=["affinity", "empty-affinity", "no-affinity", "unknown"],
)
def test_usable_cores(affinity, cpu_count, expected):
    assert usable_cores(affinity, cpu_count) == expected


# -- the competing load of `bench --busy` ------------------------------------------------------


def test_the_competing_load_runs_inside_the_block_and_is_gone_after_it():
    with bench.competing_load(2) as spinners:
        assert len(spinners) == 2 and all(s.poll() is None for s in spinners)
    assert all(s.returncode is not None for s in spinners)  # killed and reaped


@pytest.mark.parametrize("error", [RuntimeError, KeyboardInterrupt], ids=["exception", "ctrl-c"])
def test_the_competing_load_is_gone_when_the_timed_function_raises(monkeypatch, error):
    started = []

    class RecordedPopen(subprocess.Popen):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            started.append(self)

    def encode_and_fail(texts):
        assert started and all(s.poll() is None for s in started)  # the load runs while timing
        raise error("interrupted while timing")

    monkeypatch.setattr(bench.subprocess, "Popen", RecordedPopen)
    with pytest.raises(error):
        bench.time_while_busy({"failing": (encode_and_fail, ["a sentence"])}, rounds=1, processes=2)
    assert len(started) == 2 and all(s.returncode is not None for s in started)


def test_a_spinner_ends_by_itself_when_its_bench_is_gone():
    """If the bench is killed outright no `finally` runs; its end closes the spinners' stdin,
    which is what ends them (closed here by hand)."""
    with bench.competing_load(1) as (spinner,):
        spinner.stdin.close()
        assert spinner.wait(timeout=30) == 0


# -- the busy bench -----------------------------------------------------------------------------


def test_the_busy_report_has_quiet_and_busy_figures_for_every_contender(encoder, model_folder, data_dir):
    pairs = read_sts(data_dir / "stsbenchmark" / "sts-dev.csv")[:4]
    sentences = [p.sentence1 for p in pairs] + [p.sentence2 for p in pairs]
    encoding = bench.encoding_benchmark(
        encoder, model_folder, sentences, batch_size=4, rounds=1, reference_sentences=2, busy=1
    )
    rows = encoding["implementations"]
    assert encoding["busy_processes"] == 1 and "minisbert" in rows and "sentence-transformers" in rows
    for row in rows.values():
        assert {"sentences_per_s", "busy_sentences_per_s", "busy_to_quiet"} <= set(row)
    report = {"sentences": 8, "batch_size": 4, "threads": 2, "encoding": encoding}
    report["thread_policy"] = thread_policy(2)
    text = bench.format_report(report)
    assert "  threads: 2 threads, " in text
    table = text.split("busy: the same rounds again beside 1 Python process spinning in a loop\n")[1]
    header, *lines = table.splitlines()
    assert header.split() == ["quiet", "busy", "busy/quiet"]
    for line, (name, row) in zip(lines, rows.items(), strict=True):  # one line each, in order
        assert line.startswith(f"  {name} ({row['sentences']})")
        assert len(line.removeprefix(f"  {name} ({row['sentences']})").split()) == 3  # quiet, busy, ratio


def test_busy_is_refused_with_the_corpus_benchmark(capsys, data_dir):
    with pytest.raises(SystemExit) as exit_:
        main(
            [
                "bench",
                "--busy",
                "--file",
                str(data_dir / "stsbenchmark" / "sts-dev.csv"),
                "--corpus-lines",
                "10",
            ]
        )
    assert exit_.value.code == 2
    assert "--busy times the encoding benchmark" in capsys.readouterr().err
