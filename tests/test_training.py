"""The training loop on a tiny encoder: determinism, resuming, checkpoints, NaN, schedule, logs."""

from __future__ import annotations

import json

import pytest
import torch
from helpers import assert_close

from minisbert import BertModel, SentenceEncoder, WordPieceTokenizer, preset
from minisbert.data import TokenizedColumns
from minisbert.losses import CosineSimilarityLoss, SoftmaxLoss
from minisbert.optimizer import build_optimizer, warmup_then_linear_decay
from minisbert.run.training_run import RunConfig, RunTrainer, fit
from minisbert.training import Objective, Trainer, TrainingConfig
from minisbert.training import fit as plain_fit

SENTENCES = [
    "A man is playing a guitar.",
    "A woman is slicing an onion.",
    "Two dogs run in the park.",
    "The stock market fell today.",
    "A child is reading a book.",
    "Someone is cooking pasta.",
    "The sun is shining.",
    "It is raining heavily.",
    "A cat sleeps on the sofa.",
    "People are dancing.",
]


@pytest.fixture(scope="module")
def tokenizer(model_folder):
    return WordPieceTokenizer.from_pretrained(model_folder)


def tiny_encoder(tokenizer, seed: int = 0) -> SentenceEncoder:
    """A 2-layer BERT with the real vocabulary and dropout on, so that the random state matters."""
    torch.manual_seed(seed)
    config = preset(
        "tiny", vocab_size=tokenizer.vocab_size, hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1
    )
    return SentenceEncoder(BertModel(config), tokenizer, max_seq_length=32)


def objectives(tokenizer, seed: int = 0):
    """A regression and a classification objective over 40 made-up pairs."""
    g = torch.Generator().manual_seed(seed)
    first = [SENTENCES[i % 10] for i in range(40)]
    second = [SENTENCES[(i * 7 + 3) % 10] for i in range(40)]
    scores = torch.rand(40, generator=g).tolist()
    labels = torch.randint(0, 3, (40,), generator=g).tolist()
    torch.manual_seed(seed)
    return [
        Objective("regression", TokenizedColumns(tokenizer, [first, second], scores), CosineSimilarityLoss()),
        Objective("classification", TokenizedColumns(tokenizer, [first, second], labels), SoftmaxLoss(32, 3)),
    ]


CONFIG = RunConfig(epochs=2, batch_size=8, lr=1e-3, head_lr=1e-2, checkpoint_every=3, seed=7)


def weights(encoder, objs) -> dict[str, torch.Tensor]:
    state = {f"encoder.{k}": v.clone() for k, v in encoder.state_dict().items()}
    for o in objs:
        state |= {f"{o.name}.{k}": v.clone() for k, v in o.loss.state_dict().items()}
    return state


def train(tokenizer, folder=None, **kwargs):
    encoder, objs = tiny_encoder(tokenizer), objectives(tokenizer)
    log = fit(encoder, objs, kwargs.pop("config", CONFIG), output_dir=folder, **kwargs)
    return encoder, objs, log


def test_two_runs_with_the_same_seed_give_identical_weights(tokenizer):
    a, objs_a, log = train(tokenizer)
    b, objs_b, _ = train(tokenizer)
    assert len(log["train"]) == 10  # 2 epochs × 5 batches of 8
    wa, wb = weights(a, objs_a), weights(b, objs_b)
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    c, objs_c, _ = train(tokenizer, config=RunConfig(**{**CONFIG.__dict__, "seed": 8}))
    assert not torch.equal(
        wa["encoder.model.embeddings.word_embeddings.weight"],
        weights(c, objs_c)["encoder.model.embeddings.word_embeddings.weight"],
    )


def test_resumed_run_ends_with_the_same_weights(tokenizer, tmp_path):
    """Stop after step 4 (the last checkpoint is at step 3; step 4 is lost as in a crash),
    resume in a fresh process state, and end where an uninterrupted run ends."""
    whole, objs_whole, log_whole = train(tokenizer, tmp_path / "whole")
    train(tokenizer, tmp_path / "resumed", stop_after=4)
    assert (tmp_path / "resumed" / "checkpoints" / "latest").read_text().strip() == "step-0000003"
    assert not (tmp_path / "resumed" / "model").exists()
    torch.manual_seed(12345)  # a different global random state: resume must restore its own
    resumed, objs_resumed, log_resumed = train(tokenizer, tmp_path / "resumed", resume=True)
    w1, w2 = weights(whole, objs_whole), weights(resumed, objs_resumed)
    for k in w1:
        assert_close(w2[k], w1[k], "fp32_op")
    losses = [
        [e["loss"][name] for e in log["train"]]
        for log in (log_resumed, log_whole)
        for name in log["objectives"]
    ]
    assert_close(losses[:2], losses[2:], "fp32_op")


