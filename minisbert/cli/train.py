"""`minisbert train`: fine-tune a model with one of the SBERT objectives (run/recipes.py), into a
run folder that can be resumed; under torchrun, on every rank (run/distributed.py).

    minisbert train --objective regression --data stsbenchmark/sts-train.csv --output runs/sts
    minisbert train --objective triplet --data sick/SICK.txt --output runs/sick --margin 0.5

The defaults are the code's that owns them: the hyper-parameters RunConfig's (run/training_run.py),
the objective's options the losses' (losses.py), the objectives run/recipes.py's RECIPES.
"""

from __future__ import annotations

import inspect
import json
from pathlib import Path

from .arguments import (
    BadArguments,
    add_encoder_command,
    count_or_zero,
    existing_data,
    fraction,
    load_encoder,
    new_folder,
    non_negative_float,
    positive_float,
    positive_int,
)

HELP = "fine-tune a model with one of the SBERT objectives"
# the softmax classifier's learning rate, the command line's choice (TrainingConfig's head_lr is
# None, the encoder's): a fresh head learns too slowly at the encoder's rate (training.py)
HEAD_LR = 1e-3
# the options that act with one objective only (the rest would be silently ignored)
OBJECTIVE_OPTIONS = {
    "margin": ("--margin", "triplet"),
    "distance": ("--distance", "triplet"),
    "scale": ("--scale", "mnrl"),
    "no_gather": ("--no-gather", "mnrl"),
    "head_lr": ("--head-lr", "classification"),
}


def objective_defaults() -> dict:
    """What the objective's own options are when not given: the losses' defaults (TripletLoss's
    margin and distance, MultipleNegativesRankingLoss's scale) and HEAD_LR."""
    from ..losses import MultipleNegativesRankingLoss, TripletLoss

    triplet = inspect.signature(TripletLoss).parameters
    mnrl = inspect.signature(MultipleNegativesRankingLoss).parameters
    return {
        "margin": triplet["margin"].default,
        "distance": triplet["distance"].default,
        "scale": mnrl["scale"].default,
        "head_lr": HEAD_LR,
    }


def written(rate: float) -> str:
    """A learning rate as people write it, for the help: 1e-3 and 2e-5, not 0.001 and 2e-05."""
    mantissa, exponent = f"{rate:e}".split("e")
    return f"{mantissa.rstrip('0').rstrip('.')}e{int(exponent)}"


def add_parser(sub) -> None:
    from ..devices import PRECISIONS
    from ..losses import DISTANCES
    from ..run.recipes import RECIPES
    from ..run.training_run import RunConfig

    d = RunConfig()
    defaults = objective_defaults()
    p = add_encoder_command(sub, "train", HELP, check, run)
    p.set_defaults(batch_size=d.batch_size)
    p.add_argument("--objective", required=True, choices=list(RECIPES))
    p.add_argument(
        "--data", required=True, help="stsbenchmark/sts-train.csv (dev and test beside it) or sick/SICK.txt"
    )
    p.add_argument("--output", required=True, help="run folder: checkpoints/, model/, log.json, loss.png")
    p.add_argument("--epochs", type=positive_int, default=d.epochs)
    p.add_argument("--lr", type=positive_float, default=d.lr, help="learning rate of the encoder")
    p.add_argument(
        "--head-lr",
        type=positive_float,
        default=None,  # HEAD_LR, set by `check`: given with another objective, it is refused
        help=f"learning rate of the softmax classifier (default {written(defaults['head_lr'])}: "
        f"a fresh head learns too slowly at {written(d.lr)})",
    )
    p.add_argument("--warmup-ratio", type=fraction, default=d.warmup_ratio)
    p.add_argument("--weight-decay", type=non_negative_float, default=d.weight_decay)
    p.add_argument("--max-grad-norm", type=positive_float, default=d.max_grad_norm)
    p.add_argument("--seed", type=count_or_zero, default=d.seed)
    p.add_argument("--eval-every", type=count_or_zero, default=d.eval_every, help="steps; 0: once an epoch")
    p.add_argument(
        "--checkpoint-every", type=count_or_zero, default=d.checkpoint_every, help="steps; 0: once an epoch"
    )
    p.add_argument(
        "--resume", action="store_true", help="continue the run in --output from its last checkpoint"
    )
    p.add_argument(
        "--stop-after",
        type=positive_int,
        help="stop after this many steps as if interrupted (to try --resume)",
    )
    # the objective's own options default to None so that `check` can tell them given
    p.add_argument(
        "--margin",
        type=non_negative_float,
        help=f"triplet margin (default the paper's ε = {defaults['margin']:g})",
    )
    p.add_argument("--distance", choices=list(DISTANCES), help=f"triplet (default {defaults['distance']})")
    p.add_argument(
        "--scale", type=positive_float, help=f"MNRL similarity scale (default {defaults['scale']:g})"
    )
    p.add_argument(
        "--no-gather",
        action="store_true",
        help="MNRL under torchrun: score each anchor against its own rank's batch only, "
        "not the whole global batch (see docs/distributed.md)",
    )
    p.add_argument(
        "--precision",
        default=d.precision,
        choices=list(PRECISIONS),
        help=f"mixed precision of the forward pass (default {d.precision}; bf16 on a CPU with AVX-512 BF16 "
        "or a GPU)",
    )


