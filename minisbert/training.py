"""Fine-tuning a SentenceEncoder: the siamese training loop of Sentence-BERT.

Source: Reimers & Gurevych, "Sentence-BERT" (EMNLP 2019), section 4: "We fine-tune SBERT with a
3-way softmax-classifier objective function for one epoch. We used a batch-size of 16, Adam
optimizer with learning rate 2e−5, and a linear learning rate warm-up over 10% of the training
data." The two sentences of a pair go through the same encoder (the siamese network): there is
one set of weights, used twice.

`fit` adds what a real run needs: several objectives at once, weight decay, gradient clipping,
a separate learning rate for a loss's own parameters (the softmax classifier), evaluation every
N steps, atomic checkpoints, resuming, a stop on NaN, a JSON log and plots.

Why a separate head learning rate: the classifier W starts random while the encoder starts
trained. At 2e-5, W moves too little in one epoch on a small data set such as SICK (4,500 pairs
a class at most) and the classifier barely beats the majority class; at 1e-3 it learns in a few
hundred steps while the encoder still moves gently.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from tqdm.auto import tqdm

from .data import TokenizedColumns
from .pretrained import write_model_files

NO_DECAY = ("bias", "LayerNorm.weight")  # as in BERT: no weight decay on biases and LayerNorm


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
    batch_size: int = 16
    lr: float = 2e-5
    head_lr: float | None = None  # learning rate of the losses' own parameters; None: same as lr
    warmup_ratio: float = 0.1
    weight_decay: float = 0.01
    max_grad_norm: float = 1.0
    seed: int = 0
    eval_every: int = 0  # steps between evaluations; 0: at the end of each epoch only
    checkpoint_every: int = 0  # steps between checkpoints; 0: at the end of each epoch only
    keep_checkpoints: int = 1

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "keep_checkpoints"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if not 0 <= self.warmup_ratio <= 1:
            raise ValueError(f"warmup_ratio must lie in [0, 1], got {self.warmup_ratio}")
        if self.lr <= 0 or (self.head_lr is not None and self.head_lr <= 0):
            raise ValueError("learning rates must be positive")


# ---------------------------------------------------------------------------------------------
# optimizer and schedule


def build_optimizer(encoder: nn.Module, objectives: list[Objective], config: TrainingConfig):
    """AdamW with three parameter groups: encoder weights (decayed), encoder biases and LayerNorm
    (not decayed), and the losses' own parameters at `head_lr`."""
    named = list(encoder.named_parameters())
    groups = [
        {"params": [p for n, p in named if not n.endswith(NO_DECAY)], "weight_decay": config.weight_decay},
        {"params": [p for n, p in named if n.endswith(NO_DECAY)], "weight_decay": 0.0},
    ]
    heads = [p for o in objectives for p in o.loss.parameters()]
    if heads:
        groups.append(
            {"params": heads, "weight_decay": config.weight_decay, "lr": config.head_lr or config.lr}
        )
    try:
        # the fused kernel does the same arithmetic in one pass over each tensor: on the CPU the
        # optimizer step of MiniLM drops from about 45 ms to 5 ms (half its weights are embeddings)
        return torch.optim.AdamW(groups, lr=config.lr, fused=True)
    except (RuntimeError, TypeError):  # an older torch, or a device without the fused kernel
        return torch.optim.AdamW(groups, lr=config.lr)


def warmup_then_linear_decay(warmup_steps: int, total_steps: int):
    """The learning-rate factor at a step: 0 → 1 linearly over the warm-up, then 1 → 0 at the end."""

    def factor(step: int) -> float:
        if step < warmup_steps:
            return step / warmup_steps
        return max(0.0, (total_steps - step) / max(1, total_steps - warmup_steps))

    return factor


# ---------------------------------------------------------------------------------------------
# the loop


def objective_loss(encoder, objective: Objective, rows: list[int]) -> torch.Tensor:
    """Embed every column of a batch with the same encoder (siamese), then apply the loss."""
    inputs, targets = objective.data.batch(rows)
    device = encoder.device
    embeddings = [encoder(**{k: v.to(device) for k, v in column.items()}) for column in inputs]  # (B, D) each
    extra = [] if targets is None else [targets.to(device)]
    return objective.loss(*embeddings, *extra)


