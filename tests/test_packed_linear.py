"""The linear layers for encoding (minisbert/kernels/packed_linear.py): PackedLinear gives the plain
path's vectors, Int8Linear gives close ones, and both are visible modules on the same weights.

`use_linears(encoder, kind)` puts a layer of that kind in every `nn.Linear`'s place; everything
else runs as model.py writes it. What must hold:

- the swap shows in `print(encoder)`, keeps the state dict's names and tensors (the very same
  Parameters), and `use_linears(encoder, "plain")` gives back plain `nn.Linear` layers;
- PackedLinear = plain `F.linear` within `fp32_model` (1e-5) on the tricky texts, in batches of 1
  and 2, on all-MiniLM-L6-v2 and on a tiny random BERT with CLS+max+mean pooling, not normalised;
  the same for a call of one batch or of twenty: no threshold decides what runs;
- each layer packs once and keeps its pack between calls; the packs follow the weights: after an
  optimizer step (fused AdamW, which updates the weights in place without a sign) or
  `load_state_dict`, the next encode uses the new weights;
- with gradients, a PackedLinear is the plain multiply (a packed model trains exactly as a plain
  one); an Int8Linear refuses;
- packs are used only for inference in float32: under autocast and in training mode a
  PackedLinear multiplies with `F.linear`; two threads encode with one eval-mode encoder side by
  side (no lock), and encode leaves the mode as it found it;
- int8 vectors are within `int8_model` of fp32's, point nearly the same way (cosine > 0.95) and
  keep the STS ranking within 0.02 Spearman; int8 is refused for training, off the CPU, without
  int8 layers, and on a torch without the x86 kernels, each with a message naming the reason.
"""

from __future__ import annotations

import copy
import re
import threading

import numpy as np
import pytest
import torch
from helpers import TRICKY_TEXTS, assert_close, needs_int8, random_model

from minisbert import SentenceEncoder
from minisbert.config import preset
from minisbert.data import read_sts
from minisbert.evaluation import spearman
from minisbert.kernels import packed_linear
from minisbert.kernels.linears import linear_kinds
from minisbert.kernels.packed_linear import (
    Int8Linear,
    PackedLinear,
    best_linears,
    cpu_has_vnni,
    int8_engine,
    quantize_rows,
    use_linears,
)
from minisbert.pooling import PoolingConfig
from minisbert.training import TrainingConfig

LAYERS = 36  # all-MiniLM-L6-v2: 6 layers × (q, k, v, attention out, two feed-forward)


def with_linears(encoder, kind: str):
    """A copy of `encoder` whose linear layers are of `kind` (the shared fixtures stay plain)."""
    return use_linears(copy.deepcopy(encoder), kind)


@pytest.fixture
def packings(monkeypatch) -> list[str]:
    """The kind of every pack made from here on (recorded, then made as usual)."""
    packed_linear.fp32_packing_works()  # the once-a-process check packs a layer of its own: done now
    seen = []
    for cls in (PackedLinear, Int8Linear):

        def recording(self, make=cls.make_pack):
            seen.append(self.kind)
            return make(self)

        monkeypatch.setattr(cls, "make_pack", recording)
    return seen


@pytest.fixture(scope="module")
def tiny(encoder):
    """A tiny BERT with random (not near-zero) weights, three pooling modes, no normalisation."""
    config = preset("tiny", vocab_size=encoder.tokenizer.vocab_size)
    model = random_model(config, seed=3, dtype=torch.float32)
    return SentenceEncoder(model, encoder.tokenizer, PoolingConfig(("cls", "max", "mean")), normalize=False)


# ---------------------------------------------------------------------------------------------
# the swap


def test_the_swap_shows_and_shares_the_weights(encoder):
    packed = with_linears(encoder, "packed")
    assert linear_kinds(packed) == {"PackedLinear": LAYERS}
    shown = repr(packed)  # what print(encoder) shows
    assert "PackedLinear(in_features=384, out_features=384, bias=True, packed for inference" in shown
    assert re.search(r"(?<!Packed)Linear\(in_features", shown) is None  # no plain layer left
    before = {k: v.data_ptr() for k, v in packed.state_dict().items()}
    use_linears(packed, "int8")
    assert linear_kinds(packed) == {"Int8Linear": LAYERS}
    use_linears(packed, "plain")
    assert linear_kinds(packed) == {"Linear": LAYERS}
    assert {k: v.data_ptr() for k, v in packed.state_dict().items()} == before  # the same tensors throughout
    assert list(packed.state_dict()) == list(encoder.state_dict())
    with pytest.raises(ValueError, match="linear layers must be one of plain, packed, int8, got 'fast'"):
        use_linears(packed, "fast")


