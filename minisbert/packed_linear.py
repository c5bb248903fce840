"""How `encode` runs the linear layers on the CPU: weights packed once (fp32) or quantised (int8).

Everything else in an encode — embeddings, attention, LayerNorm, GELU, pooling — runs exactly as
`model.py` writes it. Only the forward of each `nn.Linear` is swapped, for the duration of one
`encode` call, by `packed_linears(model, precision)`:

    fp32  the same float32 weights, reordered once into the blocked layout of oneDNN (the CPU
          matrix-multiply library inside PyTorch). `F.linear` copies the weight into the
          library's blocks inside every call; a packed weight skips that. Same arithmetic,
          another summation order: the vectors differ from the plain path within 1e-5
          (tests/test_packed_linear.py; 3.7e-7 on the STS-B test sentences, `minisbert bench`).
    int8  each weight row rounded to 8-bit integers with its own scale (w ≈ scale · q, q in
          [-127, 127]); each call's activations rounded to 8-bit unsigned integers on the fly,
          one scale and zero point for the whole input ("dynamic" quantisation; 7 bits on a
          CPU without VNNI, see `cpu_has_vnni`), the integer products summed in 32 bits, the
          result scaled back to float32. Faster multiplies; vectors that move by a few 1e-2 (README, Speed).

Why this is worth a module: over three quarters of encoding time is the linear layers (the
profile in the README, Speed). What packing gains depends on the CPU: 1.16× in a trial on an
AVX-512 EPYC, 1.00 to 1.12 on an AVX2-only one (`minisbert bench` prints both paths). Why only
on the CPU and in inference: on a GPU the vendor library packs for itself, and in training the
weights change every step (training skips the padding instead: unpadding.py).

What it depends on, said plainly: the fp32 path calls two operators that PyTorch registers for its
own compiler (`torch.ops.mkldnn._reorder_linear_weight` and `_linear_pointwise`, used when
`torch.compile` freezes a model); they are not a documented API. If this torch has no oneDNN, or the
operators fail their one-time check, fp32 falls back to the plain `F.linear`, silently and exactly.
The int8 path calls `torch.ops.quantized.linear_dynamic` (the fbgemm kernel behind
`torch.ao.quantization.quantize_dynamic`) directly on weights quantised here. Its packed weight is
built from a quantised tensor, a kind PyTorch has deprecated in favour of the separate torchao
package; the warning is silenced at that one call, and `precision="int8"` is refused with a clear
message on a torch that lacks the kernel. The alternatives measured on this project's CPUs (README,
Speed): `torch._int_mm` (no fast CPU kernel: ~3 GOP/s), oneDNN's static int8 linear (the activation
rounding, done in separate operators, costs more than the faster multiply saves), weight-only int8
(`_weight_int8pack_mm`, ~2 GOP/s), and ONNX Runtime (needs an export and another runtime).

Shapes: B batch, T tokens, K in features, N out features.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import warnings
from collections.abc import Callable, Iterator

import torch
import torch.nn.functional as F
from torch import nn

from .unpadding import linear_forwards

ROWS_HINT = 512  # the oneDNN layout is chosen for about this many rows (B·T) a call; any count works
# fp32: below this many batches, packing (about 45 ms for all-MiniLM-L6-v2) costs more than it
# can save on the CPUs where it saves at all
PACK_MIN_BATCHES = 8
INT8_MAX = 127  # symmetric weights: q in [-127, 127], so that -q is representable too

LinearForward = Callable[[torch.Tensor], torch.Tensor]  # (B, T, K) → (B, T, N)
# set by `plain_fp32()`; a context variable, not a module flag, so that one thread's (or task's)
# comparison does not switch packing off for another
PLAIN_FP32 = contextvars.ContextVar("plain_fp32", default=False)


# ---------------------------------------------------------------------------------------------
# fp32: the weight in oneDNN's layout


def pack_fp32(linear: nn.Linear) -> LinearForward:
    """The forward of `linear` on its weight reordered once into oneDNN's blocked layout."""
    weight = torch.ops.mkldnn._reorder_linear_weight(linear.weight.detach(), ROWS_HINT)  # (N, K), blocked
    bias = None if linear.bias is None else linear.bias.detach()  # (N,)
    # "none", [], "": no operation fused after the multiply, no arguments for it, default algorithm
    return lambda x: torch.ops.mkldnn._linear_pointwise(x, weight, bias, "none", [], "")  # (..., N)


@functools.cache
def fp32_packing_works() -> bool:
    """Whether this torch has the oneDNN operators and they give what `F.linear` gives (checked
    once per process, on a small random layer drawn from its own generator: the global random
    state, which dropout in a training run depends on, is left untouched)."""
    if not torch.backends.mkldnn.is_available():
        return False
    g = torch.Generator().manual_seed(0)
    linear = nn.Linear(24, 40, device="meta").to_empty(device="cpu")  # no initialisation drawn
    with torch.no_grad():
        linear.weight.copy_(torch.randn(40, 24, generator=g))
        linear.bias.copy_(torch.randn(40, generator=g))
        x = torch.randn(3, 5, 24, generator=g)  # (B, T, K)
        try:
            return torch.allclose(
                pack_fp32(linear)(x), F.linear(x, linear.weight, linear.bias), rtol=1e-5, atol=1e-5
            )
        except (AttributeError, RuntimeError, NotImplementedError):  # operator missing or unsupported
            return False


# ---------------------------------------------------------------------------------------------
# int8: weights rounded row by row, activations rounded on the fly


