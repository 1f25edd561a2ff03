"""Reminiscence Attack (ReA): a forgotten class is relearned faster than a class the model never saw.

For one target model, every repetition r draws an attacker sample of the forget class (a fraction p of D_f) and,
for each OOD class, an equally large sample relabelled to the forget output; every sample is relearned in its
own run — a fresh copy of the target's weights and buffers, a fresh SGD(momentum 0.9) — for T steps of
1 attacker image + m retain images, with the accuracy on the whole attacker sample measured (eval mode, no
grad) after every step. Forget runs are the members, OOD runs the non-members; steps-to-τ (fewer = member) and
the area under the accuracy curve are scored with ROC AUC, best-threshold balanced accuracy and TPR at ≤5% FPR.
The entropy MIA, turned into the same class-level decision on the same samples, is the prior attack.

The runs of one target are independent, so they are trained together: parameters, buffers and momenta of B
copies are stacked and one ``torch.func.vmap`` over ``functional_call`` trains them all (BatchNorm running
statistics are per-copy buffers updated in place inside vmap); ``ENGINES`` lists the ways the B gradients are
taken. ``relearn_loop`` is the plain reference. Early stop (``ReAConfig.early_stop``): a run stops at its first
step reaching τ, which keeps steps-to-τ and leaves the area statistic unmeasured.
"""
from __future__ import annotations

import contextlib
import copy
import math
import os
import time
from dataclasses import asdict, dataclass
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.func import functional_call, grad, vmap

import config
from ..evaluation import EntropyMIA, eval_mode
from ..paths import fmt_param, seed_field
from ..runtime import Progress, Timer, generator
from .base import Attack, register_attack, run_checkpoint
from ..scoring import membership_scores

MOMENTUM = 0.9


class ReAError(ValueError):
    """Bad attack settings (sizes, fractions, learning rates) for the split at hand."""


# ----------------------------------------------------------------------------- settings
@dataclass
class ReAConfig:
    unlearn_data_percent: float = 0.1  # fraction p of D_f given to the attacker, in (0, 1]
    num_ood_dataset: int = 3  # OOD classes used as non-members (the first k of the split's sorted OOD list)
    relearning_lr: Sequence[float] = (0.01,)
    repeats: int = 20
    steps: int = 75  # T
    mix_batch: int = 14  # m retain samples per step
    threshold: float = 0.9  # τ
    seed: int = 0  # attack seed: attacker samples and mixing batches of every repetition
    batch_models: int = 80  # runs trained together in one vmapped network; 0 = one at a time
    max_fpr: float = 0.05
    early_stop: bool = False  # a run stops once it reaches τ: steps-to-τ unchanged, the area not measured

    def __post_init__(self):
        self.relearning_lr = [float(lr) for lr in np.atleast_1d(self.relearning_lr)]

    def validate(self) -> "ReAConfig":
        p = self.unlearn_data_percent
        if not (isinstance(p, (int, float)) and 0.0 < p <= 1.0):
            raise ReAError(f"--unlearn_data_percent is a fraction of D_f in (0, 1] (0.03 = 3%), got {p}")
        for name in ("num_ood_dataset", "repeats", "steps"):
            if int(getattr(self, name)) < 1:
                raise ReAError(f"--{name} must be at least 1, got {getattr(self, name)}")
        if int(self.mix_batch) < 0:
            raise ReAError(f"--mix_batch must be ≥ 0, got {self.mix_batch}")
        if self.batch_models != "auto" and int(self.batch_models) < 0:
            raise ReAError(f"--batch_models must be ≥ 0 (0 = one run at a time), got {self.batch_models}")
        if not self.relearning_lr:
            raise ReAError("--relearning_lr needs at least one learning rate")
        for lr in self.relearning_lr:
            if not (math.isfinite(lr) and lr > 0):
                raise ReAError(f"--relearning_lr values must be positive, got {lr}")
        if len(set(self.relearning_lr)) != len(self.relearning_lr):
            raise ReAError(f"--relearning_lr lists a learning rate twice: {self.relearning_lr}")
        if not 0.0 < self.threshold <= 1.0:
            raise ReAError(f"--threshold τ is an accuracy in (0, 1], got {self.threshold}")
        if not isinstance(self.early_stop, bool):
            raise ReAError(f"early_stop is True or False, got {self.early_stop!r}")
        return self

    def tag(self) -> str:
        """Folder name: every setting that changes the numbers (batching does not)."""
        lrs = "-".join(fmt_param(lr) for lr in self.relearning_lr)
        return (f"p{fmt_param(float(self.unlearn_data_percent))}_ood{self.num_ood_dataset}_m{self.mix_batch}"
                f"_T{self.steps}_tau{fmt_param(float(self.threshold))}_r{self.repeats}_lr{lrs}_{seed_field(self.seed)}"
                + ("_stop" if self.early_stop else ""))


