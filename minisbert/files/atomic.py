"""Writing the files of model folders and training runs so that a crash never leaves a part.

Every file or folder that must never be seen half-written goes through `atomic_write_text`,
`write_json_atomic`, `atomic_save_array` or `replace_folder`: the new content is written beside
the target and then renamed over it. A rename within one file system is atomic, so a crash at any
moment leaves either the old content or the new, never a part. A folder cannot be renamed over a
full one, so an old folder is swapped with the new in one step (Linux's renameat2 exchange). What a
killed writer leaves beside its target, a temporary file or folder named after its process, is
removed by the next writer (`remove_stale_temporaries`).
"""

from __future__ import annotations

import ctypes
import errno
import os
import re
import secrets
import shutil
import sys
import tempfile
from pathlib import Path

from ..json_files import json_text


def write_json_atomic(path: str | Path, value) -> None:
    """Write `value` as JSON (json_files.py's format) so that readers see the old file or the new."""
    atomic_write_text(path, json_text(value))


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write a file so that readers see the old or the new content, never a part."""
    atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def atomic_save_array(path: str | Path, array) -> None:
    """Write a NumPy array as a .npy file at exactly `path`, atomically (`np.save` given a name
    would add ".npy" to one that lacks it: `-o vectors` must write `vectors`)."""
    import numpy as np

    def save(tmp: Path) -> None:
        with open(tmp, "wb") as f:  # a file object: np.save adds no suffix
            np.save(f, array)

    atomic_write(path, save)


def atomic_write(path: str | Path, write) -> None:
    """Call `write(tmp)` to write the new content into a temporary file beside `path`, then
    rename it to `path` (creating its folder if needed; a symbolic link is written through, as
    `open` would, not replaced by a file). Each call has a temporary of its own, named after its
    process (.NAME.tmp-PID-XXXX), so that two writers of one file never trip over each other (the
    last rename wins); what a killed writer left is removed by the next (`remove_stale_temporaries`)."""
    path = Path(os.path.realpath(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(path.parent, path.name)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}-{secrets.token_hex(4)}")
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)  # a full disk must not leave a partial temporary file behind
        raise


# Files and folders are written under a temporary name beside their target, then renamed or swapped
# in. The temporary names say which process made them (.NAME.tmp-PID-XXXX, .NAME.old-PID), so that
# what a killed writer left behind can be told from what a live one is still writing.
TEMPORARY = re.compile(r"\.(?P<name>.+)\.(tmp|old)-(?P<pid>\d+)(-[^/]*)?")


def temporary_folder(target: Path) -> Path:
    """A new, empty folder beside `target` (.NAME.tmp-PID-XXXX) to write the new content into,
    with the permissions of any new folder (`mkdtemp` makes it private, mode 0700, and the rename
    would keep that: a saved model or a student version nobody else could read)."""
    folder = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-{os.getpid()}-", dir=target.parent))
    folder.chmod(0o777 & ~current_umask())
    return folder


def current_umask() -> int:
    """The process's umask: the permission bits new files and folders do not get."""
    mask = os.umask(0o022)  # reading it means setting it; put it straight back
    os.umask(mask)
    return mask


def replace_folder(new: Path, target: Path) -> None:
    """Put the folder `new` where `target` is, in one step: at every moment, also after a crash,
    `target` is whole-old or whole-new, never missing or mixed. `new` is gone afterwards."""
    if not target.exists():
        os.rename(new, target)
    elif exchange_paths(new, target):  # atomic: `new` now holds the old folder
        shutil.rmtree(new)
    else:  # no atomic swap on this system: a crash between the renames leaves no `target`
        aside = target.with_name(f".{target.name}.old-{os.getpid()}")
        os.rename(target, aside)
        os.rename(new, target)
        shutil.rmtree(aside)


RENAME_EXCHANGE = 2  # Linux's renameat2 flag (linux/fs.h): swap two paths in one step
AT_FDCWD = -100  # paths relative to the current folder, as os.rename takes them


def exchange_paths(a: Path, b: Path) -> bool:
    """Swap two existing paths atomically (Linux renameat2). False where the system cannot
    (another OS, an old kernel or C library, a file system without the flag)."""
    if not sys.platform.startswith("linux"):
        return False
    libc = ctypes.CDLL(None, use_errno=True)
    if not hasattr(libc, "renameat2"):
        return False
    if libc.renameat2(AT_FDCWD, os.fsencode(a), AT_FDCWD, os.fsencode(b), RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
        return False
    raise OSError(code, f"could not swap {a} and {b}: {os.strerror(code)}")


def remove_folder(folder: Path) -> None:
    """Delete a folder so that it is never seen half-deleted: it is renamed to a hidden name first."""
    aside = folder.with_name(f".{folder.name}.old-{os.getpid()}")
    os.rename(folder, aside)
    shutil.rmtree(aside)


def remove_stale_temporaries(parent: Path, name: str | None = None) -> list[Path]:
    """Delete the temporary files and folders in `parent` (of target `name`, or of any) whose
    process is gone: what a writer that was killed left behind. Those of live processes stay: they
    are being written. Returns what was removed."""
    removed = []
    for path in parent.glob(".*") if parent.is_dir() else []:
        found = TEMPORARY.fullmatch(path.name)
        if found and (name is None or found["name"] == name) and not process_alive(int(found["pid"])):
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
            removed.append(path)
    return removed


def process_alive(pid: int) -> bool:
    """Whether a process with this id exists (signal 0 checks without sending anything)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def check_new_folder(folder: Path, what: str, hint: str) -> None:
    """A folder that minisbert fills must be new or empty: it never writes over what is there.

    `what` names the folder's role in the message, `hint` says what to do instead."""
    if folder.exists() and not folder.is_dir():
        raise FileExistsError(f"{folder} exists and is a file, not a folder")
    if folder.is_dir() and any(folder.iterdir()):
        raise FileExistsError(f"{folder} is not empty: it already holds {what}; {hint}")