def quantize_rows(weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Symmetric per-row int8: (q (N, K) int8, scale (N,)) with weight ≈ scale[:, None] · q.

    Each output channel (row) gets the scale that maps its largest |w| to 127, so that a row of
    small weights keeps its resolution. A row of zeros gets scale 1 (any scale gives q = 0)."""
    scale = weight.abs().amax(dim=1) / INT8_MAX  # (N,)
    scale = torch.where(scale > 0, scale, torch.ones_like(scale))  # (N,)
    q = torch.round(weight / scale[:, None]).clamp(-INT8_MAX, INT8_MAX).to(torch.int8)  # (N, K)
    return q, scale


def int8_engine(engines: list[str] | None = None) -> str:
    """The quantised engine whose dynamic linear kernel int8 uses, or a ValueError naming why none.
    `engines`: those this torch supports (by default, what it says)."""
    engines = torch.backends.quantized.supported_engines if engines is None else engines
    for engine in ("x86", "fbgemm"):  # x86: fbgemm's kernels with oneDNN's where they are faster
        if engine in engines:
            return engine
    raise ValueError(
        "precision 'int8' needs PyTorch's x86 quantised kernels (fbgemm), which this torch build "
        f"lacks (it has: {', '.join(e for e in engines if e != 'none') or 'none'}); use fp32 or bf16"
    )


def pack_int8(linear: nn.Linear) -> LinearForward:
    """The forward of `linear` with int8 weights (per row) and 8-bit activations (per call).
    Sets `torch.backends.quantized.engine` (process-wide) to the engine the kernel runs on."""
    torch.backends.quantized.engine = int8_engine()
    weight = linear.weight.detach().float()  # (N, K)
    q, scale = quantize_rows(weight)
    with warnings.catch_warnings():  # quantised tensors are deprecated (module docstring)
        warnings.filterwarnings("ignore", message=".*quantized tensor", category=UserWarning)
        zero_points = torch.zeros_like(scale, dtype=torch.long)  # symmetric: 0 is 0
        qweight = torch._make_per_channel_quantized_tensor(q, scale.double(), zero_points, 0)  # axis 0: rows
        bias = None if linear.bias is None else linear.bias.detach().float()
        packed = torch.ops.quantized.linear_prepack(qweight, bias)
    reduce_range = not cpu_has_vnni()
    return lambda x: torch.ops.quantized.linear_dynamic(x, packed, reduce_range)  # (..., N)


def cpu_has_vnni(cpuinfo: str | None = None) -> bool:
    """Whether the CPU has VNNI, the instructions that sum u8 × s8 products straight into 32 bits.

    Without them (AVX2 only), the kernel adds pairs of products in 16 bits first, which 8-bit
    activations could overflow (2 · 255 · 127 > 2^15 − 1): there the activations are rounded to 7
    bits instead ("reduce_range"; 2 · 127 · 127 < 2^15), which costs some accuracy (README, Speed).
    Only AVX-512 VNNI counts: torch's own check (`torch.cpu._is_vnni_supported`) does not yet count
    the AVX2 form (avx_vnni), so neither does this. Unknown flags (not Linux) count as absent, the
    safe choice."""
    return "avx512_vnni" in cpu_flags(cpuinfo)


@functools.cache
def cpu_flags(cpuinfo: str | None = None) -> frozenset[str]:
    """The CPU's feature flags from /proc/cpuinfo's first `flags` line (or from `cpuinfo`, a text
    of that form); empty where there is no such file."""
    if cpuinfo is None:
        try:
            with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
                cpuinfo = f.read()
        except OSError:
            return frozenset()
    lines = (
        line.split(":", 1)[1] for line in cpuinfo.splitlines() if line.startswith("flags") and ":" in line
    )
    return frozenset(next(lines, "").split())


# ---------------------------------------------------------------------------------------------
# swapping the forwards in and out


def uses_packed_linears(device: torch.device, precision: str, batches: int = PACK_MIN_BATCHES) -> bool:
    """Whether an encode of `batches` batches runs under `packed_linears` (by default: would a long
    enough call be?). int8 on another device than the CPU is an error; fp32 is packed on the CPU
    for calls of PACK_MIN_BATCHES batches or more, where the one-time check passes, and not within
    `plain_fp32()`."""
    if precision == "int8":
        if device.type != "cpu":
            raise ValueError(f"precision 'int8' runs on the CPU only, not on {device.type}")
        int8_engine()
        return True
    if PLAIN_FP32.get():
        return False
    long_enough = batches >= PACK_MIN_BATCHES
    return precision == "fp32" and device.type == "cpu" and long_enough and fp32_packing_works()


@contextlib.contextmanager
def plain_fp32() -> Iterator[None]:
    """Within the block, fp32 encodes multiply with the plain `F.linear`, as `model.py` alone
    would: what the packed path is compared with (the tests, `minisbert bench`)."""
    token = PLAIN_FP32.set(True)
    try:
        yield
    finally:
        PLAIN_FP32.reset(token)


@contextlib.contextmanager
def packed_linears(model: nn.Module, precision: str) -> Iterator[None]:
    """Within the block, every `nn.Linear` of `model` runs on weights packed on entry (module
    docstring); after it, each has its own forward back, whatever happened inside.

    The packs live for one block only. Keeping them between encode calls would need to know
    when a weight changed, and no cheap sign is reliable: PyTorch's fused AdamW updates weights in
    place without moving their version counter. Packing costs about 45 ms (fp32) or 0.2 s (int8)
    for all-MiniLM-L6-v2, which is why `encode` packs fp32 only for calls of PACK_MIN_BATCHES
    batches or more."""
    with linear_forwards(model, pack_fp32 if precision == "fp32" else pack_int8):
        yield