def test_run_folder_holds_model_log_and_plots(tokenizer, tmp_path):
    encoder, _, _ = train(tokenizer, tmp_path / "run", evaluator=lambda enc: {"score": 0.5})
    files = {p.name for p in (tmp_path / "run").iterdir()}
    assert {"model", "checkpoints", "log.json", "loss.png", "dev_metric.png"} <= files
    log = json.loads((tmp_path / "run" / "log.json").read_text())
    assert [e["step"] for e in log["eval"]] == [5, 10]  # the end of each epoch
    assert sorted(p.name for p in (tmp_path / "run" / "checkpoints").glob("step-*")) == ["step-0000010"]
    reloaded = SentenceEncoder.from_pretrained(tmp_path / "run" / "model")
    assert_close(reloaded.encode(SENTENCES), encoder.encode(SENTENCES), "fp32_op")


class Recording:
    """A test evaluator that records the first output value of the encoder on a fixed sentence."""

    main = "value"

    def __call__(self, encoder) -> dict[str, float]:
        return {"value": float(encoder.encode(["A man is playing a guitar."])[0, 0])}


def test_test_figures_before_and_after_are_in_the_one_log(tokenizer, tmp_path):
    """fit runs the test evaluator before and after training and writes both into log.json
    itself: no second writer of the log."""
    encoder, _, log = train(tokenizer, tmp_path / "run", test_evaluator=Recording())
    on_disk = json.loads((tmp_path / "run" / "log.json").read_text())
    assert on_disk["test_before"] == log["test_before"] and on_disk["test_after"] == log["test_after"]
    assert log["test_after"] == Recording()(encoder)
    assert log["test_before"] != log["test_after"]


def test_driving_the_trainer_by_hand_is_what_fit_does(tokenizer):
    """`Trainer.step()` is the public way to take one step: ten of them land where the core's
    `fit` lands (minisbert/training.py)."""
    by_fit, objs_fit = tiny_encoder(tokenizer), objectives(tokenizer)
    plain_fit(by_fit, objs_fit, CONFIG, show_progress=False)
    encoder, objs = tiny_encoder(tokenizer), objectives(tokenizer)
    trainer = Trainer(encoder, objs, CONFIG)
    while not trainer.done:
        trainer.step()
    w1, w2 = weights(by_fit, objs_fit), weights(encoder, objs)
    assert all(torch.equal(w1[k], w2[k]) for k in w1)
    assert trainer.step_count == 10 and len(trainer.orders) == 1  # one epoch's order kept at a time


def test_a_run_adds_no_arithmetic_to_the_core_loop(tokenizer, tmp_path):
    """The run's `fit` (minisbert/run/training_run.py: a run folder, checkpoints every 3 steps, the
    log, the lock) with the padding kept lands exactly where the core's `fit` lands: what it adds
    around the loop does not touch the numbers, not even the random state dropout draws from."""
    by_run, objs_run, log = train(tokenizer, tmp_path / "run", skip_padding=False)
    by_core, objs_core = tiny_encoder(tokenizer), objectives(tokenizer)
    core_log = plain_fit(by_core, objs_core, CONFIG, show_progress=False)
    w1, w2 = weights(by_run, objs_run), weights(by_core, objs_core)
    assert all(torch.equal(w1[k], w2[k]) for k in w1)
    assert [e["loss"] for e in log["train"]] == [e["loss"] for e in core_log["train"]]
    assert (tmp_path / "run" / "checkpoints").is_dir()  # the run did write its checkpoints


