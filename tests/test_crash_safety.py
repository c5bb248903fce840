"""Crash safety of training and saving: what a kill, a full disk or a second run leaves behind.

A training run can end at any instant: the machine's scheduler kills it, the disk fills up, the
user starts it twice by mistake. What minisbert promises (checkpoints.py, files.py, run_lock.py):

1. A run killed with SIGKILL at any moment leaves a run folder that reads cleanly (the latest
   checkpoint loads, the log parses, a half-written checkpoint is never taken for one), and
   `--resume` ends with exactly the weights and losses of a run that was never interrupted. A run
   killed before its first checkpoint starts over when resumed (`fit(resume=True)`), saying so.
2. A write that fails (a full disk) keeps the previous checkpoint, leaves no half-written folder or
   file, and stops the command with one line naming what could not be written (exit 1).
3. A second run on a folder in use is refused (exit 1: the folder's state is wrong, not the
   command line, which gets 2); the lock dies with its process, so after a SIGKILL the folder is
   free again.
4. `save_pretrained` refuses an existing folder unless `overwrite=True`; a save killed at any step
   leaves the target as exactly the old model, exactly the new one, or (a new path) absent; what a
   killed save left beside it is removed by the next save.

The kills are real: SIGKILL of a `minisbert train` subprocess (at random steps, seeded, one of them
as soon as a checkpoint's temporary folder appears, so that it lands mid-write), and of forked
copies of this process during `save_pretrained` (at every file-system step in turn, and at random
moments). Dropout is on, so that a random state not restored exactly would show in the weights.
"""

from __future__ import annotations

import errno
import io
import json
import os
import random
import re
import shutil
import signal
import subprocess
import time
import traceback
from pathlib import Path

import numpy as np
import pytest
import safetensors.torch
import test_distributed
import test_training
import torch
from fuzzing import fuzz
from hypothesis import given
from hypothesis import strategies as st
from test_distributed import ENV, command, train_command, weights, with_dropout
from test_training import CONFIG, objectives, tiny_encoder, train
from test_training import weights as trained_weights

from minisbert import SentenceEncoder
from minisbert.cli.arguments import BadArguments, check_arguments
from minisbert.cli.parser import build_parser, main
from minisbert.files import atomic as files
from minisbert.files.atomic import remove_stale_temporaries, temporary_folder
from minisbert.run.checkpoints import remove_old_checkpoints
from minisbert.run.run_lock import LOCK_FILE, RunFolderInUse, RunLock, refuse_if_in_use
from minisbert.run.training_run import fit

SEED = 12  # of the random kill moments
workspace = test_distributed.workspace  # the fixture: a small STS data set and a tiny model
tokenizer = test_training.tokenizer  # the fixture: all-MiniLM-L6-v2's tokenizer
STEPS_PER_EPOCH = 16  # batches of 4 in the workspace's 64 pairs
LAST_STEP = 2 * STEPS_PER_EPOCH  # of regression_run
STARTING_OVER = "the run stopped before its first checkpoint; starting again from step 0"


# ---------------------------------------------------------------------------------------------
# reading a run folder as a user (or --resume) would after a crash


def latest_step(run_dir: Path) -> int:
    """The step of the checkpoint `latest` names; 0 before the first."""
    pointer = run_dir / "checkpoints" / "latest"
    return int(pointer.read_text().strip().removeprefix("step-")) if pointer.is_file() else 0


def leftovers(folder: Path) -> list[str]:
    """Hidden temporary files and folders (.NAME.tmp..., .NAME.old-...) in `folder`."""
    if not folder.is_dir():
        return []
    return sorted(
        p.name for p in folder.iterdir() if p.name.startswith(".") and re.search(r"\.(tmp|old-)", p.name)
    )


def assert_run_folder_reads_cleanly(run_dir: Path) -> None:
    """Every visible checkpoint is complete and loads, `latest` names one of them, log.json parses."""
    checkpoints = sorted((run_dir / "checkpoints").glob("step-*"))
    for folder in checkpoints:
        state = torch.load(folder / "trainer_state.pt", weights_only=True)
        assert f"step-{state['step']:07d}" == folder.name
        SentenceEncoder.from_pretrained(folder / "model")  # every weight checked on loading
    if latest_step(run_dir):
        assert run_dir / "checkpoints" / f"step-{latest_step(run_dir):07d}" in checkpoints
    if (run_dir / "log.json").exists():
        json.loads((run_dir / "log.json").read_text())


