"""Fine-tuning a SentenceEncoder: the siamese training loop of Sentence-BERT.

Source: Reimers & Gurevych, "Sentence-BERT" (EMNLP 2019), section 4: "We fine-tune SBERT with a
3-way softmax-classifier objective function for one epoch. We used a batch-size of 16, Adam
optimizer with learning rate 2e−5, and a linear learning rate warm-up over 10% of the training
data." The two sentences of a pair go through the same encoder (the siamese network): there is
one set of weights, used twice.

`fit` adds what a real run needs: several objectives at once, weight decay, gradient clipping,
a separate learning rate for a loss's own parameters (the softmax classifier), evaluation every
N steps, test figures before and after, checkpoints and resuming (`checkpoints.py`), a stop on
NaN, a JSON log and plots. `Trainer` holds the state of a run and takes one step at a time, for
a reader who wants to drive the loop by hand (the benchmark does).

Why a separate head learning rate: the classifier W starts random while the encoder starts
trained. At 2e-5, W moves too little in one epoch on a small data set such as SICK (4,500 pairs
a class at most) and the classifier barely beats the majority class; at 1e-3 it learns in a few
hundred steps while the encoder still moves gently.

Several processes: launched by torchrun, the same loop runs on every rank (distributed.py). Each
rank takes its own slice of every global batch (`batch_size` rows each, so a global batch holds
`batch_size` × ranks), DistributedDataParallel averages the gradients, the learning-rate schedule
counts global steps, and only rank 0 evaluates and writes files. Mixed precision: `precision`
(devices.py).
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import sys
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from tqdm.auto import tqdm

from . import distributed
from .checkpoints import (
    describe_latest,
    latest_checkpoint,
    read_checkpoint,
    write_checkpoint,
    write_errors_named,
)
from .data import TokenizedColumns
from .devices import autocast, check_precision, gradient_scaler
from .evaluation import Evaluator
from .files import write_json
from .optimizer import build_optimizer, warmup_then_linear_decay
from .plots import plot_training
from .run_lock import RunLock, check_run_folder
from .unpadding import real_tokens_only


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
    batch_size: int = 16  # per rank: a global batch holds batch_size × the number of ranks
    lr: float = 2e-5
    head_lr: float | None = None  # learning rate of the losses' own parameters; None: same as lr
    warmup_ratio: float = 0.1
    weight_decay: float = 0.01
    max_grad_norm: float = 1.0
    seed: int = 0
    eval_every: int = 0  # steps between evaluations; 0: at the end of each epoch only
    checkpoint_every: int = 0  # steps between checkpoints; 0: at the end of each epoch only
    keep_checkpoints: int = 1
    precision: str = "fp32"  # or bf16, fp16: mixed precision (devices.py)

    def __post_init__(self) -> None:
        check_precision(self.precision)
        for name in ("epochs", "batch_size", "keep_checkpoints"):
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
    """The encoder and every objective's loss in one module: what DistributedDataParallel wraps,
    so that the gradients of the encoder and of the losses' own weights (the classifier) are
    averaged over the ranks. forward(rows of each objective) → each objective's loss, (K,)."""

    def __init__(self, encoder, objectives: list[Objective]):
        super().__init__()
        self.encoder = encoder
        self.losses = nn.ModuleList([o.loss for o in objectives])
        self.objectives = objectives

    def forward(self, rows: list[list[int]]) -> torch.Tensor:
        return torch.stack(
            [objective_loss(self.encoder, o, r) for o, r in zip(self.objectives, rows, strict=True)]
        )  # (K,)


def wrap_for_ranks(network: SiameseNetwork, world: distributed.World) -> nn.Module:
    """DistributedDataParallel around the network on several ranks; the network itself on one.
    DDP copies rank 0's weights to every rank when it starts."""
    if world.size == 1:
        return network
    device = network.encoder.device
    return nn.parallel.DistributedDataParallel(
        network,
        device_ids=[device] if device.type == "cuda" else None,
        forward_sync_buffers=False,  # the encoder has no buffers that training changes
    )


