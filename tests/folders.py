"""Build model folders in `tmp_path` the way the published libraries write them.

`transformers` makes the BERT weights (random, seeded) and sentence-transformers the pipeline
folders, so the loading tests read real-world layouts: `bert.`-prefixed task models, `.bin` files,
gamma/beta names, every pooling mode, with and without Normalize.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import torch

TOKENIZER_FILES = ("vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")


def make_bert_folder(
    folder: Path,
    source: Path,
    fmt: str = "safetensors",
    task_model: bool = False,
    gamma_beta: bool = False,
    seed: int = 0,
    **config,
):
    """A Hugging Face BERT folder with random weights; returns the `transformers` model that made it.

    `source` is a folder whose tokenizer files are copied (the vocabulary fixes vocab_size).
    `task_model` saves a BertForMaskedLM (keys `bert.*` and `cls.*`); `gamma_beta` renames
    LayerNorm weights the TensorFlow-era way.
    """
    import transformers

    sizes = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64)
    hf_config = transformers.BertConfig(vocab_size=30522, **{**sizes, **config})
    torch.manual_seed(seed)
    model = (transformers.BertForMaskedLM if task_model else transformers.BertModel)(hf_config).eval()
    with torch.no_grad():  # weights far from BERT's tiny init, so that every mismatch shows
        for name, p in model.named_parameters():
            p.normal_(1.0 if "LayerNorm.weight" in name else 0.0, 0.3)
    state = {k: v.detach().clone().contiguous() for k, v in model.state_dict().items()}
    if gamma_beta:
        state = {
            k.replace("LayerNorm.weight", "LayerNorm.gamma").replace("LayerNorm.bias", "LayerNorm.beta"): v
            for k, v in state.items()
        }
    folder.mkdir(parents=True, exist_ok=True)
    hf_config.to_json_file(str(folder / "config.json"))
    save_weights(state, folder, fmt)
    for name in TOKENIZER_FILES:
        if (source / name).is_file():
            shutil.copy(source / name, folder / name)
    encoder = model.bert if task_model else model
    return encoder


def save_weights(state: dict, folder: Path, fmt: str) -> None:
    if fmt == "safetensors":
        from safetensors.torch import save_file

        save_file(state, str(folder / "model.safetensors"), metadata={"format": "pt"})
    else:
        torch.save(state, folder / "pytorch_model.bin")


def make_st_folder(folder: Path, bert_folder: Path, pooling_mode, normalize: bool, max_seq_length: int = 64):
    """A sentence-transformers folder: Transformer → Pooling(mode) → optional Normalize."""
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.base.modules import Normalize, Transformer
    from sentence_transformers.sentence_transformer.modules import Pooling

    transformer = Transformer(str(bert_folder), max_seq_length=max_seq_length)
    dim = transformer.get_embedding_dimension()
    modules = [transformer, Pooling(dim, pooling_mode=pooling_mode)] + ([Normalize()] if normalize else [])
    model = SentenceTransformer(modules=modules, device="cpu")
    model.save(str(folder))
    return model
