"""The JSON files of a model folder (config.json, modules.json, ...), read with errors that name them.

A file that is missing, not UTF-8 or not valid JSON raises an error that says which file and
where, instead of a bare `JSONDecodeError` from deep inside the loader.
"""

from __future__ import annotations

import json
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


def json_text(value) -> str:
    """`value` as indented JSON text, non-ASCII characters kept as they are, one newline at the end."""
    return json.dumps(value, indent=2, ensure_ascii=False) + "\n"


def write_json(path: str | Path, value) -> None:
    """Write `value` as indented UTF-8 JSON, creating the parent folder if needed. (A file that must
    never be seen half-written goes through `minisbert.files.atomic.write_json_atomic` instead.)"""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json_text(value), encoding="utf-8")
