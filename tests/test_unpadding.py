"""Training's linear layers on the real tokens only (minisbert/kernels/unpadding.py): the same training.

The linear layers skip the padding positions of a batch; nothing a real token computes reads
them, and their gradient is exactly zero either way. What must hold, with dropout on:

- one forward and backward on a heavily padded batch: real tokens' outputs, the sentence
  embeddings and every weight's gradient equal the plain path's within `fp32_model`;
- several `Trainer` steps: the losses and the final weights equal those of a run with the plain
  linear layers within `fp32_training` (the dropout masks are the same draws: unpadding leaves
  every random draw where it was), except the key biases, whose gradient is zero in exact
  arithmetic and which Adam moves by rounding noise (see the test);
- the swap is visible and shares the weights: `print(model)` shows UnpaddedLinear, the state dict
  has the same names and the same tensors; after the block (or an error in it) the layers are
  plain `nn.Linear` again and the hook is gone; the run's `fit` skips padding while it lasts;
- a batch with no padding, and a call with no mask, take the plain path.
"""

from __future__ import annotations

import contextlib
import dataclasses

import pytest
import torch
from helpers import assert_close, random_batch, random_model

from minisbert import SentenceEncoder
from minisbert.config import preset
from minisbert.data import TokenizedColumns
from minisbert.kernels.unpadding import RealRows, UnpaddedLinear, keep_padding, padding_skipped, skip_padding
from minisbert.losses import CosineSimilarityLoss
from minisbert.pooling import PoolingConfig
from minisbert.training import Objective, Trainer, TrainingConfig

CONFIG = preset("tiny", hidden_dropout_prob=0.2, attention_probs_dropout_prob=0.2)
LR = 1e-3


def swapped(model) -> list[str]:
    """The names of the layers that are not plain `nn.Linear` ones."""
    return [
        n
        for n, m in model.named_modules()
        if isinstance(m, torch.nn.Linear) and type(m) is not torch.nn.Linear
    ]


def forward_backward(model, batch, unpadded: bool, seed: int = 5):
    """(hidden states (B, T, C), mean-pooled (B, C), gradients by name) of one training forward."""
    model.zero_grad(set_to_none=True)
    torch.manual_seed(seed)  # the same dropout draws for both paths
    context = padding_skipped(model) if unpadded else contextlib.nullcontext()
    input_ids, mask, types = batch
    with context:
        hidden = model(input_ids, mask, types)  # (B, T, C)
    pooled = (hidden * mask[..., None]).sum(1) / mask.sum(1, keepdim=True)  # (B, C)
    (pooled.pow(2).sum() + pooled.sum()).backward()
    return hidden, pooled, {n: p.grad.clone() for n, p in model.named_parameters()}


def test_one_padded_step_gives_the_plain_outputs_and_gradients():
    model = random_model(CONFIG, seed=1, dtype=torch.float32).train()
    batch = random_batch(CONFIG, [3, 17, 9, 2, 30], seed=2, pairs=True)  # over half of it padding
    mask = batch[1].bool()
    plain_hidden, plain_pooled, plain_grads = forward_backward(model, batch, unpadded=False)
    hidden, pooled, grads = forward_backward(model, batch, unpadded=True)
    assert_close(hidden[mask], plain_hidden[mask], "fp32_model")  # real tokens only: padding may differ
    assert_close(pooled, plain_pooled, "fp32_model")
    assert set(grads) == set(plain_grads)
    for name, grad in grads.items():
        assert_close(grad, plain_grads[name], "fp32_model")
    assert (hidden[~mask] != plain_hidden[~mask]).any()  # the padding really was skipped
    assert swapped(model) == []