def fit(
    encoder,
    objectives: list[Objective],
    config: TrainingConfig = TrainingConfig(),
    output_dir: str | Path | None = None,
    evaluator=None,
    resume: bool = False,
    stop_after: int | None = None,
    show_progress: bool | None = None,
    notes: dict | None = None,
) -> dict:
    """Train `encoder` on the objectives; returns the log (also written to output_dir/log.json).

    Each step takes one batch from every objective and sums their losses. An epoch has as many
    steps as the smallest objective has full batches. `evaluator(encoder)` returns metrics and runs
    every `eval_every` steps and at the end of each epoch. With `output_dir`, checkpoints go to
    output_dir/checkpoints/ and the final model to output_dir/model/; `resume=True` continues the
    run from its last checkpoint. `stop_after=N` stops after N steps as if interrupted. `notes` are
    extra entries for the log (kept in checkpoints), e.g. test figures before training.
    """
    if not objectives:
        raise ValueError("fit needs at least one objective")
    run = Run(encoder, objectives, config, output_dir, evaluator)
    if resume:
        run.restore()
    else:
        run.start(notes)
    if show_progress is None:
        show_progress = sys.stderr.isatty()
    bar = tqdm(
        total=run.total_steps, initial=run.step, desc="training", unit="step", disable=not show_progress
    )
    encoder.train()
    for objective in objectives:
        objective.loss.to(encoder.device).train()
    try:
        while run.step < run.total_steps:
            epoch, index = divmod(run.step, run.steps_per_epoch)
            run.train_step(epoch, index)
            bar.update(1)
            bar.set_postfix(loss=f"{run.running_loss:.4f}")
            end_of_epoch = index + 1 == run.steps_per_epoch
            if evaluator is not None and (
                end_of_epoch or (config.eval_every and run.step % config.eval_every == 0)
            ):
                run.evaluate()
            if output_dir is not None and (
                end_of_epoch or (config.checkpoint_every and run.step % config.checkpoint_every == 0)
            ):
                run.checkpoint()
            if stop_after is not None and run.step >= stop_after:
                break
    finally:
        bar.close()
        encoder.eval()
    if run.step >= run.total_steps:
        run.finish()
    return run.log


