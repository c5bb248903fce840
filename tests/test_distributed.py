"""Training on several processes (distributed.py, training.py) gives what one process gives.

Data parallelism promises that N ranks with b examples each take the same steps as one process
with N·b. These tests launch real runs with torchrun (gloo on the CPU, two processes, a tiny
model) and check that promise on the weights, plus what a run needs around it: the logs and files
come from rank 0 only, `--resume` continues a run of two ranks exactly, a rank that dies stops
the whole run with an error instead of a hang, and two ranks encoding a corpus write one file in
input order.

The equivalence runs use a model without dropout: dropout draws other random masks when the batch
is split, so only a dropout-free model can end with the same weights. The resume test switches
dropout on, so that it checks each rank's random state is saved and restored.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from helpers import assert_close, max_differences

from minisbert import SentenceEncoder, preset
from minisbert.data import read_texts
from minisbert.losses import MultipleNegativesRankingLoss
from minisbert.run.distributed import GlobalBatchMNRL, World, rank_slice

RANKS = 2
PAIRS = 64  # STS pairs in each of train, dev and test: 8 steps of a global batch of 8
KILL_DEADLINE = 60  # seconds from killing a rank to the end of the run


# ---------------------------------------------------------------------------------------------
# set-up: a small STS data set and a tiny model, and the two ways of launching a run


@pytest.fixture(scope="module")
def workspace(tmp_path_factory, data_dir) -> Path:
    """sts-{train,dev,test}.csv with the first PAIRS pairs of each split, and a tiny model folder."""
    root = tmp_path_factory.mktemp("distributed")
    (root / "data").mkdir()
    for split in ("train", "dev", "test"):
        lines = (data_dir / "stsbenchmark" / f"sts-{split}.csv").read_text(encoding="utf-8").splitlines()
        (root / "data" / f"sts-{split}.csv").write_text("\n".join(lines[:PAIRS]) + "\n", encoding="utf-8")
    texts = read_texts(root / "data" / "sts-train.csv")
    encoder = SentenceEncoder.from_scratch(texts, preset("tiny"), vocab_size=300, max_seq_length=32, seed=0)
    encoder.save_pretrained(root / "tiny")
    return root


def with_dropout(workspace: Path) -> Path:
    """The tiny model with dropout 0.1 (the preset has none)."""
    folder = workspace / "tiny-dropout"
    if not folder.exists():
        encoder = SentenceEncoder.from_pretrained(workspace / "tiny")
        encoder.save_pretrained(folder)
        config = json.loads((folder / "config.json").read_text())
        config.update(hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1)
        (folder / "config.json").write_text(json.dumps(config))
    return folder


def train_command(workspace: Path, run: str, batch_size: int, *extra: str, model: Path | None = None):
    return [
        "train",
        "--data",
        str(workspace / "data" / "sts-train.csv"),
        "--model",
        str(model or workspace / "tiny"),
        "--output",
        str(workspace / run),
        "--batch-size",
        str(batch_size),
        "--lr",
        "1e-3",  # large, so that a wrong gradient shows in the weights within 8 steps
        "--checkpoint-every",
        "2",
        *extra,
    ]


ENV = {**os.environ, "OMP_NUM_THREADS": "1"}  # two processes on two cores: no spinning threads


def command(ranks: int, args: list[str]) -> list[str]:
    """`python -m minisbert ARGS` (one process) or `torchrun --nproc_per_node RANKS -m minisbert ARGS`."""
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={ranks}"]
    return [*(torchrun if ranks > 1 else [sys.executable]), "-m", "minisbert", *args]


def launch(ranks: int, args: list[str], timeout: float = 300) -> subprocess.CompletedProcess:
    done = subprocess.run(command(ranks, args), capture_output=True, text=True, timeout=timeout, env=ENV)
    assert done.returncode == 0, f"{' '.join(command(ranks, args))} failed:\n{done.stderr[-3000:]}"
    return done


def weights(folder: Path) -> dict[str, np.ndarray]:
    """The weights of a model folder, or of a run folder's final model."""
    from safetensors.numpy import load_file

    if (folder / "model").is_dir():
        folder = folder / "model"
    return load_file(folder / "model.safetensors")


def assert_same_weights(actual: Path, expected: Path, tolerance: str) -> None:
    a, e = weights(actual), weights(expected)
    assert a.keys() == e.keys()
    for name in e:
        assert_close(a[name], e[name], tolerance)


def largest_difference(a: Path, b: Path) -> float:
    wa, wb = weights(a), weights(b)
    return max(max_differences(wa[k], wb[k])[0] for k in wa)


# ---------------------------------------------------------------------------------------------
# two ranks of b = one process of 2b