def pairs_objective(tokenizer):
    g = torch.Generator().manual_seed(0)
    words = ["a man", "is playing", "the guitar", "a woman", "slices", "an onion", "quickly", "at night"]

    def sentence():
        n = int(torch.randint(1, 9, (1,), generator=g))
        return " ".join(words[int(i)] for i in torch.randint(0, len(words), (n,), generator=g))

    first, second = [sentence() for _ in range(48)], [sentence() for _ in range(48)]
    scores = torch.rand(48, generator=g).tolist()
    return Objective(
        "regression", TokenizedColumns(tokenizer, [first, second], scores), CosineSimilarityLoss()
    )


def train(tokenizer, unpadded: bool):
    config = dataclasses.replace(CONFIG, vocab_size=tokenizer.vocab_size, pad_token_id=tokenizer.pad_token_id)
    model = random_model(config, seed=4, dtype=torch.float32)
    encoder = SentenceEncoder(model, tokenizer, PoolingConfig(("mean",)))
    if unpadded:
        skip_padding(encoder.model)
    config = TrainingConfig(epochs=1, batch_size=8, lr=LR, warmup_ratio=0.0, seed=0)
    trainer = Trainer(encoder, [pairs_objective(tokenizer)], config)
    losses = [trainer.step()["regression"] for _ in range(trainer.total_steps)]
    assert len(swapped(encoder.model)) == (6 * config_layers(encoder) if unpadded else 0)
    return losses, {k: v.clone() for k, v in encoder.state_dict().items()}


def config_layers(encoder) -> int:
    return encoder.model.config.num_hidden_layers


def test_training_steps_match_the_plain_linear_layers(encoder):
    plain_losses, plain_weights = train(encoder.tokenizer, unpadded=False)
    losses, weights = train(encoder.tokenizer, unpadded=True)
    assert len(losses) == 6
    assert_close(losses, plain_losses, "fp32_training")
    for name, w in weights.items():
        if name.endswith("attention.self.key.bias"):
            # softmax ignores a constant added to a row of scores, and q · b_key is one: this
            # gradient is exactly zero in exact arithmetic, rounding noise (~1e-9) in float32, and
            # Adam divides by its own size, turning noise into steps of up to lr. Bounded, not equal.
            # each run's steps are at most about lr: two runs apart by at most 2 · lr · steps
            assert (w - plain_weights[name]).abs().max() <= 2 * LR * len(losses)
        else:
            assert_close(w, plain_weights[name], "fp32_training")
    assert any((w != plain_weights[n]).any() for n, w in weights.items())  # two paths really ran


def test_the_swap_shows_shares_the_weights_and_ends_with_the_block_even_after_an_error():
    model = random_model(CONFIG, seed=1, dtype=torch.float32)
    before = model.state_dict()
    with pytest.raises(RuntimeError, match="boom"), padding_skipped(model):
        assert len(swapped(model)) == 6 * CONFIG.num_hidden_layers
        assert "UnpaddedLinear(in_features=" in repr(model) and "real tokens' rows only" in repr(model)
        during = model.state_dict()
        assert list(during) == list(before)  # the same names, so checkpoints and saving see no change
        assert all(during[k] is before[k] or during[k].data_ptr() == before[k].data_ptr() for k in before)
        raise RuntimeError("boom")
    assert swapped(model) == [] and not model._forward_pre_hooks
    assert "UnpaddedLinear" not in repr(model)
    skip_padding(model)
    skip_padding(model)  # a second call changes nothing: one hook, one set of rows
    assert len(model._forward_pre_hooks) == 1
    assert len({id(m.rows) for m in model.modules() if isinstance(m, UnpaddedLinear)}) == 1
    keep_padding(model)
    assert swapped(model) == [] and not model._forward_pre_hooks


