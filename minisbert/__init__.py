"""minisbert: Sentence-BERT from scratch, for reading and for real use.

Read the files in this order: config → tokenizer → model → pooling → pretrained →
sentence_encoder → losses → data → training → recipes → evaluation → plots → bench → cli.
"""

from .config import BertConfig, preset
from .model import BertModel
from .pooling import PoolingConfig
from .sentence_encoder import SentenceEncoder
from .tokenizer import WordPieceTokenizer

__all__ = ["BertConfig", "BertModel", "PoolingConfig", "SentenceEncoder", "WordPieceTokenizer", "preset"]
__version__ = "0.1.0"
