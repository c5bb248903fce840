"""Fine-tuning a SentenceEncoder: the siamese training loop of Sentence-BERT.

Source: Reimers & Gurevych, "Sentence-BERT" (EMNLP 2019), section 4: "We fine-tune SBERT with a
3-way softmax-classifier objective function for one epoch. We used a batch-size of 16, Adam
optimizer with learning rate 2e−5, and a linear learning rate warm-up over 10% of the training
data." The two sentences of a pair go through the same encoder (the siamese network): there is
one set of weights, used twice.

In reading order: an `Objective` (examples and the loss that reads them), one step
(`objective_loss`, then `optimization_step`: backward, clip, update), a `Trainer` that holds the
optimizer, schedule and log and takes one step at a time, and `fit`, the loop: several objectives
at once, weight decay, gradient clipping, a separate learning rate for a loss's own parameters
(the softmax classifier), evaluation every N steps, test figures before and after, a stop on NaN.

What a long run needs besides — checkpoints and resuming, a run folder locked against a second
run, several processes (DistributedDataParallel), the padding skipped in the linear layers, a
JSON log and plots — is in minisbert/run/training_run.py, whose `fit` takes an `output_dir` and
whose `RunTrainer` extends this `Trainer`. `minisbert train` uses that one.

Why a separate head learning rate: the classifier W starts random while the encoder starts
trained. At 2e-5, W moves too little in one epoch on a small data set such as SICK (4,500 pairs
a class at most) and the classifier barely beats the majority class; at 1e-3 it learns in a few
hundred steps while the encoder still moves gently. Mixed precision: `precision` (devices.py).
"""

from __future__ import annotations

import dataclasses
import math
import sys
from dataclasses import dataclass

import torch
from torch import nn
from tqdm.auto import tqdm

from .data import TokenizedColumns
from .devices import autocast, check_precision, gradient_scaler
from .evaluation import Evaluator
from .optimizer import build_optimizer, warmup_then_linear_decay


@dataclass
class Objective:
    """One objective: the examples, as tokenized text columns, and the loss that reads them.

    The loss is called as `loss(*embeddings, targets)` (or without targets): a CosineSimilarityLoss
    gets (u, v, scores), a SoftmaxLoss (u, v, labels), a TripletLoss (a, p, n), MNRL (a, p[, n]).
    """

    name: str
    data: TokenizedColumns
    loss: nn.Module