def test_the_command_line_default_is_named():
    assert best_linears("cpu", "int8") == "int8"
    assert best_linears("cpu", "bf16") == "plain"  # autocast: the plain multiply in bf16
    # packed where this torch packs correctly (oneDNN), plain where it cannot
    assert best_linears("cpu", "fp32") == ("packed" if packed_linear.fp32_packing_works() else "plain")
    assert best_linears("meta", "fp32") == "plain"


# ---------------------------------------------------------------------------------------------
# fp32


@pytest.mark.parametrize("batch_size", [1, 2], ids=lambda b: f"batches-of-{b}")
def test_packed_fp32_gives_the_plain_vectors(encoder, batch_size, packings):
    packed = with_linears(encoder, "packed")
    vectors = packed.encode(TRICKY_TEXTS, batch_size=batch_size)  # 20 or 10 batches
    assert packings == ["packed"] * LAYERS  # each layer packed once, on its first batch
    assert_close(vectors, encoder.encode(TRICKY_TEXTS, batch_size=batch_size), "fp32_model")
    packed.encode(TRICKY_TEXTS[:1])
    assert packings == ["packed"] * LAYERS  # kept between calls while the weights stay the same


def test_one_batch_runs_what_twenty_run(encoder):
    """No batch-count threshold: a call of one batch runs the packed layers too."""
    packed = with_linears(encoder, "packed")
    one = packed.encode(TRICKY_TEXTS[:1])
    assert_close(one, encoder.encode(TRICKY_TEXTS[:1]), "fp32_model")
    assert all(m.pack is not None for m in packed.modules() if isinstance(m, PackedLinear))


def test_packed_fp32_on_another_model_and_pooling(tiny, packings):
    texts = TRICKY_TEXTS[:10]
    packed = with_linears(tiny, "packed")
    vectors = packed.encode(texts, batch_size=1)  # (N, 3C): CLS, max and mean side by side
    assert packings and set(packings) == {"packed"}
    assert vectors.shape == (10, 3 * tiny.model.config.hidden_size)
    assert np.abs(vectors).max() > 1.0  # not normalised: a difference would show at full size
    assert_close(vectors, tiny.encode(texts, batch_size=1), "fp32_model")


def test_the_packs_follow_the_weights(tiny, packings):
    """Fused AdamW changes the weights in place without moving their version counter; loading a
    state dict copies into them: the next encode must see the new weights."""
    texts = [f"sentence number {i} of a call" for i in range(4)]
    packed = with_linears(tiny, "packed")
    before = packed.encode(texts, batch_size=1)
    saved = {k: v.clone() for k, v in packed.state_dict().items()}
    optimizer = torch.optim.AdamW(packed.parameters(), lr=0.05, fused=True)
    batch = packed.tokenizer(texts)
    packed.train()
    packed(**batch).pow(2).sum().backward()  # with gradients: the plain multiply
    optimizer.step()
    packed.eval()
    after = packed.encode(texts, batch_size=1)
    assert np.abs(after - before).max() > 1e-2  # the step moved the vectors ...
    plain = use_linears(copy.deepcopy(packed), "plain")
    assert_close(after, plain.encode(texts, batch_size=1), "fp32_model")  # ... and the packs followed
    packs = len(packings)
    packed.load_state_dict(saved)  # in eval mode: the version counters move
    assert_close(packed.encode(texts, batch_size=1), before, "fp32_model")
    assert len(packings) == packs + 6 * tiny.model.config.num_hidden_layers  # packed anew


