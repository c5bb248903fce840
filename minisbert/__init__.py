"""minisbert: Sentence-BERT from scratch, for reading and for real use.

Read the files in this order (each imports only files before it; tests/test_imports.py checks it
as READING_ORDER):

    files             reading and writing the small files of model folders and training runs, safely
    config            the BERT hyper-parameters, with Hugging Face's field names
    tokenizer         WordPiece tokenization, a thin wrapper over Hugging Face `tokenizers`
    model             the BERT encoder by hand: embeddings → attention → layer → encoder
    pooling           the token vectors (B, T, C) of a batch → one sentence vector each (B, C)
    weight_checks     checks on weight files and their tensors, before anything is built from them
    pretrained        published BERT weights into `BertModel`; the embedded default model
    model_folder      the sentence-transformers folder format, read and written
    devices           where the numbers live and how wide they are: devices, mixed precision
    threads           how idle CPU threads wait: passively, so that a busy machine does not stall them
    distributed       training on several processes with torch.distributed, launched by torchrun
    unpadding         training's linear layers on the real tokens only
    packed_linear     `encode`'s linear layers on the CPU: weights packed (fp32) or quantised (int8)
    sentence_encoder  tokenizer → BERT → pooling → (optional) L2 normalisation
    losses            the training objectives of Sentence-BERT
    text_files        UTF-8 text and tab-separated files line by line, with errors that say where
    data              sentence-pair data sets, triplets derived from them, batches for training
    evaluation        STS correlation, classification accuracy, triplet accuracy and retrieval
    search            semantic search and paraphrase mining, in chunks
    corpus            encoding a corpus too large for memory: a sentence a line in, a vector a row out
    export            a sentence encoder to ONNX, for ONNX Runtime
    plots             pictures of a training run: loss per step, dev metric per evaluation
    optimizer         AdamW without weight decay on biases and LayerNorm; linear warm-up and decay
    checkpoints       written so that a crash at any moment leaves the last good one
    run_lock          one training run at a time in a run folder
    training          the siamese training loop of Sentence-BERT
    recipes           the SBERT paper's set-ups: for each objective, which data, loss and evaluators
    bench_onnx        ONNX Runtime as a contender in `minisbert bench`
    bench             encoding and training throughput beside the NumPy reference and sentence-transformers
    bench_training    optimizer steps/s: minisbert's `Trainer` against a plain PyTorch loop
    exercises         the exercises of the course assignment, described in one place
    assignment        making a student version: marked regions become stubs, plus a handout
    grading           running each exercise's tests in a repository and scoring them
    divergence        where an encoder first computes something other than a correct one
    commands          what each `minisbert` command does
    arguments         the command line's arguments, checked before any work starts
    cli               the `minisbert` command line
    __init__          this file: the names `import minisbert` gives
    __main__          `python -m minisbert`
"""

from .threads import wait_passively

# First of all, before anything below imports torch: OpenMP reads how its threads wait when torch
# loads, and the `minisbert` command runs this file before any code of its own (threads.py).
wait_passively()

from .config import BertConfig, preset  # noqa: E402 (after the wait policy, on purpose)
from .model import BertModel  # noqa: E402
from .pooling import PoolingConfig  # noqa: E402
from .sentence_encoder import SentenceEncoder  # noqa: E402
from .tokenizer import WordPieceTokenizer  # noqa: E402

__all__ = ["BertConfig", "BertModel", "PoolingConfig", "SentenceEncoder", "WordPieceTokenizer", "preset"]
__version__ = "0.1.0"
