"""Linear layers for encoding on the CPU: weights packed once (fp32) or quantised (int8).

Two subclasses of `nn.Linear`, put in place of a model's linear layers by `use_linears(encoder,
"packed" | "int8")` (linears.py: they hold the same weight and bias Parameters, so nothing else
changes, and `print(encoder)` shows them). Everything else in an encode — embeddings, attention,
LayerNorm, GELU, pooling — runs exactly as `model.py` writes it.

    PackedLinear  the same float32 weights, reordered into the blocked layout of oneDNN (the CPU
                  matrix-multiply library inside PyTorch). `F.linear` copies the weight into the
                  library's blocks inside every call; a packed weight skips that. Same arithmetic,
                  another summation order: the vectors differ from the plain path within 1e-5
                  (tests/test_packed_linear.py; 3.7e-7 on the STS-B test sentences, `minisbert bench`).
    Int8Linear    each weight row rounded to 8-bit integers with its own scale (w ≈ scale · q, q in
                  [-127, 127]); each call's activations rounded to 8-bit unsigned integers on the fly,
                  one scale and zero point for the whole input ("dynamic" quantisation; 7 bits on a
                  CPU without VNNI, see `cpu_has_vnni`), the integer products summed in 32 bits, the
                  result scaled back to float32. Faster multiplies; vectors that move by a few 1e-2
                  (docs/speed.md).

A pack is used for inference only: in eval mode, without gradients, on the CPU (and, for
PackedLinear, in float32 without autocast). Each layer packs its weight on its first such forward
and keeps the pack while the weight stays the same: a new pack is made when the weight's version
counter or storage changes (an in-place copy, `load_state_dict`, `.to()`), and after the layer
was in training mode (`encoder.train()`), where the weights may change unseen (PyTorch's fused
AdamW updates them in place without moving their version counter). Otherwise a PackedLinear
multiplies with the plain `F.linear`, so a model with packed layers still trains, and bf16 or
fp16 run as autocast makes them; an Int8Linear refuses to train, since rounding has no useful
gradient.

Why this is worth a module: over three quarters of encoding time is the linear layers (the
profile in docs/speed.md). What packing gains depends on the CPU: 1.16× in a trial on an
AVX-512 EPYC, 1.00 to 1.12 on an AVX2-only one (`minisbert bench` prints both paths). Why only
on the CPU and in inference: on a GPU the vendor library packs for itself, and in training the
weights change every step (training skips the padding instead: unpadding.py).

What it depends on, said plainly: the fp32 path calls two operators that PyTorch registers for its
own compiler (`torch.ops.mkldnn._reorder_linear_weight` and `_linear_pointwise`, used when
`torch.compile` freezes a model); they are not a documented API. If this torch has no oneDNN, or the
operators fail their one-time check, `use_linears(encoder, "packed")` says so, and the command
line keeps the plain `nn.Linear` (`best_linears`).
The int8 path calls `torch.ops.quantized.linear_dynamic` (the fbgemm kernel behind
`torch.ao.quantization.quantize_dynamic`) directly on weights quantised here. Its packed weight is
built from a quantised tensor, a kind PyTorch has deprecated in favour of the separate torchao
package; the warning is silenced at that one call, and "int8" is refused with a clear message on
a torch that lacks the kernel. The alternatives measured on this project's CPUs (docs/speed.md):
`torch._int_mm` (no fast CPU kernel: ~3 GOP/s), oneDNN's static int8 linear (the activation
rounding, done in separate operators, costs more than the faster multiply saves), weight-only int8
(`_weight_int8pack_mm`, ~2 GOP/s), and ONNX Runtime (needs an export and another runtime).

Shapes: B batch, T tokens, K in features, N out features.
"""

from __future__ import annotations

import functools
import warnings

import torch
import torch.nn.functional as F
from torch import nn

from .linears import plain_linears, replace_linears, share_parameters

ROWS_HINT = 512  # the oneDNN layout is chosen for about this many rows (B·T) a call; any count works
INT8_MAX = 127  # symmetric weights: q in [-127, 127], so that -q is representable too
KINDS = ("plain", "packed", "int8")  # what `use_linears` takes


class PrePackedLinear(nn.Linear):
    """What PackedLinear and Int8Linear share: a pack of the weight, made on the first forward
    without gradients and kept while the weight stays the same (module docstring)."""

    kind = "plain"

    @classmethod
    def of(cls, linear: nn.Linear) -> PrePackedLinear:
        """A layer of this class on `linear`'s own weight and bias."""
        layer = share_parameters(cls, linear)
        layer.pack, layer.packed_from = None, None
        return layer

    def weights_now(self) -> tuple:
        """What identifies the weights as they are: their version counters and storage."""
        tensors = [self.weight] if self.bias is None else [self.weight, self.bias]
        return tuple((t._version, t.data_ptr(), t.device) for t in tensors)

    def packed(self):
        """The pack of the current weights, made anew if they changed since the last one."""
        now = self.weights_now()
        if self.pack is None or self.packed_from != now:
            self.pack, self.packed_from = self.make_pack(), now
        return self.pack

    def forget_pack(self) -> None:
        self.pack, self.packed_from = None, None

    def train(self, mode: bool = True) -> PrePackedLinear:
        if mode:  # training changes weights in ways the version counter misses (module docstring)
            self.forget_pack()
        return super().train(mode)

    def __getstate__(self) -> dict:
        """What copy.deepcopy and pickle take: everything but the pack, which is remade on use
        (a oneDNN-blocked tensor has no storage to copy)."""
        return {**self.__dict__, "pack": None, "packed_from": None}

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, {self.kind} for inference on the CPU"


