"""Export a sentence encoder to ONNX, to deploy it with ONNX Runtime (or any ONNX engine).

ONNX is a file format for computation graphs: the model's operations (matrix multiplies,
softmax, LayerNorm, ...) with their weights, which engines other than PyTorch can run. The graph
written here computes what `SentenceEncoder.forward` computes, pooling and normalisation included:

    input_ids, attention_mask, token_type_ids (B, T) int64  →  sentence_embedding (B, D) float32

with B and T free (any batch, any length up to max_position_embeddings). Tokenization stays
outside the graph: the export folder is a complete minisbert / sentence-transformers model folder
(tokenizer files included) with `model.onnx` beside the weights, and `onnx_encode` below shows the
few lines a deployment needs around it.

The graph is captured by `torch.onnx.export` with `torch.export` (PyTorch's graph capture): it runs
the model once on an example batch and records every operation, marking batch and token count as
dynamic. The input checks of `BertModel.check_inputs` are not part of the graph (they compare values,
which a graph cannot record): the tokenizer already keeps ids and lengths within range.
"""

from __future__ import annotations

import contextlib
import logging
import os
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

ONNX_FILE = "model.onnx"
INPUT_NAMES = ("input_ids", "attention_mask", "token_type_ids")
OUTPUT_NAME = "sentence_embedding"
OPSET = 18  # the ONNX operator set: 18 is read by every ONNX Runtime since 1.14


def export_onnx(encoder, folder: str | Path, overwrite: bool = False) -> Path:
    """Write `encoder` (a SentenceEncoder) as a model folder with its graph in FOLDER/model.onnx.

    The model folder is written first (`save_pretrained`, which refuses to replace an existing
    folder unless `overwrite`), then the graph, through a temporary file renamed into place.
    """
    folder = encoder.save_pretrained(folder, overwrite=overwrite)
    target = folder / ONNX_FILE
    tmp = folder / f".{ONNX_FILE}.tmp-{os.getpid()}"
    was_training = encoder.training
    encoder.eval()  # dropout off: the graph is for inference
    try:
        export_graph(encoder.cpu(), tmp)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
        encoder.train(was_training)
    return target


def export_graph(encoder, path: Path) -> None:
    """Capture encoder.forward on an example batch (two sentences, several tokens) into `path`."""
    example = encoder.tokenizer.pad(encoder.tokenizer.encode(["an example sentence", "and another one"]))
    longest = encoder.model.config.max_position_embeddings
    batch, tokens = torch.export.Dim("batch"), torch.export.Dim("tokens", min=1, max=longest)
    with quiet_exporter():
        program = torch.onnx.export(
            encoder,
            tuple(example[name] for name in INPUT_NAMES),
            input_names=list(INPUT_NAMES),
            output_names=[OUTPUT_NAME],
            dynamic_shapes={name: {0: batch, 1: tokens} for name in INPUT_NAMES},
            opset_version=OPSET,
            dynamo=True,
            verbose=False,
        )
    program.save(str(path))


@contextlib.contextmanager
def quiet_exporter():
    """Hide the exporter's notes (progress, operators of libraries such as torchvision that are not
    installed): none of them is a problem of the model, and errors still surface."""
    logger = logging.getLogger("torch.onnx")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)


def onnx_session(folder: str | Path, threads: int | None = None):
    """An ONNX Runtime session on FOLDER/model.onnx (needs `pip install onnxruntime`)."""
    try:
        import onnxruntime
    except ImportError as err:
        raise ImportError("running an ONNX export needs onnxruntime: pip install onnxruntime") from err
    path = Path(folder) / ONNX_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist: write it with `minisbert export --onnx {folder}`")
    options = onnxruntime.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
    return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def onnx_encode(
    session, tokenizer, texts: Sequence[str], max_length: int, batch_size: int = 32
) -> np.ndarray:
    """Sentence embeddings (N, D) from an ONNX Runtime session, in input order: tokenize, pad each
    batch, run the graph. (SentenceEncoder.encode does the same with length-sorted batches.)"""
    encoded = tokenizer.encode(list(texts), max_length=max_length)
    parts = []
    for start in range(0, len(encoded), batch_size):
        batch = tokenizer.pad(encoded[start : start + batch_size])  # (B, T) each
        feeds = {name: batch[name].numpy() for name in INPUT_NAMES}
        parts.append(session.run([OUTPUT_NAME], feeds)[0])  # (B, D)
    return np.concatenate(parts) if parts else np.zeros((0, session.get_outputs()[0].shape[1]), np.float32)