@pytest.mark.parametrize("objective", ["regression", "mnrl"])
def test_two_ranks_train_as_one_process_with_the_global_batch(workspace, objective):
    one = launch(1, train_command(workspace, f"{objective}-1x8", 8, "--objective", objective))
    two = launch(RANKS, train_command(workspace, f"{objective}-2x4", 4, "--objective", objective))
    single, double = workspace / f"{objective}-1x8", workspace / f"{objective}-2x4"
    assert_same_weights(double, single, "fp32_training")
    # the model really moved: equal weights are not equal because nothing was trained
    assert largest_difference(single, workspace / "tiny") > 1e-3
    log1, log2 = (json.loads((run / "log.json").read_text()) for run in (single, double))
    assert (log2["ranks"], log2["global_batch_size"], log1["global_batch_size"]) == (2, 8, 8)
    steps = log1["steps_per_epoch"]  # 8 for regression; fewer for MNRL (the STS triplets)
    assert steps >= 3 and len(log2["train"]) == len(log1["train"]) == steps  # global steps
    for step1, step2 in zip(log1["train"], log2["train"], strict=True):
        assert step2["lr"] == pytest.approx(step1["lr"], rel=1e-12)  # the schedule counts global steps
        assert_close(step2["loss"][objective], step1["loss"][objective], "fp32_training")  # mean over ranks
    # rank 0 alone printed the summary and wrote the files
    assert one.stdout.count('"objective"') == two.stdout.count('"objective"') == 1
    assert json.loads(two.stdout)["ranks"] == RANKS
    assert sorted(p.name for p in double.iterdir()) == sorted(p.name for p in single.iterdir())


# ---------------------------------------------------------------------------------------------
# resuming a run of two ranks


def test_an_interrupted_run_of_two_ranks_resumes_to_the_same_weights(workspace):
    model = with_dropout(workspace)  # each rank's dropout masks must continue where they stopped
    whole = ["--objective", "regression", "--epochs", "2"]
    launch(RANKS, train_command(workspace, "whole", 4, *whole, model=model))
    stopped = launch(RANKS, train_command(workspace, "parts", 4, *whole, "--stop-after", "5", model=model))
    assert "stopped after step 5" in stopped.stdout
    assert (workspace / "parts" / "checkpoints" / "latest").read_text().strip() == "step-0000004"
    assert not (workspace / "parts" / "model").exists()
    launch(RANKS, train_command(workspace, "parts", 4, *whole, "--resume", model=model))
    assert_same_weights(workspace / "parts", workspace / "whole", "fp32_training")
    assert largest_difference(workspace / "whole", model) > 1e-3  # it trained
    # the same run resumed by one process instead of two is refused
    args = train_command(workspace, "parts", 4, *whole, "--resume", model=model)
    done = subprocess.run(command(1, args), capture_output=True, text=True, timeout=300, env=ENV)
    assert done.returncode == 1
    assert "made by 2 process(es); resume it with the same number" in done.stderr


# ---------------------------------------------------------------------------------------------
# a rank that dies