class Trainer:
    """The state of one training run: optimizer, schedule, step counter and log.

    `trainer.step()` takes one optimizer step on the next batch of every objective; `fit` calls it
    until the run is done and adds evaluation, checkpoints and the final model.
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
        self.world = distributed.current_world()
        self.global_batch_size = config.batch_size * self.world.size
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
            "ranks": self.world.size,
            "global_batch_size": self.global_batch_size,
            "main_metric": getattr(evaluator, "main", None),
            "steps_per_epoch": self.steps_per_epoch,
            "warmup_steps": warmup,
            "train": [],
            "eval": [],
        }
        torch.manual_seed(config.seed + self.world.rank)  # dropout: other masks on each rank
        self.train_mode()
        self.network = wrap_for_ranks(SiameseNetwork(encoder, objectives), self.world)

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
        """This rank's rows of the next global batch, for every objective."""
        epoch, index = divmod(self.step_count, self.steps_per_epoch)
        size = self.global_batch_size
        orders = self.epoch_order(epoch)
        batches = [order[index * size : (index + 1) * size] for order in orders]
        return [distributed.rank_slice(rows, self.world) for rows in batches]

    def step(self) -> dict[str, float]:
        """One optimizer step on the next batch of every objective; returns each loss (the mean over
        the ranks: the loss of the global batch)."""
        epoch = self.step_count // self.steps_per_epoch
        # the linear layers skip the padding (unpadding.py): the same result, less work
        with autocast(self.encoder.device, self.config.precision), real_tokens_only(self.encoder.model):
            loss = self.network(self.batch_rows())  # (K,) this rank's loss of each objective
        mean = distributed.average(loss).tolist()  # the same on every rank, so all stop together
        losses = {o.name: value for o, value in zip(self.objectives, mean, strict=True)}
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

    def evaluate(self) -> dict[str, float]:
        metrics = self.evaluator(self.encoder)
        self.log["eval"].append({"step": self.step_count, **metrics})
        return metrics

    # -- saving and restoring ------------------------------------------------------------------

    def state(self) -> dict:
        """Everything a resumed run needs besides the encoder's weights. Every rank must call it:
        the random state of each rank (dropout) is gathered for rank 0 to save."""
        return {
            "step": self.step_count,
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": None if self.scaler is None else self.scaler.state_dict(),
            "heads": {o.name: o.loss.state_dict() for o in self.objectives},
            "rng": distributed.gather_objects(random_state(self.encoder.device)),  # one per rank
            "log": self.log,
        }

    def restore(self, run_dir: Path) -> None:
        """Continue from the run's last checkpoint: weights, heads, optimizer, schedule, random
        state and log. Refuses a checkpoint made with other settings."""
        folder = latest_checkpoint(run_dir)
        state = read_checkpoint(folder, self.encoder)
        if (state["log"]["config"], state["log"]["objectives"]) != (
            self.log["config"],
            self.log["objectives"],
        ):
            raise ValueError(
                f"the checkpoint in {folder} was made with other settings: "
                f"{state['log']['config']} {state['log']['objectives']}"
            )
        if len(state["rng"]) != self.world.size:
            raise ValueError(
                f"the checkpoint in {folder} was made by {len(state['rng'])} process(es); resume it "
                f"with the same number (torchrun --nproc_per_node), not {self.world.size}"
            )
        for objective in self.objectives:
            objective.loss.load_state_dict(state["heads"][objective.name])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        if self.scaler is not None:
            self.scaler.load_state_dict(state["scaler"])
        set_random_state(state["rng"][self.world.rank], self.encoder.device)
        self.step_count, self.log = state["step"], state["log"]
        self.running_loss = self.log["train"][-1]["running_loss"] if self.log["train"] else float("nan")