def test_gradients_are_clipped_to_max_grad_norm(tokenizer):
    """With max_grad_norm = c, the gradients the optimizer sees have total norm min(‖g‖, c): the
    step clips them, and the log records the norm before clipping."""
    config = TrainingConfig(batch_size=8, lr=1e-3, max_grad_norm=1e-3, seed=7, warmup_ratio=0.0)
    trainer = Trainer(tiny_encoder(tokenizer), objectives(tokenizer)[:1], config)
    trainer.step()
    params = [p for group in trainer.optimizer.param_groups for p in group["params"] if p.grad is not None]
    clipped = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(p.grad) for p in params]))
    assert trainer.log["train"][0]["grad_norm"] > 1e-2  # far above the limit before clipping
    assert clipped.item() == pytest.approx(1e-3, rel=1e-4)


def test_a_few_steps_of_training_lower_the_loss(tokenizer):
    """The whole loop learns: repeating one batch of the tiny model (dropout on, training mode),
    the regression loss falls well below where it started."""
    encoder, objs = tiny_encoder(tokenizer), objectives(tokenizer)[:1]
    config = TrainingConfig(epochs=8, batch_size=40, lr=3e-3, warmup_ratio=0.0, seed=0)
    trainer = Trainer(encoder, objs, config)
    losses = [trainer.step()["regression"] for _ in range(trainer.total_steps)]
    assert encoder.training  # the trainer trains with dropout on
    assert losses[-1] < 0.5 * losses[0], losses


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_mixed_precision_trains_on_the_cpu(tokenizer, precision):
    """Under autocast the same loop learns; the weights stay float32 (only the matrix multiplies
    run narrow), and fp16 goes through the gradient scaler."""
    encoder, objs = tiny_encoder(tokenizer), objectives(tokenizer)[:1]
    config = TrainingConfig(epochs=8, batch_size=40, lr=3e-3, warmup_ratio=0.0, seed=0, precision=precision)
    trainer = RunTrainer(encoder, objs, config)  # a run's trainer: its state holds the scaler's
    losses = [trainer.step()["regression"] for _ in range(trainer.total_steps)]
    assert losses[-1] < 0.5 * losses[0], losses
    assert all(p.dtype == torch.float32 for p in encoder.parameters())
    assert (trainer.scaler is not None) == (precision == "fp16")
    assert "scaler" in trainer.state() and trainer.log["config"]["precision"] == precision


def test_an_existing_run_is_never_overwritten(tokenizer, tmp_path):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="already holds a run"):
        train(tokenizer, tmp_path / "run")
    assert (tmp_path / "run" / "notes.txt").read_text() == "mine"


def test_resume_needs_a_checkpoint_and_the_same_settings(tokenizer, tmp_path):
    with pytest.raises(FileNotFoundError, match="no checkpoint to resume from"):
        train(tokenizer, tmp_path / "none", resume=True)
    train(tokenizer, tmp_path / "run", stop_after=3)
    with pytest.raises(ValueError, match="made with other settings"):
        train(tokenizer, tmp_path / "run", resume=True, config=RunConfig(**{**CONFIG.__dict__, "lr": 5e-4}))


class NaNAfter(CosineSimilarityLoss):
    """A regression loss that turns NaN from its `n`-th call on."""

    def __init__(self, n: int):
        super().__init__()
        self.calls, self.n = 0, n

    def forward(self, u, v, scores):
        self.calls += 1
        loss = super().forward(u, v, scores)
        return loss * float("nan") if self.calls >= self.n else loss


def test_nan_loss_stops_with_a_clear_error_and_keeps_the_checkpoint(tokenizer, tmp_path):
    encoder, objs = tiny_encoder(tokenizer), objectives(tokenizer)[:1]
    objs[0].loss = NaNAfter(5)
    with pytest.raises(FloatingPointError, match=r"regression loss is nan at step 5: .*step-0000003"):
        fit(encoder, objs, CONFIG, output_dir=tmp_path)
    state = torch.load(tmp_path / "checkpoints" / "step-0000003" / "trainer_state.pt", weights_only=True)
    assert state["step"] == 3
    assert SentenceEncoder.from_pretrained(tmp_path / "checkpoints" / "step-0000003" / "model").encode(
        ["x"]
    ).shape == (1, 32)


