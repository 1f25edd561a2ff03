"""Over-Unlearning and Replay (SPEC §4): ``<method>_our`` for any approximate method of the registry.

One generic wrapper: phase 1 runs the wrapped method with its over-unlearning settings (config.OVER_UNLEARN merged
over config.UNLEARN by ``strategies.method_settings``; retain accuracy may collapse), phase 2 replays D_r with
cross-entropy + λ‖θ‖₁ under a cosine-decaying learning rate. Every update of both phases goes through the context's
regulariser, so --l1/--l2/--mask_path apply to the replay too. After each phase the wrapper reports
(name, model, seconds) through ``ctx.on_phase``: the driver saves ``mid.pt`` and evaluates there, outside the timing.
"""
from __future__ import annotations

import dataclasses
import functools
import math
import time

import torch
import torch.nn.functional as F

from .training import check_finite_model, l1_norm

PHASE1, PHASE2 = "over_unlearn", "replay"


def replay(ctx, model, settings: dict):
    """Fine-tune on D_r: CE + l1·‖θ‖₁, SGD, lr decaying from ``lr`` to 0 along a cosine over ``epochs``."""
    epochs, lr, lam = int(settings.get("epochs", 3)), float(settings.get("lr", 0.01)), float(settings.get("l1", 0.0))
    loader = ctx.loader(ctx.split.retain_train, batch_size=settings.get("batch_size"), stream=900)
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=float(settings.get("momentum", 0.9)),
                          weight_decay=float(settings.get("weight_decay", 0.0)))
    total, step = max(epochs * len(loader), 1), 0
    model.train()
    for _ in range(epochs):
        for x, y in loader:
            for group in opt.param_groups:
                group["lr"] = lr * 0.5 * (1 + math.cos(math.pi * step / total))
            loss = F.cross_entropy(model(x), y)
            if lam:
                loss = loss + lam * l1_norm(model)
            ctx.reg.step(opt, loss)
            step += 1
    check_finite_model(model)
    return model


def over_unlearn_and_replay(entry, ctx, para1, para2):
    """Phase 1: ``entry`` in its over-unlearning setting (``ctx.settings``); phase 2: ``replay``."""
    start = time.perf_counter()
    model = entry.fn(ctx, para1, para2)
    if model is not ctx.model:
        raise RuntimeError(f"{entry.name} must change ctx.model in place to be wrapped by Over-Unlearning & Replay")
    check_finite_model(model)
    seconds = time.perf_counter() - start
    if ctx.on_phase:
        ctx.on_phase(PHASE1, model, seconds)
    start = time.perf_counter()
    replay(ctx, model, ctx.settings.get("replay", {}))
    seconds = time.perf_counter() - start
    if ctx.on_phase:
        ctx.on_phase(PHASE2, model, seconds)
    return model


def _phase1(meaning):
    return meaning if meaning == "unused" else f"phase 1: {meaning}"


def our_variant(entry):
    """The registry entry ``<name>_our`` for a method entry (generated, never written per method)."""
    return dataclasses.replace(
        entry, name=f"{entry.name}_our", fn=functools.partial(over_unlearn_and_replay, entry), gradient=True,
        base=entry.name,
        para1=_phase1(entry.para1), para2=_phase1(entry.para2),
        doc=f"Over-Unlearning & Replay around {entry.name}: phase 1 = {entry.name} with config.OVER_UNLEARN settings, "
            "phase 2 = replay on D_r (CE + λ‖θ‖₁, cosine-decaying lr).",
    )