def test_the_run_skips_padding_while_it_lasts_and_not_after(encoder, tmp_path):
    """minisbert/run/training_run.py's fit trains with UnpaddedLinear layers (the default) and
    leaves plain ones; with skip_padding=False it never swaps."""
    from minisbert.run.training_run import fit

    seen = []

    class Spy(CosineSimilarityLoss):
        def forward(self, u, v, scores):
            seen.append(
                sorted({type(m).__name__ for m in tiny.model.modules() if isinstance(m, torch.nn.Linear)})
            )
            return super().forward(u, v, scores)

    config = dataclasses.replace(CONFIG, vocab_size=encoder.tokenizer.vocab_size, pad_token_id=0)
    for skip, expected in ((True, ["UnpaddedLinear"]), (False, ["Linear"])):
        tiny = SentenceEncoder(random_model(config, seed=4, dtype=torch.float32), encoder.tokenizer)
        objective = pairs_objective(encoder.tokenizer)
        objective.loss = Spy()
        seen.clear()
        fit(tiny, [objective], TrainingConfig(batch_size=16), show_progress=False, skip_padding=skip)
        assert seen and all(kinds == expected for kinds in seen), seen
        assert swapped(tiny.model) == []


def test_when_the_rows_are_not_gathered():
    rows, training = RealRows(), torch.nn.Module()  # a module in training mode, as after .train()
    rows.capture(training, (torch.zeros(2, 4, dtype=torch.long), torch.ones(2, 4)), {})
    assert rows.index is None  # no padding: nothing to skip
    rows.capture(training, (torch.zeros(2, 4, dtype=torch.long),), {})
    assert rows.index is None  # no mask at all
    rows.capture(
        training,
        (torch.zeros(2, 4, dtype=torch.long),),
        {"attention_mask": torch.tensor([[1, 1, 0, 0], [1, 1, 1, 1]])},
    )
    assert rows.index.tolist() == [0, 1, 4, 5, 6, 7]  # flat positions of the real tokens
    one_in_twenty = torch.ones(2, 10)
    one_in_twenty[0, 9] = 0  # 5% padding: below MIN_PADDING_FRACTION, not worth a gather
    rows.capture(training, (torch.zeros(2, 10, dtype=torch.long), one_in_twenty), {})
    assert rows.index is None
    half = {"attention_mask": torch.tensor([[1, 1, 0, 0], [1, 1, 1, 1]])}
    rows.capture(training.eval(), (torch.zeros(2, 4, dtype=torch.long),), half)
    assert rows.index is None  # in eval mode every row is multiplied


def test_the_layers_that_were_there_come_back_and_eval_mode_multiplies_every_row(encoder):
    """keep_padding puts back the very modules skip_padding took out (packed ones stay packed,
    with their hooks); a model that skipped padding already is left skipping; in eval mode the
    UnpaddedLinear layers multiply every row, as model.py does (evaluations during a run)."""
    from minisbert.kernels.packed_linear import PackedLinear, use_linears

    model = use_linears(random_model(CONFIG, seed=1, dtype=torch.float32), "packed")
    before = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    calls = []
    before[0].register_forward_hook(lambda *args: calls.append(1))
    with padding_skipped(model):
        assert all(isinstance(m, UnpaddedLinear) for m in model.modules() if isinstance(m, torch.nn.Linear))
    after = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    assert all(a is b for a, b in zip(after, before, strict=True)) and isinstance(after[0], PackedLinear)
    batch = random_batch(CONFIG, [3, 17, 9], seed=2, pairs=True)
    model.eval()(*batch)
    assert calls == [1]  # the hook came back with its layer
    skip_padding(model)
    with padding_skipped(model):  # not its own: left as found
        pass
    assert len(swapped(model)) == 6 * CONFIG.num_hidden_layers and len(model._forward_pre_hooks) == 1
    keep_padding(model)
    plain_model = skip_padding(random_model(CONFIG, seed=1, dtype=torch.float32)).eval()  # nn.Linear inside
    with torch.no_grad():
        unpadded = plain_model(*batch)  # (B, T, C), padding rows too
        keep_padding(plain_model)
        plain = plain_model(*batch)
    torch.testing.assert_close(unpadded, plain, rtol=0, atol=0)  # in eval mode: every row, the same sums