def losses(run_dir: Path) -> list[float]:
    return [entry["loss"]["regression"] for entry in json.loads((run_dir / "log.json").read_text())["train"]]


def assert_same_run(actual: Path, expected: Path) -> None:
    """The same final weights, bit for bit, and the same loss at every step."""
    a, e = weights(actual), weights(expected)
    assert a.keys() == e.keys()
    different = [name for name in e if not np.array_equal(a[name], e[name])]
    assert not different, f"weights differ from the uninterrupted run: {different}"
    assert losses(actual) == losses(expected)


def train_in_this_process(args: list[str]) -> int:
    """`minisbert train ARGS` called as a function, on one thread like the subprocesses (ENV), so
    that its floating-point sums are theirs, bit for bit."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return main(args)
    finally:
        torch.set_num_threads(threads)


def regression_run(workspace: Path, run: str, *extra: str) -> list[str]:
    """Two epochs of the tiny model with dropout, batch 4; a checkpoint every 2 steps unless `extra`
    says otherwise."""
    model = with_dropout(workspace)
    return train_command(workspace, run, 4, "--objective", "regression", "--epochs", "2", *extra, model=model)


# ---------------------------------------------------------------------------------------------
# 1. killed and resumed


def start(args: list[str]) -> subprocess.Popen:
    return subprocess.Popen(
        command(1, args), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=ENV
    )


def kill_when(process: subprocess.Popen, ready, timeout: float = 120) -> str:
    """Poll every half millisecond until `ready()`, then SIGKILL the process; returns what it
    printed on stderr. Polling this often lets a kill land inside a checkpoint write (a few ms)."""
    deadline = time.monotonic() + timeout
    try:
        while not ready():
            if process.poll() is not None:
                pytest.fail(f"the run ended before it was killed:\n{process.stderr.read()[-3000:]}")
            assert time.monotonic() < deadline, f"not ready within {timeout} s"
            time.sleep(0.0005)
        os.kill(process.pid, signal.SIGKILL)
        return process.communicate(timeout=60)[1]
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def after_step(run_dir: Path, step: int, delay: float):
    """ready() once the checkpoint of `step` is written, and then `delay` seconds later."""

    def ready() -> bool:
        if latest_step(run_dir) < step:
            return False
        time.sleep(delay)
        return True

    return ready


def in_a_checkpoint_write_after(run_dir: Path, step: int):
    """ready() as soon as a checkpoint's temporary folder appears, once `step` is checkpointed."""
    return lambda: latest_step(run_dir) >= step and bool(leftovers(run_dir / "checkpoints"))


@pytest.mark.parametrize(
    "kills, epochs",
    [
        pytest.param(3, 2, id="three kills in 32 steps"),
        pytest.param(20, 6, id="twenty kills in 96 steps", marks=pytest.mark.slow),
    ],
)
def test_a_run_killed_at_random_steps_resumes_to_the_weights_of_an_uninterrupted_run(
    workspace, kills, epochs
):
    """Every third kill (the second first) waits for a checkpoint's temporary folder to appear, so
    that it lands mid-write; the others come at a random moment after a random step."""
    run_dir, last = workspace / f"killed-{kills}", epochs * STEPS_PER_EPOCH
    args = regression_run(workspace, run_dir.name, "--checkpoint-every", "1", "--epochs", str(epochs))
    whole = regression_run(workspace, f"whole-{kills}", "--checkpoint-every", "1", "--epochs", str(epochs))
    assert train_in_this_process(whole) == 0
    assert len(losses(workspace / f"whole-{kills}")) == last
    rng = random.Random(SEED)

    kinds, mid_write, launch = [], 0, args
    while len(kinds) < kills or not mid_write:
        assert len(kinds) < 3 * kills, "no kill landed inside a checkpoint write"
        target = latest_step(run_dir) + rng.randint(1, 4)
        assert target < last, "too few steps left for another kill"
        kind = "mid-write" if len(kinds) % 3 == 1 or len(kinds) >= kills else "random"
        if kind == "mid-write":
            ready = in_a_checkpoint_write_after(run_dir, target)
        else:
            ready = after_step(run_dir, target, delay=rng.uniform(0, 0.03))
        kill_when(start(launch), ready)
        launch = [*args, "--resume"]
        landed_mid_write = bool(leftovers(run_dir / "checkpoints"))
        mid_write += landed_mid_write
        kinds.append((kind, target, latest_step(run_dir), landed_mid_write))
        assert_run_folder_reads_cleanly(run_dir)
    print(f"kills (kind, at step ≥, latest checkpoint, mid-write): {kinds}")

    assert train_in_this_process([*args, "--resume"]) == 0  # to the end, here: no start-up time
    assert_same_run(run_dir, workspace / f"whole-{kills}")
    assert leftovers(run_dir / "checkpoints") == [] and leftovers(run_dir) == []  # cleaned up


