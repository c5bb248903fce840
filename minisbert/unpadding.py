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

`real_tokens_only(model)` swaps the forward of each `nn.Linear` inside `model` (a BertModel) while a
`with real_tokens_only(model):` block runs (assigning `linear.forward` stores a function in the
instance's `__dict__`, which Python looks in before the class; removing it uncovers the class's
method again); a forward pre-hook on the model reads each call's attention mask. The rest of
the model runs as `model.py` writes it, so a student's attention or embeddings still run.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import torch
import torch.nn.functional as F
from torch import nn

# don't gather when less than this fraction of the positions is padding: the gather and the
# scatter each cost a pass over the activations, more than the few skipped rows save
MIN_PADDING_FRACTION = 0.1


class RealRows:
    """The flat indices (R,) of the real tokens of the model's current forward, or None (no mask,
    or too little padding to be worth skipping). Set by `capture`, a forward pre-hook."""

    def __init__(self):
        self.index: torch.Tensor | None = None

    def capture(self, module: nn.Module, args: tuple, kwargs: dict) -> None:
        mask = args[1] if len(args) > 1 else kwargs.get("attention_mask")  # (B, T) or None
        self.index = None
        if mask is not None and mask.numel() and 1 - mask.float().mean() >= MIN_PADDING_FRACTION:
            self.index = mask.reshape(-1).nonzero().squeeze(1)  # (R,)


def real_rows_forward(linear: nn.Linear, rows: RealRows) -> Callable[[torch.Tensor], torch.Tensor]:
    """The forward of `linear` on the rows of `rows.index` only, zeros elsewhere (module doc)."""

    def forward(x: torch.Tensor) -> torch.Tensor:  # (B, T, K) → (B, T, N)
        if rows.index is None or x.dim() != 3:
            return F.linear(x, linear.weight, linear.bias)
        B, T, K = x.shape
        y = F.linear(x.reshape(B * T, K).index_select(0, rows.index), linear.weight, linear.bias)  # (R, N)
        return y.new_zeros(B * T, y.size(1)).index_copy(0, rows.index, y).view(B, T, -1)  # (B, T, N)

    return forward


@contextlib.contextmanager
def linear_forwards(model: nn.Module, make_forward: Callable[[nn.Linear], Callable]) -> Iterator[None]:
    """Within the block, every `nn.Linear` of `model` runs `make_forward(linear)` instead of its
    own forward; after it, each has back the forward it had before (its class's, or an earlier
    swap's), whatever happened inside. Shared by `real_tokens_only` and packed_linear.py.
    Every new forward is made before any is swapped in, so that a failure leaves nothing swapped."""
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    forwards = [make_forward(linear) for linear in linears]
    before = [linear.__dict__.get("forward") for linear in linears]  # another swap may be in force
    try:
        for linear, forward in zip(linears, forwards, strict=True):
            linear.forward = forward  # an instance attribute hides the class's forward
        yield
    finally:
        for linear, forward in zip(linears, before, strict=True):
            if forward is None:
                linear.__dict__.pop("forward", None)
            else:
                linear.forward = forward


@contextlib.contextmanager
def real_tokens_only(model: nn.Module) -> Iterator[None]:
    """Within the block, every `nn.Linear` of `model` multiplies the real tokens' rows only; after
    it, each has its own forward back and the hook is gone, whatever happened inside."""
    rows = RealRows()
    hook = model.register_forward_pre_hook(rows.capture, with_kwargs=True)
    try:
        with linear_forwards(model, lambda linear: real_rows_forward(linear, rows)):
            yield
    finally:
        hook.remove()
