"""A training run: the core's training loop (minisbert/training.py) with what a long run needs.

`fit` here takes what the core's `fit` takes, plus a run folder:

    output_dir   checkpoints (run/checkpoints.py) in output_dir/checkpoints/, the final model in
                 output_dir/model/, log.json (replaced atomically) and plots (run/plots.py)
    resume       continue from the last checkpoint: weights, heads, optimizer, schedule, random
                 state, log; a run killed before its first checkpoint starts over
    the lock     one run at a time in a folder (run/run_lock.py)
    ranks        launched by torchrun, the same loop runs on every process (run/distributed.py):
                 each takes its own slice of every global batch (`batch_size` rows each, so a
                 global batch holds `batch_size` × ranks), DistributedDataParallel averages the
                 gradients, the learning-rate schedule counts global steps, and only rank 0
                 evaluates and writes files
    skip_padding the linear layers multiply the real tokens only (kernels/unpadding.py)

`RunConfig` is the core's TrainingConfig with the checkpoints' settings; `RunTrainer` is the core's
`Trainer` with the few methods that change on several processes, and `state` / `restore` for
checkpoints. `minisbert train` calls this `fit`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import sys
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from tqdm.auto import tqdm

from ..evaluation import Evaluator
from ..files.atomic import write_json_atomic
from ..kernels.unpadding import padding_skipped
from ..losses import MultipleNegativesRankingLoss
from ..training import Objective, SiameseNetwork, Trainer, TrainingConfig
from . import distributed
from .checkpoints import (
    describe_latest,
    latest_checkpoint,
    read_checkpoint,
    write_checkpoint,
    write_errors_named,
)
from .plots import plot_training
from .run_lock import RunLock, check_run_folder


@dataclass
class RunConfig(TrainingConfig):
    """The core's TrainingConfig and what a run with a folder adds: when it writes a checkpoint
    and how many it keeps."""

    checkpoint_every: int = 0  # steps between checkpoints; 0: at the end of each epoch only
    keep_checkpoints: int = 1

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.keep_checkpoints < 1:
            raise ValueError(f"keep_checkpoints must be at least 1, got {self.keep_checkpoints}")
        if self.checkpoint_every < 0:
            raise ValueError(f"checkpoint_every must be 0 or more, got {self.checkpoint_every}")


def run_config(config: TrainingConfig | None) -> RunConfig:
    """`config` as a RunConfig: a plain TrainingConfig gets the run's defaults for the rest."""
    if isinstance(config, RunConfig):
        return config
    return RunConfig(**dataclasses.asdict(config or TrainingConfig()))


class RunTrainer(Trainer):
    """The core's Trainer on every process of a torchrun launch (or on one), with checkpoints."""

    def __init__(self, encoder, objectives, config=None, evaluator=None):
        self.world = distributed.current_world()
        for objective in objectives:
            if self.world.size > 1 and type(objective.loss) is MultipleNegativesRankingLoss:
                raise ValueError(
                    f"objective {objective.name!r}: on {self.world.size} processes "
                    "MultipleNegativesRankingLoss sees only this process's share of a batch; use "
                    "run/distributed.py's GlobalBatchMNRL "
                    "(gather_across_ranks=False for the per-process objective on purpose)"
                )
        super().__init__(encoder, objectives, run_config(config), evaluator)
        self.log["ranks"] = self.world.size

    def examples_per_step(self) -> int:
        """A global batch: `batch_size` examples on each process."""
        return self.config.batch_size * self.world.size

    def dropout_seed(self) -> int:
        return self.config.seed + self.world.rank  # other dropout masks on each rank

    def wrapped(self, network: SiameseNetwork) -> nn.Module:
        return wrap_for_ranks(network, self.world)

    def my_rows(self, rows: list[int]) -> list[int]:
        return distributed.rank_slice(rows, self.world)

    def mean_loss(self, loss: torch.Tensor) -> list[float]:
        """The mean over the ranks (the loss of the global batch): the same on every rank, so that
        all stop together on a loss that is not finite."""
        return distributed.average(loss).tolist()

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


def wrap_for_ranks(network: nn.Module, world: distributed.World) -> nn.Module:
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


# ---------------------------------------------------------------------------------------------
# the loop


def fit(
    encoder,
    objectives: list[Objective],
    config: TrainingConfig | None = None,
    *,
    output_dir: str | Path | None = None,
    evaluator: Evaluator | None = None,
    test_evaluator: Evaluator | None = None,
    resume: bool = False,
    stop_after: int | None = None,
    show_progress: bool | None = None,
    skip_padding: bool = True,
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
    `stop_after=N` stops after N steps as if interrupted. `skip_padding` (the default): the
    encoder's linear layers skip the padding while the run lasts (kernels/unpadding.py: the same
    result, less work; `print(encoder)` shows UnpaddedLinear layers until the run ends).
    """
    run_dir = None if output_dir is None else Path(output_dir)
    restore = check_run_folder(run_dir, resume)  # refused if in use; False: a new start
    trainer = RunTrainer(encoder, objectives, config, evaluator)
    distributed.barrier()  # every rank has checked the folder before rank 0 writes into it
    # rank 0 writes the folder, so it alone holds the lock, until the model is saved
    with RunLock(run_dir if trainer.world.is_main else None, expect_new=not resume):
        with padding_skipped(encoder.model) if skip_padding else contextlib.nullcontext():
            return train_run(trainer, run_dir, restore, test_evaluator, stop_after, show_progress)


def train_run(
    trainer: RunTrainer,
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


def take_step(trainer: RunTrainer, run_dir: Path | None) -> None:
    """`trainer.step()`; a loss that is not finite stops the run with the log written."""
    try:
        trainer.step()
    except FloatingPointError as err:
        if trainer.world.is_main:
            write_log(trainer.log, run_dir)
        raise FloatingPointError(
            f"{err}: training stopped; the last good checkpoint is kept: {describe_latest(run_dir)}"
        ) from None


def after_step(trainer: RunTrainer, run_dir: Path | None) -> None:
    """Evaluate (rank 0) and write a checkpoint (rank 0, with every rank's random state) when due."""
    config, step, end = trainer.config, trainer.step_count, trainer.end_of_epoch()
    main = trainer.world.is_main
    if trainer.evaluation_due() and main:
        trainer.evaluate()
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


def finish(trainer: RunTrainer, run_dir: Path | None, test_evaluator: Evaluator | None) -> None:
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
            write_json_atomic(run_dir / "log.json", log)