def killed_in_its_first_checkpoint(run_dir: Path) -> None:
    """What a run killed before its first checkpoint leaves on disk: the run folder with its lock
    file (no longer held) and a half-written temporary checkpoint folder of a process that is gone."""
    with RunLock(run_dir, expect_new=True):
        (run_dir / "checkpoints").mkdir()
        tmp = temporary_folder(run_dir / "checkpoints" / "step-0000003")
        (tmp / "trainer_state.pt").write_bytes(b"half a fi")
        os.kill(os.getpid(), signal.SIGKILL)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="kills a forked copy of the test process")
def test_a_run_killed_before_its_first_checkpoint_starts_over_on_resume(tokenizer, tmp_path, capsys):
    """Nothing is lost by starting over, and the user's command after any kill stays the same one:
    resume. A folder where no run was ever started is still refused (tests/test_training.py)."""
    run_dir = tmp_path / "run"
    assert wait_status(forked(lambda: killed_in_its_first_checkpoint(run_dir))) == -signal.SIGKILL
    with pytest.raises(FileExistsError, match="already holds a run; resume it"):
        train(tokenizer, run_dir)
    resumed, resumed_objectives, log = train(tokenizer, run_dir, resume=True)
    assert STARTING_OVER in capsys.readouterr().err
    assert "test_before" not in log or log["test_before"]  # a new start: nothing restored
    whole, whole_objectives, whole_log = train(tokenizer)  # never stopped (and no files: quicker)
    a, e = trained_weights(resumed, resumed_objectives), trained_weights(whole, whole_objectives)
    assert all(torch.equal(a[k], e[k]) for k in e)
    assert [x["loss"] for x in log["train"]] == [x["loss"] for x in whole_log["train"]]
    assert leftovers(run_dir / "checkpoints") == []


def test_the_command_line_lets_such_a_run_resume_and_refuses_a_folder_without_a_run(tmp_path, data_dir):
    """The argument checks of `minisbert train --resume` (made before any work) agree with `fit`:
    a folder whose run was killed before its first checkpoint (its lock file is there) may be
    resumed; a folder where no run ever started may not (exit status 2)."""
    run_dir = tmp_path / "run"
    assert wait_status(forked(lambda: killed_in_its_first_checkpoint(run_dir))) == -signal.SIGKILL
    sts = str(data_dir / "stsbenchmark" / "sts-train.csv")
    argv = ["train", "--objective", "regression", "--data", sts, "--output", str(run_dir), "--resume"]
    check_arguments(build_parser().parse_args(argv))  # accepted: fit starts the run over, saying so
    (run_dir / LOCK_FILE).unlink()  # now it looks like a folder no run was ever started in
    with pytest.raises(BadArguments, match="holds no run to resume"):
        check_arguments(build_parser().parse_args(argv))


# ---------------------------------------------------------------------------------------------
# 2. a full disk


