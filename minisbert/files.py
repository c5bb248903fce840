"""Reading and writing the small files of model folders and training runs, safely.

Every JSON file minisbert reads or writes goes through `read_json` / `write_json`, and every file or
folder that must never be seen half-written goes through `atomic_write_text` / `replace_folder`:
the new content is written beside the target and then renamed over it. A rename within one file
system is atomic, so a crash at any moment leaves either the old content or the new, never a part.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

MISSING = object()  # read_json's default: a missing file is an error


def read_json(path: str | Path, default=MISSING):
    """The contents of a JSON file. A missing file returns `default` when one is given, else raises
    FileNotFoundError; a file that is not valid JSON raises a ValueError naming it and the place."""
    path = Path(path)
    if not path.is_file():
        if default is MISSING:
            raise FileNotFoundError(f"{path} does not exist")
        return default
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ValueError(f"{path} is not valid JSON: {err}") from None
    except UnicodeDecodeError as err:
        raise ValueError(f"{path} is not UTF-8 text: {err}") from None


def read_json_object(path: str | Path, what: str) -> dict:
    """A JSON file that must hold an object (a dict), such as a `config.json`; `path` may also be
    the folder that holds `config.json`. `what` names the file's role in error messages."""
    path = Path(path)
    if path.is_dir():
        path = path / "config.json"
    if not path.is_file():
        raise FileNotFoundError(f"no {what} found: {path} does not exist")
    values = read_json(path)
    if not isinstance(values, dict):
        raise ValueError(f"{path} must hold a JSON object ({what}), got {type(values).__name__}")
    return values


def write_json(path: str | Path, value, atomic: bool = False) -> None:
    """Write `value` as indented UTF-8 JSON, creating the parent folder if needed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(value, indent=2, ensure_ascii=False) + "\n"
    if atomic:
        atomic_write_text(path, text)
    else:
        path.write_text(text, encoding="utf-8")


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write a file so that readers see the old or the new content, never a part."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def replace_folder(new: Path, target: Path) -> None:
    """Put the folder `new` where `target` is. `target` is always either whole-old or whole-new:
    an old `target` is moved aside first (a rename) and removed last."""
    old = None
    if target.exists():
        old = target.with_name(f".{target.name}.old-{os.getpid()}")
        os.rename(target, old)
    os.rename(new, target)
    if old is not None:
        shutil.rmtree(old)


def check_new_folder(folder: Path, what: str, hint: str) -> None:
    """A folder that minisbert fills must be new or empty: it never writes over what is there.

    `what` names the folder's role in the message, `hint` says what to do instead."""
    if folder.exists() and not folder.is_dir():
        raise FileExistsError(f"{folder} exists and is a file, not a folder")
    if folder.is_dir() and any(folder.iterdir()):
        raise FileExistsError(f"{folder} is not empty: it already holds {what}; {hint}")
