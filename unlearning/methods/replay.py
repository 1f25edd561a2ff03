"""The replay (phase 2 of ``<method>_our`` and ``<method>_orth``): fine-tune on D_r with CE + λ‖θ‖₁.

Replay settings (``REPLAY``, or config.OVER_UNLEARN[dataset]["replay"]; a method's own "replay" key overrides it):
    epochs / steps      length in passes over D_r, or in optimiser steps cycling D_r ("steps" wins)
    lr, schedule        "reference" (warm-up epoch, then × gamma at each milestone epoch) or "cosine" (to 0)
    milestones, gamma   the reference schedule's decay epochs and factor
    l1                  λ of the ℓ1 term; batch_size, momentum, weight_decay: the SGD replay
    reset_forget_unit, suppress_forget_unit, suppress_lr: see ``output_unit``
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..training import check_finite_model, cycle, l1_norm, warmup_multistep_lr
from .output_unit import reset_forget_unit, suppress_forget_unit

PHASE1, PHASE2 = "over_unlearn", "replay"

# The paper's replay: CE + 5e-5‖θ‖₁ on D_r, batch 64, SGD 0.01 momentum 0.9 weight decay 5e-4, one warm-up epoch
# then × 0.8 at the milestone epochs. Methods with a reference `_our` register their own epochs and milestones.
REPLAY = {"epochs": 5, "lr": 0.01, "l1": 5e-5, "batch_size": 64, "momentum": 0.9, "weight_decay": 5e-4,
          "schedule": "reference", "milestones": [4], "gamma": 0.8}


SCHEDULES = ("reference", "cosine")


def cosine_lrs(lr: float, total: int) -> list:
    """The learning rates of ``total`` steps decaying from ``lr`` to 0 along a half cosine
    (torch's CosineAnnealingLR with T_max = total)."""
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=float(lr))
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(int(total), 1))
    out = []
    for _ in range(int(total)):
        out.append(opt.param_groups[0]["lr"])
        opt.step()  # no gradient: moves nothing; keeps the scheduler's step order
        sched.step()
    return out


def replay_lrs(settings: dict, total: int, per_epoch: int) -> list:
    """Learning rates of the ``total`` replay steps, ``per_epoch`` steps to an epoch of D_r.

    "reference" (the paper's fit_one_cycle): linear warm-up over the first epoch, then lr × gamma at each milestone
    epoch (``warmup_multistep_lr``, as in pretraining). The reference keeps stepping its warm-up through the second
    epoch, so its lr climbs to 2× lr there; ours holds lr after the first epoch (docs/fidelity.md).
    "cosine": lr decaying from lr to 0 along a half cosine over ``total`` steps."""
    lr = float(settings.get("lr", 0.01))
    schedule = settings.get("schedule", "reference")
    if schedule == "cosine":
        return cosine_lrs(lr, total)
    if schedule != "reference":
        raise ValueError(f"replay schedule must be one of {SCHEDULES}, got {schedule!r}")
    per_epoch = max(int(per_epoch), 1)
    milestones, gamma = [int(m) for m in settings.get("milestones", ())], float(settings.get("gamma", 0.8))
    return [warmup_multistep_lr(lr, step // per_epoch, step % per_epoch, per_epoch, 1, milestones, gamma)
            for step in range(int(total))]


def replay_lr(settings: dict, step: int, total: int, per_epoch: int) -> float:
    """Learning rate of replay step ``step`` (0-based) of ``total`` (``replay_lrs``)."""
    return replay_lrs(settings, max(total, step + 1), per_epoch)[step]


def _replay_parts(ctx, model, settings: dict):
    """(loader, optimiser, λ) of the replay: SGD with the settings' momentum and weight decay."""
    loader = ctx.loader(ctx.split.retain_train, batch_size=settings.get("batch_size"), stream=900)
    opt = torch.optim.SGD(model.parameters(), lr=float(settings.get("lr", 0.01)),
                          momentum=float(settings.get("momentum", 0.9)),
                          weight_decay=float(settings.get("weight_decay", 5e-4)))
    return loader, opt, float(settings.get("l1", 0.0))


def _replay_step(ctx, model, opt, lam, x, y, lr):
    for group in opt.param_groups:
        group["lr"] = lr
    loss = F.cross_entropy(model(x), y)
    if lam:
        loss = loss + lam * l1_norm(model)
    ctx.reg.step(opt, loss)


def replay(ctx, model, settings: dict):
    """Fine-tune on D_r for ``epochs``: CE + l1·‖θ‖₁, SGD (momentum, weight decay), lr by ``replay_lrs``."""
    epochs = int(settings.get("epochs", 3))
    loader, opt, lam = _replay_parts(ctx, model, settings)
    per_epoch = len(loader)
    total, step = max(epochs * per_epoch, 1), 0
    lrs = replay_lrs(settings, total, per_epoch)
    model.train()
    for _ in range(epochs):
        for x, y in loader:
            _replay_step(ctx, model, opt, lam, x, y, lrs[step])
            step += 1
    check_finite_model(model)
    return model


def replay_steps(ctx, model, settings: dict) -> int:
    """The replay with its length in optimiser steps (settings["steps"]): cycling D_r, the same optimiser and lr
    schedule over exactly that many steps. Returns the number of steps."""
    steps = int(settings["steps"])
    loader, opt, lam = _replay_parts(ctx, model, settings)
    lrs = replay_lrs(settings, steps, len(loader))
    batches = cycle(loader)
    model.train()
    for step in range(steps):
        x, y = next(batches)
        _replay_step(ctx, model, opt, lam, x, y, lrs[step])
    check_finite_model(model)
    return steps


def run_replay(ctx, model, settings: dict) -> dict:
    """Phase 2: optionally reset the forget unit first, the replay in epochs or in steps, then optionally suppress
    the forget unit (``output_unit``). Returns a log."""
    reset_forget_unit(ctx, model, settings.get("reset_forget_unit"))
    if settings.get("steps") is not None:
        info = {"replay": "steps", "replay_steps": replay_steps(ctx, model, settings),
                "reset_forget_unit": settings.get("reset_forget_unit")}
    else:
        replay(ctx, model, settings)
        info = {"replay": "epochs", "reset_forget_unit": settings.get("reset_forget_unit")}
    if settings.get("suppress_forget_unit"):
        info.update(suppress_forget_unit(ctx, model, int(settings["suppress_forget_unit"]),
                                         float(settings.get("suppress_lr", 0.1))))
    return info


def log_phase(ctx, info: dict) -> None:
    ctx.settings.setdefault("_log", {}).update(info)  # the driver writes ctx.settings into results.json
