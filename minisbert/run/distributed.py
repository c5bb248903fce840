"""Training on several processes with torch.distributed, launched by torchrun.

`torchrun --nproc_per_node N -m minisbert train ...` starts N copies of the same program (N
*ranks*) and tells each, in environment variables, where it stands:

    WORLD_SIZE   N, the number of ranks in the whole run (all machines)
    RANK         this rank's number, 0..N−1; rank 0 is the *main* rank
    LOCAL_RANK   its number on this machine (which GPU it takes)
    MASTER_ADDR, MASTER_PORT   where rank 0 listens, so that the ranks can find each other

`start` joins them into one process group: gloo, which runs over TCP and works on CPUs, or
NCCL, NVIDIA's library for GPUs. From then on the ranks talk through *collectives*: operations
every rank calls at the same point, such as `all_reduce` (every rank ends with the sum of
everyone's tensor) or `all_gather` (every rank ends with everyone's tensors, in rank order).

Data parallelism, the plan of training.py: every rank holds the whole model. A *global batch* of
N·b examples is cut into N slices of b (`rank_slice`); each rank computes the loss and the
gradients on its own slice, then DistributedDataParallel (DDP) averages the gradients over the
ranks during backward. Every rank then applies the same averaged gradient to the same weights, so
the weights stay equal on every rank, and equal to those of one process trained on the global
batch: the mean of N slice means of b examples is the mean over the N·b examples.

In-batch negatives (MNRL) need one more step, because there the loss of an anchor depends on the
other examples of the batch: `gather_with_gradients` lets every rank score its anchors against
the positives of the whole global batch (losses.py).

If one rank dies, torchrun stops the others and exits with an error naming it; a rank whose peer
vanished mid-collective gets an error from gloo or NCCL, which training.py turns into one clear
message. `timeout` bounds how long a rank waits at a collective for a peer that never comes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as dist

from ..losses import MultipleNegativesRankingLoss

DEFAULT_TIMEOUT = timedelta(minutes=10)  # a rank waits at most this long for a peer


class RankLost(ConnectionError):
    """Another rank died or stopped answering during a collective."""


PEER_FAILURE_SIGNS = ("Connection", "connection", "gloo", "NCCL", "timed out", "Timed out", "Timeout")


def is_peer_failure(err: BaseException) -> bool:
    """Does this error come from a collective whose peer died or hangs? (gloo raises a plain
    RuntimeError such as "[…/gloo/transport/tcp/pair.cc] Connection reset by peer".)"""
    failure_types = (dist.DistError,) if hasattr(dist, "DistError") else ()
    return isinstance(err, failure_types) or any(sign in str(err) for sign in PEER_FAILURE_SIGNS)


@dataclass(frozen=True)
class World:
    """Where this process stands: rank `rank` of `size` (one process: rank 0 of 1)."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        """Rank 0 writes the files (checkpoints, log, plots, the model) and shows progress."""
        return self.rank == 0


def launched_world() -> World:
    """The World that torchrun's environment variables describe (none set: one process)."""
    try:
        return World(
            rank=int(os.environ.get("RANK", 0)),
            size=int(os.environ.get("WORLD_SIZE", 1)),
            local_rank=int(os.environ.get("LOCAL_RANK", 0)),
        )
    except ValueError as err:
        raise ValueError(f"RANK, WORLD_SIZE and LOCAL_RANK must be whole numbers: {err}") from None


def start(device: torch.device, timeout: timedelta = DEFAULT_TIMEOUT) -> World:
    """Join the process group torchrun prepared, with gloo on CPU and NCCL on CUDA; with one process
    (no torchrun, or `--nproc_per_node 1`) there is nothing to join."""
    world = launched_world()
    if world.size > 1 and not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group(backend, timeout=timeout)
    return current_world()


