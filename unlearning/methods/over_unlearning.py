"""Over-Unlearning and Replay: ``<method>_our`` for any approximate method of the registry.

One generic wrapper: phase 1 runs the wrapped method with its over-unlearning settings (the method's registered
``our`` overrides, or the dataset's config.OVER_UNLEARN entry, merged over its plain settings by
``strategies.method_settings``; retain accuracy may collapse), phase 2 replays D_r with cross-entropy + λ‖θ‖₁ with
SGD (momentum, weight decay) under the reference's warm-up + step schedule, or a cosine decay as a named option
(``replay_lr``). Every update of both phases goes through the context's regulariser, so --l1/--l2/--mask_path apply
to the replay too. After each phase the wrapper reports (name, model, seconds) through ``ctx.on_phase``: the driver
saves ``mid.pt`` and evaluates there, outside the timing.

Optional extensions, each in its own module: phase 1 in optimiser steps or until a stopping rule holds
(``phase_stopping``), a reset or suppression of the forgotten class's output unit around the replay
(``output_unit``), and ``<method>_orth``, an orthogonal over-unlearning before the same replay (``orthogonal``).

The replay and its settings: ``replay``.
What happened is recorded in the run's results.json under settings["_log"] (steps taken, why phase 1 stopped).
"""
from __future__ import annotations

import dataclasses
import functools
import time

from ..training import check_finite_model
from .phase_stopping import run_phase1
from .registry import register_variant
from .replay import PHASE1, PHASE2, REPLAY, log_phase, run_replay


def over_unlearn_and_replay(entry, ctx, para1, para2):
    """Phase 1: ``entry`` in its over-unlearning setting (``ctx.settings``); phase 2: ``run_replay``."""
    start = time.perf_counter()
    info = run_phase1(entry, ctx, para1, para2)  # the method once, or by steps / a stopping rule
    model = ctx.model
    check_finite_model(model)
    seconds = time.perf_counter() - start
    if ctx.on_phase:
        ctx.on_phase(PHASE1, model, seconds)
    start = time.perf_counter()
    info.update(run_replay(ctx, model, ctx.settings.get("replay", {})))
    log_phase(ctx, info)
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
        doc=f"Over-Unlearning & Replay around {entry.name}: phase 1 = {entry.name} with its over-unlearning "
            "settings, phase 2 = replay on D_r (CE + λ‖θ‖₁, SGD; the 'replay' settings).",
    )


register_variant("_our", our_variant, "replay", REPLAY)
