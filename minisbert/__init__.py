"""minisbert: Sentence-BERT from scratch, for reading and for real use.

The core, in reading order (each module imports only those before it; tests/test_imports.py
checks it as READING_ORDER):

    json_files        the JSON files of a model folder, read with errors that name them
    config            the BERT hyper-parameters, with Hugging Face's field names
    tokenizer         WordPiece tokenization, a thin wrapper over Hugging Face `tokenizers`
    model             the BERT encoder by hand: embeddings → attention → layer → encoder
    pooling           the token vectors (B, T, C) of a batch → one sentence vector each (B, C)
    weight_checks     checks on weight files and their tensors, before anything is built from them
    pretrained        published BERT weights into `BertModel`; the embedded default model
    model_folder      the sentence-transformers folder format, read and written
    devices           where the numbers live and how wide they are: devices, mixed precision
    sentence_encoder  tokenizer → BERT → pooling → (optional) L2 normalisation
    losses            the training objectives of Sentence-BERT
    text_files        UTF-8 text and tab-separated files line by line, with errors that say where
    data              sentence-pair data sets, triplets derived from them, batches for training
    evaluation        STS correlation, classification accuracy, triplet accuracy and retrieval
    search            semantic search and paraphrase mining, in chunks
    optimizer         AdamW without weight decay on biases and LayerNorm; linear warm-up and decay
    training          the siamese training loop of Sentence-BERT
    __init__          this file: the names `import minisbert` gives

The `# BEGIN EXERCISE` / `# END EXERCISE` lines in some core files mark what the course kit
(course/) cuts out for a student version; they change nothing when the code runs.

The tools around the core, each in a folder of its own (the core imports none of them, but for
`save_pretrained`, which hands the writing to files/, and `python -m minisbert`, which runs cli/):

    files/    writing files and folders so that a crash never leaves a part
    kernels/  faster linear layers (packed, int8, padding skipped) and how CPU threads wait
    run/      a training run: checkpoints and resume, the run lock, several processes, plots, recipes
    deploy/   encoding a corpus larger than memory; ONNX export
    bench/    throughput against the NumPy reference, sentence-transformers and ONNX Runtime
    course/   the course kit: exercises, student versions, grading
    cli/      the `minisbert` command line, which uses all of the above

`import minisbert` loads nothing heavy: the names below are imported when first used (PEP 562),
so that `minisbert.cli` can set how CPU threads wait before torch loads (kernels/threads.py).
"""

from __future__ import annotations

import importlib

# name → the core module that defines it
PUBLIC = {
    "BertConfig": "config",
    "preset": "config",
    "BertModel": "model",
    "PoolingConfig": "pooling",
    "SentenceEncoder": "sentence_encoder",
    "WordPieceTokenizer": "tokenizer",
}
__all__ = sorted(PUBLIC)
__version__ = "0.1.0"


def __getattr__(name: str):
    """`minisbert.SentenceEncoder` and the other public names, imported on first use."""
    if name not in PUBLIC:
        raise AttributeError(f"module 'minisbert' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{PUBLIC[name]}", __name__), name)
    globals()[name] = value  # later lookups find it directly
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(PUBLIC))