def test_crash_while_writing_a_checkpoint_keeps_the_last_good_one(tokenizer, tmp_path, monkeypatch):
    train(tokenizer, tmp_path, stop_after=3)
    real_save = torch.save

    def crash(obj, path, *a, **k):
        real_save(obj, path, *a, **k)
        raise KeyboardInterrupt("power cut while writing")

    monkeypatch.setattr(torch, "save", crash)
    with pytest.raises(KeyboardInterrupt):
        train(tokenizer, tmp_path, resume=True)
    monkeypatch.undo()
    folder = tmp_path / "checkpoints"
    assert (folder / "latest").read_text().strip() == "step-0000003"
    assert sorted(p.name for p in folder.iterdir() if not p.name.startswith(".")) == [
        "latest",
        "step-0000003",
    ]
    train(tokenizer, tmp_path, resume=True)  # and the run goes on from there


def test_warmup_then_linear_decay():
    """10 steps, 2 of warm-up: 0, 0.5, then 1 falling linearly to 0 at step 10."""
    f = warmup_then_linear_decay(2, 10)
    assert [f(s) for s in range(11)] == pytest.approx(
        [0, 0.5, 1, 7 / 8, 6 / 8, 5 / 8, 4 / 8, 3 / 8, 2 / 8, 1 / 8, 0]
    )


def test_optimizer_groups(tokenizer):
    encoder, objs = tiny_encoder(tokenizer), objectives(tokenizer)
    optimizer = build_optimizer(encoder, objs, CONFIG)
    decayed, plain, heads = optimizer.param_groups
    names = {id(p): n for n, p in encoder.named_parameters()}
    assert all(not names[id(p)].endswith(("bias", "LayerNorm.weight")) for p in decayed["params"])
    assert all(names[id(p)].endswith(("bias", "LayerNorm.weight")) for p in plain["params"])
    assert plain["weight_decay"] == 0.0
    assert heads["lr"] == 1e-2 and decayed["lr"] == 1e-3
    assert len(heads["params"]) == 2  # the classifier's weight and bias


@pytest.mark.parametrize(
    "overrides, message",
    [
        (dict(batch_size=0), "batch_size must be at least 1"),
        (dict(warmup_ratio=1.5), "warmup_ratio"),
        (dict(lr=0), "learning rates must be positive"),
        (dict(precision="fp8"), "precision 'fp8' is not one of fp32, bf16, fp16"),
        (dict(keep_checkpoints=0), "keep_checkpoints must be at least 1"),
        (dict(checkpoint_every=-1), "checkpoint_every must be 0 or more"),
    ],
)
def test_bad_training_config(overrides, message):
    """The core's TrainingConfig and the run's RunConfig (its checkpoints) refuse bad values."""
    with pytest.raises(ValueError, match=message):
        (RunConfig if "checkpoint" in str(overrides) else TrainingConfig)(**overrides)


def test_the_core_config_knows_nothing_of_checkpoints():
    """A plain TrainingConfig given to the run's fit gets the run's defaults for the rest."""
    from minisbert.run.training_run import run_config

    assert not hasattr(TrainingConfig(), "checkpoint_every")
    config = run_config(TrainingConfig(lr=1e-3))
    assert (config.lr, config.checkpoint_every, config.keep_checkpoints) == (1e-3, 0, 1)


def test_too_little_data_for_one_batch(tokenizer):
    objs = objectives(tokenizer)
    with pytest.raises(ValueError, match="fewer than one global batch of 64"):
        fit(tiny_encoder(tokenizer), objs, TrainingConfig(batch_size=64))


def test_a_run_on_several_processes_refuses_the_per_process_mnrl(tokenizer, monkeypatch):
    """On two processes the plain MultipleNegativesRankingLoss would see half of each batch: an
    easier objective than the one asked for. The run refuses it and names GlobalBatchMNRL."""
    from minisbert.losses import MultipleNegativesRankingLoss
    from minisbert.run import distributed, training_run

    monkeypatch.setattr(training_run.distributed, "current_world", lambda: distributed.World(rank=0, size=2))
    data = objectives(tokenizer)[0].data
    with pytest.raises(
        ValueError, match=r"'mnrl': on 2 processes .* use run/distributed.py's GlobalBatchMNRL"
    ):
        RunTrainer(tiny_encoder(tokenizer), [Objective("mnrl", data, MultipleNegativesRankingLoss())], CONFIG)