def rank_pids(torchrun: subprocess.Popen) -> dict[int, int]:
    """RANK → pid of the worker processes a torchrun launch started (read from /proc)."""
    found = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            environ = (proc / "environ").read_bytes().split(b"\0")
            status = (proc / "status").read_text()
        except OSError:
            continue
        parent = int(next(line for line in status.splitlines() if line.startswith("PPid:")).split()[1])
        if parent == torchrun.pid and b"TORCHELASTIC_RUN_ID=" in b"\0".join(environ):
            rank = next(int(e[5:]) for e in environ if e.startswith(b"RANK="))
            found[rank] = int(proc.name)
    return found


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="finds the ranks through Linux's /proc")
def test_a_killed_rank_stops_the_whole_run_with_an_error(workspace):
    """Rank 1 is killed mid-run: torchrun must end, soon, with a non-zero status naming it."""
    args = train_command(workspace, "killed", 4, "--objective", "regression", "--epochs", "100000")
    run = subprocess.Popen(
        command(RANKS, args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV
    )
    try:
        checkpoints = workspace / "killed" / "checkpoints" / "latest"
        deadline = time.monotonic() + 120
        while not checkpoints.exists():  # training is under way
            if run.poll() is not None:
                pytest.fail(f"the run ended before its first checkpoint:\n{run.stderr.read()[-3000:]}")
            assert time.monotonic() < deadline, "no checkpoint within 120 s"
            time.sleep(0.2)
        pids = rank_pids(run)
        assert sorted(pids) == [0, 1]
        os.kill(pids[1], signal.SIGKILL)
        killed_at = time.monotonic()
        _, stderr = run.communicate(timeout=KILL_DEADLINE)
        took = time.monotonic() - killed_at
    finally:
        if run.poll() is None:
            run.kill()
    assert run.returncode != 0
    assert "rank      : 1" in stderr and "SIGKILL" in stderr, stderr[-2000:]
    print(f"the run ended {took:.1f} s after rank 1 was killed")
    assert took < KILL_DEADLINE


# ---------------------------------------------------------------------------------------------
# encoding a corpus on two ranks


def test_two_ranks_encode_a_corpus_into_one_file_in_input_order(workspace, data_dir):
    """Blocks of 256 lines, 11 of them (the last short): rank 0 takes blocks 0, 2, 4, …, rank 1
    blocks 1, 3, …; the file must be byte for byte the one a single process writes, also when a
    single process was interrupted after three blocks and two ranks resumed it."""
    lines = (data_dir / "stsbenchmark" / "sts-train.csv").read_text(encoding="utf-8").splitlines()
    corpus = workspace / "corpus.txt"
    corpus.write_text("\n".join(line.split("\t")[5] for line in lines[:2_700]) + "\n", encoding="utf-8")
    encode = ["encode", "--model", str(workspace / "tiny"), "--file", str(corpus), "--block-lines", "256"]
    launch(1, [*encode, "-o", str(workspace / "one.npy")])
    launch(RANKS, [*encode, "-o", str(workspace / "two.npy")])
    assert np.load(workspace / "one.npy").shape == (2_700, 32)
    assert (workspace / "two.npy").read_bytes() == (workspace / "one.npy").read_bytes()
    interrupt = (
        "from minisbert import SentenceEncoder; from minisbert.deploy.corpus import encode_file; "
        f"encode_file(SentenceEncoder.from_pretrained({str(workspace / 'tiny')!r}), {str(corpus)!r}, "
        f"{str(workspace / 'resumed.npy')!r}, block_lines=256, stop_after_blocks=3)"
    )
    subprocess.run([sys.executable, "-c", interrupt], check=True, env=ENV, timeout=300)
    assert json.loads((workspace / "resumed.npy.progress.json").read_text())["done"] == 768
    launch(RANKS, [*encode, "-o", str(workspace / "resumed.npy"), "--resume"])
    assert (workspace / "resumed.npy").read_bytes() == (workspace / "one.npy").read_bytes()
    assert not (workspace / "resumed.npy.progress.json").exists()


# ---------------------------------------------------------------------------------------------
# the pieces: slicing a global batch, and gathering with gradients


def test_each_rank_takes_its_own_slice_of_the_global_batch():
    rows = list(range(100, 112))
    slices = [rank_slice(rows, World(rank=r, size=3)) for r in range(3)]
    assert slices == [[100, 101, 102, 103], [104, 105, 106, 107], [108, 109, 110, 111]]
    assert rank_slice(rows, World()) == rows


def fixed_embeddings(batch: int = 8, dim: int = 6) -> list[torch.Tensor]:
    """Anchors, positives and hard negatives of a global batch, (batch, dim) each, float64."""
    generator = torch.Generator().manual_seed(0)
    return [torch.randn(batch, dim, generator=generator, dtype=torch.float64) for _ in range(3)]


def mnrl_on_rank(rank: int, size: int, port: int, gather: bool, out) -> None:
    """Rank `rank` of a gloo group: MNRL on its slice of `fixed_embeddings`. Rank 0 reports the
    loss averaged over the ranks and the gradients of every row of the global batch."""
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=size)
    try:
        full = fixed_embeddings()
        b = len(full[0]) // size
        mine = [x[rank * b : (rank + 1) * b].clone().requires_grad_() for x in full]  # (b, D) each
        loss = GlobalBatchMNRL(gather_across_ranks=gather)(*mine)
        (loss / size).backward()  # DDP averages the gradients over the ranks
        total = loss.detach().clone()
        dist.all_reduce(total)
        grads = []
        for x, mine_x in zip(full, mine, strict=True):
            placed = torch.zeros_like(x)  # (N·b, D)
            placed[rank * b : (rank + 1) * b] = mine_x.grad
            dist.all_reduce(placed)  # every rank's rows, each in its place
            grads.append(placed.numpy())
        if rank == 0:
            out["loss"], out["grads"] = total.item() / size, grads
    finally:
        dist.destroy_process_group()


def run_on_two_ranks(gather: bool) -> tuple[float, list[np.ndarray]]:
    with socket.socket() as s:  # a free port for the group to meet on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with mp.Manager() as manager:
        out = manager.dict()
        mp.spawn(mnrl_on_rank, args=(RANKS, port, gather, out), nprocs=RANKS, join=True)
        return out["loss"], out["grads"]


def test_gathered_negatives_give_the_loss_and_gradients_of_the_global_batch():
    full = [x.clone().requires_grad_() for x in fixed_embeddings()]
    expected = MultipleNegativesRankingLoss()(*full)  # one process, the whole batch of 8
    expected.backward()
    loss, grads = run_on_two_ranks(gather=True)
    assert_close(loss, expected.item(), "float64")
    for grad, x in zip(grads, full, strict=True):
        assert_close(grad, x.grad, "float64")
    # without gathering, each rank sees only its own 4 − 1 negatives: another loss altogether
    loss_alone, _ = run_on_two_ranks(gather=False)
    assert abs(loss_alone - expected.item()) > 0.1
