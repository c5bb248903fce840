"""A model folder saved so that a crash at any moment leaves the old model or the new one.

`SentenceEncoder.save_pretrained` calls `save_sentence_encoder`; model_folder.py says what the
files are, this module says how they reach the disk safely (with atomic.py's folder swap).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

from ..model_folder import write_model_folder
from .atomic import check_new_folder, remove_stale_temporaries, replace_folder, temporary_folder


def save_sentence_encoder(
    encoder, folder: str | Path, overwrite: bool = False, also: Callable[[Path], None] | None = None
) -> Path:
    """Write `encoder` as a model folder that both minisbert and sentence-transformers load.

    The files are written into a temporary folder beside `folder`, which then takes its place in
    one step (`atomic.replace_folder`), so a crash at any moment leaves the old model or the new one,
    never a part. Temporary folders that an earlier, killed save left beside `folder` are removed
    first. A `folder` that exists and is not empty is only replaced with `overwrite=True`.
    `also(new_folder)` writes more files into the new folder before it takes its place (deploy/export.py:
    the ONNX graph), so that they too appear all at once or not at all.
    """
    folder = Path(folder)
    if not overwrite:
        check_new_folder(folder, "files", "pass overwrite=True to replace it")
    elif folder.exists() and not folder.is_dir():
        raise FileExistsError(f"{folder} exists and is a file, not a folder")
    folder.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(folder.parent, folder.name)
    tmp = temporary_folder(folder)
    try:
        write_model_folder(encoder, tmp)
        if also is not None:
            also(tmp)
        replace_folder(tmp, folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return folder
