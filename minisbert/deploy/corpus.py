"""Encoding a corpus too large for memory: one sentence a line in, one vector a row out.

`encode_file(encoder, "corpus.txt", "vectors.npy")` reads the text file a block of lines at a
time, encodes each block, and writes its vectors into the output `.npy` file at their rows, so
that memory stays flat whatever the size of the corpus: row i of the output is line i of the file
(blank lines included: they get the vector of the empty sentence).

Crash safety: the vectors go to `vectors.npy.partial`, and after each block is on disk a small
`vectors.npy.progress.json` beside it records how many lines are done. An interrupted run, started
again with `resume=True`, checks that the corpus, the model and the settings are the ones it
recorded and continues from the first unfinished block; the finished file is renamed into place.
The blocks are cut at fixed line numbers and each is batched the same way every time, so a resumed
run writes exactly the bytes of an uninterrupted one.

`minisbert search` keeps a corpus's embeddings in a cache file instead (`cached_embeddings`), with
a fingerprint of the corpus and the model beside it, and encodes again when either changes.
"""

from __future__ import annotations

import hashlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from .. import text_files
from ..files.atomic import atomic_save_array, write_json_atomic
from ..json_files import read_json
from ..run import distributed

BLOCK_LINES = 4096  # lines encoded (and written) at a time: the unit of progress and of memory
FORMAT = 1  # of the progress file


def count_lines(path: Path) -> int:
    """How many lines the file has (checking that every one of them is UTF-8 text: text_files.py)."""
    return sum(1 for _ in text_files.stream_lines(path))


def blocks(lines: Iterator[str], size: int) -> Iterator[list[str]]:
    """The lines, `size` at a time (the last block may be shorter)."""
    block = []
    for line in lines:
        block.append(line)
        if len(block) == size:
            yield block
            block = []
    if block:
        yield block


def model_fingerprint(encoder) -> str:
    """sha256 of every weight of the encoder, in order: the same vectors need the same weights."""
    digest = hashlib.sha256()
    for name, tensor in encoder.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def run_description(
    encoder, source: Path, lines: int, batch_size: int, block_lines: int, normalize, precision: str
) -> dict:
    """What the output depends on. A run resumes only when all of it is unchanged."""
    stat = source.stat()
    return {
        "format": FORMAT,
        "source": str(source.resolve()),
        "source_size": stat.st_size,
        "source_mtime_ns": stat.st_mtime_ns,
        "lines": lines,
        "dimension": encoder.dimension,
        "model_sha256": model_fingerprint(encoder),
        "max_seq_length": encoder.max_seq_length,
        "normalize": normalize,
        "batch_size": batch_size,
        "block_lines": block_lines,
        "precision": precision,
    }


def create_npy(path: Path, rows: int, columns: int) -> None:
    """An empty float32 .npy file of shape (rows, columns), its data filled in later by row."""
    header = {"descr": "<f4", "fortran_order": False, "shape": (rows, columns)}
    with open(path, "wb") as f:
        np.lib.format.write_array_header_1_0(f, header)
        f.truncate(f.tell() + rows * columns * 4)  # a sparse file: no disk used until written


def data_offset(path: Path) -> int:
    """Where the rows of a .npy file start (after its header)."""
    with open(path, "rb") as f:
        np.lib.format.read_magic(f)
        np.lib.format.read_array_header_1_0(f)
        return f.tell()


def write_rows(path: Path, offset: int, first_row: int, vectors: np.ndarray) -> None:
    """Write float32 vectors (B, D) at rows first_row.. of the .npy file, and make them durable."""
    with open(path, "r+b") as f:
        f.seek(offset + first_row * vectors.shape[1] * 4)
        f.write(np.ascontiguousarray(vectors, dtype="<f4").tobytes())
        f.flush()
        os.fsync(f.fileno())


