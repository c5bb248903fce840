"""Training's linear layers on the real tokens only: the padding is not multiplied.

A batch pads every sentence to the length of its longest. `encode` sorts sentences by length, so
its batches pad little; training cannot (its batches are a random sample), and in STS-B training
batches of 16 pairs, 55% of the positions are padding. The linear layers, where most of the time
goes, treat every position on its own, so their rows for padding can be skipped:

    rows = positions where attention_mask = 1            (R real tokens out of B·T)
    y    = zeros (B·T, N);  y[rows] = x[rows] Wᵀ + b      instead of y = x Wᵀ + b on all B·T rows

Why the result is the same: nothing a real token computes reads a padding position's value. In
attention a padding key gets the mask's most negative number (`torch.finfo(dtype).min`, from
`additive_attention_mask` in model.py), so its probability is exactly 0 and its value vector is
multiplied by 0; pooling counts real tokens only. A padding row of zeros stays finite through
LayerNorm and GELU, so 0 · it is 0 (were it inf or NaN, 0 · it would be NaN). The gradients
agree too: a padding position receives an exactly zero gradient either way, so it adds nothing
to any weight's gradient. Only the order of the sums inside the matrix multiply changes
(tests/test_unpadding.py: weights after training steps with dropout on agree within
`fp32_training`, but for the key biases, whose gradient is zero in exact arithmetic and which
Adam moves by rounding noise).

`skip_padding(model)` puts an `UnpaddedLinear` in the place of each `nn.Linear` inside `model` (a
BertModel; linears.py: the same weight and bias Parameters, so the optimizer, the checkpoints and
the saved model see no difference), and a forward pre-hook on the model that reads each call's
attention mask into the `RealRows` the layers share. `print(model)` shows them; `keep_padding(model)`
puts back the layers it replaced and removes the hook. Only training-mode forwards skip rows:
in eval mode (evaluating, encoding) the layers multiply every row, as `model.py` does. The rest of
the model runs as `model.py` writes it, so a student's attention or embeddings still run. The
training run (minisbert/run/training_run.py) skips padding unless told not to (`skip_padding=False`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
import torch.nn.functional as F
from torch import nn

from .linears import plain_linears, put_back, replace_linears, share_parameters

# don't gather when less than this fraction of the positions is padding: the gather and the
# scatter each cost a pass over the activations, more than the few skipped rows save
MIN_PADDING_FRACTION = 0.1


class RealRows:
    """The flat indices (R,) of the real tokens of the model's current forward, or None (no mask,
    or too little padding to be worth skipping). Set by `capture`, a forward pre-hook."""

    def __init__(self):
        self.index: torch.Tensor | None = None
        self.hook = None  # the handle of the pre-hook that calls `capture`
        self.replaced: list = []  # the layers UnpaddedLinear ones replaced, where they were

    def capture(self, module: nn.Module, args: tuple, kwargs: dict) -> None:
        """Only in training: evaluating and encoding run the model exactly as written."""
        mask = args[1] if len(args) > 1 else kwargs.get("attention_mask")  # (B, T) or None
        self.index = None
        if not module.training or mask is None or not mask.numel():
            return
        if 1 - mask.float().mean() >= MIN_PADDING_FRACTION:
            self.index = mask.reshape(-1).nonzero().squeeze(1)  # (R,)


class UnpaddedLinear(nn.Linear):
    """`nn.Linear` that multiplies the rows of the real tokens only, zeros elsewhere (module doc)."""

    kind = "unpadded"

    @classmethod
    def of(cls, linear: nn.Linear, rows: RealRows) -> UnpaddedLinear:
        """A layer on `linear`'s own weight and bias, reading its rows from `rows`."""
        layer = share_parameters(cls, linear)
        layer.rows = rows
        return layer

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, T, K) → (B, T, N)
        index = self.rows.index
        if index is None or x.dim() != 3:
            return F.linear(x, self.weight, self.bias)
        B, T, K = x.shape
        y = F.linear(x.reshape(B * T, K).index_select(0, index), self.weight, self.bias)  # (R, N)
        return y.new_zeros(B * T, y.size(1)).index_copy(0, index, y).view(B, T, -1)  # (B, T, N)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, real tokens' rows only"


def skips_padding(model: nn.Module) -> bool:
    return any(isinstance(m, UnpaddedLinear) for m in model.modules())


def skip_padding(model: nn.Module) -> nn.Module:
    """UnpaddedLinear layers in `model` (a BertModel), in place, and the hook that tells them which
    rows are real; returns `model`. Does nothing to a model that skips padding already."""
    if skips_padding(model):
        return model
    rows = RealRows()
    rows.replaced = replace_linears(model, lambda linear: UnpaddedLinear.of(linear, rows))
    rows.hook = model.register_forward_pre_hook(rows.capture, with_kwargs=True)
    return model


def keep_padding(model: nn.Module) -> nn.Module:
    """The layers `skip_padding` replaced, back in their places (the very modules: packed ones stay
    packed, their hooks stay), and no hook on the model; returns `model`. UnpaddedLinear layers
    with no record of what they replaced (a copy of the model) become plain `nn.Linear` ones."""
    for rows in {id(m.rows): m.rows for m in model.modules() if isinstance(m, UnpaddedLinear)}.values():
        if rows.hook is not None:
            rows.hook.remove()
        put_back(rows.replaced)
    if skips_padding(model):
        plain_linears(model)
    return model


@contextlib.contextmanager
def padding_skipped(model: nn.Module) -> Iterator[nn.Module]:
    """Within the block, `model` skips padding; after it, the layers it had, whatever happened
    inside. A model that skips padding already is left to whoever made it so."""
    if skips_padding(model):
        yield model
        return
    skip_padding(model)
    try:
        yield model
    finally:
        keep_padding(model)
