"""Per-sample gradients of the cross-entropy, one row per sample, flattened over the trainable parameters.

Two implementations that must agree (tests/test_per_sample.py; timed in benchmarks/bench_wfisher_per_sample.py):
- ``per_sample_grads``: ``torch.func`` (functional_call + vmap + grad), chunked so memory stays bounded;
- ``per_sample_grads_loop``: the plain batch-size-1 backward loop.

Both run the model in eval mode: BatchNorm uses its running statistics, so a sample's gradient does not depend on
the other samples of its chunk (in train mode a per-sample BatchNorm would normalise a single image by itself).

Both compute in float32 with autocast off for the input's device type, whatever autocast region the caller is in
(the CUDA scripts turn bf16 autocast on for the whole process): a bf16 input is cast to the parameters' dtype, and
a float64 model stays float64. Under autocast, vmap(grad) through BatchNorm fails on its mixed bf16/float32
tensors, and a Fisher built from bf16 gradients would be a different quantity. Only the gradient computation runs
with autocast off: between two blocks of ``iter_per_sample_grads`` the caller's code runs under its own setting.
"""
from __future__ import annotations

import contextlib
from typing import Dict, Iterator, List

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.func import functional_call, grad, vmap

from .evaluation import eval_mode


def _full_precision(device: torch.device):
    """A context with autocast off for ``device``'s type (a no-op context for a type autocast does not know)."""
    kind = torch.device(device).type
    if torch.amp.is_autocast_available(kind):
        return torch.autocast(kind, enabled=False)
    return contextlib.nullcontext()


def _as_param_dtype(x: torch.Tensor, model: nn.Module) -> torch.Tensor:
    """``x`` in the parameters' floating dtype (a bf16 activation from an autocast region becomes float32)."""
    p = next(model.parameters(), None)
    if p is not None and x.is_floating_point() and p.is_floating_point() and x.dtype != p.dtype:
        return x.to(p.dtype)
    return x


def trainable(model: nn.Module) -> Dict[str, nn.Parameter]:
    """The parameters a gradient is taken for, in ``named_parameters`` order (the flattening order)."""
    return {k: p for k, p in model.named_parameters() if p.requires_grad}


def num_trainable(model: nn.Module) -> int:
    return sum(p.numel() for p in trainable(model).values())


def unflatten(vector: torch.Tensor, model: nn.Module) -> Dict[str, torch.Tensor]:
    """The inverse of ``flatten`` for one vector: name → tensor shaped like the parameter."""
    params = trainable(model)
    total = sum(p.numel() for p in params.values())
    if vector.numel() != total:
        raise ValueError(f"vector has {vector.numel()} entries, the model {total} trainable parameters")
    out, start = {}, 0
    for k, p in params.items():
        out[k] = vector[start:start + p.numel()].view_as(p)
        start += p.numel()
    return out


def iter_per_sample_grads(model: nn.Module, x: torch.Tensor, y: torch.Tensor, chunk_size: int = 64
                          ) -> Iterator[torch.Tensor]:
    """Yield (chunk × d) blocks of per-sample gradients, vectorised with vmap (model in eval mode, autocast off)."""
    x = _as_param_dtype(x, model)
    params = {k: p.detach() for k, p in trainable(model).items()}
    frozen = {k: p.detach() for k, p in model.named_parameters() if not p.requires_grad}
    buffers = {k: b.detach() for k, b in model.named_buffers()}

    def loss_one(p, xi, yi):
        out = functional_call(model, ({**p, **frozen}, buffers), (xi.unsqueeze(0),))
        return F.cross_entropy(out, yi.unsqueeze(0))

    grads_of = vmap(grad(loss_one), in_dims=(None, 0, 0))
    with eval_mode(model):  # also restored when the caller stops iterating early (generator close)
        for start in range(0, len(x), chunk_size):
            with _full_precision(x.device):  # entered per block: autocast is the caller's again at each yield
                block = grads_of(params, x[start:start + chunk_size], y[start:start + chunk_size])
                flat = torch.cat([block[k].reshape(block[k].shape[0], -1) for k in params], 1)
            yield flat


def fitting_samples(d: int, free_bytes: int, chunk_size: int = 64, fraction: float = 0.9) -> int:
    """How many per-sample gradient rows (float32, d entries) fit in ``fraction`` of ``free_bytes``, next to the
    workspace of one chunk (its vmapped gradients, about three chunk × d blocks)."""
    return max(0, int((fraction * free_bytes - 3 * chunk_size * d * 4) // (d * 4)))


def per_sample_grads(model: nn.Module, x: torch.Tensor, y: torch.Tensor, chunk_size: int = 64) -> torch.Tensor:
    """N × d per-sample gradients (torch.func, chunks of ``chunk_size`` samples), written into one preallocated
    matrix (peak: the matrix plus one chunk's workspace). On a GPU, an N that cannot fit is refused up front."""
    n, d = len(x), num_trainable(model)
    if x.device.type == "cuda" and n:
        free, _ = torch.cuda.mem_get_info(x.device)
        fits = fitting_samples(d, free, chunk_size)
        if n > fits:
            raise ValueError(f"per-sample gradients of N={n} samples × {d} parameters need "
                             f"{n * d * 4 / 2**30:.1f} GiB; {free / 2**30:.1f} GiB free on {x.device}: N ≤ {fits} fits "
                             f"(e.g. Wfisher --para2 {fits})")
        torch.cuda.reset_peak_memory_stats(x.device)
    G = None
    start = 0
    for block in iter_per_sample_grads(model, x, y, chunk_size):
        if G is None:  # the gradients' dtype (float64 for a float64 model)
            G = torch.empty(n, d, device=x.device, dtype=block.dtype)
        G[start:start + len(block)] = block
        start += len(block)
    if G is None:
        return torch.empty(0, d, device=x.device)
    if x.device.type == "cuda" and n:
        print(f"per-sample gradients: {n} × {d} float32 = {G.numel() * 4 / 2**30:.2f} GiB, peak GPU memory "
              f"{torch.cuda.max_memory_allocated(x.device) / 2**30:.2f} GiB", flush=True)
    return G


def per_sample_grads_loop(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """N × d per-sample gradients by one backward pass per sample (the reference; autocast off, as above)."""
    x = _as_param_dtype(x, model)
    params = list(trainable(model).values())
    rows: List[torch.Tensor] = []
    with eval_mode(model), _full_precision(x.device):
        for i in range(len(x)):
            loss = F.cross_entropy(model(x[i:i + 1]), y[i:i + 1])
            rows.append(torch.cat([g.reshape(-1) for g in torch.autograd.grad(loss, params)]))
    if not rows:
        return torch.empty(0, sum(p.numel() for p in params), device=x.device)
    return torch.stack(rows)


def warm_up(device="cpu") -> None:
    """Run torch.func once on a tiny model: its one-off initialisation (seconds on a CPU) is library start-up, not
    the cost of a method, so the unlearning driver calls this before it starts timing. Runs inside an autocast
    region too (like per_sample_grads, it switches autocast off for the computation)."""
    tiny = nn.Linear(3, 2).to(device)
    per_sample_grads(tiny, torch.zeros(2, 3, device=device), torch.zeros(2, dtype=torch.long, device=device))
