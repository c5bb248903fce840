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
import importlib.util
import logging
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from ..files.saving import save_sentence_encoder
from ..kernels.linears import linear_kinds
from ..sentence_encoder import encode_in_batches

ONNX_FILE = "model.onnx"
INPUT_NAMES = ("input_ids", "attention_mask", "token_type_ids")
OUTPUT_NAME = "sentence_embedding"
OPSET = 18  # the ONNX operator set: 18 is read by every ONNX Runtime since 1.14
EXPORTER_PACKAGES = ("onnx", "onnxscript")  # what torch.onnx.export(dynamo=True) imports


def export_onnx(encoder, folder: str | Path, overwrite: bool = False) -> Path:
    """Write `encoder` (a SentenceEncoder) as a model folder with its graph in FOLDER/model.onnx.
    Returns the path of model.onnx.

    The folder and its graph appear together or not at all: both are written into a temporary
    folder that then takes FOLDER's place (`model_folder.save_sentence_encoder`, which refuses to
    replace a folder that holds something unless `overwrite`). The encoder is left as it was
    (device, train or eval mode)."""
    check_exporter_installed()
    if set(linear_kinds(encoder)) != {"Linear"}:
        raise ValueError(
            f"export the model with plain nn.Linear layers, not {linear_kinds(encoder)}: ONNX has its "
            "own fast kernels (minisbert.kernels.packed_linear.use_linears(encoder, 'plain'))"
        )
    # the model is moved to the CPU and traced: no other thread may use it meanwhile
    device, was_training = encoder.device, encoder.training
    encoder.eval()  # dropout off: the graph is for inference
    try:
        folder = save_sentence_encoder(
            encoder, folder, overwrite, also=lambda new: export_graph(encoder.cpu(), new / ONNX_FILE)
        )
    finally:
        encoder.to(device).train(was_training)
    return folder / ONNX_FILE


def check_exporter_installed() -> None:
    """torch.onnx's exporter needs the `onnx` and `onnxscript` packages (minisbert's onnx extra):
    an ImportError that says how to install them, before anything is written."""
    missing = [name for name in EXPORTER_PACKAGES if importlib.util.find_spec(name) is None]
    if missing:
        raise ImportError(
            f"exporting to ONNX needs the {' and '.join(missing)} package(s), not installed: "
            f"pip install -e '.[onnx]' in minisbert's folder (or pip install {' '.join(missing)})"
        )


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
    """Sentence embeddings (N, D) from an ONNX Runtime session, in input order: the batching loop of
    `SentenceEncoder.encode` (`encode_in_batches`), each padded batch run through the graph."""

    def run(batch) -> np.ndarray:  # (B, T) each → (B, D)
        return session.run([OUTPUT_NAME], {name: batch[name].numpy() for name in INPUT_NAMES})[0]

    dimension = session.get_outputs()[0].shape[1]  # D: a number, unless the graph left it open
    dimension = dimension if isinstance(dimension, int) else None
    return encode_in_batches(tokenizer, list(texts), max_length, batch_size, run, dimension)
