"""WordPiece tokenization for BERT, as a thin wrapper over Hugging Face `tokenizers`.

Source: Devlin et al., "BERT" (NAACL 2019), section 3 ("We use WordPiece embeddings with a
30,000 token vocabulary"), and Wu et al. (2016) for WordPiece itself.

BERT tokenizes in four steps, each a component of the `tokenizers` pipeline built in `from_vocab`:

1. normalize: drop control characters, map whitespace to spaces, put spaces around CJK characters,
   lowercase and strip accents (NFD, then drop combining marks);
2. pre-tokenize: split on whitespace and punctuation ("don't!" → "don", "'", "t", "!");
3. WordPiece: split each word greedily into the longest pieces found in the vocabulary,
   continuations prefixed by "##" ("embeddings" → "em", "##bed", "##ding", "##s"); a word
   with no split, or longer than 100 characters, becomes [UNK];
4. post-process: add [CLS] … [SEP] (and … [SEP] for the second sentence of a pair, segment id 1).

Padding and truncation are decided here, per call: pad to the longest sentence in the batch, and
truncate to `max_length` tokens including [CLS] and [SEP]. Whatever a `tokenizer.json` file had
switched on is switched off when it is loaded.

Shapes: B batch, T tokens (the longest in the batch).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from collections.abc import Set as AbstractSet
from pathlib import Path

import numpy as np
import torch
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

from .json_files import read_json, write_json

SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]")  # what every BERT vocabulary must hold
# the roles of BERT's special tokens, as Hugging Face's special_tokens_map.json names them
SPECIAL_TOKENS_MAP = {
    "unk_token": "[UNK]",
    "sep_token": "[SEP]",
    "pad_token": "[PAD]",
    "cls_token": "[CLS]",
    "mask_token": "[MASK]",
}
DEFAULT_MAX_LENGTH = 512  # BERT's max_position_embeddings
MAX_CHARS_PER_WORD = 100  # a longer word is [UNK], as in BERT


def check_texts(texts, name: str = "texts") -> list[str]:
    """A list of strings (a single string counts as a list of one), or a TypeError naming the first
    item that is not a string. Any iterable of strings will do (a generator, a NumPy array of
    strings, a pandas Series), but not bytes (they iterate as numbers), a mapping (it iterates
    as its keys) or a set (it has no order, so the output rows would have none)."""
    if isinstance(texts, str):
        return [texts]
    not_a_list = (bytes, bytearray, memoryview, Mapping, AbstractSet)
    if isinstance(texts, not_a_list) or not hasattr(texts, "__iter__"):
        raise TypeError(f"{name} must be a list of strings, got {type(texts).__name__}")
    try:
        texts = list(texts)
    except TypeError:  # iter() refused after all, e.g. a 0-d NumPy array
        raise TypeError(f"{name} must be a list of strings, got {type(texts).__name__}") from None
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise TypeError(f"{name}[{i}] is {type(text).__name__}, not str: {text!r:.60}")
    return texts


def read_vocab(path: str | Path) -> dict[str, int]:
    """vocab.txt has one token a line; a token's id is its line number, counting from 0."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"vocabulary file not found: {path}")
    lines = path.read_text(encoding="utf-8").split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # the newline that ends the last line
    vocab = {token: i for i, token in enumerate(lines)}
    missing = [t for t in SPECIAL_TOKENS if t not in vocab]
    if missing:
        raise ValueError(f"{path} lacks the special token(s) {', '.join(missing)} that BERT needs")
    return vocab