def random_state(device: torch.device) -> dict[str, torch.Tensor]:
    """The generators dropout draws from: the CPU's, and the GPU's when training on one."""
    state = {"cpu": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def set_random_state(state: dict[str, torch.Tensor], device: torch.device) -> None:
    torch.set_rng_state(state["cpu"])
    if "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)


# ---------------------------------------------------------------------------------------------
# the loop


def fit(
    encoder,
    objectives: list[Objective],
    config: TrainingConfig | None = None,
    output_dir: str | Path | None = None,
    evaluator: Evaluator | None = None,
    test_evaluator: Evaluator | None = None,
    resume: bool = False,
    stop_after: int | None = None,
    show_progress: bool | None = None,
) -> dict:
    """Train `encoder` on the objectives; returns the log (also written to output_dir/log.json).

    Each step takes one batch from every objective and sums their losses. An epoch has as many
    steps as the smallest objective has full batches. `evaluator(encoder)` returns dev metrics and
    runs every `eval_every` steps and at the end of each epoch; `test_evaluator` runs before
    training (`log["test_before"]`) and after (`log["test_after"]`). With `output_dir`,
    checkpoints go to output_dir/checkpoints/, the final model to output_dir/model/ and the log
    and plots beside them; `resume=True` continues the run from its last checkpoint (or starts it
    over if it was killed before its first). While the run lasts, the folder is locked against a
    second run (run_lock.py). A write that fails (a full disk) stops the run with an OSError
    naming what could not be written and the checkpoint to resume from.
    `stop_after=N` stops after N steps as if interrupted.
    """
    run_dir = None if output_dir is None else Path(output_dir)
    restore = check_run_folder(run_dir, resume)  # refused if in use; False: a new start
    trainer = Trainer(encoder, objectives, config, evaluator)
    distributed.barrier()  # every rank has checked the folder before rank 0 writes into it
    # rank 0 writes the folder, so it alone holds the lock, until the model is saved
    with RunLock(run_dir if trainer.world.is_main else None, expect_new=not resume):
        return train_run(trainer, run_dir, restore, test_evaluator, stop_after, show_progress)


def train_run(
    trainer: Trainer,
    run_dir: Path | None,
    restore: bool,
    test_evaluator: Evaluator | None,
    stop_after: int | None,
    show_progress: bool | None,
) -> dict:
    """fit's loop, once the run folder is checked and held."""
    encoder, main = trainer.encoder, trainer.world.is_main
    if restore:
        trainer.restore(run_dir)
    elif test_evaluator is not None and main:
        trainer.log["test_before"] = test_evaluator(encoder)
        trainer.train_mode()  # evaluating switched dropout off
    if show_progress is None:
        show_progress = sys.stderr.isatty()
    bar = tqdm(
        total=trainer.total_steps,
        initial=trainer.step_count,
        desc="training",
        unit="step",
        disable=not (show_progress and main),
    )
    try:
        while not trainer.done and (stop_after is None or trainer.step_count < stop_after):
            with peers_watched(trainer.world, run_dir):
                take_step(trainer, run_dir)
                bar.update(1)
                bar.set_postfix(loss=f"{trainer.running_loss:.4f}")
                after_step(trainer, run_dir)
    finally:
        bar.close()
        encoder.eval()
    if trainer.done:
        if main:
            finish(trainer, run_dir, test_evaluator)
        distributed.barrier()  # the other ranks wait until the model is saved
    return trainer.log


def take_step(trainer: Trainer, run_dir: Path | None) -> None:
    """`trainer.step()`; a loss that is not finite stops the run with the log written."""
    try:
        trainer.step()
    except FloatingPointError as err:
        if trainer.world.is_main:
            write_log(trainer.log, run_dir)
        raise FloatingPointError(
            f"{err}: training stopped; the last good checkpoint is kept: {describe_latest(run_dir)}"
        ) from None


def after_step(trainer: Trainer, run_dir: Path | None) -> None:
    """Evaluate (rank 0) and write a checkpoint (rank 0, with every rank's random state) when due."""
    config, step, end = trainer.config, trainer.step_count, trainer.end_of_epoch()
    main = trainer.world.is_main
    if trainer.evaluator is not None and (end or (config.eval_every and step % config.eval_every == 0)):
        if main:
            trainer.evaluate()
            trainer.train_mode()
            write_log(trainer.log, run_dir)
    if run_dir is not None and (end or (config.checkpoint_every and step % config.checkpoint_every == 0)):
        state = trainer.state()  # a collective: every rank takes part
        if main:
            with write_errors_named(f"the checkpoint of step {step} into {run_dir / 'checkpoints'}", run_dir):
                write_checkpoint(run_dir, step, trainer.encoder, state, config.keep_checkpoints)
            write_log(trainer.log, run_dir)


@contextlib.contextmanager
def peers_watched(world: distributed.World, run_dir: Path | None):
    """On several ranks, an error from a collective (another rank died or hangs) becomes one clear
    message instead of a backend's traceback."""
    try:
        yield
    except RuntimeError as err:
        if world.size == 1 or not distributed.is_peer_failure(err):
            raise
        raise distributed.RankLost(
            f"rank {world.rank} of {world.size} lost contact with another rank ({first_line(err)}); "
            f"training stopped. The last complete checkpoint: {describe_latest(run_dir)}; "
            "continue with --resume and the same number of processes"
        ) from err


def first_line(err: BaseException) -> str:
    return (str(err).strip().splitlines() or [type(err).__name__])[0]


def finish(trainer: Trainer, run_dir: Path | None, test_evaluator: Evaluator | None) -> None:
    """After the last step: the test figures, the final model in run_dir/model, the log, the plots."""
    if test_evaluator is not None:
        trainer.log["test_after"] = test_evaluator(trainer.encoder)
    if run_dir is None:
        return
    with write_errors_named(f"the final model {run_dir / 'model'}", run_dir):
        trainer.encoder.save_pretrained(run_dir / "model", overwrite=True)
    write_log(trainer.log, run_dir)
    with write_errors_named(f"the plots in {run_dir}", run_dir):
        plot_training(trainer.log, run_dir)


def write_log(log: dict, run_dir: Path | None) -> None:
    """run_dir/log.json, replaced atomically (a reader never sees half a log)."""
    if run_dir is not None:
        with write_errors_named(f"the log {run_dir / 'log.json'}", run_dir):
            write_json(run_dir / "log.json", log, atomic=True)
