"""One training run at a time in a run folder, with a lock that dies with its process.

Two runs writing into the same folder would mix their checkpoints and logs, and a resumed run
would continue from whichever wrote last. So the process that writes a run folder (rank 0 under
torchrun) holds an exclusive lock on RUN/.lock for as long as it trains, and another run given
that folder is refused at once, with a message naming the process that holds it.

The lock is `flock` on the open file, not the file's existence: the operating system releases it
when the process ends in any way (a return, an exception, Ctrl-C, SIGKILL, a crash), so there is
never a stale lock to delete by hand. The file itself stays, holding the last holder's process id
(for the message only); its presence says that a run was started in the folder. On Windows, which
has no `fcntl`, no lock is taken.

`check_run_folder` decides, before a run starts, what the folder allows: a new run needs a new or
empty folder; `resume` needs a checkpoint, except in a folder whose run was killed before its first
checkpoint, where nothing is lost by starting over, so the run starts from step 0 and says so.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from ..files.atomic import check_new_folder
from . import distributed
from .checkpoints import LATEST

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None

LOCK_FILE = ".lock"


class RunFolderInUse(FileExistsError):
    """Another process is training into the run folder."""


def in_use_error(path: Path, fd: int) -> RunFolderInUse:
    holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
    return RunFolderInUse(
        f"{path.parent} is in use: another training run (process {holder}) holds {path}; "
        "wait for it to end or choose another output folder"
    )


def refuse_if_in_use(run_dir: Path) -> None:
    """Raise RunFolderInUse if a live process holds the run folder's lock. It asks with a shared
    lock held for an instant, so that every rank of a launch can ask at once without refusing
    each other; the holder's exclusive lock makes it fail."""
    path = run_dir / LOCK_FILE
    if fcntl is None or not path.is_file():
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        raise in_use_error(path, fd) from None
    finally:
        os.close(fd)  # closing the file releases the shared lock


def check_run_folder(run_dir: Path | None, resume: bool) -> bool:
    """Before a run starts, on every rank: refuse a folder in use, a folder that already holds
    files (unless resuming), and a resume with nothing to resume. Returns whether to restore the
    latest checkpoint: False for a new run, and for a run killed before its first checkpoint."""
    if run_dir is None:
        if resume:
            raise ValueError("resume needs the output_dir of the run")
        return False
    refuse_if_in_use(run_dir)
    if not resume:
        check_new_folder(run_dir, "a run", "resume it or choose an empty or new folder")
        return False
    if (run_dir / "checkpoints" / LATEST).is_file() or not (run_dir / LOCK_FILE).is_file():
        return True  # no run was ever started here: restoring names the missing checkpoint
    if distributed.current_world().is_main:
        print(
            f"{run_dir}: the run stopped before its first checkpoint; starting again from step 0",
            file=sys.stderr,
        )
    return False


class RunLock:
    """`with RunLock(run_dir):` holds the run folder's lock for the block (`run_dir=None`: no lock).

    `expect_new=True` checks, once the lock is held, that the folder holds nothing else: another
    new run may have started and ended between `check_run_folder` and taking the lock."""

    def __init__(self, run_dir: Path | None, expect_new: bool = False):
        self.run_dir, self.expect_new, self.fd = run_dir, expect_new, None

    def __enter__(self) -> RunLock:
        if self.run_dir is None:
            return self
        path = self.run_dir / LOCK_FILE
        self.run_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                error = in_use_error(path, fd)
                os.close(fd)
                raise error from None
        self.fd = fd
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        others = sorted(p.name for p in self.run_dir.iterdir() if p.name != LOCK_FILE)
        if self.expect_new and others:
            self.release()
            raise FileExistsError(f"{self.run_dir} is not empty: another run wrote {others[0]} in it")
        return self

    def __exit__(self, *exc) -> None:
        self.release()

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)  # closing the file releases the lock
            self.fd = None
