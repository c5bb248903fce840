"""ONNX Runtime as a contender in `minisbert bench`: what a user who needs CPU speed would pick.

The model is exported once by `export.py` (its graph holds pooling and normalisation), then run
by ONNX Runtime three ways, each on the same length-sorted batches as minisbert's `encode`:

- fp32: the exported graph, with ONNX Runtime's default graph optimisations;
- fp32 fused: first rewritten by ONNX Runtime's transformer optimizer (`model_type="bert"`), which
  fuses attention, LayerNorm and GELU into single operators where it recognises them;
- int8: dynamic quantisation of the weights of the matrix multiplies (per output channel, signed
  8-bit); activations are quantised on the fly, batch by batch.

ONNX Runtime's worker threads spin for a while after each run, waiting for more work, and would
steal the cores from the next contender: spinning is switched off here.

Like bench.py, this module imports what it times (onnxruntime); it is used only when the bench
extra is installed (`pip install minisbert[onnx]`).
"""

from __future__ import annotations

import contextlib
import io
import logging
from pathlib import Path

import numpy as np


def onnx_contenders(encoder, folder: Path, batch_size: int, threads: int) -> dict:
    """{name: encode(sentences) → (N, D)} for the three ONNX Runtime contenders, or {} without
    onnxruntime. `folder` is a scratch folder for the exported files."""
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return {}
    from ..deploy.export import ONNX_FILE, export_onnx
    from ..kernels.linears import shared_copy
    from ..kernels.packed_linear import use_linears

    export_onnx(use_linears(shared_copy(encoder), "plain"), folder / "exported")  # ONNX has its own kernels
    plain = folder / "exported" / ONNX_FILE
    fused, int8 = folder / "fused.onnx", folder / "int8.onnx"
    with quiet():
        fuse(plain, fused, encoder.model.config)
        quantize(plain, int8)
    names = {"ONNX Runtime fp32": plain, "ONNX Runtime fp32 fused": fused, "ONNX Runtime int8": int8}
    return {name: batched_runner(encoder, session(path, threads), batch_size) for name, path in names.items()}


@contextlib.contextmanager
def quiet():
    """Hide the optimizer's and the quantizer's notes (shape inference skipped, pre-processing
    suggested): they print them whatever the outcome; errors still surface."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            yield
    finally:
        root.setLevel(level)


def fuse(source: Path, target: Path, config) -> None:
    """ONNX Runtime's transformer optimizer: attention, LayerNorm and GELU fused where recognised."""
    from onnxruntime.transformers.optimizer import optimize_model

    model = optimize_model(
        str(source), model_type="bert", num_heads=config.num_attention_heads, hidden_size=config.hidden_size
    )
    model.save_model_to_file(str(target))


def quantize(source: Path, target: Path) -> None:
    """Dynamic int8 quantisation of the weights, one scale per output channel."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(str(source), str(target), per_channel=True, weight_type=QuantType.QInt8)


def session(path: Path, threads: int):
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")  # see the module doc
    return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def batched_runner(encoder, onnx_session, batch_size: int):
    """encode(sentences) with an ONNX Runtime session: tokenize, the same length-sorted batches as
    `SentenceEncoder.encode`, pad, run; float32 (N, D) in input order."""
    from ..deploy.export import onnx_encode

    def encode(sentences: list[str]) -> np.ndarray:
        return onnx_encode(onnx_session, encoder.tokenizer, sentences, encoder.max_seq_length, batch_size)

    return encode