def attacker_size(split, cfg: ReAConfig) -> int:
    """Images per attacker sample: round(p·|D_f|), at least 1; OOD classes must have as many."""
    n_f = len(split.forget_train)
    if n_f == 0:
        raise ReAError("the split has no forget-train data: ReA needs a forget class")
    n = max(1, int(round(cfg.unlearn_data_percent * n_f)))
    for k in ood_classes_used(split, cfg):
        if len(split.ood_train[k]) < n:
            raise ReAError(f"OOD class {k} has {len(split.ood_train[k])} train images, fewer than the attacker sample "
                           f"size {n} (p={cfg.unlearn_data_percent} of {n_f}): lower --unlearn_data_percent")
    return n


def ood_classes_used(split, cfg: ReAConfig) -> List[int]:
    available = sorted(split.ood_train)
    if cfg.num_ood_dataset > len(available):
        raise ReAError(f"--num_ood_dataset {cfg.num_ood_dataset}: the split has only {len(available)} OOD "
                       f"class(es) {available}")
    return available[:cfg.num_ood_dataset]


def repeat_seed(seed: int, repeat: int) -> int:
    """An independent, reproducible seed per repetition (no overlap between (seed, r) pairs)."""
    return int(np.random.SeedSequence([int(seed), int(repeat)]).generate_state(1)[0])


# ----------------------------------------------------------------------------- attacker samples and runs
@dataclass
class AttackerSamples:
    """One repetition's data; every index points into the experiment's train ImageData."""
    repeat: int
    forget: torch.Tensor  # n indices of D_f
    ood: Dict[int, torch.Tensor]  # OOD class → n indices of D_ood[k]
    pool: torch.Tensor  # retain indices available for mixing (disjoint from every attacker sample)
    mix: torch.Tensor  # T×m retain indices drawn from the pool: step t's mixing batch


def draw_samples(split, cfg: ReAConfig, repeat: int) -> AttackerSamples:
    gen = generator(repeat_seed(cfg.seed, repeat))
    n = attacker_size(split, cfg)
    forget = split.forget_train[torch.randperm(len(split.forget_train), generator=gen)[:n]]
    ood = {}
    for k in ood_classes_used(split, cfg):
        pool_k = split.ood_train[k]
        ood[k] = pool_k[torch.randperm(len(pool_k), generator=gen)[:n]]
    attacker = torch.cat([forget, *ood.values()])
    pool = split.retain_train[~torch.isin(split.retain_train, attacker)]
    T, m = int(cfg.steps), int(cfg.mix_batch)
    if m and len(pool) == 0:
        raise ReAError("no retain data left for mixing (--mix_batch > 0 needs a retain set)")
    need = T * m
    # Sampling without replacement inside each pass over the pool, reshuffled per pass.
    passes = [pool[torch.randperm(len(pool), generator=gen)] for _ in range(math.ceil(need / max(len(pool), 1)))]
    mix = (torch.cat(passes)[:need] if passes else pool[:0]).view(T, m)
    return AttackerSamples(repeat, forget, ood, pool, mix)


@dataclass
class Run:
    run_id: int
    lr: float
    side: str  # "forget" (member) or "ood" (non-member)
    ood_class: int  # -1 for forget runs
    repeat: int
    attack: torch.Tensor  # n indices, all labelled as the forget output
    mix: torch.Tensor  # T×m retain indices


def build_runs(samples: Sequence[AttackerSamples], lrs: Sequence[float]) -> List[Run]:
    """Per lr, per repetition: the forget run, then one run per OOD class. Same samples for every lr."""
    runs = []
    for lr in lrs:
        for s in samples:
            runs.append(Run(len(runs), float(lr), "forget", -1, s.repeat, s.forget, s.mix))
            for k, idx in s.ood.items():
                runs.append(Run(len(runs), float(lr), "ood", int(k), s.repeat, idx, s.mix))
    return runs


