"""The `minisbert` command line, run as a user runs it."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from helpers import assert_close

from minisbert.cli import main


def run(*args, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "minisbert", *args], input=stdin, capture_output=True, text=True, timeout=300
    )


def test_encode_to_npy(tmp_path, encoder):
    out = tmp_path / "v.npy"
    assert main(["encode", "A man is eating.", "The sky is blue.", "-o", str(out)]) == 0
    assert_close(np.load(out), encoder.encode(["A man is eating.", "The sky is blue."]), "fp32_model")


def test_encode_writes_the_file_named_and_replaces_it_only_when_told(tmp_path, encoder, capsys):
    out = tmp_path / "vectors"  # no .npy: written as named (np.save alone would write vectors.npy)
    assert main(["encode", "first", "-o", str(out)]) == 0
    first = np.load(out)
    with pytest.raises(SystemExit) as refused:  # before any work: the file is kept
        main(["encode", "second", "-o", str(out)])
    assert refused.value.code == 2
    assert "vectors exists: add --overwrite to replace it" in capsys.readouterr().err
    np.testing.assert_array_equal(np.load(out), first)
    assert main(["encode", "second", "-o", str(out), "--overwrite"]) == 0
    assert_close(np.load(out), encoder.encode(["second"]), "fp32_model")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["vectors"]  # no temporary left beside it


def test_encode_creates_the_output_folder_and_writes_through_a_link(tmp_path, encoder):
    deep = tmp_path / "new" / "folder" / "v.npy"
    assert main(["encode", "first", "-o", str(deep)]) == 0
    assert_close(np.load(deep), encoder.encode(["first"]), "fp32_model")
    link = tmp_path / "link.npy"
    link.symlink_to(deep)
    assert main(["encode", "second", "-o", str(link), "--overwrite"]) == 0
    assert link.is_symlink()  # still a link, and the file it points to holds the new vectors
    assert_close(np.load(deep), encoder.encode(["second"]), "fp32_model")


def test_encode_from_file_and_stdin_print(tmp_path, encoder):
    path = tmp_path / "sentences.txt"
    path.write_text("first line\nsecond line\n", encoding="utf-8")
    from_file = run("encode", "--file", str(path))
    from_stdin = run("encode", stdin="first line\nsecond line\n")
    assert from_file.returncode == 0, from_file.stderr
    printed = np.loadtxt(from_file.stdout.splitlines())
    assert printed.shape == (2, 384)
    assert_close(printed, encoder.encode(["first line", "second line"]), "fp32_op")  # printed with 6 decimals
    assert from_stdin.stdout == from_file.stdout


def test_similarity_prints_a_matrix(capsys):
    assert main(["similarity", "A man is eating food.", "A man eats something.", "The sky is blue."]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 4
    first = [float(v) for v in lines[1].split()[-3:]]
    assert first[0] == 1.0 and first[1] > 0.8 and first[2] < 0.2


def test_info(capsys, model_folder):
    assert main(["info", str(model_folder)]) == 0
    info = json.loads(capsys.readouterr().out)
    # all-MiniLM-L6-v2 has 22,713,216 weights with BERT's pooler (384² + 384), which is not loaded
    assert info["parameters"] == 22_713_216 - (384 * 384 + 384)
    assert (info["pooling"], info["normalize"], info["max_seq_length"]) == (["mean"], True, 256)
    assert info["config"]["num_hidden_layers"] == 6


def test_errors_are_one_clear_line(tmp_path):
    result = run("info", str(tmp_path / "nowhere"))
    assert result.returncode == 1
    assert result.stderr.strip() == f"minisbert info: error: model folder not found: {tmp_path / 'nowhere'}"
    assert run("encode", "--file", str(tmp_path / "none.txt")).stderr.startswith(
        "minisbert encode: error: sentence file not found"
    )


def test_train_refuses_bad_combinations(tmp_path, data_dir):
    sts = str(data_dir / "stsbenchmark" / "sts-train.csv")
    result = run("train", "--objective", "classification", "--data", sts, "--output", str(tmp_path / "x"))
    assert result.returncode == 1
    assert "classification needs labelled pairs: give SICK.txt, not sts-train.csv" in result.stderr
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "keep.txt").write_text("mine")
    result = run("train", "--objective", "regression", "--data", sts, "--output", str(tmp_path / "busy"))
    assert "already holds a run" in result.stderr and (tmp_path / "busy" / "keep.txt").read_text() == "mine"