class PackedLinear(PrePackedLinear):
    """`nn.Linear` whose inference forward multiplies the weight packed for oneDNN (fp32)."""

    kind = "packed"

    def make_pack(self) -> torch.Tensor:
        return torch.ops.mkldnn._reorder_linear_weight(self.weight.detach(), ROWS_HINT)  # (N, K), blocked

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, T, K) → (B, T, N)
        if not inference_on_cpu(self, x) or x.dtype != torch.float32 or autocast_on(x):
            return F.linear(x, self.weight, self.bias)  # training, another device, bf16/fp16: plain
        bias = None if self.bias is None else self.bias.detach()  # (N,)
        # "none", [], "": no operation fused after the multiply, no arguments for it, default algorithm
        return torch.ops.mkldnn._linear_pointwise(x, self.packed(), bias, "none", [], "")


class Int8Linear(PrePackedLinear):
    """`nn.Linear` whose forward runs in 8-bit integers: int8 weights (a scale per row) and 8-bit
    activations (a scale per call), summed in 32 bits (module docstring). Inference only."""

    kind = "int8"

    def make_pack(self):
        torch.backends.quantized.engine = int8_engine()  # process-wide: the kernel's engine
        q, scale = quantize_rows(self.weight.detach().float())
        with warnings.catch_warnings():  # quantised tensors are deprecated (module docstring)
            warnings.filterwarnings("ignore", message=".*quantized tensor", category=UserWarning)
            zero_points = torch.zeros_like(scale, dtype=torch.long)  # symmetric: 0 is 0
            qweight = torch._make_per_channel_quantized_tensor(q, scale.double(), zero_points, 0)  # axis 0
            bias = None if self.bias is None else self.bias.detach().float()
            return torch.ops.quantized.linear_prepack(qweight, bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, T, K) → (B, T, N)
        if self.training or (torch.is_grad_enabled() and self.weight.requires_grad):
            raise RuntimeError(
                "an Int8Linear layer is for inference (eval mode, no gradients): put plain layers "
                "back to train (minisbert.kernels.packed_linear.use_linears(encoder, 'plain'))"
            )
        if x.device.type != "cpu":
            raise ValueError(f"int8 linear layers run on the CPU only, not on {x.device.type}")
        return torch.ops.quantized.linear_dynamic(x.float(), self.packed(), not cpu_has_vnni())  # (..., N)


def inference_on_cpu(layer: nn.Module, x: torch.Tensor) -> bool:
    """Whether `layer` is used for inference on the CPU: eval mode, no gradients, a CPU input. (A
    pack is used only then: in training mode the weights may change under it unseen.)"""
    return not layer.training and not torch.is_grad_enabled() and x.device.type == "cpu"


def autocast_on(x: torch.Tensor) -> bool:
    """Whether autocast (bf16, fp16) is on for `x`'s device: the plain multiply in that type, then."""
    try:
        return torch.is_autocast_enabled(x.device.type)
    except TypeError:  # torch before 2.4 takes no device type
        return torch.is_autocast_cpu_enabled() if x.device.type == "cpu" else torch.is_autocast_enabled()


# ---------------------------------------------------------------------------------------------
# choosing


def use_linears(module: nn.Module, kind: str) -> nn.Module:
    """Put linear layers of `kind` in every linear layer's place inside `module` (a SentenceEncoder
    or a BertModel), in place, and return it:

        "plain"   `nn.Linear`, model.py exactly as written (what `from_pretrained` gives)
        "packed"  PackedLinear: the same float32 numbers, packed for oneDNN (CPU)
        "int8"    Int8Linear: 8-bit integer weights and activations (CPU, inference only)

    A kind this machine cannot run is refused with the reason, before anything is changed."""
    if kind not in KINDS:
        raise ValueError(f"linear layers must be one of {', '.join(KINDS)}, got {kind!r}")
    device = next(module.parameters()).device
    if kind != "plain" and device.type != "cpu":
        raise ValueError(f"{kind} linear layers run on the CPU only, not on {device.type}")
    if kind == "packed" and not fp32_packing_works():
        raise ValueError("packed linear layers need oneDNN's packing operators, which this torch lacks")
    if kind == "int8":
        int8_engine()  # a torch without the x86 kernels: the reason, now
    if kind == "plain":
        return plain_linears(module)
    replace_linears(module, {"packed": PackedLinear, "int8": Int8Linear}[kind].of)
    return module


def best_linears(device: torch.device | str, precision: str = "fp32") -> str:
    """The kind of linear layer the command line encodes with: int8 for precision "int8"; packed
    for fp32 on a CPU whose torch packs correctly; plain otherwise (bf16 and fp16 run under
    autocast, which packed layers leave to `F.linear`)."""
    if precision == "int8":
        return "int8"
    cpu = torch.device(device).type == "cpu"
    return "packed" if precision == "fp32" and cpu and fp32_packing_works() else "plain"


# ---------------------------------------------------------------------------------------------
# fp32: can this torch pack?


@functools.cache
def fp32_packing_works() -> bool:
    """Whether this torch has the oneDNN operators and they give what `F.linear` gives (checked
    once per process, under `torch.no_grad()`, on a small random layer drawn from its own
    generator: the global random state, which dropout in a training run depends on, is left
    untouched)."""
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
                PackedLinear.of(linear)(x), F.linear(x, linear.weight, linear.bias), rtol=1e-5, atol=1e-5
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


def cpu_has_vnni(cpuinfo: str | None = None) -> bool:
    """Whether the CPU has VNNI, the instructions that sum u8 × s8 products straight into 32 bits.

    Without them (AVX2 only), the kernel adds pairs of products in 16 bits first, which 8-bit
    activations could overflow (2 · 255 · 127 > 2^15 − 1): there the activations are rounded to 7
    bits instead ("reduce_range"; 2 · 127 · 127 < 2^15), which costs some accuracy (docs/speed.md).
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
