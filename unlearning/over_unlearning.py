"""Over-Unlearning and Replay: ``<method>_our`` for any approximate method of the registry.

One generic wrapper: phase 1 runs the wrapped method with its over-unlearning settings (config.OVER_UNLEARN merged
over config.UNLEARN by ``strategies.method_settings``; retain accuracy may collapse), phase 2 replays D_r with
cross-entropy + λ‖θ‖₁ with SGD (momentum, weight decay) under the reference's warm-up + step schedule, or a
cosine decay as a named option (``replay_lr``). Every update of both phases goes through the context's
regulariser, so --l1/--l2/--mask_path apply to the replay too. After each phase the wrapper reports
(name, model, seconds) through ``ctx.on_phase``: the driver saves ``mid.pt`` and evaluates there, outside the timing.

Extensions (settings documented at "phase lengths, output-unit reset, _orth" below): phase lengths in optimiser
steps or by a stopping rule, a reset of the forgotten class's output unit before the replay, and ``<method>_orth``
(random labels + orthogonality penalty on normalised intermediate features as the over-unlearning, then the same
replay).
"""
from __future__ import annotations

import dataclasses
import functools
import math
import time

import torch
import torch.nn.functional as F

from .evaluation import eval_mode
from .training import check_finite_model, cycle, l1_norm, warmup_multistep_lr

PHASE1, PHASE2 = "over_unlearn", "replay"


SCHEDULES = ("reference", "cosine")


def replay_lr(settings: dict, step: int, total: int, per_epoch: int) -> float:
    """Learning rate of replay step ``step`` (0-based) of ``total``, ``per_epoch`` steps to an epoch of D_r.

    "reference" (the paper's fit_one_cycle): linear warm-up over the first epoch, then lr × gamma at each milestone
    epoch (``warmup_multistep_lr``, as in pretraining). The reference keeps stepping its warm-up through the second
    epoch, so its lr climbs to 2× lr there; ours holds lr after the first epoch (docs/fidelity.md).
    "cosine": lr decaying from lr to 0 along a half cosine over ``total`` steps (our option)."""
    lr = float(settings.get("lr", 0.01))
    schedule = settings.get("schedule", "reference")
    if schedule == "cosine":
        return lr * 0.5 * (1 + math.cos(math.pi * step / max(total, 1)))
    if schedule != "reference":
        raise ValueError(f"replay schedule must be one of {SCHEDULES}, got {schedule!r}")
    per_epoch = max(int(per_epoch), 1)
    return warmup_multistep_lr(lr, step // per_epoch, step % per_epoch, per_epoch, 1,
                               [int(m) for m in settings.get("milestones", ())], float(settings.get("gamma", 0.8)))


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
    """Fine-tune on D_r for ``epochs``: CE + l1·‖θ‖₁, SGD (momentum, weight decay), lr by ``replay_lr``."""
    epochs = int(settings.get("epochs", 3))
    loader, opt, lam = _replay_parts(ctx, model, settings)
    per_epoch = len(loader)
    total, step = max(epochs * per_epoch, 1), 0
    model.train()
    for _ in range(epochs):
        for x, y in loader:
            _replay_step(ctx, model, opt, lam, x, y, replay_lr(settings, step, total, per_epoch))
            step += 1
    check_finite_model(model)
    return model


def over_unlearn_and_replay(entry, ctx, para1, para2):
    """Phase 1: ``entry`` in its over-unlearning setting (``ctx.settings``); phase 2: ``replay``."""
    start = time.perf_counter()
    info = run_phase1(entry, ctx, para1, para2)  # the method once, or by steps / a stopping rule (see below)
    model = ctx.model
    check_finite_model(model)
    seconds = time.perf_counter() - start
    if ctx.on_phase:
        ctx.on_phase(PHASE1, model, seconds)
    start = time.perf_counter()
    info.update(run_replay(ctx, model, ctx.settings.get("replay", {})))
    _log(ctx, info)
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
            "phase 2 = replay on D_r (CE + λ‖θ‖₁, SGD; config.OVER_UNLEARN 'replay').",
    )