class RunData:
    """Gathers the images and targets of runs' training steps and attacker samples (on the data's device)."""

    def __init__(self, data, split):
        self.data = data
        self.split = split
        self.forget_index = split.forget_index
        self.device = data.x.device

    def eval_batch(self, runs: Sequence[Run]) -> torch.Tensor:
        idx = torch.stack([r.attack for r in runs]).to(self.device)  # B×n
        return self.data.normalize(self.data.x[idx.flatten()]).view(*idx.shape, *self.data.x.shape[1:])

    def train_indices(self, runs: Sequence[Run], steps: int) -> torch.Tensor:
        """B×T×(1+m): step t trains on attacker image t mod n (cycling) followed by the mixing batch."""
        rows = []
        for r in runs:
            n = len(r.attack)
            att = r.attack[torch.arange(steps) % n].view(steps, 1)
            rows.append(torch.cat([att, r.mix[:steps]], 1))
        return torch.stack(rows).to(self.device)

    def train_batch(self, idx_t: torch.Tensor):
        """Images and targets of one step for every run: idx_t is B×(1+m)."""
        x = self.data.normalize(self.data.x[idx_t.flatten()]).view(*idx_t.shape, *self.data.x.shape[1:])
        y = self.split.targets(self.data.y[idx_t])
        y[:, 0] = self.forget_index  # the attacker image carries the forget label (OOD images are relabelled)
        return x, y


def _correct(logits: torch.Tensor, target: int) -> torch.Tensor:
    """Correct predictions, counting non-finite outputs (a diverged run) as wrong."""
    return (logits.argmax(-1) == target) & torch.isfinite(logits).all(-1)


# ----------------------------------------------------------------------------- relearning engines
STOPPED = -1  # the correct count of a step after its run stopped at τ (early stop): not measured


def threshold_count(tau: float, n: int) -> int:
    """The fewest correct images of n whose accuracy reaches τ, by the comparison ``steps_to_threshold`` makes."""
    return next((k for k in range(n + 1) if k / float(n) >= tau - 1e-12), n + 1)


def relearn_loop(model: nn.Module, runs: Sequence[Run], rd: RunData, steps: int, progress=None,
                 states: Optional[list] = None, stop_count: Optional[int] = None) -> np.ndarray:
    """Reference engine: one deep copy and one torch SGD per run. Returns correct counts, runs×(T+1).

    ``states``: a list that receives each run's final parameters and buffers (for tests). ``stop_count``: a run
    stops after the first step (0 included) with at least that many correct; its later counts are ``STOPPED``."""
    counts = np.full((len(runs), steps + 1), STOPPED, dtype=np.int64)
    for i, run in enumerate(runs):
        net = copy.deepcopy(model)
        for p in net.parameters():
            p.requires_grad_(True)
        opt = torch.optim.SGD(net.parameters(), lr=run.lr, momentum=MOMENTUM)
        idx = rd.train_indices([run], steps)[0]
        x_eval = rd.eval_batch([run])[0]
        net.eval()
        with torch.no_grad():
            counts[i, 0] = _correct(net(x_eval), rd.forget_index).sum().item()
        for t in range(steps):
            if stop_count is not None and counts[i, t] >= stop_count:
                break
            x, y = rd.train_batch(idx[t:t + 1])
            net.train()
            loss = F.cross_entropy(net(x[0]), y[0])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            net.eval()
            with torch.no_grad():
                counts[i, t + 1] = _correct(net(x_eval), rd.forget_index).sum().item()
        if states is not None:
            states.append({k: v.detach().clone() for k, v in net.state_dict().items()})
        if progress:
            progress(1)
    return counts


class StackedModels:
    """Independent copies of modules' parameters, buffers and momentum buffers, as stacked tensors.

    ``StackedModels(model, b)``: b copies of one module; ``stack_targets``: copies of several targets. Slot i of every
    tensor belongs to copy i only; nothing is shared (each stack is a fresh tensor).
    """

    def __init__(self, model: nn.Module, b: int):
        self._fill([model], [0] * b)

    def _fill(self, models: Sequence[nn.Module], owners: Sequence[int]) -> None:
        # contiguous: vmapped BatchNorm on CUDA cannot take channels_last weights or inputs
        def stack(tensors):
            return torch.stack([tensors[o].detach().contiguous() for o in owners]).contiguous()
        params = [dict(m.named_parameters()) for m in models]
        buffers = [dict(m.named_buffers()) for m in models]
        self.params = {k: stack([p[k] for p in params]) for k in params[0]}
        self.buffers = {k: stack([b[k] for b in buffers]) for k in buffers[0]}
        self.momentum = {k: torch.zeros_like(v) for k, v in self.params.items()}
        self.b = len(owners)


