"""Per-sample gradients (torch.func vs the batch-size-1 loop) and the Woodbury recursion of Wfisher."""
import pytest
import torch
import torch.nn as nn

from models import build_model
from unlearning.per_sample import per_sample_grads, per_sample_grads_loop, unflatten
from unlearning.methods.classic import woodfisher_inverse_apply


def _bn_model(dtype=torch.float32):
    torch.manual_seed(0)
    model = build_model("resnet8", 5, 1, 8).to(dtype)
    with torch.no_grad():  # non-trivial running statistics, so eval-mode BatchNorm is not the identity
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
    return model.train()


@pytest.mark.parametrize("chunk", [1, 4, 7, 64])
def test_vectorised_equals_loop_float64(chunk):
    model = _bn_model(torch.float64)
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(11, 1, 8, 8, generator=gen, dtype=torch.float64)
    y = torch.randint(0, 5, (11,), generator=gen)
    fast = per_sample_grads(model, x, y, chunk_size=chunk)
    slow = per_sample_grads_loop(model, x, y)
    assert fast.shape == (11, sum(p.numel() for p in model.parameters()))
    assert torch.allclose(fast, slow, rtol=1e-10, atol=1e-12)
    assert model.training  # the mode is restored


def test_vectorised_equals_loop_float32_and_sums_to_batch_gradient():
    model = _bn_model()
    gen = torch.Generator().manual_seed(2)
    x, y = torch.randn(9, 1, 8, 8, generator=gen), torch.randint(0, 5, (9,), generator=gen)
    fast = per_sample_grads(model, x, y, chunk_size=4)
    assert torch.allclose(fast, per_sample_grads_loop(model, x, y), atol=1e-5)
    # eval mode: the mean of per-sample gradients is the gradient of the mean loss
    model.eval()
    loss = nn.functional.cross_entropy(model(x), y)
    batch = torch.cat([g.reshape(-1) for g in torch.autograd.grad(loss, list(model.parameters()))])
    assert torch.allclose(fast.mean(0), batch, atol=1e-5)


def test_unflatten_roundtrip_and_size_check():
    model = _bn_model()
    vec = torch.arange(sum(p.numel() for p in model.parameters()), dtype=torch.float32)
    parts = unflatten(vec, model)
    assert all(parts[k].shape == p.shape for k, p in model.named_parameters())
    assert torch.equal(torch.cat([parts[k].reshape(-1) for k, _ in model.named_parameters()]), vec)
    with pytest.raises(ValueError, match="trainable parameters"):
        unflatten(vec[:-1], model)


@pytest.mark.parametrize("N,d,damping,n", [(1, 3, 1.0, None), (5, 8, 1.0, None), (6, 4, 0.3, 10), (12, 5, 2.0, None)])
def test_woodbury_recursion_equals_dense_inverse(N, d, damping, n):
    gen = torch.Generator().manual_seed(N * 100 + d)
    G = torch.randn(N, d, generator=gen, dtype=torch.float64)
    v = torch.randn(d, generator=gen, dtype=torch.float64)
    scale = N if n is None else n
    F = damping * torch.eye(d, dtype=torch.float64) + G.T @ G / scale
    expected = torch.linalg.solve(F, v)
    assert torch.allclose(woodfisher_inverse_apply(G, v, damping, n), expected, atol=1e-10)


def test_woodbury_hand_computed_rank_one():
    # F = I + g gᵀ / 1 with g = (2, 0): F = diag(5, 1), so F⁻¹(1, 1) = (0.2, 1)
    G = torch.tensor([[2.0, 0.0]], dtype=torch.float64)
    out = woodfisher_inverse_apply(G, torch.tensor([1.0, 1.0], dtype=torch.float64), damping=1.0)
    assert torch.allclose(out, torch.tensor([0.2, 1.0], dtype=torch.float64))
    assert torch.equal(woodfisher_inverse_apply(G[:0], torch.tensor([4.0, 2.0]), damping=2.0), torch.tensor([2.0, 1.0]))