# ============================================================================= phase lengths, output-unit reset, _orth
# Phase lengths in optimiser steps and stopping rules, a reset of the forgotten output unit before replay, and the
# `<method>_orth` variant (the later paper's over-unlearning: random labels + an orthogonality penalty on
# normalised intermediate features). Settings (config.OVER_UNLEARN[dataset]; every key optional):
#
#   phase 1 of <method>_our, in OVER_UNLEARN[dataset][<method>]:
#     "steps"            exactly this many optimiser steps of the method (the method is re-run from the current
#                        weights, same seed, until the count is reached; it stops mid-epoch). Overrides whatever
#                        epoch count the method reads. One-shot methods (ssd_tuning, Wfisher, FisherForgetting)
#                        make no optimiser step: for them "steps" is ignored (recorded as 0 steps).
#     "stop_forget_acc"  stop phase 1 as soon as forget-train accuracy ≤ this value (checked before each step)
#     "stop_retain_acc"  stop phase 1 as soon as retain-train accuracy < this value
#     "check_every"      evaluate the stopping rules every this many steps (default 1)
#     "max_steps"        cap of a stopping rule without "steps" (default 2000)
#   phase 2 (replay), in OVER_UNLEARN[dataset]["replay"] or OVER_UNLEARN[dataset][<method>]["replay"]:
#     "steps"              replay length in optimiser steps (cycling D_r); overrides "epochs"
#     "reset_forget_unit"  None | "zero" | "reinit": before the replay, set the forget class's output row and bias
#                          to zero, or re-draw them as a fresh nn.Linear row (seeded)
#     "suppress_forget_unit"  0 | N: after the replay, N SGD steps of CE on D_r that move only the forget row and
#                          bias (features frozen): what retraining does to a unit that is never a target
#     "suppress_lr"        their learning rate (default 0.1, momentum 0.9)
#   <method>_orth, in OVER_UNLEARN[dataset]["orth"] (and per method OVER_UNLEARN[dataset][<method>]["orth"]):
#     "run_base"   run <method> with its plain settings (config.UNLEARN) first (default True)
#     "steps"      optimiser steps of the orthogonal over-unlearning (default 40)
#     "lr"         its Adam learning rate (default 0.0025, the paper's amnesiac over-unlearning lr)
#     "lam"        weight of the orthogonality penalty (default 1.0)
#     "stages"     which stage outputs are penalised (default [-2, -1]: the last two)
#     "batch_size" D_f batch size (default: the preset's)
# What happened is recorded in the run's results.json under settings["_log"] (steps taken, why phase 1 stopped).


class StopPhase(Exception):
    """Raised from an optimiser pre-step hook: the phase has used its step budget or met its stopping rule."""


class StepBudget:
    """Counts the optimiser steps that update ``model`` inside a ``with`` block (a global pre-step hook) and raises
    ``StopPhase`` *before* step N+1, so no weight moves after the budget; optionally stops earlier when a stopping
    rule on forget / retain accuracy holds (checked every ``check_every`` steps, before the step)."""

    def __init__(self, model, max_steps=None, stop_forget_acc=None, stop_retain_acc=None, check_every=1,
                 accuracies=None):
        self.model, self.max_steps = model, None if max_steps is None else int(max_steps)
        self.stop_forget_acc, self.stop_retain_acc = stop_forget_acc, stop_retain_acc
        self.check_every, self.accuracies = max(1, int(check_every)), accuracies
        self.steps, self.stopped_by, self._handle = 0, None, None
        self._ids = {id(p) for p in model.parameters()}

    def _rule_met(self):
        if self.stop_forget_acc is None and self.stop_retain_acc is None:
            return None
        ua, ra = self.accuracies(self.model)
        if self.stop_forget_acc is not None and ua <= float(self.stop_forget_acc):
            return f"forget accuracy {ua:.3f} ≤ {self.stop_forget_acc}"
        if self.stop_retain_acc is not None and ra < float(self.stop_retain_acc):
            return f"retain accuracy {ra:.3f} < {self.stop_retain_acc}"
        return None

    def _hook(self, opt, args, kwargs):
        if not any(id(p) in self._ids for g in opt.param_groups for p in g["params"]):
            return None  # another optimiser (e.g. UNSIR's noise): not a step of the model
        if self.max_steps is not None and self.steps >= self.max_steps:
            self.stopped_by = self.stopped_by or f"{self.max_steps} steps"
            raise StopPhase(self.stopped_by)
        if self.steps % self.check_every == 0:
            why = self._rule_met()
            if why:
                self.stopped_by = why
                raise StopPhase(why)
        self.steps += 1
        return None

    def __enter__(self):
        from torch.optim.optimizer import register_optimizer_step_pre_hook
        self._handle = register_optimizer_step_pre_hook(self._hook)
        return self

    def __exit__(self, exc_type, exc, tb):
        self._handle.remove()
        return exc_type is StopPhase  # the phase ended where it should: not an error