def relearn_batched(model: nn.Module, runs: Sequence[Run], rd: RunData, steps: int, chunk: int,
                    progress=None, states: Optional[list] = None, stop_count: Optional[int] = None,
                    engine: str = None) -> np.ndarray:
    """All runs, ``chunk`` at a time, each chunk one vmapped network. Returns correct counts, runs×(T+1)."""
    return _relearn_many([model], [runs], rd, steps, chunk, progress, states, stop_count, engine)[0]


# Beyond this many runs per chunk the GPU is saturated; the cap also leaves room for other jobs on the same GPU
# (run.py --jobs N without --devices).
AUTO_BATCH_CAP = 64


def auto_batch_models(model: nn.Module, rd: RunData, n_runs: int, cfg: ReAConfig, fraction: float = 0.8) -> int:
    """Runs per vmapped chunk that fit ``fraction`` of the GPU's free memory: one copy's stacked weights and
    momentum plus the measured gradient and activation memory of one training step of 1 + m images."""
    dev = rd.device
    torch.cuda.synchronize(dev)
    free, _ = torch.cuda.mem_get_info(dev)
    param_bytes = sum(p.numel() * p.element_size() for p in model.parameters())
    buffer_bytes = sum(b.numel() * b.element_size() for b in model.buffers())
    probe = copy.deepcopy(model).train()
    idx = torch.cat([rd.split.forget_train[:1], rd.split.retain_train[:int(cfg.mix_batch)]]).to(dev)
    x = rd.data.normalize(rd.data.x[idx])
    y = rd.split.targets(rd.data.y[idx]).clamp_min(0)
    base = torch.cuda.memory_allocated(dev)
    torch.cuda.reset_peak_memory_stats(dev)
    F.cross_entropy(probe(x), y).backward()
    step_bytes = torch.cuda.max_memory_allocated(dev) - base
    del probe
    per_copy = 2 * param_bytes + buffer_bytes + step_bytes * 2  # ×2: vmap's batched intermediates, evaluation
    b = int(fraction * free // max(per_copy, 1))
    chosen = max(1, min(b, n_runs, AUTO_BATCH_CAP))
    print(f"ReA batch_models auto: {chosen} ({free / 2**30:.1f} GiB free, ~{per_copy / 2**20:.0f} MiB per run)",
          flush=True)
    return chosen


def relearn(model: nn.Module, runs: Sequence[Run], rd: RunData, steps: int, batch_models: int, progress=None,
            states: Optional[list] = None, stop_count: Optional[int] = None, engine: str = None) -> np.ndarray:
    """Correct counts on the attacker sample, runs×(T+1) (column 0: before any step); batched or loop.
    ``stop_count``: early stop (see ``relearn_loop``); ``engine``: a batched engine of ``ENGINES``.

    Relearning runs in float32 even where bf16 autocast is on for the process: torch.func's vmap does
    not support autocast, and the loop must compute what the batched engine computes."""
    with _float32(rd):
        if batch_models and batch_models > 0:
            return relearn_batched(model, runs, rd, steps, batch_models, progress, states, stop_count, engine)
        return relearn_loop(model, runs, rd, steps, progress, states, stop_count)


def _float32(rd: "RunData"):
    """A context with autocast off on the data's device (CUDA, or the CPU where the speed flags force it on)."""
    kind = rd.device.type
    return torch.autocast(kind, enabled=False) if kind in ("cuda", "cpu") else contextlib.nullcontext()


# ----------------------------------------------------------------------------- many targets in one pass
def check_same_shape(models: Sequence[nn.Module]) -> None:
    """Stacking needs one module class with identically named and shaped parameters and buffers."""
    ref = models[0]
    shapes = {k: v.shape for k, v in ref.state_dict().items()}
    for i, m in enumerate(models[1:], 1):
        if type(m) is not type(ref) or {k: v.shape for k, v in m.state_dict().items()} != shapes:
            raise ReAError(f"target {i} ({type(m).__name__}) does not have the shape of target 0 "
                           f"({type(ref).__name__}): only models of one network can be stacked")


def stack_targets(models: Sequence[nn.Module], owners: Sequence[int]) -> StackedModels:
    """Slot i holds a fresh copy of ``models[owners[i]]``'s parameters and buffers, with zero momentum."""
    st = StackedModels.__new__(StackedModels)
    st._fill(models, owners)
    return st


def relearn_many(models: Sequence[nn.Module], runs_per_model: Sequence[Sequence[Run]], rd: RunData, steps: int,
                 chunk: int, progress=None, states: Optional[list] = None, stop_count: Optional[int] = None,
                 engine: str = None) -> List[np.ndarray]:
    """The runs of several targets of one network, ``chunk`` runs at a time in one vmapped network whatever
    target they belong to; ``chunk`` 0 = the reference loop, one target after another.

    Returns one runs×(T+1) array of correct counts per target, equal to ``relearn`` on each target alone
    (a run's copy starts from its own target's weights, buffers and a zero momentum)."""
    with _float32(rd):
        return _relearn_many(models, runs_per_model, rd, steps, chunk, progress, states, stop_count, engine)


def _relearn_many(models, runs_per_model, rd, steps, chunk, progress=None, states=None, stop_count=None, engine=None):
    engine = DEFAULT_ENGINE if engine is None else engine
    if engine not in ENGINES:
        raise ReAError(f"unknown ReA engine {engine!r}: one of {', '.join(ENGINES)}")
    if len(models) != len(runs_per_model):
        raise ReAError(f"{len(models)} targets but {len(runs_per_model)} run lists")
    if not models:
        return []
    check_same_shape(models)
    if not chunk or chunk <= 0:
        out = []
        for model, runs in zip(models, runs_per_model):
            out.append(relearn_loop(model, runs, rd, steps, progress, states, stop_count))
        return out
    template = models[0]  # supplies the forward code; every tensor it uses comes from the stacks
    items = [(i, run) for i, runs in enumerate(runs_per_model) for run in runs]
    counts = np.zeros((len(items), steps + 1), dtype=np.int64)
    with eval_mode(template):  # the template switches between train and eval below; it gets its mode back
        for start in range(0, len(items), chunk):
            part = items[start:start + chunk]
            part_runs = [r for _, r in part]
            st = stack_targets(models, [i for i, _ in part])
            c, final = _train_chunk(template, st, part_runs, rd, steps, stop_count, states is not None, engine)
            counts[start:start + len(part)] = c
            if states is not None:
                states.extend(final)
            if progress:
                progress(len(part))
    bounds = np.cumsum([0] + [len(r) for r in runs_per_model])
    return [counts[a:b] for a, b in zip(bounds[:-1], bounds[1:])]


def _functions(template):
    """The vmapped per-copy loss and logits of ``template``'s forward on stacked parameters and buffers."""
    def loss_fn(params, buffers, x, y):
        return F.cross_entropy(functional_call(template, (params, buffers), (x,)), y)

    def logits_fn(params, buffers, x):
        return functional_call(template, (params, buffers), (x,))

    # randomness="different": a model with dropout gets independent masks per copy instead of an error
    return loss_fn, vmap(logits_fn, randomness="different")


def _sgd_step(params: list, bufs: list, grads, lr: torch.Tensor) -> None:
    """torch.optim.SGD with momentum, no dampening/nesterov/decay: buf ← μ·buf + g; θ ← θ − lr·buf (lr per copy)."""
    torch._foreach_mul_(bufs, MOMENTUM)
    torch._foreach_add_(bufs, list(grads))
    torch._foreach_sub_(params, [b_ * lr.view(-1, *[1] * (b_.ndim - 1)) for b_ in bufs])


def _train_chunk(template, st, runs, rd, steps, stop_count, keep_states, engine):
    """One chunk of runs in the stacks ``st``; returns (correct counts B×(T+1), final states if ``keep_states``).

    ``engine`` "vmap_grad": every copy's gradient by ``vmap(grad(loss))``. "vmap_sum": the copies' losses by one
    vmapped forward, their gradients by one reverse pass of the losses' sum (copy i's loss depends on slot i alone,
    so slot i of the sum's gradient is copy i's own gradient). With ``stop_count``: after every evaluation the runs
    that reached it leave the stacks (their later counts stay ``STOPPED``) and the chunk ends when none is left;
    without it, no host synchronisation until the chunk's end."""
    loss_fn, eval_fn = _functions(template)
    summed = engine == "vmap_sum"
    grad_fn = vmap(loss_fn if summed else grad(loss_fn), randomness="different")
    target, dev = rd.forget_index, rd.device
    lr = torch.tensor([r.lr for r in runs], dtype=torch.float32, device=dev)
    idx = rd.train_indices(runs, steps)
    x_eval = rd.eval_batch(runs)
    counts = torch.full((st.b, steps + 1), STOPPED, dtype=torch.int64, device=dev)
    slots = torch.arange(st.b, device=dev)  # the chunk slot of each row still in the stacks
    final = [None] * st.b
    keys = list(st.params)

    def state(row):
        return {k: v[row].detach().clone() for k, v in {**st.params, **st.buffers}.items()}

    def drop(c: torch.Tensor) -> bool:
        """Remove the rows that reached ``stop_count`` from every stack; True while any row is left."""
        nonlocal lr, idx, x_eval, slots
        done = c >= stop_count
        if not bool(done.any()):
            return True
        keep = ~done
        if keep_states:
            for row in done.nonzero().flatten().tolist():
                final[int(slots[row])] = state(row)
        st.params = {k: v.detach()[keep].requires_grad_(summed) for k, v in st.params.items()}
        st.buffers = {k: v[keep] for k, v in st.buffers.items()}
        st.momentum = {k: v[keep] for k, v in st.momentum.items()}
        lr, idx, x_eval, slots = lr[keep], idx[keep], x_eval[keep], slots[keep]
        st.b = int(keep.sum())
        return st.b > 0

    for v in st.params.values():
        v.requires_grad_(summed)
    template.eval()
    with torch.no_grad():
        c = _correct(eval_fn(st.params, st.buffers, x_eval), target).sum(1)
        counts[:, 0] = c
        alive = stop_count is None or drop(c)
    for t in range(steps):
        if not alive:
            break
        x, y = rd.train_batch(idx[:, t])
        template.train()
        plist = [st.params[k] for k in keys]
        if summed:
            g = torch.autograd.grad(grad_fn(st.params, st.buffers, x, y).sum(), plist)
        else:
            g = grad_fn(st.params, st.buffers, x, y)
            g = [g[k] for k in keys]
        with torch.no_grad():
            _sgd_step(plist, [st.momentum[k] for k in keys], g, lr)
            template.eval()
            c = _correct(eval_fn(st.params, st.buffers, x_eval), target).sum(1)
            counts[slots, t + 1] = c
            alive = stop_count is None or drop(c)
    for v in st.params.values():
        v.requires_grad_(False)
    if keep_states:
        for row, slot in enumerate(slots.tolist()):
            final[slot] = state(row)
    return counts.cpu().numpy(), final


# Batched engines (``relearn(..., engine=)``, see ``_train_chunk``). vmap_sum reorders float operations: on the
# digits retrain target 2 of 80 curves differ from vmap_grad's in one late step (steps-to-τ equal), so it is not the
# default (docs/attack.md, benchmarks/bench_rea_batched.py).
ENGINES = ("vmap_grad", "vmap_sum")
DEFAULT_ENGINE = "vmap_grad"


# ----------------------------------------------------------------------------- statistics
def steps_to_threshold(acc: np.ndarray, tau: float) -> np.ndarray:
    """Per run (rows of acc, columns = steps 0..T): the first step with accuracy ≥ τ; T+1 if never.

    Step 0 is the untouched target, so a model that never forgot scores 0.
    """
    acc = np.atleast_2d(acc)
    T = acc.shape[1] - 1
    hit = acc >= tau - 1e-12
    return np.where(hit.any(1), hit.argmax(1), T + 1)


def curve_area(acc: np.ndarray) -> np.ndarray:
    """Area under the accuracy curve over steps 0..T (trapezoid), divided by T: in [0, 1]."""
    acc = np.atleast_2d(acc)
    T = acc.shape[1] - 1
    return (acc[:, 1:] + acc[:, :-1]).sum(1) / (2.0 * max(T, 1))


# ----------------------------------------------------------------------------- the attack on one target
def prior_attack(model: nn.Module, exp, samples: Sequence[AttackerSamples], seed: int = 0, mia=None) -> dict:
    """Entropy MIA (fitted once on the target) as a class-level decision: the score of an attacker sample is the
    fraction of its images predicted 'member'; forget samples are members, OOD samples non-members."""
    mia = mia or EntropyMIA(model, exp, seed)
    member = [mia.member_rate(model, exp.train, s.forget) for s in samples]
    non_member, classes = [], []
    for s in samples:
        for k, idx in s.ood.items():
            non_member.append(mia.member_rate(model, exp.train, idx))
            classes.append(k)
    return {"member_rates": member, "non_member_rates": non_member, "non_member_ood_class": classes,
            "scores": membership_scores(member, non_member, higher_is_member=True)}


def score_lr(acc: np.ndarray, runs: Sequence[Run], cfg: ReAConfig) -> dict:
    """Member/non-member statistics and scores of the runs of one learning rate."""
    steps = steps_to_threshold(acc, cfg.threshold)
    fm = np.array([r.side == "forget" for r in runs])
    ood_cls = np.array([r.ood_class for r in runs])
    if cfg.early_stop:  # curves end at τ (NaN after it): the area over all T steps is not measured
        area_fields = {"member_area": None, "non_member_area": None, "area_scores": None,
                       "area_not_measured": "early_stop: each run stopped at its first step with accuracy ≥ τ"}
    else:
        area = curve_area(acc)
        area_fields = {"member_area": area[fm].tolist(), "non_member_area": area[~fm].tolist(),
                       "area_scores": membership_scores(area[fm], area[~fm], higher_is_member=True,
                                                        max_fpr=cfg.max_fpr)}
    out = {
        "member_steps": steps[fm].tolist(), "non_member_steps": steps[~fm].tolist(),
        "non_member_ood_class": ood_cls[~fm].tolist(),
        "steps_scores": membership_scores(steps[fm], steps[~fm], higher_is_member=False, max_fpr=cfg.max_fpr),
        **area_fields,
        "mean_steps_forget": float(steps[fm].mean()), "mean_steps_ood": float(steps[~fm].mean()),
        "mean_steps_per_ood_class": {int(k): float(steps[ood_cls == k].mean()) for k in sorted(set(ood_cls[~fm]))},
        "forget_reached_tau": float((steps[fm] <= cfg.steps).mean()),
        "ood_reached_tau": float((steps[~fm] <= cfg.steps).mean()),
        "mean_acc_at_step0_forget": float(acc[fm, 0].mean()), "mean_acc_at_step0_ood": float(acc[~fm, 0].mean()),
    }
    # headline figures (steps-to-τ, as in the paper)
    s = out["steps_scores"]
    out.update(roc_auc=s["roc_auc"], balanced_accuracy=s["balanced_accuracy"], threshold_steps=s["threshold"],
               tpr_at_fpr=s["tpr_at_fpr"])
    return out


def run_rea(model: nn.Module, exp, cfg: ReAConfig, prior_model: Optional[nn.Module] = None,
            progress: bool = False) -> dict:
    """The whole attack on one target (no files written). ``prior_model``: where the entropy MIA is measured
    (default: the target itself). Returns settings, per-lr results with the raw curves, the prior attack."""
    cfg.validate()
    split = exp.split
    if split.forget_index is None:
        raise ReAError("the experiment has no forget class")
    n = attacker_size(split, cfg)
    samples = [draw_samples(split, cfg, r) for r in range(cfg.repeats)]
    runs = build_runs(samples, cfg.relearning_lr)
    rd = RunData(exp.train, split)
    bar = Progress(len(runs), "ReA relearning runs", enabled=progress)
    cpu0 = time.process_time()  # CPU time too: wall time on a shared machine mostly measures the neighbours
    if cfg.batch_models == "auto":
        cfg.batch_models = auto_batch_models(model, rd, len(runs), cfg) if rd.device.type == "cuda" else \
            int(rea_defaults(split.dataset).get("batch_models", 8))
    stop = threshold_count(cfg.threshold, n) if cfg.early_stop else None
    with Timer() as tm:
        counts = relearn(model, runs, rd, int(cfg.steps), int(cfg.batch_models), bar.update, stop_count=stop)
        if rd.device.type == "cuda":
            torch.cuda.synchronize(rd.device)
    cpu = time.process_time() - cpu0
    bar.close()
    acc = np.where(counts == STOPPED, np.nan, counts / float(n))  # NaN: a step after the run stopped at τ
    trained = int((counts[:, 1:] != STOPPED).sum())
    per_lr = {}
    for lr in cfg.relearning_lr:
        sel = [i for i, r in enumerate(runs) if r.lr == lr]
        per_lr[fmt_param(lr)] = dict(score_lr(acc[sel], [runs[i] for i in sel], cfg), lr=lr)
    with Timer() as tp:
        prior = prior_attack(prior_model or model, exp, samples, cfg.seed)
    for res in per_lr.values():
        pb = prior["scores"]["balanced_accuracy"]
        res["rea_over_prior_balanced_accuracy"] = res["balanced_accuracy"] / pb if pb > 0 else float("nan")
    return {
        "settings": dict(asdict(cfg), attacker_sample_size=n, ood_classes=ood_classes_used(split, cfg),
                         forget_train_size=len(split.forget_train), forget_index=split.forget_index,
                         retain_pool_size=int(len(samples[0].pool)),
                         engine=DEFAULT_ENGINE if cfg.batch_models else "loop", momentum=MOMENTUM),
        "per_lr": per_lr,
        "prior_attack": prior,
        "runs": runs,
        "acc": acc,
        "relearn_seconds": tm.seconds,
        "model_steps": len(runs) * int(cfg.steps),
        "model_steps_trained": trained,  # fewer than model_steps where early_stop ended runs at τ
        "ms_per_model_step": 1000.0 * tm.seconds / (len(runs) * int(cfg.steps)),
        "relearn_cpu_seconds": cpu,
        "cpu_ms_per_model_step": 1000.0 * cpu / (len(runs) * int(cfg.steps)),
        "prior_seconds": tp.seconds,
    }


# ----------------------------------------------------------------------------- preset values
def rea_defaults(dataset: str, subclass: bool = False) -> dict:
    return config.rea_settings(dataset, subclass)


def args_or_defaults(args, keys, defaults: dict, dataset: str) -> dict:
    """Each key's flag value, or the preset's where the flag was not given (ReAError where neither exists)."""
    values = {}
    for key in keys:
        v = getattr(args, key)
        if v is None:
            if key not in defaults:
                raise ReAError(f"no default for --{key} on {dataset} (config.REA has none): pass it")
            v = defaults[key]
        values[key] = v
    return values


# ----------------------------------------------------------------------------- as an attack of the registry
def report_rows(res: dict) -> List[dict]:
    """One report row per relearning lr of a ReA results.json (white-box or on a DFME copy)."""
    prior = (res.get("prior_attack") or {}).get("scores", {})
    per_lr = res.get("per_lr")
    if not isinstance(per_lr, dict):
        raise ValueError("no per_lr results")
    return [dict(lr=float(r.get("lr", key)), AUC=r.get("roc_auc"), BA=r.get("balanced_accuracy"),
                 TPR5=r.get("tpr_at_fpr"), steps_forget=r.get("mean_steps_forget"), steps_ood=r.get("mean_steps_ood"),
                 prior_BA=prior.get("balanced_accuracy"), prior_AUC=prior.get("roc_auc"), ratio=r.get("rea_over_prior_balanced_accuracy"),
                 seconds=res.get("relearn_seconds"), lr_key=key) for key, r in per_lr.items()]


def _extracted_copy(path: str, res: dict, run_dir: str) -> str:
    # <run>/dfme/<tag>/rea/<rea tag>/results.json: the copy is <run>/dfme/<tag>/student.pt
    return os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(path))), "student.pt")


