"""Where the numbers live and how wide they are: devices and mixed precision.

A device is where tensors are stored and computed: `cpu`, `cuda` (an NVIDIA GPU; `cuda:1` is the
second one) or `mps` (Apple's GPU). minisbert runs on the CPU unless asked otherwise. Under
torchrun, `cuda` means each process's own GPU, `cuda:LOCAL_RANK` (run/distributed.py).

Precision is the width of the floating-point numbers the matrix multiplies use:

    fp32   float32: 8 exponent bits, 23 fraction bits; the default, what the tests check
    bf16   bfloat16: float32's 8 exponent bits, 7 fraction bits: the same range, ~3 decimal digits
    fp16   float16: 5 exponent bits, 10 fraction bits: more digits than bf16, a small range
           (largest 65,504, smallest normal 6e-5), so small gradients round to zero

Mixed precision keeps the weights in float32 and, under `torch.autocast`, runs the matrix
multiplies in the narrow type; which other operations autocast keeps in float32 depends on the
device (its op lists): on CUDA softmax and LayerNorm, on the CPU only such as the losses (MSE,
cross-entropy), the rest following their bf16 inputs. With fp16 the loss is multiplied by a
large factor before backward so that small gradients survive, and divided out before the update
(`torch.amp.GradScaler`); bf16 has float32's range and needs no scaling.

Speed depends on the hardware. On a CPU with AVX-512 BF16 instructions bf16 encodes about 1.7×
faster than fp32 (measured on an AMD EPYC with them); on an AMD EPYC with AVX2 only, bf16 encoded
about 7× slower (0.14×, docs/speed.md; one 448×384 by 384×1536 matrix multiply: fp32 7 ms, bf16
44 ms), because the CPU has no bf16 arithmetic and every product is emulated.
`torch.backends.cpu.get_cpu_capability()` says which kind of CPU torch found. fp16 on the CPU is
slow everywhere: it is there for GPUs.

Encoding also takes `int8` (ENCODING_PRECISIONS): not autocast but integer linear layers,
on the CPU only (kernels/packed_linear.py). Training refuses it.
"""

from __future__ import annotations

import contextlib
import warnings

import torch

PRECISIONS = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
# encoding also takes int8: integer weights and activations in the linear layers (kernels/packed_linear.py)
ENCODING_PRECISIONS = (*PRECISIONS, "int8")


def resolve_device(requested: str | torch.device | None, local_rank: int = 0) -> torch.device:
    """The torch device for `requested` (None: cpu). A bare `cuda` becomes `cuda:local_rank`, so that
    every process of a torchrun launch takes its own GPU. Refuses a device this machine lacks."""
    try:
        device = torch.device(requested or "cpu")
    except RuntimeError as err:
        raise ValueError(f"unknown device {requested!r}: {err}") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device {requested!r} asked for, but torch sees no CUDA GPU here")
        index = local_rank if device.index is None else device.index
        if index >= torch.cuda.device_count():
            raise ValueError(f"device cuda:{index} asked for, but there are {torch.cuda.device_count()} GPUs")
        device = torch.device("cuda", index)
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"device {requested!r} asked for, but torch sees no Apple GPU (mps) here")
    return device


def check_precision(precision: str, allowed=tuple(PRECISIONS)) -> str:
    """`precision` if it is one of `allowed` (training's, by default), else a ValueError that lists
    them; int8, an encoding precision only, is named as such."""
    if precision not in allowed:
        only = " (int8 is for encoding only)" if precision == "int8" else ""
        raise ValueError(f"precision {precision!r} is not one of {', '.join(allowed)}{only}")
    return precision


def autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager:
    """The context in which a forward pass runs at `precision`: nothing changes for fp32 (nor for
    int8, which changes the linear layers themselves: kernels/packed_linear.py)."""
    if check_precision(precision, ENCODING_PRECISIONS) in ("fp32", "int8"):
        return contextlib.nullcontext()
    with warnings.catch_warnings(record=True) as said:  # torch warns, then turns itself off
        warnings.simplefilter("always")
        context = torch.autocast(device.type, dtype=PRECISIONS[precision])
    if not getattr(context, "_enabled", True):  # the narrow type would silently not be used
        why = " ".join(str(w.message) for w in said) or "torch turned autocast off"
        raise ValueError(f"precision {precision!r} cannot run on {device.type} here: {why}")
    return context


def gradient_scaler(device: torch.device, precision: str) -> torch.amp.GradScaler | None:
    """A gradient scaler for fp16 (see the module's docstring); None for fp32 and bf16."""
    return torch.amp.GradScaler(device.type) if check_precision(precision) == "fp16" else None
