"""The benchmark runs end to end and reports every figure; its numbers are printed, not asserted
(speed is measured by `minisbert bench`, not by timed tests)."""

from __future__ import annotations

import torch
from helpers import assert_close, int8_missing

from minisbert.bench import throughput as bench
from minisbert.bench.trainer_steps import training_benchmark
from minisbert.data import read_sts
from minisbert.optimizer import build_optimizer
from minisbert.training import TrainingConfig


def test_encoding_memory_and_training_reports(encoder, model_folder, data_dir):
    pairs = read_sts(data_dir / "stsbenchmark" / "sts-dev.csv")
    sentences = [p.sentence1 for p in pairs[:30]] + [p.sentence2 for p in pairs[:30]]
    gold = [p.score for p in pairs[:30]]
    encoding = bench.encoding_benchmark(
        encoder, model_folder, sentences, batch_size=8, rounds=1, reference_sentences=6, gold=gold
    )
    rows = encoding["implementations"]
    onnx = {"ONNX Runtime fp32", "ONNX Runtime fp32 fused", "ONNX Runtime int8"}  # the test extra has it
    precisions = {"minisbert fp32, plain F.linear", "minisbert bf16"}
    precisions |= set() if int8_missing() else {"minisbert int8"}  # without fbgemm, no int8 row
    torch_ones = {"minisbert", "reference float64", "reference float32", "sentence-transformers"}
    assert set(rows) == torch_ones | precisions | onnx
    assert rows["minisbert"]["sentences"] == 60 and rows["reference float64"]["sentences"] == 6
    # every contender on the whole set: its vectors against minisbert's, its STS Spearman
    assert rows["minisbert"]["max_abs_difference_to_minisbert"] == 0.0
    for name in (
        "sentence-transformers",
        "minisbert fp32, plain F.linear",
        "ONNX Runtime fp32",
        "ONNX Runtime fp32 fused",
    ):
        assert rows[name]["max_abs_difference_to_minisbert"] < 1e-5, name  # the same fp32 model
    for name in {"ONNX Runtime int8", "minisbert int8"} & set(rows):
        assert 1e-5 < rows[name]["max_abs_difference_to_minisbert"] < 0.2, name  # int8: close, not equal
    assert 1e-5 < rows["minisbert bf16"]["max_abs_difference_to_minisbert"] < 1e-2
    assert rows["minisbert"]["sts_spearman"] > 0.5
    assert abs(rows["ONNX Runtime fp32"]["sts_spearman"] - rows["minisbert"]["sts_spearman"]) < 1e-3
    # speed is the CPU's and the moment's (another process, a busy core): printed, never a range here
    assert all(r["sentences_per_s"] > 0 and r["fraction_of_matmul_limit"] > 0 for r in rows.values())
    assert rows["sentence-transformers"]["ratio_to_sentence_transformers"] == 1.0
    assert encoding["max_abs_difference_to_sentence_transformers"] < 1e-5
    assert encoding["max_abs_difference_reference_float64"] < 1e-5
    profile = bench.encoding_profile(encoder, sentences, batch_size=8, top=4)
    assert len(profile) == 5 and abs(sum(profile.values()) - 1.0) < 1e-6
    assert max(profile, key=profile.get) in ("mkldnn::_linear_pointwise", "aten::addmm")  # the linear layers
    tokenization = bench.tokenizer_benchmark(encoder.tokenizer, model_folder, sentences, rounds=1)
    assert set(tokenization) == {"wrapper (Rust tokenizers)", "reference (pure Python)"}
    memory = bench.memory_benchmark(encoder, sentences, sizes=(20, 200), batch_size=8)
    assert set(memory["peak_memory_mb"]) == {20, 200}
    training = training_benchmark(model_folder, pairs[:64], batch_size=8, steps=1, rounds=1)
    assert set(training["implementations"]) == {"minisbert", "sentence-transformers loop"}
    text = bench.format_report(
        {
            "sentences": 60,
            "batch_size": 8,
            "threads": 2,
            "encoding": encoding,
            "profile": profile,
            "tokenization": tokenization,
            "memory": memory,
            "training": training,
        }
    )
    assert "profile of minisbert's fp32 encode" in text
    assert "sent/s" in text and "steps/s" in text and "ratio" in text and "pure Python" in text
    assert "training: regression objective, batch 8" in text  # the batch size it ran, not a fixed one


def test_flops_per_token_known_answer():
    """MiniLM (C = 384, I = 1536, 6 layers) at 14 tokens:
    2 · 6 · (4·384² + 2·384·1536 + 2·14·384) = 21,362,688 FLOPs a token, ≈ 0.30 GFLOP a sentence."""
    from minisbert import preset

    assert bench.flops_per_token(preset("minilm"), 14) == 21_362_688


def test_fused_adamw_does_what_plain_adamw_does():
    """The optimizer uses torch's fused AdamW kernel where it exists: same update as the loop."""
    torch.manual_seed(0)
    model = torch.nn.Linear(6, 4)
    twin = torch.nn.Linear(6, 4)
    twin.load_state_dict(model.state_dict())

    class Wrapper(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

    config = TrainingConfig(lr=1e-2, weight_decay=0.1)
    fused = build_optimizer(Wrapper(model), [], config)
    plain = torch.optim.AdamW(
        [{"params": [twin.weight], "weight_decay": 0.1}, {"params": [twin.bias], "weight_decay": 0.0}],
        lr=1e-2,
    )
    for _ in range(3):
        for m, opt in ((model, fused), (twin, plain)):
            opt.zero_grad()
            m(torch.ones(2, 6)).pow(2).sum().backward()
            opt.step()
    assert_close(model.weight, twin.weight, "fp32_op")
    assert_close(model.bias, twin.bias, "fp32_op")