class Run:
    """The state of one training run: optimizer, schedule, step counter, log and checkpoints."""

    def __init__(self, encoder, objectives, config: TrainingConfig, output_dir, evaluator):
        self.encoder, self.objectives, self.config, self.evaluator = encoder, objectives, config, evaluator
        self.output_dir = None if output_dir is None else Path(output_dir)
        self.steps_per_epoch = min(o.data.num_batches(config.batch_size) for o in objectives)
        if self.steps_per_epoch == 0:
            small = min(objectives, key=lambda o: len(o.data))
            raise ValueError(f"objective {small.name!r} has {len(small.data)} examples: fewer than one batch")
        self.total_steps = config.epochs * self.steps_per_epoch
        self.optimizer = build_optimizer(encoder, objectives, config)
        warmup = math.ceil(config.warmup_ratio * self.total_steps)
        factor = warmup_then_linear_decay(warmup, self.total_steps)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, factor)
        self.step = 0
        self.running_loss = float("nan")
        self.log = {
            "config": dataclasses.asdict(config),
            "objectives": [o.name for o in objectives],
            "main_metric": getattr(evaluator, "main", None),
            "steps_per_epoch": self.steps_per_epoch,
            "warmup_steps": warmup,
            "train": [],
            "eval": [],
        }

    # -- setting up ----------------------------------------------------------------------------

    def start(self, notes: dict | None) -> None:
        check_output_dir(self.output_dir, resume=False)
        self.log.update(notes or {})
        torch.manual_seed(self.config.seed)  # dropout draws from the global generator

    def restore(self) -> None:
        """Load the last checkpoint: weights, heads, optimizer, schedule, random state and log."""
        folder = self.latest_checkpoint()
        state = torch.load(folder / "trainer_state.pt", weights_only=True)
        if (
            state["log"]["config"] != self.log["config"]
            or state["log"]["objectives"] != self.log["objectives"]
        ):
            raise ValueError(
                f"the checkpoint in {folder} was made with other settings: "
                f"{state['log']['config']} {state['log']['objectives']}"
            )
        from safetensors.torch import load_file

        self.encoder.model.load_state_dict(load_file(str(folder / "model" / "model.safetensors")))
        for objective in self.objectives:
            objective.loss.load_state_dict(state["heads"][objective.name])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        torch.set_rng_state(state["rng"])
        self.step, self.log = state["step"], state["log"]
        self.running_loss = self.log["train"][-1]["running_loss"] if self.log["train"] else float("nan")

    def describe_latest(self) -> str:
        try:
            return str(self.latest_checkpoint())
        except (FileNotFoundError, ValueError):
            return "none was written"

    def latest_checkpoint(self) -> Path:
        if self.output_dir is None:
            raise ValueError("resume needs the output_dir of the run")
        pointer = self.output_dir / "checkpoints" / "latest"
        if not pointer.is_file():
            raise FileNotFoundError(f"no checkpoint to resume from in {self.output_dir / 'checkpoints'}")
        return pointer.parent / pointer.read_text().strip()

    # -- one step ------------------------------------------------------------------------------

    def train_step(self, epoch: int, index: int) -> dict[str, float]:
        """One optimizer step on one batch of every objective."""
        total = 0.0
        losses = {}
        size = self.config.batch_size
        for i, objective in enumerate(self.objectives):
            order = objective.data.order(self.config.seed + i, epoch)
            loss = objective_loss(self.encoder, objective, order[index * size : (index + 1) * size])
            if not torch.isfinite(loss):
                self.write_log()
                raise FloatingPointError(
                    f"the {objective.name} loss is {loss.item()} at step {self.step + 1}: training stopped; "
                    f"the last good checkpoint is kept: {self.describe_latest()}"
                )
            losses[objective.name] = loss.item()
            total = total + loss
        self.optimizer.zero_grad(set_to_none=True)
        total.backward()
        params = [p for group in self.optimizer.param_groups for p in group["params"]]
        grad_norm = torch.nn.utils.clip_grad_norm_(params, self.config.max_grad_norm)
        lr = self.scheduler.get_last_lr()[0]
        self.optimizer.step()
        self.scheduler.step()
        self.step += 1
        value = sum(losses.values())
        self.running_loss = (
            value if math.isnan(self.running_loss) else 0.98 * self.running_loss + 0.02 * value
        )
        self.log["train"].append(
            {
                "step": self.step,
                "epoch": epoch,
                "lr": lr,
                "loss": losses,
                "grad_norm": float(grad_norm),
                "running_loss": self.running_loss,
            }
        )
        return losses

    def evaluate(self) -> dict[str, float]:
        metrics = self.evaluator(self.encoder)
        self.log["eval"].append({"step": self.step, **metrics})
        self.write_log()
        return metrics

    # -- files ---------------------------------------------------------------------------------

    def checkpoint(self) -> Path:
        """Write checkpoints/step-N atomically: into a temporary folder, renamed when complete, then
        point `latest` at it (also by rename). A crash at any moment leaves the last good one."""
        folder = self.output_dir / "checkpoints"
        folder.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=folder))
        name = f"step-{self.step:07d}"
        try:
            write_model_files(self.encoder, tmp / "model")
            state = {
                "step": self.step,
                "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(),
                "heads": {o.name: o.loss.state_dict() for o in self.objectives},
                "rng": torch.get_rng_state(),
                "log": self.log,
            }
            torch.save(state, tmp / "trainer_state.pt")
            if (folder / name).exists():  # a resumed run passing the same step again
                shutil.rmtree(folder / name)
            os.rename(tmp, folder / name)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        atomic_write_text(folder / "latest", name + "\n")
        for old in sorted(folder.glob("step-*"))[: -self.config.keep_checkpoints]:
            shutil.rmtree(old)  # names sort in step order; the newest `keep_checkpoints` stay
        self.write_log()
        return folder / name

    def write_log(self) -> None:
        if self.output_dir is not None:
            self.output_dir.mkdir(parents=True, exist_ok=True)
            atomic_write_text(self.output_dir / "log.json", json.dumps(self.log, indent=1) + "\n")

    def finish(self) -> None:
        """Save the final model to output_dir/model and draw the curves."""
        if self.output_dir is None:
            return
        self.encoder.save_pretrained(self.output_dir / "model", overwrite=True)
        self.write_log()
        from .plots import plot_training

        plot_training(self.log, self.output_dir)


def check_output_dir(folder: Path | None, resume: bool) -> None:
    """A new run needs a new or empty folder: it never writes over what is there."""
    if folder is not None and not resume and folder.exists() and any(folder.iterdir()):
        raise FileExistsError(f"{folder} already holds a run; resume it or choose an empty or new folder")


def atomic_write_text(path: Path, text: str) -> None:
    """Write a file so that readers see the old or the new content, never a part."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