class FullDisk:
    """From its `nth` matching write on, a write to a path matching `pattern` puts half its bytes on
    disk and fails as a full disk does: OSError ENOSPC, without a file name (as from write())."""

    def __init__(self, monkeypatch, pattern: str, nth: int = 1):
        self.pattern, self.nth, self.seen = re.compile(pattern), nth, 0
        real_save, real_save_file, real_write_text = torch.save, safetensors.torch.save_file, Path.write_text

        def save(obj, f, *args, **kwargs):
            if self.full(f):
                buffer = io.BytesIO()
                real_save(obj, buffer)
                self.fail(f, buffer.getvalue())
            return real_save(obj, f, *args, **kwargs)

        def save_file(tensors, filename, *args, **kwargs):
            if self.full(filename):
                self.fail(filename, safetensors.torch.save(tensors))
            return real_save_file(tensors, filename, *args, **kwargs)

        def write_text(path, data, *args, **kwargs):
            if self.full(path):
                self.fail(path, data.encode())
            return real_write_text(path, data, *args, **kwargs)

        monkeypatch.setattr(torch, "save", save)
        monkeypatch.setattr(safetensors.torch, "save_file", save_file)
        monkeypatch.setattr(Path, "write_text", write_text)

    def full(self, path) -> bool:
        if not isinstance(path, (str, Path)) or not self.pattern.search(str(path)):
            return False
        self.seen += 1
        return self.seen >= self.nth

    def fail(self, path, data: bytes):
        Path(path).write_bytes(data[: len(data) // 2])
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


# what fills the disk: (the paths, the how-many-th matching write fails, what the message names,
# the step of the checkpoint kept; None: the last one)
FULL_DISK = {
    "trainer-state": (r"\.step-0000006\.tmp.*trainer_state\.pt$", 1, "the checkpoint of step 6", 4),
    "checkpoint-weights": (r"\.step-0000006\.tmp.*model\.safetensors$", 1, "the checkpoint of step 6", 4),
    "log": (r"\.log\.json\.tmp-\d+-\w+$", 3, "the log", 6),
    "final-model": (r"\.model\.tmp-.*model\.safetensors$", 1, "the final model", None),
}
FULL_DISK_IDS = {
    "trainer-state": "a full disk while writing the trainer state of the third checkpoint",
    "checkpoint-weights": "a full disk while writing the weights of the third checkpoint",
    "log": "a full disk while writing the log the third time",
    "final-model": "a full disk while writing the final model's weights",
}


@pytest.mark.parametrize("case", FULL_DISK, ids=FULL_DISK_IDS.values())
def test_a_full_disk_stops_the_run_with_one_line_and_keeps_the_last_checkpoint(
    workspace, case, monkeypatch, capsys
):
    pattern, nth, what, kept = FULL_DISK[case]
    kept = kept or LAST_STEP
    run = f"full-{case}"
    run_dir, args = workspace / run, regression_run(workspace, run)
    with monkeypatch.context() as patch:
        FullDisk(patch, pattern, nth)
        assert train_in_this_process(args) == 1
    message = capsys.readouterr().err.strip()
    assert len(message.splitlines()) == 1, message
    assert re.fullmatch(
        rf"minisbert train: error: could not write {what} .*: No space left on device; training stopped\. "
        rf"The last complete checkpoint: \S*{run}/checkpoints/step-{kept:07d}; continue with --resume",
        message,
    ), message
    assert latest_step(run_dir) == kept
    assert_run_folder_reads_cleanly(run_dir)
    assert leftovers(run_dir / "checkpoints") == [] and leftovers(run_dir) == []
    assert not (run_dir / "model").exists()  # the final model is whole or absent
    # room on the disk again: the run goes on from the kept checkpoint (to the same weights as one
    # never stopped, which test_a_run_killed_at_random_steps_... shows for a resumed run)
    assert train_in_this_process([*args, "--resume", "--stop-after", str(kept + 2)]) == 0
    assert latest_step(run_dir) == min(kept + 2, LAST_STEP)
    if kept == LAST_STEP:
        SentenceEncoder.from_pretrained(run_dir / "model")


# ---------------------------------------------------------------------------------------------
# 3. two runs on one folder


def test_a_second_run_on_a_folder_in_use_is_refused_until_the_first_is_killed(workspace, tokenizer, capsys):
    """The second run is refused with exit status 1 (the command line is right; another process is
    using the folder, which may end any moment) and names the process that holds the folder."""
    run_dir = workspace / "locked"
    args = train_command(workspace, "locked", 4, "--objective", "regression", "--epochs", "1000")
    first = start(args)
    try:
        deadline = time.monotonic() + 120
        while latest_step(run_dir) == 0:  # training is under way
            assert first.poll() is None and time.monotonic() < deadline, first.stderr.read()[-3000:]
            time.sleep(0.05)
        assert main([*args, "--resume", "--stop-after", "1"]) == 1  # (if it ran, it would stop at once)
        message = capsys.readouterr().err.strip()
        assert re.fullmatch(
            rf"minisbert train: error: \S*locked is in use: another training run \(process {first.pid}\) "
            r"holds \S*locked/\.lock; wait for it to end or choose another output folder",
            message,
        ), message
        # from Python too, and before any other check: a new run there is told the folder is in use
        with pytest.raises(RunFolderInUse, match=rf"is in use: another training run \(process {first.pid}\)"):
            fit(tiny_encoder(tokenizer), objectives(tokenizer), CONFIG, output_dir=run_dir)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=60)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    step = latest_step(run_dir)
    assert train_in_this_process([*args, "--resume", "--stop-after", str(step + 2)]) == 0
    assert latest_step(run_dir) == step + 2  # a checkpoint every 2 steps
    refuse_if_in_use(run_dir)  # that run ended too: the folder is free, though .lock stays
    assert (run_dir / ".lock").is_file()


# ---------------------------------------------------------------------------------------------
# 4. save_pretrained


@pytest.fixture(scope="module")
def old_and_new(workspace, tmp_path_factory):
    """Two models, and the bytes of every file each saves: what a target may hold after a kill."""
    old = SentenceEncoder.from_pretrained(workspace / "tiny")
    new = SentenceEncoder.from_pretrained(workspace / "tiny")
    with torch.no_grad():
        new.model.embeddings.word_embeddings.weight.add_(1.0)
    root = tmp_path_factory.mktemp("saves")
    old.save_pretrained(root / "old")
    new.save_pretrained(root / "new")
    return old, new, folder_bytes(root / "old"), folder_bytes(root / "new")


def folder_bytes(folder: Path) -> dict[str, bytes] | None:
    """Every file of a folder by relative path; None if the folder does not exist."""
    if not folder.exists():
        return None
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_save_pretrained_refuses_an_existing_folder_unless_told_to_overwrite(old_and_new, tmp_path):
    old, new, old_files, new_files = old_and_new
    old.save_pretrained(tmp_path / "model")
    with pytest.raises(
        FileExistsError, match=r"model is not empty: it already holds files; pass overwrite=True"
    ):
        new.save_pretrained(tmp_path / "model")
    assert folder_bytes(tmp_path / "model") == old_files
    new.save_pretrained(tmp_path / "model", overwrite=True)
    assert folder_bytes(tmp_path / "model") == new_files
    (tmp_path / "file").write_text("not a folder")
    with pytest.raises(FileExistsError, match=r"file exists and is a file, not a folder"):
        new.save_pretrained(tmp_path / "file", overwrite=True)


def forked(work) -> int:
    """Run `work()` in a forked copy of this process (exit 0 when done); returns its pid."""
    pid = os.fork()
    if pid == 0:  # the child: never return into pytest
        try:
            work()
            os._exit(0)
        except BaseException:
            traceback.print_exc()
            os._exit(1)
    return pid


def killed_at_step(k: int, save) -> None:
    """Call `save()` with a SIGKILL of this process just before its k-th file-system step."""
    steps = [(os, "rename"), (os, "replace"), (os, "mkdir"), (shutil, "rmtree"), (files, "exchange_paths")]
    steps += [(Path, "write_text"), (safetensors.torch, "save_file"), (torch, "save")]
    count = 0

    def counted(func):
        def step(*args, **kwargs):
            nonlocal count
            if count == k:
                os.kill(os.getpid(), signal.SIGKILL)
            count += 1
            return func(*args, **kwargs)

        return step

    for owner, name in steps:
        setattr(owner, name, counted(getattr(owner, name)))
    save()


def wait_status(pid: int) -> int:
    """-9 for a process killed by SIGKILL, else its exit code."""
    _, status = os.waitpid(pid, 0)
    return -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="kills forked copies of the test process")