@dataclass
class TrainingConfig:
    """Hyper-parameters; the defaults are the SBERT paper's (batch 16, lr 2e-5, 1 epoch, 10% warm-up)."""

    epochs: int = 1
    batch_size: int = 16  # on several processes, per process (minisbert/run/training_run.py)
    lr: float = 2e-5
    head_lr: float | None = None  # learning rate of the losses' own parameters; None: same as lr
    warmup_ratio: float = 0.1
    weight_decay: float = 0.01
    max_grad_norm: float = 1.0
    seed: int = 0
    eval_every: int = 0  # steps between evaluations; 0: at the end of each epoch only
    precision: str = "fp32"  # or bf16, fp16: mixed precision (devices.py)

    def __post_init__(self) -> None:
        check_precision(self.precision)
        for name in ("epochs", "batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if not 0 <= self.warmup_ratio <= 1:
            raise ValueError(f"warmup_ratio must lie in [0, 1], got {self.warmup_ratio}")
        if self.lr <= 0 or (self.head_lr is not None and self.head_lr <= 0):
            raise ValueError("learning rates must be positive")


# ---------------------------------------------------------------------------------------------
# one step


def objective_loss(encoder, objective: Objective, rows: list[int]) -> torch.Tensor:
    """Embed every column of a batch with the same encoder (siamese), then apply the loss."""
    # BEGIN EXERCISE training_step
    inputs, targets = objective.data.batch(rows)
    device = encoder.device
    embeddings = [encoder(**{k: v.to(device) for k, v in column.items()}) for column in inputs]  # (B, D) each
    extra = [] if targets is None else [targets.to(device)]
    return objective.loss(*embeddings, *extra)
    # END EXERCISE training_step


def optimization_step(loss: torch.Tensor, optimizer, scheduler, max_grad_norm: float) -> float:
    """Back-propagate `loss`, clip the gradients to a total norm of at most `max_grad_norm`, update
    the weights, then the learning rate. Returns the gradient norm before clipping."""
    # BEGIN EXERCISE training_step
    optimizer.zero_grad(set_to_none=True)  # gradients accumulate otherwise
    loss.backward()
    params = [p for group in optimizer.param_groups for p in group["params"]]
    grad_norm = torch.nn.utils.clip_grad_norm_(params, max_grad_norm)
    optimizer.step()
    scheduler.step()
    return float(grad_norm)
    # END EXERCISE training_step


def scaled_optimization_step(loss, optimizer, scheduler, max_grad_norm: float, scaler) -> float:
    """`optimization_step` for fp16 (devices.py): the loss is scaled up before backward, so that small
    gradients do not round to zero, and the gradients are scaled back down before clipping."""
    # BEGIN EXERCISE training_step
    optimizer.zero_grad(set_to_none=True)
    scaler.scale(loss).backward()
    scaler.unscale_(optimizer)  # the true gradients, from here on
    params = [p for group in optimizer.param_groups for p in group["params"]]
    grad_norm = torch.nn.utils.clip_grad_norm_(params, max_grad_norm)
    scaler.step(optimizer)  # skipped if a gradient overflowed; the scale then shrinks
    scaler.update()
    scheduler.step()
    return float(grad_norm)
    # END EXERCISE training_step


class SiameseNetwork(nn.Module):
    """The encoder and every objective's loss in one module. forward(rows of each objective) →
    each objective's loss, (K,). (On several processes, DistributedDataParallel wraps this module,
    so that the gradients of the encoder and of the losses' own weights are averaged: run/.)"""

    def __init__(self, encoder, objectives: list[Objective]):
        super().__init__()
        self.encoder = encoder
        self.losses = nn.ModuleList([o.loss for o in objectives])
        self.objectives = objectives

    def forward(self, rows: list[list[int]]) -> torch.Tensor:
        return torch.stack(
            [objective_loss(self.encoder, o, r) for o, r in zip(self.objectives, rows, strict=True)]
        )  # (K,)


class Trainer:
    """The state of one training run: optimizer, schedule, step counter and log.

    `trainer.step()` takes one optimizer step on the next batch of every objective; `fit` calls it
    until the run is done. The small methods marked "one process" are what a run on several
    processes changes (minisbert/run/training_run.py, `RunTrainer`).
    """

    def __init__(
        self,
        encoder,
        objectives: list[Objective],
        config: TrainingConfig | None = None,
        evaluator: Evaluator | None = None,
    ):
        if not objectives:
            raise ValueError("training needs at least one objective")
        config = config or TrainingConfig()
        self.encoder, self.objectives, self.config, self.evaluator = encoder, objectives, config, evaluator
        self.global_batch_size = self.examples_per_step()
        self.steps_per_epoch = min(o.data.num_batches(self.global_batch_size) for o in objectives)
        if self.steps_per_epoch == 0:
            small = min(objectives, key=lambda o: len(o.data))
            raise ValueError(
                f"objective {small.name!r} has {len(small.data)} examples: "
                f"fewer than one global batch of {self.global_batch_size}"
            )
        self.total_steps = config.epochs * self.steps_per_epoch
        self.optimizer = build_optimizer(encoder, objectives, config)
        warmup = math.ceil(config.warmup_ratio * self.total_steps)
        factor = warmup_then_linear_decay(warmup, self.total_steps)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, factor)
        self.step_count = 0
        self.running_loss = float("nan")
        self.orders: dict[int, list[list[int]]] = {}  # epoch → each objective's shuffled order
        self.scaler = gradient_scaler(encoder.device, config.precision)  # fp16 only
        self.log = {
            "config": dataclasses.asdict(config),
            "objectives": [o.name for o in objectives],
            "global_batch_size": self.global_batch_size,
            "main_metric": getattr(evaluator, "main", None),
            "steps_per_epoch": self.steps_per_epoch,
            "warmup_steps": warmup,
            "train": [],
            "eval": [],
        }
        torch.manual_seed(self.dropout_seed())
        self.train_mode()
        self.network = self.wrapped(SiameseNetwork(encoder, objectives))

    # -- one process (run/training_run.py's RunTrainer changes these for several) ----------------

    def examples_per_step(self) -> int:
        """How many examples of each objective one step takes: the batch size."""
        return self.config.batch_size

    def dropout_seed(self) -> int:
        return self.config.seed

    def wrapped(self, network: SiameseNetwork) -> nn.Module:
        return network

    def my_rows(self, rows: list[int]) -> list[int]:
        """The rows of a batch this process embeds: all of them."""
        return rows

    def mean_loss(self, loss: torch.Tensor) -> list[float]:
        """Each objective's loss of the whole batch."""
        return loss.tolist()

    # -- the steps --------------------------------------------------------------------------------

    def train_mode(self) -> None:
        """Dropout on in the encoder and the losses, which move to the encoder's device."""
        self.encoder.train()
        for objective in self.objectives:
            objective.loss.to(self.encoder.device).train()

    def epoch_order(self, epoch: int) -> list[list[int]]:
        """Each objective's example order in an epoch, shuffled once per epoch (and the same after
        a resume: the order is a function of the seed and the epoch only)."""
        if epoch not in self.orders:
            self.orders = {
                epoch: [o.data.order(self.config.seed + i, epoch) for i, o in enumerate(self.objectives)]
            }
        return self.orders[epoch]

    def batch_rows(self) -> list[list[int]]:
        """The rows of the next batch this process embeds, for every objective."""
        epoch, index = divmod(self.step_count, self.steps_per_epoch)
        size = self.global_batch_size
        orders = self.epoch_order(epoch)
        return [self.my_rows(order[index * size : (index + 1) * size]) for order in orders]

    def step(self) -> dict[str, float]:
        """One optimizer step on the next batch of every objective; returns each loss."""
        epoch = self.step_count // self.steps_per_epoch
        with autocast(self.encoder.device, self.config.precision):
            loss = self.network(self.batch_rows())  # (K,) the loss of each objective
        losses = {o.name: value for o, value in zip(self.objectives, self.mean_loss(loss), strict=True)}
        for name, value in losses.items():
            if not math.isfinite(value):
                raise FloatingPointError(f"the {name} loss is {value} at step {self.step_count + 1}")
        lr = self.scheduler.get_last_lr()[0]  # the rate this step uses
        total, clip = loss.sum(), self.config.max_grad_norm
        if self.scaler is None:
            grad_norm = optimization_step(total, self.optimizer, self.scheduler, clip)
        else:
            grad_norm = scaled_optimization_step(total, self.optimizer, self.scheduler, clip, self.scaler)
        self.step_count += 1
        value = sum(losses.values())
        self.running_loss = (
            value if math.isnan(self.running_loss) else 0.98 * self.running_loss + 0.02 * value
        )
        self.log["train"].append(
            {
                "step": self.step_count,
                "epoch": epoch,
                "lr": lr,
                "loss": losses,
                "grad_norm": grad_norm,
                "running_loss": self.running_loss,
            }
        )
        return losses

    @property
    def done(self) -> bool:
        return self.step_count >= self.total_steps

    def end_of_epoch(self) -> bool:
        return self.step_count % self.steps_per_epoch == 0

    def evaluation_due(self) -> bool:
        """At the end of each epoch, and every `eval_every` steps."""
        every = self.config.eval_every
        due = self.end_of_epoch() or (every and self.step_count % every == 0)
        return self.evaluator is not None and bool(due)

    def evaluate(self) -> dict[str, float]:
        metrics = self.evaluator(self.encoder)
        self.log["eval"].append({"step": self.step_count, **metrics})
        self.train_mode()  # evaluating switched dropout off
        return metrics


