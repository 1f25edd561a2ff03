"""Per-sample gradients inside a bf16 autocast region (the CUDA scripts turn autocast on for the whole process):
they are computed in float32 with autocast off, so they equal the float32 result and the two implementations agree."""
import pytest
import torch
import torch.nn as nn

from models import build_model
from unlearning.per_sample import iter_per_sample_grads, per_sample_grads, per_sample_grads_loop, warm_up


def _bn_model():
    torch.manual_seed(0)
    model = build_model("resnet8", 5, 3, 8)
    with torch.no_grad():  # running statistics away from (0, 1), so eval-mode BatchNorm does something
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
    return model.train()


def _batch(n=6):
    gen = torch.Generator().manual_seed(3)
    return torch.randn(n, 3, 8, 8, generator=gen), torch.randint(0, 5, (n,), generator=gen)


def _bf16():
    return torch.autocast("cpu", dtype=torch.bfloat16)


@pytest.mark.parametrize("chunk", [1, 4])
def test_vmap_per_sample_grads_under_cpu_bf16_autocast_equal_float32(chunk):
    model, (x, y) = _bn_model(), _batch()
    reference = per_sample_grads(model, x, y, chunk_size=chunk)
    with _bf16():
        G = per_sample_grads(model, x, y, chunk_size=chunk)
        assert torch.is_autocast_enabled("cpu")  # the caller's autocast state is left as it was
    assert G.dtype == torch.float32 and G.shape == reference.shape
    assert torch.allclose(G, reference, rtol=1e-5, atol=1e-6)
    assert model.training


def test_loop_and_vmap_agree_under_autocast():
    model, (x, y) = _bn_model(), _batch()
    with _bf16():
        fast = per_sample_grads(model, x, y, chunk_size=4)
        slow = per_sample_grads_loop(model, x, y)
    assert slow.dtype == torch.float32
    assert torch.allclose(fast, slow, atol=1e-5)
    assert torch.allclose(slow, per_sample_grads_loop(model, x, y), rtol=1e-5, atol=1e-6)  # not bf16 numbers


def test_iterator_does_not_switch_autocast_off_between_blocks():
    model, (x, y) = _bn_model(), _batch()
    with _bf16():
        for block in iter_per_sample_grads(model, x, y, chunk_size=2):
            assert torch.is_autocast_enabled("cpu")  # the caller's code between blocks still runs under autocast
            assert block.dtype == torch.float32
            with torch.no_grad():
                assert model(x[:1]).dtype == torch.bfloat16


def test_warm_up_under_autocast():
    with _bf16():
        warm_up("cpu")


def test_bf16_input_is_taken_in_the_parameters_dtype():
    model, (x, y) = _bn_model(), _batch()
    xb = x.bfloat16()  # e.g. an activation that came out of an autocast region
    with _bf16():
        G = per_sample_grads(model, xb, y, chunk_size=4)
        slow = per_sample_grads_loop(model, xb, y)
    expected = per_sample_grads(model, xb.float(), y, chunk_size=4)
    assert G.dtype == slow.dtype == torch.float32
    assert torch.allclose(G, expected, rtol=1e-5, atol=1e-6) and torch.allclose(slow, expected, atol=1e-5)
