"""Training's linear layers on the real tokens only (minisbert/unpadding.py): the same training.

The linear layers skip the padding positions of a batch; nothing a real token computes reads
them, and their gradient is exactly zero either way. What must hold, with dropout on:

- one forward and backward on a heavily padded batch: real tokens' outputs, the sentence
  embeddings and every weight's gradient equal the plain path's within `fp32_model`;
- several `Trainer` steps: the losses and the final weights equal those of a run with the plain
  linear layers within `fp32_training` (the dropout masks are the same draws: unpadding leaves
  every random draw where it was), except the key biases, whose gradient is zero in exact
  arithmetic and which Adam moves by rounding noise (see the test);
- after the block (or an error in it) each layer has its forward back and the hook is gone; a
  batch with no padding, and a call with no mask, take the plain path.
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
from minisbert.losses import CosineSimilarityLoss
from minisbert.pooling import PoolingConfig
from minisbert.training import Objective, Trainer, TrainingConfig
from minisbert.unpadding import RealRows, real_tokens_only

CONFIG = preset("tiny", hidden_dropout_prob=0.2, attention_probs_dropout_prob=0.2)
LR = 1e-3


def swapped(model) -> list[str]:
    return [n for n, m in model.named_modules() if isinstance(m, torch.nn.Linear) and "forward" in m.__dict__]


def forward_backward(model, batch, unpadded: bool, seed: int = 5):
    """(hidden states (B, T, C), mean-pooled (B, C), gradients by name) of one training forward."""
    model.zero_grad(set_to_none=True)
    torch.manual_seed(seed)  # the same dropout draws for both paths
    context = real_tokens_only(model) if unpadded else contextlib.nullcontext()
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


def train(tokenizer, monkeypatch, unpadded: bool):
    if not unpadded:  # the plain linear layers: the trainer's block does nothing
        import minisbert.training as training

        monkeypatch.setattr(training, "real_tokens_only", lambda model: contextlib.nullcontext())
    config = dataclasses.replace(CONFIG, vocab_size=tokenizer.vocab_size, pad_token_id=tokenizer.pad_token_id)
    model = random_model(config, seed=4, dtype=torch.float32)
    encoder = SentenceEncoder(model, tokenizer, PoolingConfig(("mean",)))
    config = TrainingConfig(epochs=1, batch_size=8, lr=LR, warmup_ratio=0.0, seed=0)
    trainer = Trainer(encoder, [pairs_objective(tokenizer)], config)
    losses = [trainer.step()["regression"] for _ in range(trainer.total_steps)]
    monkeypatch.undo()
    return losses, {k: v.clone() for k, v in encoder.state_dict().items()}


def test_training_steps_match_the_plain_linear_layers(encoder, monkeypatch):
    plain_losses, plain_weights = train(encoder.tokenizer, monkeypatch, unpadded=False)
    losses, weights = train(encoder.tokenizer, monkeypatch, unpadded=True)
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


def test_the_swap_ends_with_the_block_even_after_an_error():
    model = random_model(CONFIG, seed=1, dtype=torch.float32)
    with pytest.raises(RuntimeError, match="boom"), real_tokens_only(model):
        assert len(swapped(model)) == 6 * CONFIG.num_hidden_layers
        raise RuntimeError("boom")
    assert swapped(model) == [] and not model._forward_pre_hooks


def test_when_the_rows_are_not_gathered():
    rows = RealRows()
    rows.capture(None, (torch.zeros(2, 4, dtype=torch.long), torch.ones(2, 4)), {})
    assert rows.index is None  # no padding: nothing to skip
    rows.capture(None, (torch.zeros(2, 4, dtype=torch.long),), {})
    assert rows.index is None  # no mask at all
    rows.capture(
        None,
        (torch.zeros(2, 4, dtype=torch.long),),
        {"attention_mask": torch.tensor([[1, 1, 0, 0], [1, 1, 1, 1]])},
    )
    assert rows.index.tolist() == [0, 1, 4, 5, 6, 7]  # flat positions of the real tokens
    one_in_twenty = torch.ones(2, 10)
    one_in_twenty[0, 9] = 0  # 5% padding: below MIN_PADDING_FRACTION, not worth a gather
    rows.capture(None, (torch.zeros(2, 10, dtype=torch.long), one_in_twenty), {})
    assert rows.index is None