def _forget_retain_accuracy(ctx):
    """(forget-train accuracy, retain-train accuracy) of a model: the stopping rules' measurements."""
    from .evaluation import accuracy
    split, data = ctx.split, ctx.exp.train

    def measure(model):
        return (accuracy(model, data, split.forget_train, ctx.targets(split.forget_train)),
                accuracy(model, data, split.retain_train, ctx.targets(split.retain_train)))
    return measure


def run_phase1(entry, ctx, para1, para2) -> dict:
    """Phase 1 of ``_our``: ``entry`` once (epoch-based, the default), or for an exact number of optimiser steps
    and/or until a stopping rule holds (settings "steps", "stop_forget_acc", "stop_retain_acc"). Returns a log."""
    s = ctx.settings
    rules = {k: s.get(k) for k in ("stop_forget_acc", "stop_retain_acc") if s.get(k) is not None}
    if s.get("steps") is None and not rules:
        model = entry.fn(ctx, para1, para2)
        if model is not ctx.model:
            raise RuntimeError(f"{entry.name} must change ctx.model in place to be wrapped by Over-Unlearning & Replay")
        return {"phase1": "epochs"}
    cap = s.get("steps") if s.get("steps") is not None else s.get("max_steps", 2000)
    budget = StepBudget(ctx.model, cap, check_every=s.get("check_every", 1), accuracies=_forget_retain_accuracy(ctx),
                        **rules)
    rounds = 0
    with budget:
        while True:
            before = budget.steps
            model = entry.fn(ctx, para1, para2)
            rounds += 1
            if model is not ctx.model:
                raise RuntimeError(f"{entry.name} must change ctx.model in place to be wrapped by Over-Unlearning "
                                   "& Replay")
            if budget.steps == before:  # a one-shot method: no optimiser step to count
                budget.stopped_by = "one-shot method (no optimiser steps)"
                break
    return {"phase1": "steps", "phase1_steps": budget.steps, "phase1_rounds": rounds,
            "phase1_stopped_by": budget.stopped_by}


def reset_forget_unit(ctx, model, how) -> None:
    """Zero or re-draw (as a fresh nn.Linear row, seeded) the forget class's output row and bias."""
    if how in (None, "", "none", False):
        return
    from .strategies import _classifier
    head = _classifier(model)
    if head is None:
        raise ValueError(f"reset_forget_unit={how!r}: the model has no nn.Linear output layer")
    fc, f = head[1], ctx.split.forget_index
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


def replay_steps(ctx, model, settings: dict) -> int:
    """The replay (``replay``) with its length in optimiser steps when settings["steps"] is set: cycling D_r, the
    same optimiser and lr schedule over exactly that many steps. Returns the number of steps."""
    steps = int(settings["steps"])
    loader, opt, lam = _replay_parts(ctx, model, settings)
    per_epoch = len(loader)
    batches = cycle(loader)
    model.train()
    for step in range(steps):
        x, y = next(batches)
        _replay_step(ctx, model, opt, lam, x, y, replay_lr(settings, step, steps, per_epoch))
    check_finite_model(model)
    return steps