def start_or_resume(partial: Path, progress: Path, description: dict, resume: bool) -> int:
    """Lines already done: 0 for a new run (creating the partial file), or what the progress file
    records when resuming the same run. Refuses to overwrite an interrupted run without `resume`,
    and to resume a run whose corpus, model or settings changed."""
    recorded = read_json(progress, default=None)
    if recorded is not None and partial.is_file():
        if not resume:
            raise FileExistsError(
                f"{partial} holds an interrupted encode ({recorded.get('done', 0):,} of "
                f"{recorded.get('lines', '?'):,} lines): resume it, or delete it and {progress.name}"
            )
        changed = [key for key in description if recorded.get(key) != description[key]]
        if changed:
            raise ValueError(
                f"cannot resume {partial}: {', '.join(changed)} changed since it was started; "
                f"delete it and {progress.name} to start again"
            )
        return int(recorded["done"])
    create_npy(partial, description["lines"], description["dimension"])
    write_json_atomic(progress, {**description, "done": 0})
    return 0


def encode_file(
    encoder,
    source: str | Path,
    output: str | Path,
    batch_size: int = 32,
    normalize: bool | None = None,
    resume: bool = False,
    block_lines: int = BLOCK_LINES,
    show_progress: bool | None = None,
    stop_after_blocks: int | None = None,
    precision: str = "fp32",
) -> Path:
    """Encode every line of `source` into the float32 .npy file `output` (lines, D), in order.

    Memory stays flat in the corpus size: `block_lines` lines are held at a time. `resume=True`
    continues an interrupted run of the same corpus, model and settings. `stop_after_blocks` stops
    after that many rounds of blocks, leaving a resumable run (the tests' way of interrupting one).
    Returns the output path; until the run is complete, the output is `output.partial`.

    Under torchrun (distributed.py), the N ranks take the blocks in turn: a *round* is N blocks,
    block k of it encoded by rank k, each written at its own rows of the one output file. After
    each round every rank waits for the others, and rank 0 records the round as done. (Several
    machines need the output on a file system they all share.)"""
    source, output = Path(source), Path(output)
    if not source.is_file():
        raise FileNotFoundError(f"corpus file not found: {source}")
    if batch_size < 1 or block_lines < 1:
        raise ValueError(f"batch_size and block_lines must be at least 1, got {batch_size}, {block_lines}")
    if output.is_dir():
        raise FileExistsError(f"the output {output} is a folder: give a file name such as vectors.npy")
    lines = count_lines(source)
    if lines == 0:
        raise ValueError(f"{source} is empty: nothing to encode")
    world = distributed.current_world()
    partial = output.with_name(output.name + ".partial")
    progress = output.with_name(output.name + ".progress.json")
    description = run_description(encoder, source, lines, batch_size, block_lines, normalize, precision)
    done = None
    if world.is_main:  # rank 0 alone creates or checks the files
        output.parent.mkdir(parents=True, exist_ok=True)
        done = start_or_resume(partial, progress, description, resume)
    done = distributed.gather_objects(done)[0]  # rank 0's count of lines done, on every rank
    offset = data_offset(partial)
    if show_progress is None:
        show_progress = sys.stderr.isatty()
    bar = tqdm(
        total=lines, initial=done, unit="sent", desc="encoding", disable=not (show_progress and world.is_main)
    )
    rounds = 0
    for round_blocks in blocks(blocks(text_files.stream_lines(source, skip=done), block_lines), world.size):
        first = done + sum(len(b) for b in round_blocks[: world.rank])  # this rank's first row
        if world.rank < len(round_blocks):  # the last round may have fewer blocks than ranks
            block = round_blocks[world.rank]
            vectors = encoder.encode(block, batch_size, normalize, show_progress=False, precision=precision)
            write_rows(partial, offset, first, vectors)  # (B, D) at rows first..first+B
        distributed.barrier()  # every block of the round is on disk
        done += sum(len(b) for b in round_blocks)
        if world.is_main:
            write_json_atomic(progress, {**description, "done": done})
        bar.update(sum(len(b) for b in round_blocks))
        rounds += 1
        if stop_after_blocks is not None and rounds >= stop_after_blocks and done < lines:
            bar.close()
            return partial
    bar.close()
    if world.is_main:
        os.replace(partial, output)
        progress.unlink()
    distributed.barrier()  # the output is in place for every rank
    return output


