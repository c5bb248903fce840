"""Encoding a corpus file (minisbert/deploy/corpus.py, `minisbert encode --file F -o V.npy`): the rows are
the lines in order, equal to `encode` on the same lines; memory does not grow with the corpus; an
interrupted run (stopped, or killed with SIGKILL) resumes to exactly the bytes of an uninterrupted
one, and refuses to resume when the corpus, the model or the settings changed; bad input is named."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import torch

from minisbert import SentenceEncoder
from minisbert.cli import main
from minisbert.config import preset
from minisbert.deploy.corpus import encode_file
from minisbert.json_files import read_json
from reference.compare import assert_close

WORDS = "a man woman dog cat plays guitar runs eats food on the grass in a park slowly quickly".split()


def corpus_lines(n: int, seed: int = 0) -> list[str]:
    """n short sentences of random words and lengths, some of them blank."""
    rng = np.random.default_rng(seed)
    return [" ".join(rng.choice(WORDS, size=rng.integers(0, 12))) for _ in range(n)]


def write_corpus(path: Path, lines: list[str], newline: str = "\n") -> Path:
    path.write_bytes(newline.join(lines).encode("utf-8") + newline.encode())
    return path


@pytest.fixture(autouse=True)
def one_thread():
    """The tiny model's operations are too small to share between threads: on a busy 2-core machine,
    waking the second thread for each costs more than the work (measured: 16 s instead of 0.5 s for
    1,000 sentences). The vectors do not depend on the number of threads used."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> tuple[SentenceEncoder, Path]:
    """A tiny random BERT (2 layers, 32 wide) with a vocabulary learnt from the words above, saved."""
    encoder = SentenceEncoder.from_scratch(corpus_lines(300), preset("tiny"), vocab_size=200)
    folder = tmp_path_factory.mktemp("tiny")
    encoder.save_pretrained(folder / "model")
    return encoder, folder / "model"


def test_rows_are_the_lines_in_order_equal_to_encode(tiny, tmp_path):
    encoder, _ = tiny
    lines = corpus_lines(1000)
    source = write_corpus(tmp_path / "corpus.txt", lines, newline="\r\n")  # Windows line ends too
    output = encode_file(encoder, source, tmp_path / "vectors.npy", block_lines=300)
    vectors = np.load(output)
    assert vectors.shape == (1000, encoder.dimension) and vectors.dtype == np.float32
    assert "" in lines  # blank lines keep their row: the vector of the empty sentence
    assert_close(vectors, encoder.encode(lines), "fp32_model")
    assert not (tmp_path / "vectors.npy.partial").exists()
    assert not (tmp_path / "vectors.npy.progress.json").exists()


def test_the_pretrained_model_streams_the_same_vectors(encoder, data_dir, tmp_path):
    lines = (data_dir / "stsbenchmark" / "sts-dev.csv").read_text(encoding="utf-8").splitlines()[:64]
    source = write_corpus(tmp_path / "corpus.txt", lines)
    vectors = np.load(encode_file(encoder, source, tmp_path / "v.npy", block_lines=24))
    assert_close(vectors, encoder.encode(lines), "fp32_model")


def test_stopped_and_resumed_equals_one_run_byte_for_byte(tiny, tmp_path):
    encoder, _ = tiny
    source = write_corpus(tmp_path / "corpus.txt", corpus_lines(1000))
    whole = np.load(encode_file(encoder, source, tmp_path / "whole.npy", block_lines=128))
    output = tmp_path / "resumed.npy"
    partial = encode_file(encoder, source, output, block_lines=128, stop_after_blocks=3)
    assert partial.name == "resumed.npy.partial" and not output.exists()
    assert read_json(tmp_path / "resumed.npy.progress.json")["done"] == 3 * 128
    with pytest.raises(FileExistsError, match="holds an interrupted encode .384 of 1,000 lines"):
        encode_file(encoder, source, output, block_lines=128)  # not without resume: nothing is lost
    encode_file(encoder, source, output, block_lines=128, resume=True, stop_after_blocks=2)
    assert read_json(tmp_path / "resumed.npy.progress.json")["done"] == 5 * 128
    encode_file(encoder, source, output, block_lines=128, resume=True)
    assert np.array_equal(np.load(output), whole)