def test_a_packed_model_trains_as_a_plain_one(tiny):
    """With gradients a PackedLinear multiplies with `F.linear`: the same loss and gradients, bit
    for bit, as the plain layers."""
    batch = tiny.tokenizer(TRICKY_TEXTS[:4])
    grads = []
    for kind in ("plain", "packed"):
        model = with_linears(tiny, kind).train()
        torch.manual_seed(0)  # the same dropout masks
        model(**batch).pow(2).sum().backward()
        grads.append({n: p.grad for n, p in model.named_parameters()})
    assert all(torch.equal(grads[0][n], grads[1][n]) for n in grads[0])


@pytest.mark.parametrize("kind", ["packed", pytest.param("int8", marks=needs_int8)])
def test_encoding_leaves_the_global_random_state_alone(tiny, kind):
    """Packing, and the one-time check of the oneDNN operators, draw nothing from the global
    generator: a training run that evaluates between steps must draw the same dropout masks as
    one resumed from a checkpoint (tests/test_distributed.py found this)."""
    packed_linear.fp32_packing_works.cache_clear()  # the check runs again, here
    state = torch.get_rng_state()
    with_linears(tiny, kind).encode(["a sentence to pack the weights for"] * 3, batch_size=1)
    assert torch.equal(torch.get_rng_state(), state)


def test_without_packing_the_choice_is_refused_and_the_default_is_plain(encoder, monkeypatch):
    """A torch without oneDNN (or whose operators fail the check): "packed" says why, and the
    command line's default falls back to plain `nn.Linear`."""
    monkeypatch.setattr(packed_linear, "fp32_packing_works", lambda: False)
    with pytest.raises(ValueError, match="need oneDNN's packing operators, which this torch lacks"):
        with_linears(encoder, "packed")
    assert best_linears("cpu", "fp32") == "plain"


# ---------------------------------------------------------------------------------------------
# turns


def test_threads_encode_side_by_side_on_one_encoder(tiny):
    """An encoder in eval mode is not changed by `encode`: two threads encode with one packed
    encoder at once (the first held inside its first batch while the second runs to the end), and
    both get the single-threaded vectors. No lock: neither waits for the other."""
    packed = with_linears(tiny, "packed").eval()
    texts = TRICKY_TEXTS[:3]
    expected = packed.encode(texts, batch_size=1)
    inside, release, results = threading.Event(), threading.Event(), {}

    def hold(module, args):
        if threading.current_thread() is first and not inside.is_set():
            inside.set()
            release.wait(timeout=60)

    first = threading.Thread(target=lambda: results.update(first=packed.encode(texts, batch_size=1)))
    second = threading.Thread(target=lambda: results.update(second=packed.encode(texts, batch_size=1)))
    hook = packed.model.register_forward_pre_hook(hold)
    try:
        first.start()
        assert inside.wait(timeout=60)
        second.start()
        second.join(timeout=30)
        assert not second.is_alive(), "the second encode waited for the first"
    finally:
        release.set()
        first.join(timeout=60)
        hook.remove()
    for name in ("first", "second"):
        np.testing.assert_array_equal(results[name], expected)
    assert not packed.training


def test_encode_leaves_the_mode_as_it_found_it(tiny):
    """In training mode, encode switches dropout off for the call and back on after it."""
    model = copy.deepcopy(tiny).train()
    vectors = model.encode(TRICKY_TEXTS[:2])
    assert model.training and all(m.training for m in model.modules())
    assert_close(vectors, tiny.encode(TRICKY_TEXTS[:2]), "fp32_model")  # dropout was off


def test_under_autocast_packed_layers_multiply_as_plain_ones(tiny):
    """Packed layers are float32: under bf16 autocast they step aside, so that bf16 on a packed
    encoder is bf16 on a plain one, bit for bit."""
    texts = TRICKY_TEXTS[:4]
    packed = with_linears(tiny, "packed")
    np.testing.assert_array_equal(
        packed.encode(texts, precision="bf16"), tiny.encode(texts, precision="bf16")
    )