class WordPieceTokenizer:
    """`tokenizer(["a sentence", ...])` → {"input_ids", "attention_mask", "token_type_ids"}, each (B, T)."""

    def __init__(self, tokenizer: Tokenizer, max_length: int = DEFAULT_MAX_LENGTH):
        self.tokenizer = tokenizer
        self.tokenizer.no_padding()  # we pad to the longest in each batch ourselves
        self.tokenizer.no_truncation()  # and truncate to the length the caller asks for
        self.max_length = max_length
        ids = {t: tokenizer.token_to_id(t) for t in SPECIAL_TOKENS}
        missing = [t for t, i in ids.items() if i is None]
        if missing:
            raise ValueError(f"the tokenizer lacks the special token(s) {', '.join(missing)}")
        self.pad_token_id = ids["[PAD]"]
        self.cls_token_id = ids["[CLS]"]
        self.sep_token_id = ids["[SEP]"]
        self.unk_token_id = ids["[UNK]"]

    # -- building ------------------------------------------------------------------------------

    @classmethod
    def from_vocab(
        cls,
        path: str | Path,
        lowercase: bool = True,
        strip_accents: bool | None = None,
        max_length: int = DEFAULT_MAX_LENGTH,
    ) -> WordPieceTokenizer:
        """BERT's tokenizer from a `vocab.txt`. `strip_accents=None` strips them when lowercasing."""
        tok = bert_pipeline(wordpiece(read_vocab(path)), lowercase, strip_accents)
        finish_pipeline(tok)
        return cls(tok, max_length=max_length)

    @classmethod
    def train(
        cls,
        texts,
        vocab_size: int,
        lowercase: bool = True,
        min_frequency: int = 2,
        max_length: int = DEFAULT_MAX_LENGTH,
    ) -> WordPieceTokenizer:
        """Learn a WordPiece vocabulary of `vocab_size` tokens from `texts` with the `tokenizers`
        trainer (BERT's pipeline; the special tokens take ids 0 to 4). Save it with `save(folder)`."""
        from tokenizers import trainers

        texts = check_texts(texts)
        if vocab_size < len(TRAINED_SPECIAL_TOKENS) + 1:
            raise ValueError(f"vocab_size {vocab_size} leaves no room beside the special tokens")
        tok = bert_pipeline(wordpiece(), lowercase, None)
        trainer = trainers.WordPieceTrainer(
            vocab_size=vocab_size,
            min_frequency=min_frequency,
            special_tokens=list(TRAINED_SPECIAL_TOKENS),
            continuing_subword_prefix="##",
            show_progress=False,
        )
        tok.train_from_iterator(texts, trainer)
        tok = bert_pipeline(wordpiece(numbered_in_order(tok.get_vocab())), lowercase, None)
        finish_pipeline(tok)
        return cls(tok, max_length=max_length)

    @classmethod
    def from_pretrained(
        cls, folder: str | Path, max_length: int | None = None, lowercase_first: bool = False
    ) -> WordPieceTokenizer:
        """Read `tokenizer.json` if the folder has one, else `vocab.txt` (+ `tokenizer_config.json`).

        `max_length` defaults to `model_max_length` of `tokenizer_config.json`, then to 512 (a
        sentence-transformers folder passes its own `max_seq_length`, see `model_folder.py`).
        `lowercase_first` lowercases the text before the rest of normalisation, which is what
        sentence-transformers' `do_lower_case` asks for.
        """
        folder = Path(folder)
        if not folder.is_dir():
            raise FileNotFoundError(f"tokenizer folder not found: {folder}")
        settings = read_json(folder / "tokenizer_config.json", default={})
        if max_length is None:
            max_length = model_max_length(settings)
        if (folder / "tokenizer.json").is_file():
            tok = Tokenizer.from_file(str(folder / "tokenizer.json"))
        elif (folder / "vocab.txt").is_file():
            vocab = read_vocab(folder / "vocab.txt")
            lowercase = settings.get("do_lower_case", True)
            tok = bert_pipeline(wordpiece(vocab), lowercase, settings.get("strip_accents"))
            finish_pipeline(tok)
        else:
            raise FileNotFoundError(f"{folder} has neither tokenizer.json nor vocab.txt")
        if lowercase_first:
            steps = [normalizers.Lowercase()] + ([tok.normalizer] if tok.normalizer is not None else [])
            tok.normalizer = normalizers.Sequence(steps)
        return cls(tok, max_length=max_length)

    # -- using ---------------------------------------------------------------------------------

    @property
    def vocab_size(self) -> int:
        return self.tokenizer.get_vocab_size()

    def tokenize(self, text: str) -> list[str]:
        """The WordPiece tokens of one text, without [CLS] and [SEP]: "Hello!" → ["hello", "!"]."""
        return self.tokenizer.encode(check_texts([text])[0], add_special_tokens=False).tokens

    def encode(
        self, texts: Sequence[str], pairs: Sequence[str] | None = None, max_length: int | None = None
    ) -> list[tuple[list[int], list[int]]]:
        """(token ids, segment ids) of each text (or pair), with [CLS]/[SEP], truncated, not padded.

        A pair is truncated longest-first: tokens come off the longer of the two until it fits.
        """
        texts = check_texts(texts)
        max_length = self.max_length if max_length is None else max_length
        room = 3 if pairs is not None else 2  # [CLS] A [SEP] (B [SEP])
        if max_length < room:
            raise ValueError(f"max_length {max_length} leaves no room for [CLS] and [SEP]")
        if pairs is not None:
            pairs = check_texts(pairs, "pairs")
            if len(pairs) != len(texts):
                raise ValueError(f"{len(texts)} texts but {len(pairs)} pairs: they must match")
            texts = list(zip(texts, pairs, strict=True))
        self.tokenizer.enable_truncation(max_length, strategy="longest_first")
        try:
            encodings = self.tokenizer.encode_batch(texts)
        finally:
            self.tokenizer.no_truncation()  # at rest the tokenizer never truncates (see `tokenize`)
        return [(e.ids, e.type_ids) for e in encodings]

    def pad(self, encoded: Sequence[tuple[list[int], list[int]]]) -> dict[str, torch.Tensor]:
        """Pad (ids, segment ids) to the longest: {"input_ids", "attention_mask", "token_type_ids"} (B, T)."""
        B = len(encoded)
        T = max((len(ids) for ids, _ in encoded), default=0)
        input_ids = np.full((B, T), self.pad_token_id, dtype=np.int64)  # (B, T)
        token_type_ids = np.zeros((B, T), dtype=np.int64)  # (B, T)
        attention_mask = np.zeros((B, T), dtype=np.int64)  # (B, T)
        for row, (ids, types) in enumerate(encoded):
            input_ids[row, : len(ids)] = ids
            token_type_ids[row, : len(types)] = types
            attention_mask[row, : len(ids)] = 1
        return {
            "input_ids": torch.from_numpy(input_ids),
            "attention_mask": torch.from_numpy(attention_mask),
            "token_type_ids": torch.from_numpy(token_type_ids),
        }

    def __call__(
        self, texts: Sequence[str], pairs: Sequence[str] | None = None, max_length: int | None = None
    ) -> dict[str, torch.Tensor]:
        """Tokenize, truncate to `max_length` and pad a batch of texts (or of sentence pairs)."""
        return self.pad(self.encode(texts, pairs, max_length))

    def decode(self, ids, skip_special_tokens: bool = True) -> str:
        """Token ids back to text: [101, 7592, 999, 102] → "hello!"."""
        if isinstance(ids, torch.Tensor):
            ids = ids.tolist()
        return self.tokenizer.decode(list(ids), skip_special_tokens=skip_special_tokens)

    def ids_to_tokens(self, ids) -> list[str]:
        """The token of each id, special tokens included: [101, 7592, 999, 102] →
        ["[CLS]", "hello", "!", "[SEP]"]. Padding ids read "[PAD]"."""
        if isinstance(ids, torch.Tensor):
            ids = ids.tolist()
        return [self.tokenizer.id_to_token(int(i)) for i in ids]

    @property
    def lowercase(self) -> bool:
        """Whether normalisation lowercases the text (BERT "uncased" models do)."""
        return lowercases(json.loads(self.tokenizer.to_str()).get("normalizer"))

    def save(self, folder: str | Path, model_max_length: int | None = None) -> None:
        """Write the tokenizer files of a Hugging Face folder: `tokenizer.json`, `vocab.txt` (ids in
        line order), `tokenizer_config.json` and `special_tokens_map.json`."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        self.tokenizer.save(str(folder / "tokenizer.json"))
        vocab = sorted(self.tokenizer.get_vocab().items(), key=lambda item: item[1])
        (folder / "vocab.txt").write_text("".join(f"{t}\n" for t, _ in vocab), encoding="utf-8")
        write_json(folder / "special_tokens_map.json", SPECIAL_TOKENS_MAP)
        settings = {
            "tokenizer_class": "BertTokenizer",
            "do_lower_case": self.lowercase,
            "model_max_length": model_max_length or self.max_length,
            **SPECIAL_TOKENS_MAP,
        }
        write_json(folder / "tokenizer_config.json", settings)


TRAINED_SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")  # ids 0..4 of a trained vocabulary


def wordpiece(vocab: dict[str, int] | None = None) -> models.WordPiece:
    """Step 3's model: a given vocabulary, or an empty one for the trainer to fill."""
    if vocab is None:
        return models.WordPiece(unk_token="[UNK]", max_input_chars_per_word=MAX_CHARS_PER_WORD)
    return models.WordPiece(vocab, unk_token="[UNK]", max_input_chars_per_word=MAX_CHARS_PER_WORD)