# ---------------------------------------------------------------------------------------------
# the loop


def fit(
    encoder,
    objectives: list[Objective],
    config: TrainingConfig | None = None,
    *,
    evaluator: Evaluator | None = None,
    test_evaluator: Evaluator | None = None,
    show_progress: bool | None = None,
) -> dict:
    """Train `encoder` on the objectives in this process; returns the log.

    Each step takes one batch from every objective and sums their losses. An epoch has as many
    steps as the smallest objective has full batches. `evaluator(encoder)` returns dev metrics and
    runs every `eval_every` steps and at the end of each epoch; `test_evaluator` runs before
    training (`log["test_before"]`) and after (`log["test_after"]`). A loss that is not finite stops
    the run with a FloatingPointError. For checkpoints, resuming, a run folder and several
    processes: minisbert/run/training_run.py's `fit`, which takes an `output_dir`.
    """
    trainer = Trainer(encoder, objectives, config, evaluator)
    if test_evaluator is not None:
        trainer.log["test_before"] = test_evaluator(encoder)
        trainer.train_mode()
    show = sys.stderr.isatty() if show_progress is None else show_progress
    with tqdm(total=trainer.total_steps, desc="training", unit="step", disable=not show) as bar:
        try:
            while not trainer.done:
                trainer.step()
                bar.update(1)
                bar.set_postfix(loss=f"{trainer.running_loss:.4f}")
                if trainer.evaluation_due():
                    trainer.evaluate()
        finally:
            encoder.eval()
    if test_evaluator is not None:
        trainer.log["test_after"] = test_evaluator(encoder)
    return trainer.log