def check(args) -> None:
    """Ranges are the parser's; here: conflicts, the data, the run folder and the device."""
    from ..run.run_lock import LOCK_FILE, refuse_if_in_use

    for key, (option, objective) in OBJECTIVE_OPTIONS.items():
        if getattr(args, key) not in (None, False) and args.objective != objective:
            raise BadArguments(f"{option} only acts with --objective {objective}, not {args.objective}")
    for key, default in objective_defaults().items():
        if getattr(args, key) is None:
            setattr(args, key, default)
    existing_data(args.data, "--data")
    output = Path(args.output)
    refuse_if_in_use(output)  # another run is training into it: not the arguments' fault, exit 1
    started = (output / "checkpoints" / "latest").is_file() or (output / LOCK_FILE).is_file()
    if args.resume and not started:  # (a run killed before its first checkpoint starts over)
        raise BadArguments(f"--resume: {output} holds no run to resume (no checkpoints/latest)")
    if not args.resume:
        new_folder(args.output, "a run", "resume it with --resume or choose an empty or new folder")
    check_device(args.device)


def check_device(device: str | None) -> None:
    from ..devices import resolve_device

    try:
        resolve_device(device)
    except ValueError as err:
        raise BadArguments(f"--device: {err}") from None


def run(args) -> None:
    """Fine-tune with one of the recipes; under torchrun, on every rank (distributed.py)."""
    import torch

    from ..devices import resolve_device
    from ..run import distributed
    from ..run.recipes import build_recipe
    from ..run.training_run import RunConfig, fit

    config = RunConfig(
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        head_lr=args.head_lr,
        warmup_ratio=args.warmup_ratio,
        weight_decay=args.weight_decay,
        max_grad_norm=args.max_grad_norm,
        seed=args.seed,
        eval_every=args.eval_every,
        checkpoint_every=args.checkpoint_every,
        precision=args.precision,
    )
    output = Path(args.output)
    device = resolve_device(args.device, distributed.launched_world().local_rank)
    world = distributed.start(device)
    try:
        torch.manual_seed(args.seed)  # the classifier head is initialised while the recipe is built
        args.device = device
        encoder = load_encoder(args)
        options = {"margin": args.margin, "distance": args.distance, "scale": args.scale}
        recipe = build_recipe(args.objective, args.data, encoder, **options)
        if args.objective == "mnrl":
            recipe.objective.loss.gather_across_ranks = not args.no_gather
        log = fit(
            encoder,
            [recipe.objective],
            config,
            output_dir=output,
            evaluator=recipe.dev,
            test_evaluator=recipe.test,
            resume=args.resume,
            stop_after=args.stop_after,
        )
    finally:
        distributed.stop()
    if "test_after" not in log:  # --stop-after
        if world.is_main:
            step = log["train"][-1]["step"] if log["train"] else 0
            print(f"stopped after step {step}; continue with --resume")
    elif world.is_main:
        main = recipe.test.main
        summary = {
            "objective": args.objective,
            "model": str(output / "model"),
            "ranks": world.size,
            f"test {main} before": log["test_before"][main],
            f"test {main} after": log["test_after"][main],
        }
        print(json.dumps(summary, indent=2))
