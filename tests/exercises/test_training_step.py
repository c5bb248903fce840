"""Exercise training_step: the siamese step (minisbert/training.py, `objective_loss` and
`optimization_step`).

To grade the step on its own, the encoder and the loss here are small stand-ins defined in this
file (no BERT, no exercise loss): a bag of token vectors and a squared error of the dot product.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from exercises.golden_io import check_outputs, load_golden
from minisbert.optimizer import warmup_then_linear_decay
from minisbert.training import Objective, objective_loss, optimization_step

EXERCISE = "training_step"


class StandIn(nn.Module):
    """A sentence encoder stand-in: tanh(W · e[first token] + b), (B, T) → (B, 3), with the
    recorded starting weights."""

    def __init__(self, inputs: dict):
        super().__init__()
        self.table = nn.Embedding(20, 3).double()
        self.dense = nn.Linear(3, 3).double()
        with torch.no_grad():
            for name, p in self.named_parameters():
                p.copy_(torch.tensor(inputs[f"start/{name}"]))

    @property
    def device(self) -> torch.device:
        return self.table.weight.device

    def forward(self, input_ids, attention_mask, token_type_ids=None):
        return torch.tanh(self.dense(self.table(input_ids[:, 0])))  # (B, 3)


class DotError(nn.Module):
    """mean (u·v − target)²."""

    def forward(self, u, v, targets):
        return (((u * v).sum(-1) - targets) ** 2).mean()


class Columns:
    """Two columns of token ids and a target per row, batched as TokenizedColumns does."""

    def __init__(self, first, second, targets):
        self.first, self.second, self.targets = first, second, targets

    def batch(self, rows):
        def column(ids):
            ids = torch.tensor(ids[rows])
            return {"input_ids": ids, "attention_mask": torch.ones_like(ids)}

        return [column(self.first), column(self.second)], torch.tensor(self.targets[rows])


def cases() -> dict[str, np.ndarray]:
    g = np.random.default_rng(9)
    return {
        "first": g.integers(0, 20, size=(8, 4)),
        "second": g.integers(0, 20, size=(8, 4)),
        "targets": g.uniform(-1, 1, size=8),
        "start/table.weight": g.normal(size=(20, 3)),  # the stand-in's starting weights
        "start/dense.weight": g.uniform(-0.6, 0.6, size=(3, 3)),
        "start/dense.bias": g.uniform(-0.6, 0.6, size=3),
    }


def run(inputs: dict, max_grad_norm: float = 0.05, steps: int = 3) -> dict[str, torch.Tensor]:
    encoder = StandIn(inputs)
    objective = Objective("pairs", Columns(inputs["first"], inputs["second"], inputs["targets"]), DotError())
    optimizer = torch.optim.AdamW(encoder.parameters(), lr=0.1, weight_decay=0.01)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, warmup_then_linear_decay(1, steps + 1))
    out = {}
    for step in range(steps):
        rows = [2 * step, 2 * step + 1, 7 - step]
        loss = objective_loss(encoder, objective, rows)
        out[f"loss_{step}"] = loss.detach()
        out[f"grad_norm_{step}"] = torch.tensor(optimization_step(loss, optimizer, scheduler, max_grad_norm))
        out[f"lr_{step}"] = torch.tensor(scheduler.get_last_lr()[0])
    out |= {f"weight_{k}": v.detach() for k, v in encoder.state_dict().items()}
    return out


def test_the_loss_embeds_both_sentences_with_the_same_encoder():
    inputs, expected = load_golden(EXERCISE)
    check_outputs(run(inputs, steps=1), expected, only=["loss_0"])


def test_the_gradient_norm_before_clipping():
    inputs, expected = load_golden(EXERCISE)
    check_outputs(run(inputs, steps=1), expected, only=["grad_norm_0"])


def test_the_weights_after_three_clipped_steps():
    """Zeroed gradients each step, clipped to the total norm, the optimizer then the schedule."""
    inputs, expected = load_golden(EXERCISE)
    out = run(inputs)
    check_outputs(out, expected, only=[k for k in expected if k.startswith(("weight_", "loss_", "lr_"))])


def test_gradients_are_clipped():
    """With a huge limit the steps differ from the clipped ones: clipping must really happen."""
    inputs, _ = load_golden(EXERCISE)
    clipped, free = run(inputs), run(inputs, max_grad_norm=1e9)
    assert not torch.allclose(clipped["weight_dense.weight"], free["weight_dense.weight"]), (
        "the weights are the same with and without clipping: clip the gradients before optimizer.step()"
    )