REPORT_FIELDS = {"ReA AUC": ("AUC", 1, 3), "ReA bal. acc %": ("BA", 100, 1), "TPR@5%FPR %": ("TPR5", 100, 1),
                 "steps forget": ("steps_forget", 1, 1), "steps OOD": ("steps_ood", 1, 1),
                 "prior bal. acc %": ("prior_BA", 100, 1), "prior AUC": ("prior_AUC", 1, 3),
                 "ReA / prior": ("ratio", 1, 2), "ReA s": ("seconds", 1, 1)}
register_attack(Attack("rea", "White-box Reminiscence Attack (Tables 18/19)", ("rea",), run_checkpoint, report_rows,
                       script="mia_on_mu_main_{dataset}_{setting}.py", fields=REPORT_FIELDS, keys=("lr",),
                       matrix=(("ReA white-box: AUC", "AUC", 1, 3, "auc"),
                               ("entropy MIA (prior attack): AUC", "prior_AUC", 1, 3, "auc"))))
register_attack(Attack("blackbox", "Black-box Reminiscence Attack on the DFME copy", ("dfme", "*", "rea"),
                       _extracted_copy, report_rows, script="mia_on_mu_main_{dataset}_{setting}_blackbox.py",
                       fields=REPORT_FIELDS, keys=("lr",), matrix=(("ReA black-box (DFME copy): AUC", "AUC", 1, 3, "auc"),)))