# ---------------------------------------------------------------------------------------------
# the embeddings cache of `minisbert search`


def read_corpus(path: Path) -> list[tuple[int, str]]:
    """(line number, sentence) of each non-blank line of a UTF-8 text file (bytes that are not
    UTF-8: a ValueError naming the line; text_files.py)."""
    if not path.is_file():
        raise FileNotFoundError(f"corpus file not found: {path}")
    found = [(number, line) for number, line in text_files.read_lines(path) if line.strip()]
    if not found:
        raise ValueError(f"{path} holds no sentences (one a line)")
    return found


def default_cache_path(corpus: Path, folder: Path) -> Path:
    """corpus.txt.minisbert-<model id>.npy beside the corpus: one cache per model."""
    model_id = hashlib.sha256(str(folder.resolve()).encode()).hexdigest()[:12]
    return corpus.with_name(f"{corpus.name}.minisbert-{model_id}.npy")


def search_fingerprint(corpus: Path, folder: Path) -> dict:
    """What the cached embeddings depend on: the corpus's bytes (sha256) and the model folder
    (its path, and the size and modification time of each of its files, so that a retrained
    model in the same folder counts as another model)."""
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    return {
        "format": 1,
        "corpus_sha256": hashlib.sha256(corpus.read_bytes()).hexdigest(),
        "model": str(folder.resolve()),
        "model_files": [[str(p.relative_to(folder)), p.stat().st_size, p.stat().st_mtime_ns] for p in files],
    }


def cached_embeddings(encoder, sentences: list[str], cache: Path, fingerprint: dict, batch_size: int):
    """The embeddings (N, D) of `sentences`, read from `cache` when the JSON beside it holds the
    same fingerprint, else encoded and written there (the .npy atomically, then its fingerprint).
    Files at `cache` or beside it that this function did not write (the user's own vectors, say)
    are never written over: a FileExistsError names them."""
    stamp = cache.with_name(cache.name + ".json")
    if cache.is_dir():
        raise FileExistsError(f"the cache {cache} is a folder: give a file name such as corpus.npy")
    recorded = read_stamp(stamp)
    if (cache.exists() or stamp.exists()) and recorded is None:
        raise FileExistsError(
            f"{cache} is not a minisbert search cache ({stamp.name} beside it is missing or is not its "
            "fingerprint): give another --cache file, or delete them"
        )
    if recorded == fingerprint:
        try:
            vectors = np.load(cache, mmap_mode="r")  # read chunk by chunk by the search
        except (OSError, ValueError):  # a damaged cache: encode again
            vectors = None
        if vectors is not None and vectors.shape == (len(sentences), encoder.dimension):
            print(f"corpus embeddings read from {cache}", file=sys.stderr)
            return vectors
    vectors = encoder.encode(sentences, batch_size=batch_size)  # (N, D)
    # first: a crash below leaves a fingerprint that matches nothing rather than a wrong one (and
    # the file still marked as a cache, so that the next run may write over it)
    write_json_atomic(stamp, {"writing": True})
    atomic_save_array(cache, vectors)
    write_json_atomic(stamp, fingerprint)
    print(f"encoded {len(sentences):,} corpus sentences; embeddings cached in {cache}", file=sys.stderr)
    return vectors


def read_stamp(stamp: Path) -> dict | None:
    """What a cache's fingerprint file records, if it is one that `cached_embeddings` wrote (a
    fingerprint, or the mark of a write under way); None otherwise (missing, damaged, or another
    file)."""
    try:
        recorded = read_json(stamp, default=None)
    except ValueError:
        return None
    if isinstance(recorded, dict) and ("format" in recorded or recorded.get("writing") is True):
        return recorded
    return None
