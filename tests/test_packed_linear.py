"""The linear layers of `encode` (minisbert/packed_linear.py): packed fp32 gives the plain path's
vectors, int8 gives close ones, and neither leaves a trace on the model.

`encode` swaps each `nn.Linear`'s forward for the length of the call: fp32 on weights packed once
for oneDNN, int8 on weights and activations rounded to integers. Everything else runs as model.py
writes it. What must hold:

- packed fp32 = plain `F.linear` within `fp32_model` (1e-5) on the tricky texts, in batches of 1 and
  2, on all-MiniLM-L6-v2 and on a tiny random BERT with CLS+max+mean pooling, not normalised;
- the packs follow the weights: after an optimizer step (fused AdamW, which updates the weights in
  place without a sign) or `load_state_dict`, the next encode uses the new weights;
- a short call (fewer than PACK_MIN_BATCHES batches) is not packed, and gives the plain vectors;
- after an encode (or an error inside one) every layer has its own forward back, and training,
  which needs gradients through the plain forward, is untouched;
- an encode from another thread waits while an int8 encode has the layers swapped;
- int8 vectors are within `int8_model` of fp32's, point nearly the same way (cosine > 0.95) and keep the
  STS ranking within 0.02 Spearman; int8 is refused for training, off the CPU, and on a torch
  without the x86 kernels, each with a message naming the reason.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch
from helpers import TRICKY_TEXTS, assert_close, needs_int8, random_model

from minisbert import SentenceEncoder
from minisbert.config import preset
from minisbert.data import read_sts
from minisbert.evaluation import spearman
from minisbert.packed_linear import (
    PACK_MIN_BATCHES,
    cpu_has_vnni,
    int8_engine,
    packed_linears,
    plain_fp32,
    quantize_rows,
    uses_packed_linears,
)
from minisbert.pooling import PoolingConfig
from minisbert.training import TrainingConfig


def plain(encoder, texts, **kwargs):
    with plain_fp32():
        return encoder.encode(texts, **kwargs)


def swapped_layers(model) -> list[str]:
    """The names of the linear layers whose forward is still swapped (none, after an encode)."""
    return [n for n, m in model.named_modules() if isinstance(m, torch.nn.Linear) and "forward" in m.__dict__]


@pytest.fixture
def packings(monkeypatch) -> list[str]:
    """The precision of every packing of a layer from here on (recorded, then done as usual)."""
    import minisbert.packed_linear as packed_linear

    packed_linear.fp32_packing_works()  # the once-a-process check packs a layer of its own: done now
    seen = []
    for precision, pack in (("fp32", packed_linear.pack_fp32), ("int8", packed_linear.pack_int8)):

        def recording(linear, pack=pack, precision=precision):
            seen.append(precision)
            return pack(linear)

        monkeypatch.setattr(packed_linear, f"pack_{precision}", recording)
    return seen


@pytest.fixture(scope="module")
def tiny(encoder):
    """A tiny BERT with random (not near-zero) weights, three pooling modes, no normalisation."""
    config = preset("tiny", vocab_size=encoder.tokenizer.vocab_size)
    model = random_model(config, seed=3, dtype=torch.float32)
    return SentenceEncoder(model, encoder.tokenizer, PoolingConfig(("cls", "max", "mean")), normalize=False)


# ---------------------------------------------------------------------------------------------
# fp32


@pytest.mark.parametrize("batch_size", [1, 2], ids=lambda b: f"batches-of-{b}")
def test_packed_fp32_gives_the_plain_vectors(encoder, batch_size, packings):
    assert uses_packed_linears(encoder.device, "fp32")  # this machine's torch has oneDNN
    packed = encoder.encode(TRICKY_TEXTS, batch_size=batch_size)  # 20 or 10 batches
    assert packings == ["fp32"] * 36  # 6 layers × (q, k, v, attention out, two feed-forward)
    assert_close(packed, plain(encoder, TRICKY_TEXTS, batch_size=batch_size), "fp32_model")
    assert swapped_layers(encoder.model) == []


def test_a_short_call_is_not_packed(encoder, packings):
    texts = TRICKY_TEXTS[: PACK_MIN_BATCHES - 1]
    vectors = encoder.encode(texts, batch_size=1)
    assert packings == []
    np.testing.assert_array_equal(vectors, plain(encoder, texts, batch_size=1))


def test_packed_fp32_on_another_model_and_pooling(tiny, packings):
    texts = TRICKY_TEXTS[:10]
    vectors = tiny.encode(texts, batch_size=1)  # (N, 3C): CLS, max and mean side by side
    assert packings and set(packings) == {"fp32"}
    assert vectors.shape == (10, 3 * tiny.model.config.hidden_size)
    assert np.abs(vectors).max() > 1.0  # not normalised: a difference would show at full size
    assert_close(vectors, plain(tiny, texts, batch_size=1), "fp32_model")


def test_the_packs_follow_the_weights(tiny):
    """Fused AdamW changes the weights in place without moving their version counter; loading a
    state dict copies into them: the next encode must see the new weights (packs live for one
    call, packed_linear.packed_linears)."""
    texts = [f"sentence number {i} of a call long enough to be packed" for i in range(PACK_MIN_BATCHES)]
    before = tiny.encode(texts, batch_size=1)
    saved = {k: v.clone() for k, v in tiny.state_dict().items()}
    optimizer = torch.optim.AdamW(tiny.parameters(), lr=0.05, fused=True)
    batch = tiny.tokenizer(texts)
    tiny.train()
    tiny(**batch).pow(2).sum().backward()  # the plain forward, with gradients: packing is not in the way
    optimizer.step()
    tiny.eval()
    after = tiny.encode(texts, batch_size=1)
    assert np.abs(after - before).max() > 1e-2  # the step moved the vectors ...
    assert_close(after, plain(tiny, texts, batch_size=1), "fp32_model")  # ... and the packed path followed
    tiny.load_state_dict(saved)
    assert_close(tiny.encode(texts, batch_size=1), before, "fp32_model")


@needs_int8
def test_an_error_inside_leaves_every_forward_restored(tiny):
    with pytest.raises(RuntimeError, match="boom"), packed_linears(tiny.model, "fp32"):
        assert len(swapped_layers(tiny.model)) == 6 * tiny.model.config.num_hidden_layers  # all swapped
        raise RuntimeError("boom")
    assert swapped_layers(tiny.model) == []
    import minisbert.sentence_encoder as sentence_encoder

    def failing_pool(*args):
        raise RuntimeError("pooling failed")

    original, sentence_encoder.pool = sentence_encoder.pool, failing_pool
    try:  # an error in the middle of an encode, after the swap
        with pytest.raises(RuntimeError, match="pooling failed"):
            tiny.encode(["a sentence"] * PACK_MIN_BATCHES, batch_size=1, precision="int8")
    finally:
        sentence_encoder.pool = original
    assert swapped_layers(tiny.model) == []


@pytest.mark.parametrize("precision", ["fp32", pytest.param("int8", marks=needs_int8)])
def test_encoding_leaves_the_global_random_state_alone(tiny, precision):
    """Packing, and the one-time check of the oneDNN operators, draw nothing from the global
    generator: a training run that evaluates between steps must draw the same dropout masks as
    one resumed from a checkpoint (tests/test_distributed.py found this)."""
    import minisbert.packed_linear as packed_linear

    packed_linear.fp32_packing_works.cache_clear()  # the check runs again, here
    state = torch.get_rng_state()
    tiny.encode(["a sentence to pack the weights for"] * PACK_MIN_BATCHES, batch_size=1, precision=precision)
    assert torch.equal(torch.get_rng_state(), state)


def test_without_packing_fp32_is_exactly_the_plain_path(encoder, monkeypatch, packings):
    """A torch without oneDNN (or whose operators fail the check) falls back to `F.linear`."""
    import minisbert.packed_linear as packed_linear

    monkeypatch.setattr(packed_linear, "fp32_packing_works", lambda: False)
    assert not uses_packed_linears(encoder.device, "fp32")
    texts = TRICKY_TEXTS[:10]
    np.testing.assert_array_equal(encoder.encode(texts, batch_size=1), plain(encoder, texts, batch_size=1))
    assert packings == []


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
    fp32, int8 = encoder.encode(texts), encoder.encode(texts, precision="int8")
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
    assert set(packings) == {"fp32", "int8"}  # 300 texts: 10 batches, so fp32 packed too
    tricky = encoder.encode(TRICKY_TEXTS, precision="int8", batch_size=4)  # int8 whatever the count
    assert_close(tricky, encoder.encode(TRICKY_TEXTS), "int8_model")
    assert swapped_layers(encoder.model) == []


@needs_int8
def test_an_encode_in_another_thread_waits_for_an_int8_encode(tiny):
    """While an int8 encode runs, the model's linear layers are int8. A short fp32 encode from
    another thread (not packed: it would run the layers as it finds them) must wait its turn, not
    run on them: the int8 encode is held inside its first batch, and the fp32 one must not finish."""
    long_texts, short_texts = TRICKY_TEXTS[:PACK_MIN_BATCHES], TRICKY_TEXTS[:3]
    expected = tiny.encode(short_texts, batch_size=1)  # fp32, on its own
    inside, release, results = threading.Event(), threading.Event(), {}

    def hold_the_int8_encode(module, args):
        if threading.current_thread() is int8 and not inside.is_set():
            inside.set()
            release.wait(timeout=60)

    int8 = threading.Thread(
        target=lambda: results.update(int8=tiny.encode(long_texts, batch_size=1, precision="int8"))
    )
    fp32 = threading.Thread(target=lambda: results.update(fp32=tiny.encode(short_texts, batch_size=1)))
    hook = tiny.model.register_forward_pre_hook(hold_the_int8_encode)
    try:
        int8.start()
        assert inside.wait(timeout=60)
        fp32.start()
        fp32.join(timeout=2)  # an fp32 encode of 3 texts takes milliseconds
        assert fp32.is_alive(), "the fp32 encode ran while the int8 one held the model"
    finally:
        release.set()
        int8.join(timeout=60)
        fp32.join(timeout=60)
        hook.remove()
    assert_close(results["fp32"], expected, "fp32_model")
    assert_close(results["int8"], tiny.encode(long_texts, batch_size=1, precision="int8"), "fp32_model")
    assert swapped_layers(tiny.model) == []


def test_int8_is_refused_where_it_cannot_run():
    with pytest.raises(ValueError, match="precision 'int8' runs on the CPU only, not on meta"):
        uses_packed_linears(torch.device("meta"), "int8")
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
