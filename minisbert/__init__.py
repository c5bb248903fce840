"""minisbert: Sentence-BERT from scratch, for reading and for real use.

Read the files in this order (each imports only files before it; tests/test_imports.py checks):
files → config → tokenizer → model → pooling → pretrained → model_folder → sentence_encoder →
losses → data → evaluation → search → plots → optimizer → checkpoints → training → recipes → bench →
bench_training → exercises → assignment → grading → divergence → commands → cli.
"""

from .config import BertConfig, preset
from .model import BertModel
from .pooling import PoolingConfig
from .sentence_encoder import SentenceEncoder
from .tokenizer import WordPieceTokenizer

__all__ = ["BertConfig", "BertModel", "PoolingConfig", "SentenceEncoder", "WordPieceTokenizer", "preset"]
__version__ = "0.1.0"