@pytest.mark.parametrize(
    "over_old", [True, False], ids=["saved over an existing model", "saved to a new path"]
)
def test_a_save_killed_at_any_step_leaves_the_old_model_or_the_new_one(old_and_new, tmp_path, over_old):
    old, new, old_files, new_files = old_and_new
    target = tmp_path / "model"
    allowed = [old_files, new_files] if over_old else [None, new_files]

    def save():
        new.save_pretrained(target, overwrite=True)

    def reset():
        shutil.rmtree(target, ignore_errors=True)
        if over_old:
            old.save_pretrained(target)

    # at every file-system step in turn, until a save runs to its end
    for k in range(200):
        reset()
        status = wait_status(forked(lambda k=k: killed_at_step(k, save)))
        assert folder_bytes(target) in allowed, f"killed before step {k}: a model neither old nor new"
        if status == 0:
            break
        assert status == -signal.SIGKILL
    assert k > 5, "the save took too few steps for this test to mean anything"
    # at random moments of a save (seeded), from the fork to a little after its usual end
    started = time.perf_counter()
    save()
    took = time.perf_counter() - started
    rng = random.Random(SEED)
    for _ in range(10):
        reset()
        pid = forked(save)
        time.sleep(rng.uniform(0, 1.5 * took))
        os.kill(pid, signal.SIGKILL)
        wait_status(pid)
        assert folder_bytes(target) in allowed
    # the next save removes what the killed ones left, but not what a live process is writing
    live = tmp_path / f".model.tmp-{os.getpid()}-live"
    live.mkdir()
    save()
    assert folder_bytes(target) == new_files
    assert leftovers(tmp_path) == [live.name]