def test_no_pack_is_used_in_training_mode(tiny, packings):
    """A model left in training mode, its weights changed by fused AdamW (no version counter
    moves) between two forwards without gradients: the second sees the new weights."""
    packed = with_linears(tiny, "packed").train()
    batch = packed.tokenizer(TRICKY_TEXTS[:3])
    optimizer = torch.optim.AdamW(packed.parameters(), lr=0.05, fused=True)
    with torch.no_grad():
        torch.manual_seed(0)
        before = packed(**batch)
    packed(**batch).pow(2).sum().backward()
    optimizer.step()
    with torch.no_grad():
        torch.manual_seed(0)
        after = packed(**batch)
        torch.manual_seed(0)
        plain = use_linears(copy.deepcopy(packed), "plain")(**batch)
    assert (after - before).abs().max() > 1e-2
    torch.testing.assert_close(after, plain, rtol=0, atol=0)
    assert packings == []  # in training mode nothing was packed


# ---------------------------------------------------------------------------------------------
# int8


def test_quantize_rows_known_answer():
    """Each row's largest |w| maps to 127 (first row: scale 1, so q is w rounded); halves round to
    the even neighbour (62.5 → 62, 63.5 → 64, -2.5 → -2); a zero row keeps scale 1; the second
    row's scale is 2/127."""
    q, scale = quantize_rows(torch.tensor([[127.0, 62.5, 63.5, -2.5], [0.0] * 4, [-2.0, 1.0, 0.0, 0.5]]))
    assert q.dtype == torch.int8
    assert q.tolist() == [[127, 62, 64, -2], [0, 0, 0, 0], [-127, 64, 0, 32]]
    assert_close(scale, [1.0, 1.0, 2 / 127], "fp32_op")


@needs_int8
def test_int8_vectors_are_close_to_fp32(encoder, data_dir, packings):
    pairs = read_sts(data_dir / "stsbenchmark" / "sts-dev.csv")[:150]
    texts = [p.sentence1 for p in pairs] + [p.sentence2 for p in pairs]
    int8_encoder = with_linears(encoder, "int8")
    fp32, int8 = encoder.encode(texts), int8_encoder.encode(texts, precision="int8")
    assert int8.dtype == np.float32
    assert_close(int8, fp32, "int8_model")
    assert np.abs(int8 - fp32).max() > 1e-3  # int8 really ran
    # cosine of each int8 vector with its fp32 one (all-MiniLM-L6-v2's vectors have unit
    # length): measured at least 0.967 with 7-bit activations
    assert (int8 * fp32).sum(1).min() > 0.95
    gold = np.array([p.score for p in pairs])

    def rho(v):
        return spearman((v[:150] * v[150:]).sum(1), gold)

    assert abs(rho(int8) - rho(fp32)) < 0.02
    assert packings == ["int8"] * LAYERS
    tricky = int8_encoder.encode(TRICKY_TEXTS, batch_size=4)  # the layers decide: int8 at "fp32" too
    assert_close(tricky, encoder.encode(TRICKY_TEXTS), "int8_model")


@needs_int8
def test_int8_is_refused_for_gradients_and_without_int8_layers(tiny):
    int8 = with_linears(tiny, "int8").train()
    with pytest.raises(
        RuntimeError, match=r"an Int8Linear layer is for inference \(eval mode, no gradients\)"
    ):
        int8(**int8.tokenizer(["a sentence"]))
    with pytest.raises(ValueError, match=r"precision 'int8' runs the linear layers in 8-bit integers: swap"):
        tiny.encode(["a sentence"], precision="int8")


def test_int8_is_refused_where_it_cannot_run(tiny):
    meta = copy.deepcopy(tiny).to("meta")
    with pytest.raises(ValueError, match="int8 linear layers run on the CPU only, not on meta"):
        use_linears(meta, "int8")
    with pytest.raises(ValueError, match=r"lacks \(it has: qnnpack\); use fp32 or bf16"):
        int8_engine(["qnnpack", "none"])
    assert int8_engine(["none", "fbgemm"]) == "fbgemm"
    with pytest.raises(
        ValueError, match=r"precision 'int8' is not one of fp32, bf16, fp16 \(int8 is for encoding only\)"
    ):
        TrainingConfig(precision="int8")


def test_vnni_is_read_from_the_cpu_flags():
    assert cpu_has_vnni("processor : 0\nflags : fpu avx2 avx512f avx512_vnni\n")
    assert not cpu_has_vnni("flags\t\t: sse avx2 avx_vnni\n")  # the AVX2 form: not counted (see the function)
    assert not cpu_has_vnni("flags : fpu avx2 fma\n")
    assert not cpu_has_vnni("no flags line here\n")