@pytest.mark.parametrize("change", ["corpus", "model", "block_lines", "normalize"])
def test_a_resume_refuses_what_changed(tiny, tmp_path, change):
    encoder, _ = tiny
    source = write_corpus(tmp_path / "corpus.txt", corpus_lines(500))
    output = tmp_path / "v.npy"
    encode_file(encoder, source, output, block_lines=100, stop_after_blocks=1)
    settings = {"block_lines": 100}
    if change == "corpus":
        write_corpus(source, corpus_lines(500, seed=1))
    elif change == "model":
        encoder = SentenceEncoder.from_scratch(corpus_lines(300), preset("tiny"), vocab_size=200, seed=1)
    elif change == "block_lines":
        settings["block_lines"] = 50
    else:
        settings["normalize"] = True
    expected = {"corpus": "source_size|source_mtime_ns", "model": "model_sha256"}.get(change, change)
    with pytest.raises(ValueError, match=f"cannot resume .*({expected}).* changed"):
        encode_file(encoder, source, output, resume=True, **settings)


def test_memory_does_not_grow_with_the_corpus(tmp_path):
    """Python-side allocations (tracemalloc sees NumPy's arrays and the lines read) for 2,000 and
    for 20,000 lines: the same, within 1.2×. A stand-in encoder keeps the figure about the
    streaming alone (the model's own memory does not depend on the corpus either)."""

    class Stub:  # what encode_file needs of an encoder
        dimension, max_seq_length = 384, 128

        def state_dict(self):
            return {}

        def encode(self, block, batch_size, normalize, show_progress, precision):
            return np.full((len(block), self.dimension), len(block), dtype=np.float32)

    peaks = {}
    for n in (2_000, 20_000):
        source = write_corpus(tmp_path / f"c{n}.txt", corpus_lines(n))
        tracemalloc.start()
        encode_file(Stub(), source, tmp_path / f"v{n}.npy", block_lines=500)
        peaks[n] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert np.load(tmp_path / f"v{n}.npy", mmap_mode="r").shape == (n, 384)
    print(peaks)
    assert peaks[20_000] < 1.2 * peaks[2_000], peaks


def test_killed_mid_run_the_cli_resumes_to_the_same_file(tiny, tmp_path):
    """SIGKILL at a random moment after some blocks are done: the output is never left half-valid,
    and `--resume` finishes it to the same bytes as one run."""
    _, model = tiny
    source = write_corpus(tmp_path / "corpus.txt", corpus_lines(6_000))
    args = ["encode", "--model", str(model), "--file", str(source), "--block-lines", "250"]
    assert main([*args, "-o", str(tmp_path / "whole.npy")]) == 0
    output, progress = tmp_path / "killed.npy", tmp_path / "killed.npy.progress.json"
    command = [sys.executable, "-m", "minisbert", *args, "-o", str(output)]
    one_thread = {**os.environ, "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen(command, stderr=subprocess.PIPE, env=one_thread)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and (read_json(progress, default={}) or {}).get("done", 0) < 1_000:
        time.sleep(0.02)
    time.sleep(np.random.default_rng().uniform(0, 0.2))  # somewhere inside a block
    process.send_signal(signal.SIGKILL)
    process.wait()
    done = read_json(progress)["done"]
    assert process.returncode == -signal.SIGKILL and 1_000 <= done < 6_000, done
    assert main([*args, "-o", str(output)]) == 1  # an interrupted run is not silently overwritten
    assert main([*args, "-o", str(output), "--resume"]) == 0
    assert np.array_equal(np.load(output), np.load(tmp_path / "whole.npy"))


def test_bad_input_is_named(tiny, tmp_path, capsys):
    encoder, model = tiny
    with pytest.raises(FileNotFoundError, match="corpus file not found"):
        encode_file(encoder, tmp_path / "missing.txt", tmp_path / "v.npy")
    (tmp_path / "empty.txt").write_bytes(b"")
    with pytest.raises(ValueError, match="empty.txt is empty"):
        encode_file(encoder, tmp_path / "empty.txt", tmp_path / "v.npy")
    (tmp_path / "latin1.txt").write_bytes("one\ntwo\ncaf\xe9\n".encode("latin-1"))
    with pytest.raises(ValueError, match="latin1.txt, line 3: byte 0xe9 at byte 4 is not UTF-8"):
        encode_file(encoder, tmp_path / "latin1.txt", tmp_path / "v.npy")
    source = write_corpus(tmp_path / "ok.txt", ["a man"])
    with pytest.raises(FileExistsError, match="is a folder"):
        encode_file(encoder, source, tmp_path)
    with pytest.raises(ValueError, match="at least 1"):
        encode_file(encoder, source, tmp_path / "v.npy", block_lines=0)
    with pytest.raises(SystemExit) as stopped:  # an argument error: exit 2, before any work
        main(["encode", "--model", str(model), "--resume", "a sentence"])
    assert stopped.value.code == 2
    assert "--resume and --block-lines need a corpus --file and an output -o" in capsys.readouterr().err