def test_two_writers_of_one_file_never_trip_over_each_other(tmp_path):
    """Each atomic write has a temporary of its own: two threads writing the same file 200 times
    each (two `minisbert search` runs filling one cache, say) both finish, and the file holds
    one of their contents whole. With one shared temporary name, one writer's rename would take
    the other's temporary away (FileNotFoundError)."""
    import threading

    target, errors = tmp_path / "cache.json", []

    def write_many(text: str) -> None:
        try:
            for _ in range(200):
                files.atomic_write_text(target, text)
        except OSError as err:
            errors.append(err)

    threads = [threading.Thread(target=write_many, args=(t * 1000,)) for t in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and target.read_text() in ("a" * 1000, "b" * 1000)
    assert [p.name for p in tmp_path.iterdir()] == ["cache.json"]


def test_a_file_write_removes_what_a_killed_writer_of_it_left(tmp_path):
    stale = tmp_path / f".v.npy.tmp-{GONE}-dead"
    live = tmp_path / f".v.npy.tmp-{os.getpid()}-live"  # this process: still being written
    other = tmp_path / f".w.npy.tmp-{GONE}-dead"  # another file's: not this write's business
    for path in (stale, live, other):
        path.write_bytes(b"half")
    files.atomic_save_array(tmp_path / "v.npy", np.zeros(3))
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([live.name, other.name, "v.npy"])


# ---------------------------------------------------------------------------------------------
# the clean-up rules, on generated folders


@fuzz(ci_examples=60)
@given(
    steps=st.sets(st.integers(1, 60), min_size=1, max_size=12),
    keep=st.integers(1, 4),
    pick=st.integers(0, 11),
)
def test_old_checkpoints_go_and_the_newest_stay(tmp_path_factory, steps, keep, pick):
    """After writing step N: the `keep` newest up to N stay, any after N go (from a run killed
    before `latest` named them), and nothing else in the folder is touched."""
    folder = tmp_path_factory.mktemp("checkpoints")
    newest = sorted(steps)[pick % len(steps)]
    for step in steps:
        (folder / f"step-{step:07d}").mkdir()
    (folder / "latest").write_text(f"step-{newest:07d}\n")
    remove_old_checkpoints(folder, folder / f"step-{newest:07d}", keep)
    assert (
        sorted(int(p.name[5:]) for p in folder.glob("step-*"))
        == sorted(s for s in steps if s <= newest)[-keep:]
    )
    assert sorted(p.name for p in folder.iterdir() if not p.name.startswith("step-")) == ["latest"]


NAMES = st.text(st.sampled_from("abcXYZ019._-"), min_size=1, max_size=12).filter(
    lambda n: n not in (".", "..") and ".tmp" not in n and ".old" not in n
)
GONE = 999_999_999  # a process id that no process has


@fuzz(ci_examples=60)
@given(
    target=NAMES,
    others=st.lists(NAMES, max_size=5),
    temporaries=st.lists(
        st.tuples(st.sampled_from(["tmp", "old"]), st.booleans(), st.booleans()), max_size=6
    ),
)
def test_a_save_removes_only_the_temporaries_that_killed_saves_left(
    tmp_path_factory, target, others, temporaries
):
    """remove_stale_temporaries(parent, target) deletes .TARGET.tmp-PID-X and .TARGET.old-PID of
    processes that are gone; never those of a live process (still writing), of another target, or
    any other file."""
    parent = tmp_path_factory.mktemp("parent")
    made, expected_gone = [], set()
    for i, (kind, own, alive) in enumerate(temporaries):
        owner = target if own else f"{target}x"
        pid = os.getpid() if alive else GONE
        name = f".{owner}.{kind}-{pid}" + (f"-{i}" if kind == "tmp" else "")
        made.append(name)
        if own and not alive:
            expected_gone.add(name)
    for name in {*made, *others, target}:
        (parent / name).mkdir(exist_ok=True)
    before = {p.name for p in parent.iterdir()}
    removed = remove_stale_temporaries(parent, target)
    assert {p.name for p in removed} == expected_gone
    assert {p.name for p in parent.iterdir()} == before - expected_gone
