"""The BERT encoder, written out by hand: embeddings → attention → layer → encoder.

Source: Devlin et al., "BERT" (NAACL 2019), section 3, and Vaswani et al., "Attention Is All
You Need" (NeurIPS 2017), section 3.2 (scaled dot-product and multi-head attention).

The module and attribute names (`embeddings.word_embeddings`, `encoder.layer.0.attention.self.query`,
`...output.LayerNorm`) are exactly those of Hugging Face's `BertModel`, so `state_dict()` keys are the
keys of every published BERT checkpoint and loading needs no renaming table for the common case.
That is why one attribute is called `self.self`: it is the self-attention inside `attention`.

Shapes: B batch, T tokens, C hidden size, nh heads, hs head size (C = nh * hs), I intermediate size.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from .config import BertConfig

# ---------------------------------------------------------------------------------------------
# helpers


def activation(name: str) -> Callable[[torch.Tensor], torch.Tensor]:
    """The feed-forward non-linearity named by `config.hidden_act`.

    gelu(x)      = x * Φ(x) = 0.5 x (1 + erf(x / √2))                    (exact, BERT's choice)
    gelu_new(x)  = 0.5 x (1 + tanh(√(2/π) (x + 0.044715 x³)))             (tanh approximation)
    relu(x)      = max(x, 0)
    """
    if name == "gelu":
        return F.gelu
    if name in ("gelu_new", "gelu_pytorch_tanh"):
        return lambda x: F.gelu(x, approximate="tanh")
    if name == "relu":
        return F.relu
    raise ValueError(f"unsupported hidden_act {name!r}")


def additive_attention_mask(attention_mask: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """Turn a (B, T) mask of 1 = token, 0 = padding into a (B, 1, 1, T) term added to the scores.

    Real tokens add 0; padding adds the most negative finite number of `dtype`
    (`torch.finfo(dtype).min`, about -3.4e38 in float32). After the softmax, exp of that is
    exactly 0, so no query attends to padding. A finite value, not -inf, keeps a row that is all
    padding from turning into NaN (0/0).
    """
    keep = attention_mask[:, None, None, :].to(dtype)  # (B, 1, 1, T)
    return (1.0 - keep) * torch.finfo(dtype).min  # (B, 1, 1, T)


def attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, additive_mask: torch.Tensor, dropout: nn.Dropout
) -> tuple[torch.Tensor, torch.Tensor]:
    """Scaled dot-product attention, softmax(q kᵀ / √hs + mask) v (Vaswani et al., eq. 1).

    q, k, v: (B, nh, T, hs); additive_mask: (B, 1, 1, T). Returns the context (B, nh, T, hs) and the
    attention probabilities (B, nh, T, T), which the tutorials draw.
    """
    # BEGIN EXERCISE attention
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.size(-1))  # (B, nh, T, T)
    scores = scores + additive_mask  # (B, nh, T, T), padding keys → -huge
    probs = torch.softmax(scores, dim=-1)  # (B, nh, T, T), each row sums to 1
    context = dropout(probs) @ v  # (B, nh, T, hs)
    return context, probs
    # END EXERCISE attention


# ---------------------------------------------------------------------------------------------
# modules, in data-flow order


class BertEmbeddings(nn.Module):
    """x = LayerNorm(word[ids] + position[0..T-1] + token_type[segment]), then dropout."""

    def __init__(self, config: BertConfig):
        super().__init__()
        C = config.hidden_size
        self.word_embeddings = nn.Embedding(config.vocab_size, C, padding_idx=config.pad_token_id)
        self.position_embeddings = nn.Embedding(config.max_position_embeddings, C)
        self.token_type_embeddings = nn.Embedding(config.type_vocab_size, C)
        self.LayerNorm = nn.LayerNorm(C, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, input_ids: torch.Tensor, token_type_ids: torch.Tensor) -> torch.Tensor:
        # BEGIN EXERCISE embeddings
        T = input_ids.size(1)
        positions = torch.arange(T, device=input_ids.device)  # (T,)
        x = (
            self.word_embeddings(input_ids)  # (B, T, C)
            + self.position_embeddings(positions)  # (T, C), broadcast over the batch
            + self.token_type_embeddings(token_type_ids)  # (B, T, C)
        )
        return self.dropout(self.LayerNorm(x))  # (B, T, C)
        # END EXERCISE embeddings


class BertSelfAttention(nn.Module):
    """Multi-head self-attention: project to q, k, v, attend in nh heads, merge the heads.

    With `keep_probs = True` (see `BertModel.attention_maps`), the last forward's attention
    probabilities stay in `self.probs` (B, nh, T, T), detached, for a reader to draw.
    """

    def __init__(self, config: BertConfig):
        super().__init__()
        C = config.hidden_size
        self.num_heads = config.num_attention_heads
        self.query = nn.Linear(C, C)
        self.key = nn.Linear(C, C)
        self.value = nn.Linear(C, C)
        self.dropout = nn.Dropout(config.attention_probs_dropout_prob)
        self.keep_probs = False
        self.probs: torch.Tensor | None = None

    def split_heads(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, C) → (B, nh, T, hs): head h reads the features h·hs … (h+1)·hs − 1."""
        # BEGIN EXERCISE heads
        B, T, C = x.shape
        return x.view(B, T, self.num_heads, C // self.num_heads).transpose(1, 2)  # (B, nh, T, hs)
        # END EXERCISE heads

    def merge_heads(self, x: torch.Tensor) -> torch.Tensor:
        """(B, nh, T, hs) → (B, T, C): the heads side by side again, the inverse of split_heads."""
        # BEGIN EXERCISE heads
        B, nh, T, hs = x.shape
        return x.transpose(1, 2).reshape(B, T, nh * hs)  # (B, T, C)
        # END EXERCISE heads

    def forward(self, x: torch.Tensor, additive_mask: torch.Tensor) -> torch.Tensor:
        # 1) project to queries, keys and values, and split each into nh heads
        q = self.split_heads(self.query(x))  # (B, nh, T, hs)
        k = self.split_heads(self.key(x))  # (B, nh, T, hs)
        v = self.split_heads(self.value(x))  # (B, nh, T, hs)
        # 2) every head attends over all T positions, padding masked out
        context, probs = attention(q, k, v, additive_mask, self.dropout)  # (B, nh, T, hs)
        self.probs = probs.detach() if self.keep_probs else None  # (B, nh, T, T)
        # 3) merge the heads back side by side
        return self.merge_heads(context)  # (B, T, C)


class BertAddNorm(nn.Module):
    """LayerNorm(residual + dropout(dense(x))): BERT's post-LN sub-layer output.

    Used twice per layer: after attention (dense C → C) and after the feed-forward (dense I → C).
    """

    def __init__(self, in_features: int, config: BertConfig):
        super().__init__()
        self.dense = nn.Linear(in_features, config.hidden_size)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)

    def forward(self, x: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        return self.LayerNorm(residual + self.dropout(self.dense(x)))  # (B, T, C)


class BertAttention(nn.Module):
    """Self-attention followed by its output projection, residual and LayerNorm."""

    def __init__(self, config: BertConfig):
        super().__init__()
        self.self = BertSelfAttention(config)  # named as in Hugging Face checkpoints
        self.output = BertAddNorm(config.hidden_size, config)

    def forward(self, x: torch.Tensor, additive_mask: torch.Tensor) -> torch.Tensor:
        return self.output(self.self(x, additive_mask), residual=x)  # (B, T, C)


class BertIntermediate(nn.Module):
    """The first half of the feed-forward block: act(x W₁ᵀ + b₁), widening C → I."""

    def __init__(self, config: BertConfig):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.intermediate_size)
        self.act = activation(config.hidden_act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.dense(x))  # (B, T, I)


class BertLayer(nn.Module):
    """One transformer layer: attention sub-layer, then feed-forward sub-layer (both post-LN)."""

    def __init__(self, config: BertConfig):
        super().__init__()
        self.attention = BertAttention(config)
        self.intermediate = BertIntermediate(config)
        self.output = BertAddNorm(config.intermediate_size, config)

    def forward(self, x: torch.Tensor, additive_mask: torch.Tensor) -> torch.Tensor:
        x = self.attention(x, additive_mask)  # (B, T, C)
        return self.output(self.intermediate(x), residual=x)  # (B, T, C)


class BertEncoder(nn.Module):
    """num_hidden_layers BertLayers applied one after the other."""

    def __init__(self, config: BertConfig):
        super().__init__()
        self.layer = nn.ModuleList(BertLayer(config) for _ in range(config.num_hidden_layers))

    def forward(self, x: torch.Tensor, additive_mask: torch.Tensor) -> torch.Tensor:
        for layer in self.layer:
            x = layer(x, additive_mask)  # (B, T, C)
        return x


class BertModel(nn.Module):
    """The BERT encoder: `model(input_ids, attention_mask, token_type_ids)` → last hidden state (B, T, C).

    BERT also has a "pooler", tanh(W h_[CLS] + b), trained for next-sentence prediction.
    Sentence-BERT does not use it (it pools the token vectors itself, see `pooling.py`), so this
    model has none: the loader skips a checkpoint's `pooler.*` weights and says so in its report.
    """

    def __init__(self, config: BertConfig):
        super().__init__()
        self.config = config
        self.embeddings = BertEmbeddings(config)
        self.encoder = BertEncoder(config)
        self.apply(self._init_weights)

    def _init_weights(self, module: nn.Module) -> None:
        """BERT's initialisation: N(0, initializer_range) weights, zero biases, LayerNorm = identity."""
        std = self.config.initializer_range
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, mean=0.0, std=std)
        if isinstance(module, nn.Linear):
            nn.init.zeros_(module.bias)
        if isinstance(module, nn.Embedding) and module.padding_idx is not None:
            with torch.no_grad():
                module.weight[module.padding_idx].zero_()
        if isinstance(module, nn.LayerNorm):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)

    def check_inputs(self, input_ids: torch.Tensor) -> None:
        """Fail with a clear message rather than an index error deep inside an embedding."""
        if torch.compiler.is_exporting():  # a graph being captured (deploy/export.py) records no checks
            return
        if input_ids.dim() != 2:
            raise ValueError(f"input_ids must be (B, T), got shape {tuple(input_ids.shape)}")
        T = input_ids.size(1)
        if T > self.config.max_position_embeddings:
            raise ValueError(
                f"sequence of {T} tokens is longer than max_position_embeddings "
                f"({self.config.max_position_embeddings}); truncate it first"
            )
        if input_ids.numel() and (input_ids.min() < 0 or input_ids.max() >= self.config.vocab_size):
            raise ValueError(
                f"token ids must lie in [0, {self.config.vocab_size}), got "
                f"[{int(input_ids.min())}, {int(input_ids.max())}]: tokenizer and model do not match"
            )

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
    ) -> torch.Tensor:
        self.check_inputs(input_ids)
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)  # (B, T), no padding
        if token_type_ids is None:
            token_type_ids = torch.zeros_like(input_ids)  # (B, T), all segment A
        x = self.embeddings(input_ids, token_type_ids)  # (B, T, C)
        mask = additive_attention_mask(attention_mask, x.dtype)  # (B, 1, 1, T)
        return self.encoder(x, mask)  # (B, T, C)

    @torch.no_grad()
    def attention_maps(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """The attention probabilities of every layer and head, (L, B, nh, T, T), for drawing.

        Row t of map [l, b, h] is how token t of sentence b spreads its attention over the tokens
        in head h of layer l: it sums to 1, and padding columns are exactly 0.
        """
        attentions = [layer.attention.self for layer in self.encoder.layer]
        for a in attentions:
            a.keep_probs = True
        try:
            self(input_ids, attention_mask, token_type_ids)
            return torch.stack([a.probs for a in attentions])  # (L, B, nh, T, T)
        finally:
            for a in attentions:
                a.keep_probs, a.probs = False, None