def current_world() -> World:
    """This process's World: from the process group if one is running, else a single process."""
    if not (dist.is_available() and dist.is_initialized()):
        return World()
    return World(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", 0)))


def stop() -> None:
    """Leave the process group (the end of a run)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def barrier() -> None:
    """Wait until every rank gets here (nothing to wait for in one process)."""
    if current_world().size > 1:
        dist.barrier()


def rank_slice(rows: list[int], world: World) -> list[int]:
    """This rank's b rows of a global batch of N·b: rank r takes rows r·b … (r+1)·b − 1."""
    b = len(rows) // world.size
    return rows[world.rank * b : (world.rank + 1) * b]


def average(values: torch.Tensor) -> torch.Tensor:
    """The mean of `values` over the ranks (a copy; `values` is unchanged)."""
    world = current_world()
    values = values.detach().clone()
    if world.size > 1:
        dist.all_reduce(values)  # the sum over the ranks, on every rank
        values /= world.size
    return values


def gather_objects(obj) -> list:
    """Every rank's `obj` (picklable), in rank order, on every rank."""
    world = current_world()
    if world.size == 1:
        return [obj]
    gathered = [None] * world.size
    dist.all_gather_object(gathered, obj)
    return gathered


class GatherWithGradients(torch.autograd.Function):
    """all_gather that gradients flow back through.

    forward: x (b, D) on each rank → every rank's x stacked in rank order, (N·b, D).
    backward: every rank holds a gradient for the whole (N·b, D) tensor, from its own loss. The
    gradient of the sum of all ranks' losses with respect to rank r's x is the sum of those
    gradients, rows r·b … (r+1)·b − 1: an all_reduce, then this rank's slice. (DDP later divides
    the weights' gradients by N, which turns the sum of losses into their mean.)
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        world = current_world()
        ctx.rank, ctx.rows = world.rank, len(x)
        parts = [torch.empty_like(x) for _ in range(world.size)]
        dist.all_gather(parts, x.contiguous())
        return torch.cat(parts)  # (N·b, D)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        grad = grad.contiguous().clone()  # (N·b, D)
        dist.all_reduce(grad)
        return grad[ctx.rank * ctx.rows : (ctx.rank + 1) * ctx.rows]  # (b, D)


def gather_with_gradients(x: torch.Tensor) -> torch.Tensor:
    """(b, D) on each of N ranks → (N·b, D) in rank order, gradients flowing back; x itself when
    there is one process. Every rank must pass the same b."""
    if current_world().size == 1:
        return x
    return GatherWithGradients.apply(x)


class GlobalBatchMNRL(MultipleNegativesRankingLoss):
    """MultipleNegativesRankingLoss (losses.py) over the whole global batch on several ranks.

    Trained on N ranks, each rank holds b of the N·b examples of a global batch. With
    `gather_across_ranks` (the default), each anchor is scored against the positives (and hard
    negatives) of the whole global batch, N·b − 1 negatives, exactly as one process with the global
    batch would; gradients flow back to the rank that embedded each candidate
    (`gather_with_gradients`). Without it, each rank uses only its own b − 1: cheaper (no
    gathering) but a different, easier objective. On one process, the plain loss.
    """

    def __init__(self, scale: float = 20.0, gather_across_ranks: bool = True):
        super().__init__(scale)
        self.gather_across_ranks = gather_across_ranks

    def forward(self, anchors, positives, negatives=None) -> torch.Tensor:
        if self.gather_across_ranks and current_world().size > 1:
            positives = own_rows_first(gather_with_gradients(positives), len(anchors))  # (N·b, D)
            if negatives is not None:
                negatives = gather_with_gradients(negatives)  # (N·b, D)
        return super().forward(anchors, positives, negatives)


def own_rows_first(gathered: torch.Tensor, b: int) -> torch.Tensor:
    """Rotate the gathered rows (N·b, D) so that this rank's own b come first: anchor i's answer
    is then still candidate i. The order of the other candidates does not change a softmax."""
    start = current_world().rank * b
    return torch.cat([gathered[start:], gathered[:start]])