def numbered_in_order(vocab: dict[str, int]) -> dict[str, int]:
    """The trainer's tokens renumbered in a fixed order: the special tokens first (ids 0 to 4),
    then the others sorted. The trainer numbers its tokens in an order that changes from run to
    run (its hash maps are randomised), and with it which random embedding row each token gets;
    sorted, the same tokens always get the same ids. (Which tokens it learns can still differ by a
    few from run to run, where pairs of equal count tie: a handful in a vocabulary of thousands.)"""
    rest = sorted(t for t in vocab if t not in TRAINED_SPECIAL_TOKENS)
    return {token: i for i, token in enumerate([*TRAINED_SPECIAL_TOKENS, *rest])}


def bert_pipeline(model, lowercase: bool, strip_accents: bool | None) -> Tokenizer:
    """Steps 1-3 of the module docstring around a WordPiece model."""
    tok = Tokenizer(model)
    tok.normalizer = normalizers.BertNormalizer(
        clean_text=True, handle_chinese_chars=True, strip_accents=strip_accents, lowercase=lowercase
    )
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece(prefix="##")
    return tok


def finish_pipeline(tok: Tokenizer) -> None:
    """Step 4, once the vocabulary is known: [CLS] … [SEP] around each text, and the special
    tokens marked so that they are never split in text and decode can skip them."""
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[(t, tok.token_to_id(t)) for t in ("[CLS]", "[SEP]")],
    )
    tok.add_special_tokens([t for t in TRAINED_SPECIAL_TOKENS if tok.token_to_id(t) is not None])


def lowercases(normalizer: dict | None) -> bool:
    """Whether a normalizer, as `tokenizer.json` describes it, lowercases (at any depth of a Sequence)."""
    if not normalizer:
        return False
    if normalizer.get("type") == "Sequence":
        return any(lowercases(step) for step in normalizer.get("normalizers", []))
    return normalizer.get("type") == "Lowercase" or bool(normalizer.get("lowercase"))


def model_max_length(tokenizer_settings: dict) -> int:
    """The truncation length `tokenizer_config.json` asks for, or BERT's 512."""
    model_max = tokenizer_settings.get("model_max_length")
    # some tokenizer_config.json files say 1e30 for "no limit"
    if isinstance(model_max, (int, float)) and 0 < model_max <= 100_000:
        return int(model_max)
    return DEFAULT_MAX_LENGTH
