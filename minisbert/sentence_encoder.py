"""The sentence encoder: tokenizer → BERT → pooling → (optional) L2 normalisation.

Source: Reimers & Gurevych, "Sentence-BERT" (EMNLP 2019), section 3 and figure 2: "SBERT adds a
pooling operation to the output of BERT to derive a fixed sized sentence embedding", and cosine
similarity between two such embeddings scores how similar the sentences are.

A sentence-transformers model folder describes this pipeline (`model_folder.py` reads and writes
that format): a Transformer (BERT weights and tokenizer), a Pooling module and optionally
Normalize. `SentenceEncoder.from_pretrained` builds exactly that; a plain BERT folder gets mean
pooling, the SBERT paper's default.

Shapes: N sentences, B batch, T tokens, C hidden size, D = C × number of pooling modes.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from .config import BertConfig
from .devices import ENCODING_PRECISIONS, autocast, check_precision
from .model import BertModel
from .model_folder import read_model_folder
from .pooling import PoolingConfig, l2_normalize, pool
from .pretrained import default_model_folder, load_bert_model
from .tokenizer import WordPieceTokenizer, check_texts

PROGRESS_MIN_BATCHES = 8  # a bar for fewer batches than this is only noise
EmbeddingsOrTexts = np.ndarray | torch.Tensor | Sequence[str] | str  # (N, D) vectors, or sentences


def length_sorted_batches(lengths: Sequence[int], batch_size: int) -> list[np.ndarray]:
    """Row indices in batches of `batch_size`, longest sentences first, so that the sentences of a
    batch have nearly the same length and padding to the longest wastes little.
    Example: lengths [3, 9, 5, 8], batch 2 → [[1, 3], [2, 0]]."""
    order = np.argsort([-n for n in lengths], kind="stable")  # longest first; ties keep input order
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


def encode_in_batches(
    tokenizer: WordPieceTokenizer,
    sentences: Sequence[str],
    max_length: int,
    batch_size: int,
    run: Callable[[dict[str, torch.Tensor]], np.ndarray],
    dimension: int | None = None,
    show_progress: bool = False,
) -> np.ndarray:
    """The batching loop of every encoder here (`encode`, the benchmark's NumPy reference and ONNX
    Runtime, export's check): tokenize, sort by length (`length_sorted_batches`), pad each batch,
    `run(batch)` → its vectors (B, D), put back in input order. Returns float32 (N, D); D is
    `dimension`, or the width of the first batch's vectors (so that no sentences give (0, 0))."""
    encoded = tokenizer.encode(sentences, max_length=max_length)
    batches = length_sorted_batches([len(ids) for ids, _ in encoded], batch_size)
    out = None if dimension is None else np.empty((len(sentences), dimension), dtype=np.float32)  # (N, D)
    for rows in tqdm(batches, desc="encoding", unit="batch", disable=not show_progress):
        vectors = run(tokenizer.pad([encoded[i] for i in rows]))  # (B, D)
        if out is None:
            out = np.empty((len(sentences), vectors.shape[1]), dtype=np.float32)
        out[rows] = vectors
    return np.zeros((0, 0), dtype=np.float32) if out is None else out


class SentenceEncoder(nn.Module):
    """`encoder.encode(["A man is eating.", ...])` → float32 array (N, D)."""

    def __init__(
        self,
        model: BertModel,
        tokenizer: WordPieceTokenizer,
        pooling: PoolingConfig | None = None,
        normalize: bool = False,
        max_seq_length: int | None = None,
    ):
        super().__init__()
        pooling = pooling or PoolingConfig()  # mean pooling, the SBERT paper's default
        self.model = model
        self.tokenizer = tokenizer
        self.pooling = dataclasses.replace(pooling, dimension=pooling.dimension or model.config.hidden_size)
        self.normalize = normalize
        self.max_seq_length = min(
            max_seq_length or tokenizer.max_length, model.config.max_position_embeddings
        )
        if pooling.dimension is not None and pooling.dimension != model.config.hidden_size:
            raise ValueError(
                f"pooling expects {pooling.dimension}-dimensional token vectors but the model's "
                f"hidden_size is {model.config.hidden_size}"
            )

    # -- building ------------------------------------------------------------------------------

    @classmethod
    def from_pretrained(
        cls, folder: str | Path | None = None, device: str | torch.device | None = None
    ) -> SentenceEncoder:
        """Load a sentence-transformers or plain BERT folder; no folder means all-MiniLM-L6-v2."""
        folder = default_model_folder() if folder is None else Path(folder)
        layout = read_model_folder(folder)
        tokenizer = WordPieceTokenizer.from_pretrained(
            layout.bert_folder, max_length=layout.max_seq_length, lowercase_first=layout.do_lower_case
        )
        encoder = cls(
            load_bert_model(layout.bert_folder),
            tokenizer,
            pooling=layout.pooling,
            normalize=layout.normalize,
            max_seq_length=layout.max_seq_length,
        )
        return encoder.to(device or "cpu").eval()  # like a published model: dropout off until .train()

    @classmethod
    def from_scratch(
        cls,
        texts: Sequence[str],
        config: BertConfig,
        vocab_size: int = 8000,
        pooling: tuple[str, ...] = ("mean",),
        max_seq_length: int = 128,
        seed: int = 0,
    ) -> SentenceEncoder:
        """A new encoder with no pretrained file: a WordPiece vocabulary learnt from `texts` and a
        BERT of the sizes in `config` (its vocab_size set to the vocabulary's) with random weights."""
        tokenizer = WordPieceTokenizer.train(texts, vocab_size, max_length=max_seq_length)
        config = dataclasses.replace(
            config, vocab_size=tokenizer.vocab_size, pad_token_id=tokenizer.pad_token_id
        )
        torch.manual_seed(seed)
        model = BertModel(config)
        return cls(model, tokenizer, PoolingConfig(tuple(pooling)), max_seq_length=max_seq_length).eval()

    def save_pretrained(self, folder: str | Path, overwrite: bool = False) -> Path:
        """Write a standard sentence-transformers folder (the files: model_folder.py).

        The one place the core hands work to a tool outside it: the files are written into a new
        folder beside `folder`, which then takes its place in one step, so that a crash never
        leaves half a model (minisbert/files/saving.py). A folder that exists and is not empty is
        only replaced with `overwrite=True`."""
        from .files.saving import save_sentence_encoder

        return save_sentence_encoder(self, folder, overwrite=overwrite)

    # -- the differentiable forward, used for training -------------------------------------------

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        token_type_ids: torch.Tensor | None = None,
        normalize: bool | None = None,
    ) -> torch.Tensor:
        """Sentence embeddings (B, D) of a tokenized batch; `normalize=None` follows the model."""
        hidden = self.model(input_ids, attention_mask, token_type_ids)  # (B, T, C)
        embeddings = pool(hidden, attention_mask, self.pooling.modes)  # (B, D)
        if self.normalize if normalize is None else normalize:
            embeddings = l2_normalize(embeddings)  # (B, D), unit length
        return embeddings

    # -- encoding text -------------------------------------------------------------------------

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    @property
    def dimension(self) -> int:
        """D, the width of a sentence embedding."""
        return self.model.config.hidden_size * len(self.pooling.modes)

    def encode(
        self,
        sentences: Sequence[str] | str,
        batch_size: int = 32,
        normalize: bool | None = None,
        show_progress: bool | None = None,
        precision: str = "fp32",
    ) -> np.ndarray:
        """Embed sentences: a float32 array (N, D) in input order ((D,) for a single string).

        Sentences are sorted by token count and batched so that each batch pads little; text
        longer than `max_seq_length` tokens is truncated. `normalize=None` follows the model folder
        (all-MiniLM-L6-v2 normalises). The progress bar shows on long inputs in a terminal.

        `precision`: "fp32" (the default) computes in float32, `self(**batch)` exactly; "bf16" or
        "fp16" runs the matrix multiplies in that type under autocast (devices.py). The vectors
        come back as float32 whatever the precision. Faster linear layers are a choice of module,
        made before encoding and shown by `print(encoder)`: packed for oneDNN or 8-bit integers
        (minisbert/kernels/packed_linear.py, `use_linears(encoder, "packed" | "int8")`); "int8"
        here only confirms that the linear layers are int8 ones.

        An encoder in eval mode (as `from_pretrained` gives it) is not changed by `encode`, so
        several threads may encode with it at once. One in training mode is switched to eval mode
        for the call (dropout off) and back: encode it from the thread that trains it.
        """
        if isinstance(sentences, str):
            return self.encode([sentences], batch_size, normalize, show_progress, precision)[0]
        sentences = check_texts(sentences, "sentences")
        check_precision(precision, ENCODING_PRECISIONS)
        self.check_int8(precision)
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)):
            raise TypeError(f"batch_size must be an int, got {type(batch_size).__name__}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        if show_progress is None:  # in a terminal, for PROGRESS_MIN_BATCHES batches or more
            show_progress = sys.stderr.isatty() and len(sentences) > (PROGRESS_MIN_BATCHES - 1) * batch_size

        def run(batch: dict[str, torch.Tensor]) -> np.ndarray:
            batch = {k: v.to(self.device) for k, v in batch.items()}  # (B, T) each
            return self(**batch, normalize=normalize).float().cpu().numpy()  # (B, D)

        was_training = self.training
        if was_training:
            self.eval()  # dropout off
        try:
            with torch.inference_mode(), autocast(self.device, precision):
                return encode_in_batches(
                    self.tokenizer,
                    sentences,
                    self.max_seq_length,
                    batch_size,
                    run,
                    self.dimension,
                    show_progress,
                )
        finally:
            if was_training:
                self.train()

    def check_int8(self, precision: str) -> None:
        """precision "int8" names what the linear layers already are; say how to get them if not."""
        kinds = {getattr(m, "kind", "plain") for m in self.modules() if isinstance(m, nn.Linear)}
        if precision == "int8" and kinds != {"int8"}:
            raise ValueError(
                "precision 'int8' runs the linear layers in 8-bit integers: swap them in first, with "
                "minisbert.kernels.packed_linear.use_linears(encoder, 'int8') (print(encoder) then "
                "shows Int8Linear), or use `minisbert encode --precision int8`"
            )

    def similarity(self, a: EmbeddingsOrTexts, b: EmbeddingsOrTexts | None = None) -> np.ndarray:
        """Cosine similarity matrix (N, M) between two sets of embeddings (or sentences).

        `a` and `b` are arrays (N, D) and (M, D), or lists of sentences to encode first. With no
        `b`, the similarities of `a` with itself.
        """
        a = self.as_embeddings(a, "a")
        b = a if b is None else self.as_embeddings(b, "b")
        if a.shape[1] != b.shape[1]:
            raise ValueError(
                f"a holds {a.shape[1]}-dimensional embeddings but b {b.shape[1]}-dimensional ones"
            )
        a, b = (l2_normalize(torch.as_tensor(x, dtype=torch.float32)) for x in (a, b))
        return (a @ b.T).numpy()  # (N, M)

    def as_embeddings(self, x: EmbeddingsOrTexts, name: str = "texts") -> np.ndarray:
        """Embeddings (N, D) as float32: arrays of numbers pass through, sentences are encoded.

        Numbers are a tensor, a numeric array, or rows of numbers ([[0.1, ...], ...]); anything
        else is taken for sentences, so that a wrong item is named: `b[2] is bytes, not str`."""
        if not is_numeric(x):
            return np.atleast_2d(self.encode(check_texts(x, name)))  # (N, D), also (0, D)
        try:
            x = np.asarray(x.detach().float().cpu() if isinstance(x, torch.Tensor) else x, dtype=np.float32)
        except (TypeError, ValueError) as err:  # ragged rows, a string among numbers
            raise TypeError(f"{name} must be an (N, D) array of numbers or sentences: {err}") from None
        if x.ndim != 2:
            raise ValueError(f"embeddings must be (N, D), got shape {x.shape}")
        return x


def is_numeric(x) -> bool:
    """Whether `x` holds numbers (embeddings) rather than texts: a tensor, an array of numbers,
    or a non-empty list or tuple whose first item is a number or a row."""
    if isinstance(x, torch.Tensor):
        return True
    if isinstance(x, np.ndarray):
        return x.dtype.kind in "biuf"
    if isinstance(x, (list, tuple)) and x:
        first = x[0]
        row = isinstance(first, (list, tuple, np.ndarray, torch.Tensor))
        return row or (isinstance(first, (int, float, np.number)) and not isinstance(first, bool))
    return False
