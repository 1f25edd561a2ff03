"""The forgotten class's output unit around the replay of ``<method>_our``.

Replay settings (every key optional):
    reset_forget_unit     None | "zero" | "reinit": before the replay, set the forget class's output row and bias to
                          zero, or re-draw them as a fresh nn.Linear row (seeded)
    suppress_forget_unit  0 | N: after the replay, N SGD steps of CE on D_r that move only the forget row and bias
                          (features frozen): what retraining does to a unit that is never a target
    suppress_lr           their learning rate (default 0.1, momentum 0.9)
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ..evaluation import eval_mode
from ..training import check_finite_model, cycle
from .common import classifier_layer


def _output_layer(model, what):
    head = classifier_layer(model)
    if head is None:
        raise ValueError(f"{what}: the model has no nn.Linear output layer")
    return head


def reset_forget_unit(ctx, model, how) -> None:
    """Zero or re-draw (as a fresh nn.Linear row, seeded) the forget class's output row and bias."""
    if how in (None, "", "none", False):
        return
    fc, f = _output_layer(model, f"reset_forget_unit={how!r}")[1], ctx.split.forget_index
    with torch.no_grad():
        if how == "zero":
            fc.weight[f].zero_()
            if fc.bias is not None:
                fc.bias[f].zero_()
        elif how == "reinit":
            bound = 1.0 / math.sqrt(fc.weight.shape[1])  # nn.Linear's default init: U(−1/√fan_in, 1/√fan_in)
            gen = ctx.generator(stream=40)
            fc.weight[f].copy_((torch.rand(fc.weight.shape[1], generator=gen) * 2 - 1) * bound)
            if fc.bias is not None:
                fc.bias[f] = float((torch.rand(1, generator=gen) * 2 - 1) * bound)
        else:
            raise ValueError(f"reset_forget_unit must be None, 'zero' or 'reinit', got {how!r}")


def suppress_forget_unit(ctx, model, steps: int, lr: float = 0.1) -> dict:
    """Retraining's effect on the forget unit alone: ``steps`` SGD (momentum 0.9) steps of cross-entropy on D_r
    that move only the forget class's output row and bias (features fixed: every other weight frozen, BatchNorm in
    eval mode). A unit that is never a target is pushed below the others on all inputs, as in a retrained model.
    The update goes through the run's mask (``ctx.reg.apply_to_delta``). Returns the mean forget margin before/after
    (forget logit − largest other logit, on D_r)."""
    name, fc = _output_layer(model, "suppress_forget_unit")
    f = ctx.split.forget_index
    with eval_mode(model):  # features on BatchNorm's running statistics; the model's own mode back after
        loader = cycle(ctx.loader(ctx.split.retain_train, stream=950))
        x, _ = next(loader)
        with torch.no_grad():
            if not torch.allclose(model(x), fc(model.features(x)), atol=1e-4):
                raise ValueError("suppress_forget_unit needs logits = output_layer(features(x))")
        w = fc.weight.detach()[f].clone().requires_grad_(True)
        b = (fc.bias.detach()[f].clone() if fc.bias is not None else torch.zeros((), device=w.device)).requires_grad_(True)
        opt = torch.optim.SGD([w, b], lr=float(lr), momentum=0.9)

        def logits(h):
            z = fc(h)
            return torch.cat([z[:, :f], (h @ w + b)[:, None], z[:, f + 1:]], 1)

        @torch.no_grad()
        def margin(h):
            z = logits(h)
            return float((z[:, f] - torch.cat([z[:, :f], z[:, f + 1:]], 1).max(1).values).mean())

        margins = []
        for step in range(int(steps)):
            x, y = next(loader)
            with torch.no_grad():
                h = model.features(x)
            if step == 0:
                margins.append(margin(h))
            loss = F.cross_entropy(logits(h), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        with torch.no_grad():
            margins.append(margin(model.features(x)))
            delta = {f"{name}.weight": torch.zeros_like(fc.weight)}
            delta[f"{name}.weight"][f] = w.detach() - fc.weight[f]
            if fc.bias is not None:
                delta[f"{name}.bias"] = torch.zeros_like(fc.bias)
                delta[f"{name}.bias"][f] = b.detach() - fc.bias[f]
            full = {k: torch.zeros_like(p) for k, p in model.named_parameters()}
            full.update(delta)
            full = ctx.reg.apply_to_delta(full)
            fc.weight.add_(full[f"{name}.weight"])
            if fc.bias is not None:
                fc.bias.add_(full[f"{name}.bias"])
    check_finite_model(model)
    return {"suppress_steps": int(steps), "suppress_margin_before": margins[0] if margins else None,
            "suppress_margin_after": margins[-1] if margins else None}
