"""Phase 1 of ``<method>_our`` in optimiser steps or until a stopping rule holds.

Settings (the method's ``_our`` settings; every key optional):
    steps            exactly this many optimiser steps of the method (the method is re-run from the current weights,
                     same seed, until the count is reached; it stops mid-epoch). Overrides whatever epoch count the
                     method reads. One-shot methods (ssd_tuning, Wfisher, FisherForgetting) make no optimiser step:
                     for them "steps" is ignored (recorded as 0 steps).
    stop_forget_acc  stop as soon as forget-train accuracy ≤ this value (checked before a step)
    stop_retain_acc  stop as soon as retain-train accuracy < this value
    check_every      evaluate the stopping rules every this many steps (default 1)
    max_steps        cap of a stopping rule without "steps" (default 2000)
"""
from __future__ import annotations

from torch.optim.optimizer import register_optimizer_step_pre_hook

from ..evaluation import accuracy


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
        self._handle = register_optimizer_step_pre_hook(self._hook)
        return self

    def __exit__(self, exc_type, exc, tb):
        self._handle.remove()
        return exc_type is StopPhase  # the phase ended where it should: not an error


def _forget_retain_accuracy(ctx):
    """(forget-train accuracy, retain-train accuracy) of a model: the stopping rules' measurements."""
    split, data = ctx.split, ctx.exp.train

    def measure(model):
        return (accuracy(model, data, split.forget_train, ctx.targets(split.forget_train)),
                accuracy(model, data, split.retain_train, ctx.targets(split.retain_train)))
    return measure


def _run_in_place(entry, ctx, para1, para2):
    model = entry.fn(ctx, para1, para2)
    if model is not ctx.model:
        raise RuntimeError(f"{entry.name} must change ctx.model in place to be wrapped by Over-Unlearning & Replay")


def run_phase1(entry, ctx, para1, para2) -> dict:
    """Phase 1 of ``_our``: ``entry`` once (epoch-based, the default), or for an exact number of optimiser steps
    and/or until a stopping rule holds (settings "steps", "stop_forget_acc", "stop_retain_acc"). Returns a log."""
    s = ctx.settings
    rules = {k: s.get(k) for k in ("stop_forget_acc", "stop_retain_acc") if s.get(k) is not None}
    if s.get("steps") is None and not rules:
        _run_in_place(entry, ctx, para1, para2)
        return {"phase1": "epochs"}
    cap = s.get("steps") if s.get("steps") is not None else s.get("max_steps", 2000)
    budget = StepBudget(ctx.model, cap, check_every=s.get("check_every", 1), accuracies=_forget_retain_accuracy(ctx),
                        **rules)
    rounds = 0
    with budget:
        while True:
            before = budget.steps
            _run_in_place(entry, ctx, para1, para2)
            rounds += 1  # a completed round (a StopPhase inside the method leaves the loop before this)
            if budget.steps == before:  # a one-shot method: no optimiser step to count
                budget.stopped_by = "one-shot method (no optimiser steps)"
                break
    return {"phase1": "steps", "phase1_steps": budget.steps, "phase1_rounds": rounds,
            "phase1_stopped_by": budget.stopped_by}