def suppress_forget_unit(ctx, model, steps: int, lr: float = 0.1) -> dict:
    """Retraining's effect on the forget unit alone: ``steps`` SGD (momentum 0.9) steps of cross-entropy on D_r
    that move only the forget class's output row and bias (features fixed: every other weight frozen, BatchNorm in
    eval mode). A unit that is never a target is pushed below the others on all inputs, as in a retrained model.
    The update goes through the run's mask (``ctx.reg.apply_to_delta``). Returns the mean forget margin before/after
    (forget logit − largest other logit, on D_r)."""
    from .strategies import _classifier
    head = _classifier(model)
    if head is None:
        raise ValueError("suppress_forget_unit: the model has no nn.Linear output layer")
    name, fc = head
    f = ctx.split.forget_index
    loader = cycle(ctx.loader(ctx.split.retain_train, stream=950))
    x, _ = next(loader)
    # features in eval mode (BatchNorm on running statistics): only the output unit's weights are trained
    with eval_mode(model), torch.no_grad():
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
        with eval_mode(model), torch.no_grad():
            h = model.features(x)
        if step == 0:
            margins.append(margin(h))
        loss = F.cross_entropy(logits(h), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    with eval_mode(model), torch.no_grad():
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


def run_replay(ctx, model, settings: dict) -> dict:
    """Phase 2 with the extension options: reset the forget unit first, length in epochs or in steps, then optionally
    suppress the forget unit (settings "suppress_forget_unit": steps, "suppress_lr")."""
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


def _log(ctx, info: dict) -> None:
    ctx.settings.setdefault("_log", {}).update(info)  # the driver writes ctx.settings into results.json


# ----------------------------------------------------------------------------- <method>_orth
def orthogonality_penalty(features) -> torch.Tensor:
    """Σ over feature maps of the mean squared off-diagonal entry of the Gram matrix of the L2-normalised,
    flattened per-sample features (0 when the batch's features are mutually orthogonal, or for a single sample)."""
    total = None
    for h in features:
        z = F.normalize(h.flatten(1), dim=1)
        b = z.shape[0]
        gram = z @ z.T
        off = gram - torch.diag(torch.diagonal(gram))
        term = (off ** 2).sum() / max(b * (b - 1), 1)
        total = term if total is None else total + term
    return total


def _stage_features(model, x, stages):
    if not hasattr(model, "stage_outputs"):
        raise ValueError(f"the _orth variants need a model with stage_outputs(x) (the ResNets); "
                         f"{type(model).__name__} has none")
    outs = model.stage_outputs(x)
    return [outs[i] for i in stages]


def orthogonal_over_unlearn(ctx, model, settings: dict) -> dict:
    """Random labels on D_f (never the forget class) + lam · orthogonality penalty on the chosen stage outputs,
    Adam, exactly ``steps`` optimiser steps (cycling D_f). Retain accuracy may collapse (the replay repairs it)."""
    steps, lam = int(settings.get("steps", 40)), float(settings.get("lam", 1.0))
    stages = [int(i) for i in settings.get("stages", [-2, -1])]
    idx = ctx.split.forget_train
    loader = cycle(ctx.loader(idx, ctx.random_other_labels(len(idx), stream=41),
                              batch_size=settings.get("batch_size"), stream=41))
    opt = torch.optim.Adam(model.parameters(), lr=float(settings.get("lr", 0.0025)))
    model.train()
    for _ in range(steps):
        x, y = next(loader)
        feats = _stage_features(model, x, stages)
        ctx.reg.step(opt, F.cross_entropy(model(x), y) + lam * orthogonality_penalty(feats))
    check_finite_model(model)
    return {"orth_steps": steps, "orth_lam": lam, "orth_stages": stages}


def orth_over_unlearn_and_replay(entry, ctx, para1, para2):
    """``<method>_orth``: the method with its plain settings (unless orth.run_base is False), then the orthogonal
    over-unlearning (phase 1 ends), then the same replay as ``_our`` (phase 2)."""
    settings = ctx.settings.get("orth", {})
    if not hasattr(ctx.model, "stage_outputs"):
        raise ValueError(f"{entry.name}_orth needs a model with stage_outputs(x) (the ResNets); "
                         f"{type(ctx.model).__name__} has none")
    start = time.perf_counter()
    if settings.get("run_base", True):
        model = entry.fn(ctx, para1, para2)
        if model is not ctx.model:
            raise RuntimeError(f"{entry.name} must change ctx.model in place to be wrapped by _orth")
    _log(ctx, orthogonal_over_unlearn(ctx, ctx.model, settings))
    check_finite_model(ctx.model)
    seconds = time.perf_counter() - start
    if ctx.on_phase:
        ctx.on_phase(PHASE1, ctx.model, seconds)
    start = time.perf_counter()
    _log(ctx, run_replay(ctx, ctx.model, ctx.settings.get("replay", {})))
    seconds = time.perf_counter() - start
    if ctx.on_phase:
        ctx.on_phase(PHASE2, ctx.model, seconds)
    return ctx.model


def orth_variant(entry):
    """The registry entry ``<name>_orth`` for a method entry (generated, like ``our_variant``)."""
    return dataclasses.replace(
        entry, name=f"{entry.name}_orth", fn=functools.partial(orth_over_unlearn_and_replay, entry), gradient=True,
        base=entry.name,
        doc=f"Orthogonal over-unlearning & replay around {entry.name}: {entry.name} (config.UNLEARN settings), then "
            "random labels on D_f + an orthogonality penalty on the normalised features of the last two stages "
            "(config.OVER_UNLEARN[...]['orth']), then the replay of _our.",
    )
