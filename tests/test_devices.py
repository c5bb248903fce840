"""Devices and mixed precision (devices.py): what is asked for, what the machine has.

This machine has no GPU, so asking for one must be refused with a message that says so; the
precision helpers must leave fp32 untouched and give bf16 and fp16 their autocast and scaler.
"""

from __future__ import annotations

import pytest
import torch

from minisbert.devices import autocast, check_precision, gradient_scaler, resolve_device


def test_the_default_device_is_the_cpu():
    assert resolve_device(None) == torch.device("cpu")
    assert resolve_device("cpu", local_rank=3) == torch.device("cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message of a machine without a GPU")
@pytest.mark.parametrize("device", ["cuda", "cuda:1"])
def test_a_missing_gpu_is_named(device):
    with pytest.raises(ValueError, match="torch sees no CUDA GPU here"):
        resolve_device(device)


def test_an_unknown_device_is_named():
    with pytest.raises(ValueError, match="unknown device 'tpu:0'"):
        resolve_device("tpu:0")


def test_precision_names_are_checked():
    assert check_precision("bf16") == "bf16"
    with pytest.raises(ValueError, match="precision 'float16' is not one of fp32, bf16, fp16"):
        check_precision("float16")


def test_fp32_changes_nothing_and_bf16_multiplies_in_bfloat16():
    cpu = torch.device("cpu")
    a, b = torch.randn(4, 8), torch.randn(8, 3)
    with autocast(cpu, "fp32"):
        assert (a @ b).dtype == torch.float32
    with autocast(cpu, "bf16"):
        product = a @ b
        assert product.dtype == torch.bfloat16
        # autocast keeps the losses in float32 (on the CPU also the softmax follows its input)
        assert torch.nn.functional.mse_loss(product, torch.zeros(4, 3)).dtype == torch.float32
    assert gradient_scaler(cpu, "fp32") is None and gradient_scaler(cpu, "bf16") is None
    assert isinstance(gradient_scaler(cpu, "fp16"), torch.amp.GradScaler)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message of a machine without a GPU")
def test_a_precision_autocast_would_turn_off_is_refused_in_one_line():
    """Where torch's autocast cannot run a narrow type it warns and runs in float32 instead: a
    run asked for at bf16 would silently be fp32. minisbert refuses it, saying why."""
    with pytest.raises(
        ValueError, match=r"precision 'bf16' cannot run on cuda here: .*CUDA is not available"
    ):
        autocast(torch.device("cuda"), "bf16")
