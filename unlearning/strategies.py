"""The unlearning-method registry: one signature ``fn(ctx, para1, para2) -> model`` for every method.

A method is its function with ``@register(...)`` directly above it: its two knobs (kind, meaning, paper-preset
value), its other settings with their paper-preset values, and what phase 1 of its ``_our`` variant changes. A
dataset that needs other values names them in config.UNLEARN / config.OVER_UNLEARN. ``python
forget_full_class_strategies.py`` prints the registry; ``--write-docs`` writes its table into docs/unlearning.md.

``ctx`` (a ``Context``) carries the model to unlearn (a copy of the pretrained one, changed in place), the pretrained
model (teacher), the Experiment (data + split), a ``Regulariser`` (--l1/--l2/--mask_path: every gradient update goes
through ``ctx.reg.step``, every direct weight perturbation through ``ctx.reg.apply_to_delta``), the seed and the
method's settings (``method_settings``: for phase 1 of ``<method>_our`` with its over-unlearning overrides).

``<method>_our`` (Over-Unlearning & Replay, unlearning/over_unlearning.py) and ``<method>_orth`` (orthogonal
over-unlearning & replay, unlearning/orthogonal.py) exist for every method except baseline and retrain;
``get_method`` resolves them. A recipe file (``--recipe``, ``load_recipe``) layers setting changes over every
dataset's settings.
"""
from __future__ import annotations

import contextlib
import copy
from dataclasses import dataclass, field
from typing import Callable, Dict, Optional

import torch
import torch.nn as nn
import torch.nn.functional as F

import config
from .evaluation import accuracy, eval_mode
from . import tables
from .per_sample import iter_per_sample_grads, num_trainable, per_sample_grads, trainable, unflatten
from .training import Loader, Regulariser, check_finite, check_finite_model, cycle, train_supervised, warmup_multistep_lr


class UnknownMethodError(ValueError):
    """A method name that is not in the registry (the message lists the registry)."""


# ----------------------------------------------------------------------------- context
@dataclass
class Context:
    model: nn.Module  # the model being unlearned (a copy of the pretrained one); methods change it in place
    teacher: nn.Module  # the pretrained model, never changed
    exp: object  # unlearning.experiment.Experiment
    net: str
    reg: Regulariser  # built on ``model`` while it still holds the pretrained weights (the ℓ2 anchor)
    seed: int = 0
    settings: dict = field(default_factory=dict)
    mask: Optional[Dict[str, torch.Tensor]] = None  # the --mask_path mask (already inside ``reg``)
    on_phase: Optional[Callable] = None  # on_phase(name, model, seconds): a multi-phase method reports a phase
    recipe: Optional[dict] = None  # the run's recipe (load_recipe): a method that runs another passes it on

    @property
    def split(self):
        return self.exp.split

    @property
    def device(self):
        return self.exp.device

    def setting(self, key, default):
        value = self.settings.get(key)
        return default if value is None else value

    @property
    def batch_size(self) -> int:
        return int(self.setting("batch_size", self.exp.preset["pretrain"]["batch_size"]))

    def targets(self, idx, data=None) -> torch.Tensor:
        """Output indices of ``data[idx]`` (the split's one class mapping)."""
        data = self.exp.train if data is None else data
        return self.split.targets(data.y[torch.as_tensor(idx).to(data.y.device)])

    def loader(self, idx, targets=None, batch_size=None, shuffle=True, stream=0, data=None) -> Loader:
        """A seeded loader; ``stream`` separates the shuffles of a method's different loaders."""
        data = self.exp.train if data is None else data
        targets = self.targets(idx, data) if targets is None else targets
        return Loader(data, idx, targets, batch_size or self.batch_size, shuffle=shuffle,
                      seed=self.seed * 1000 + stream)

    def generator(self, stream=0) -> torch.Generator:
        return torch.Generator().manual_seed(self.seed * 1000 + 500 + stream)

    def fresh_model(self, stream=0) -> nn.Module:
        """A randomly initialised model of the same architecture, seeded (init on the CPU generator)."""
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed * 1000 + 700 + stream)
            return self.exp.new_model(self.net)

    def random_other_labels(self, n: int, stream=0) -> torch.Tensor:
        """Uniformly random labels among the trained outputs other than the forget class's."""
        k, f = self.split.num_outputs, self.split.forget_index
        return ((f + torch.randint(1, k, (n,), generator=self.generator(stream))) % k).to(self.device)


# ----------------------------------------------------------------------------- the registry
# What a knob may be: the kind names a range that ``check_knobs`` enforces before any computation.
KNOB_KINDS = {  # kind: (in range?, integral?, wording)
    "lr": (lambda v: v > 0, False, "a learning rate: > 0 and finite"),
    "epochs": (lambda v: v >= 1, True, "a number of epochs: a whole number ≥ 1"),
    "count": (lambda v: v >= 1, True, "a count: a whole number ≥ 1"),
    "count0": (lambda v: v >= 0, True, "a count: a whole number ≥ 0"),
    "ratio": (lambda v: 0 < v <= 1, False, "a fraction in (0, 1]"),
    "weight": (lambda v: 0 <= v <= 1, False, "a weight in [0, 1]"),
    "positive": (lambda v: v > 0, False, "> 0 and finite"),
    "nonneg": (lambda v: v >= 0, False, "≥ 0 and finite"),
    "real": (lambda v: True, False, "finite"),
}


@dataclass(frozen=True)
class Knob:
    """One of a method's two launcher knobs (--para1 / --para2)."""
    kind: Optional[str]  # a KNOB_KINDS key (None: not range-checked)
    meaning: str  # what the knob is, as the CLI and the docs say it
    default: object = None  # the paper-preset value


UNUSED = Knob(None, "unused")  # a knob the method ignores but whose preset entry is written (as None)


@dataclass
class Method:
    name: str
    fn: Callable
    para1: str  # what --para1 means
    para2: str  # what --para2 means
    gradient: bool  # makes gradient updates (so --l1/--l2 apply; a mask applies to every method that changes weights)
    approximate: bool = True  # False for baseline and retrain: no ``_our`` variant
    per_sample: bool = False  # uses torch.func per-sample gradients (the driver warms torch.func up before timing)
    doc: str = ""
    base: Optional[str] = None  # for ``<method>_our``: the wrapped method
    knobs: tuple = (None, None)  # the Knob of para1 / para2 (None: no preset entry)
    settings: dict = field(default_factory=dict)  # fixed settings: {key: (paper-preset value, meaning)}
    our: dict = field(default_factory=dict)  # phase-1 overrides of ``<name>_our`` on the paper presets

    def defaults(self) -> dict:
        """The paper-preset settings: para1/para2 and every fixed setting."""
        out = {key: knob.default for key, knob in zip(("para1", "para2"), self.knobs) if knob is not None}
        out.update({key: value for key, (value, _meaning) in self.settings.items()})
        return copy.deepcopy(out)


METHODS: Dict[str, Method] = {}
KNOBS: Dict[str, tuple] = {}  # method: (kind of para1, kind of para2); ``_our`` / ``_orth`` take their base's


def register(name: str, para1: Optional[Knob] = None, para2: Optional[Knob] = None, *, gradient: bool,
             approximate: bool = True, per_sample: bool = False, settings: Optional[dict] = None,
             our: Optional[dict] = None):
    """Decorator: put ``fn(ctx, para1, para2) -> model`` in the registry as ``name`` (and, unless ``approximate`` is
    False, its ``_our`` and ``_orth`` variants). ``para1`` / ``para2``: Knob(kind, meaning, paper-preset value), None
    for a knob the method does not have; ``settings``: the other settings the method reads, {key: (paper-preset value,
    meaning)}; ``our``: what phase 1 of ``<name>_our`` changes on the paper presets (a "replay" key: this method's
    own replay settings). A dataset that needs other values names them in config.UNLEARN / config.OVER_UNLEARN."""
    for knob in (para1, para2):
        if knob is not None and knob.kind is not None and knob.kind not in KNOB_KINDS:
            raise ValueError(f"{name}: knob kind {knob.kind!r} is not one of {sorted(KNOB_KINDS)}")

    def wrap(fn):
        if name in METHODS:
            raise ValueError(f"method {name!r} is already registered")
        METHODS[name] = Method(
            name, fn, para1.meaning if para1 else "unused", para2.meaning if para2 else "unused", gradient,
            approximate=approximate, per_sample=per_sample, doc=(fn.__doc__ or "").strip(), knobs=(para1, para2),
            settings=dict(settings or {}), our=copy.deepcopy(our or {}))
        KNOBS[name] = tuple(k.kind if k is not None else None for k in (para1, para2))
        return fn
    return wrap


def unregister(name: str) -> None:
    """Remove a registered method (a test's throw-away method)."""
    METHODS.pop(name)
    KNOBS.pop(name)


@contextlib.contextmanager
def registered(name: str, fn: Callable, **registration):
    """``register(name, **registration)(fn)`` for the duration of a ``with`` block."""
    register(name, **registration)(fn)
    try:
        yield METHODS[name]
    finally:
        unregister(name)


# ----------------------------------------------------------------------------- small shared pieces
def _sgd(model, lr, ctx, momentum=0.9, weight_decay=5e-4):
    return torch.optim.SGD(model.parameters(), lr=float(lr), momentum=ctx.setting("momentum", momentum),
                           weight_decay=ctx.setting("weight_decay", weight_decay))


def _train_ce(ctx, model, loader, opt, epochs, loss_extra=None, lr_at=None):
    """Plain cross-entropy epochs through the regulariser; ``loss_extra(epoch)`` adds a term (FT_prune's ℓ1);
    ``lr_at(epoch, step)`` sets the learning rate of each step (a schedule)."""
    model.train()
    for epoch in range(int(epochs)):
        for step, (x, y) in enumerate(loader):
            if lr_at is not None:
                for group in opt.param_groups:
                    group["lr"] = lr_at(epoch, step)
            loss = F.cross_entropy(model(x), y)
            if loss_extra is not None:
                loss = loss + loss_extra(epoch)
            ctx.reg.step(opt, loss)
    return model


def _kl(student_logits, teacher_logits, temperature=1.0):
    """KL(teacher ‖ student) on temperature-softened outputs, batch mean."""
    t = temperature
    return F.kl_div(F.log_softmax(student_logits / t, 1), F.softmax(teacher_logits / t, 1), reduction="batchmean")


def distill_kl(student_logits, teacher_logits, temperature):
    """Hinton's distillation loss: the batch-mean KL at temperature T times T², so its gradient keeps the scale of a
    T = 1 loss (SCRUB's DistillKL)."""
    return _kl(student_logits, teacher_logits, temperature) * float(temperature) ** 2


def _apply_delta(ctx, model, delta: Dict[str, torch.Tensor]):
    """θ ← θ + delta for a direct perturbation, masked like every update."""
    delta = ctx.reg.apply_to_delta(delta)
    with torch.no_grad():
        for k, p in trainable(model).items():
            p.add_(delta[k])
    check_finite_model(model)
    return model


def _subset(idx, fraction, gen):
    n = int(round(float(fraction) * len(idx)))
    return idx[torch.randperm(len(idx), generator=gen)[:n]]


def mean_squared_grads(model, loader) -> Dict[str, torch.Tensor]:
    """Mean over batches of the squared minibatch gradient of the CE (SSD's importance), in eval mode."""
    params = trainable(model)
    acc = {k: torch.zeros_like(p) for k, p in params.items()}
    n = 0
    with eval_mode(model):
        for x, y in loader:
            grads = torch.autograd.grad(F.cross_entropy(model(x), y), list(params.values()))
            for k, g in zip(params, grads):
                acc[k] += g.detach() ** 2
            n += 1
    return {k: v / max(n, 1) for k, v in acc.items()}


def mean_grad(model, loader) -> torch.Tensor:
    """Flat mean per-sample gradient of the CE over a loader's samples (eval mode)."""
    params = list(trainable(model).values())
    total, n = torch.zeros(num_trainable(model), device=params[0].device), 0
    with eval_mode(model):
        for x, y in loader:
            grads = torch.autograd.grad(F.cross_entropy(model(x), y, reduction="sum"), params)
            total += torch.cat([g.reshape(-1) for g in grads])
            n += len(y)
    return total / max(n, 1)


def retain_val_idx(exp) -> torch.Tensor:
    """The validation split without the forget class (or forget fine class): retrain selects on it."""
    split, v = exp.split, exp.split.val_idx
    if split.subclass:
        keep = exp.train.fine[v.to(exp.train.fine.device)].cpu() != split.forget_fine
    else:
        keep = exp.train.y[v.to(exp.train.y.device)].cpu() != split.forget_class
    return v[keep]


# ----------------------------------------------------------------------------- methods
@register("baseline", gradient=False, approximate=False)
def baseline(ctx, para1=None, para2=None):
    """The pretrained model, unchanged."""
    return ctx.model


@register("retrain", gradient=True, approximate=False)
def retrain(ctx, para1=None, para2=None):
    """A fresh model trained on D_r only with the pretraining recipe; best on the validation split minus the
    forget class."""
    exp, split = ctx.exp, ctx.split
    recipe = dict(exp.preset["pretrain"])
    model = ctx.fresh_model()
    loader = Loader(exp.train, split.retain_train, ctx.targets(split.retain_train), recipe["batch_size"], shuffle=True,
                    seed=ctx.seed, augment=recipe.get("augment", False))
    val = retain_val_idx(exp)
    val_targets = ctx.targets(val)
    train_supervised(model, loader, recipe, lambda m: accuracy(m, exp.train, val, val_targets), progress=False)
    return model


@register("finetune", Knob("lr", "learning rate (SGD)", 0.025), Knob("epochs", "epochs on D_r", 10), gradient=True,
          our={"para1": 0.05})
def finetune(ctx, para1, para2):
    """SGD on D_r only (catastrophic forgetting of D_f) under the reference's schedule: a linear warm-up over the
    first epoch, then lr × 0.8 from each milestone epoch on (its milestone: epoch 6)."""
    loader = ctx.loader(ctx.split.retain_train)
    milestones, gamma = [int(m) for m in ctx.setting("milestones", [6])], float(ctx.setting("gamma", 0.8))
    return _train_ce(ctx, ctx.model, loader, _sgd(ctx.model, para1, ctx), int(para2),
                     lr_at=lambda epoch, step: warmup_multistep_lr(float(para1), epoch, step, len(loader), 1,
                                                                   milestones, gamma))


@register("negative_grad", Knob("lr", "learning rate (SGD)", 0.01),
          Knob("weight", "α, weight of the retain loss (0 = ascent on D_f only)", 0.95), gradient=True,
          settings={"epochs": (2, "passes over D_r (D_f cycled alongside)")},
          # phase 1: ascent on D_f only for 5 epochs; the reference's replay length for this method
          our={"para2": 0.0, "epochs": 5, "replay": {"epochs": 3, "milestones": [4]}})
def negative_grad(ctx, para1, para2):
    """Joint steps: α·CE(D_r batch) − (1−α)·CE(D_f batch, cycled); α = 0 is gradient ascent on D_f alone.
    Plain SGD (no momentum, no weight decay) unless the settings name them."""
    model, alpha, epochs = ctx.model, float(para2), int(ctx.setting("epochs", 1))
    opt = _sgd(model, para1, ctx, momentum=0.0, weight_decay=0.0)
    forget = ctx.loader(ctx.split.forget_train, stream=1)
    model.train()
    if alpha <= 0:
        for _ in range(epochs):
            for x, y in forget:
                ctx.reg.step(opt, -F.cross_entropy(model(x), y))
        return model
    forget_stream = cycle(forget)
    for _ in range(epochs):
        for xr, yr in ctx.loader(ctx.split.retain_train, stream=2):
            xf, yf = next(forget_stream)
            loss = alpha * F.cross_entropy(model(xr), yr) - (1 - alpha) * F.cross_entropy(model(xf), yf)
            ctx.reg.step(opt, loss)
    return model


@register("amnesiac", Knob("lr", "learning rate (Adam)", 1e-4), Knob("epochs", "epochs", 3), gradient=True,
          settings={"batch_size": (128, "batch size")},
          # phase 1: D_f only, 3 epochs, Adam 0.0025
          our={"para1": 0.0025, "para2": 3, "use_retain": False, "replay": {"epochs": 3, "milestones": [6]}})
def amnesiac(ctx, para1, para2):
    """D_f relabelled uniformly at random (never the forget class), trained together with D_r (Adam);
    setting use_retain=False trains on the relabelled D_f alone."""
    split, model = ctx.split, ctx.model
    idx = split.forget_train
    targets = ctx.random_other_labels(len(idx))
    if ctx.setting("use_retain", True):
        idx = torch.cat([idx, split.retain_train])
        targets = torch.cat([targets, ctx.targets(split.retain_train)])
    opt = torch.optim.Adam(model.parameters(), lr=float(para1))
    return _train_ce(ctx, model, ctx.loader(idx, targets), opt, int(para2))


@register("badteacher", Knob("lr", "learning rate (Adam)", 1e-4), Knob("ratio", "fraction of D_r used", 0.3),
          gradient=True,
          settings={"epochs": (3, "epochs"), "batch_size": (256, "batch size"),
                    "temperature": (1.0, "distillation temperature T")},
          # phase 1: 0.01% of D_r, 3 epochs
          our={"para2": 0.0001, "epochs": 3, "replay": {"epochs": 5, "milestones": [4]}})
def badteacher(ctx, para1, para2):
    """Student (the model) distils the competent teacher (pretrained) on a fraction para2 of D_r and an incompetent
    teacher (random init) on D_f; KL at a temperature (1), Adam, shuffled batches of ``batch_size``."""
    split, model = ctx.split, ctx.model
    temperature = float(ctx.setting("temperature", 1.0))
    bad = ctx.fresh_model(stream=1).eval()
    good = ctx.teacher.eval()
    retain = _subset(split.retain_train, para2, ctx.generator(1))
    idx = torch.cat([split.forget_train, retain])
    is_forget = torch.cat([torch.ones(len(split.forget_train)), torch.zeros(len(retain))]).long().to(ctx.device)
    loader = ctx.loader(idx, is_forget)  # the "target" of a sample says which teacher it learns from
    opt = torch.optim.Adam(model.parameters(), lr=float(para1))
    model.train()
    for _ in range(int(ctx.setting("epochs", 1))):
        for x, which in loader:
            with torch.no_grad():
                t = torch.where(which[:, None] == 1, bad(x), good(x))
            ctx.reg.step(opt, _kl(model(x), t, temperature))
    return model


def class_ordered_train(ctx) -> torch.Tensor:
    """The train set in SSD's order: D_r sorted by class (stable, so dataset order within a class), then D_f."""
    split, y = ctx.split, ctx.exp.train.y
    r = split.retain_train
    r = r[torch.sort(y[r.to(y.device)].cpu(), stable=True).indices]
    return torch.cat([r, split.forget_train])


def ssd_importances(ctx):
    """(I_D, I_f): mean squared minibatch gradients over the train set and over D_f, unshuffled, in eval mode.
    ``importance_order`` "class" (default) passes D_r class by class and then D_f, so a batch holds one class and the
    class gradients do not cancel inside it; "mixed" passes the train set in its stored (mixed-class) order."""
    split = ctx.split
    bs = int(ctx.setting("importance_batch_size", 64))
    order = ctx.setting("importance_order", "class")
    if order == "class":
        full = class_ordered_train(ctx)
    elif order == "mixed":
        full = split.train_idx
    else:
        raise ValueError(f"ssd_tuning: importance_order is 'class' or 'mixed', got {order!r}")
    i_d = mean_squared_grads(ctx.model, ctx.loader(full, batch_size=bs, shuffle=False))
    i_f = mean_squared_grads(ctx.model, ctx.loader(split.forget_train, batch_size=bs, shuffle=False))
    return i_d, i_f


@register("ssd_tuning", Knob("positive", "α, selection weighting (float)", 1.0),
          Knob("positive", "λ, dampening constant (float)", 1.0), gradient=False,
          settings={"importance_batch_size": (64, "batch size of the importance passes"),
                    "importance_order": ("class", "D_r class by class then D_f ('class'), or stored order ('mixed')")},
          our={"para1": 0.005, "para2": 0.4, "replay": {"epochs": 5, "milestones": [6]}})
def ssd_tuning(ctx, para1, para2):
    """Selective Synaptic Dampening: I_D, I_f = mean squared minibatch gradients on the full train set (class by
    class) and on D_f; where I_f > α·I_D, θ ← θ·min(λ·I_D/I_f, 1)."""
    model = ctx.model
    alpha, lam = float(para1), float(para2)
    i_d, i_f = ssd_importances(ctx)
    delta = {}
    with torch.no_grad():
        for k, p in trainable(model).items():
            selected = i_f[k] > alpha * i_d[k]
            beta = torch.clamp(lam * i_d[k] / i_f[k].clamp_min(1e-30), max=1.0)
            delta[k] = torch.where(selected, p * beta - p, torch.zeros_like(p))
    return _apply_delta(ctx, model, delta)


def woodfisher_inverse_apply(G: torch.Tensor, v: torch.Tensor, damping: float = 1.0, n: Optional[int] = None,
                             chunk_bytes: int = 256 * 2**20) -> torch.Tensor:
    """F⁻¹v for F = damping·I + (1/n)·Σᵢ gᵢgᵢᵀ (rows of G), by the Woodbury rank-one recursion.

    Adding the gᵢ one at a time (Sherman–Morrison), F_i⁻¹ = F_{i-1}⁻¹ − k_i k_iᵀ/(n + g_iᵀk_i) with k_i = F_{i-1}⁻¹g_i.
    Every k_i is a combination of g_1..g_i (k_i = Σ_j A_ij g_j, A lower-triangular), so the recursion runs on the
    N×N Gram matrix and never forms a d×d matrix: O(N²d) for the Gram matrix, O(N³) for the recursion.
    The float64 products with G take it in slices of ``chunk_bytes`` (no float64 copy of the whole N×d matrix).
    """
    N = G.shape[0]
    n = N if n is None else n
    if N == 0:
        return v / damping
    M = (G @ G.T).double()  # Gram matrix gᵢᵀgⱼ (the O(N²d) product in the gradients' precision)
    A = torch.zeros(N, N, dtype=torch.float64, device=G.device)
    P = torch.zeros(N, N, dtype=torch.float64, device=G.device)  # P = A·M: P[i, j] = k_iᵀ g_j
    c = torch.zeros(N, dtype=torch.float64, device=G.device)
    for i in range(N):
        A[i, i] = 1.0 / damping
        if i:
            A[i, :i] -= (c[:i] * P[:i, i]) @ A[:i, :i]
        P[i] = A[i, :i + 1] @ M[:i + 1]
        c[i] = 1.0 / (n + P[i, i])
    vd = v.double()
    d = G.shape[1]
    rows = max(1, chunk_bytes // (8 * d))
    Gv = torch.cat([G[i:i + rows].double() @ vd for i in range(0, N, rows)])  # gᵢᵀv, row slices
    w = A.T @ (c * (A @ Gv))
    cols = max(1, chunk_bytes // (8 * N))
    out = vd / damping
    for j in range(0, d, cols):  # out -= Gᵀw, column slices
        out[j:j + cols] -= G[:, j:j + cols].double().T @ w
    return out.to(v.dtype)


def wfisher_direction(g_f: torch.Tensor, g_r: torch.Tensor, n_f: int, n_r: int) -> torch.Tensor:
    """The influence direction of removing D_f: v = (n_f/n)·(ḡ_f − ḡ_r), n = n_f + n_r."""
    return (g_f - g_r) * (n_f / (n_f + n_r))


@register("Wfisher", Knob("real", "α, step size of the influence update", 50.0),
          Knob("count", "N, retain per-sample gradients in the Fisher", 1000), gradient=False, per_sample=True,
          # N·d·4 bytes of per-sample gradients: 44.7 GB for ResNet18 at N = 1000
          settings={"damping": (1.0, "damping of the empirical Fisher")},
          # phase 1: α = 120 on the sparse (ℓ1 5e-4) pretrained model
          our={"para1": 120.0, "pretrain_l1": 5e-4, "replay": {"epochs": 3, "milestones": [4]}})
def Wfisher(ctx, para1, para2):
    """WoodFisher influence step θ ← θ + α·F⁻¹v, v = (n_f/n)·(ḡ_f − ḡ_r) (mean CE gradients, n = n_f + n_r), F the
    empirical Fisher of N random retain samples (per-sample gradients, vectorised) with damping.

    The paper's recursion never updates its second vector beyond a multiple of the first gradient, so it returns
    v − c·g₁ (c tiny), i.e. about α·v: its α was tuned for that plain gradient step. Here F⁻¹ is exact (Woodbury);
    with damping 1, F⁻¹v equals v along directions the retain gradients do not span and is shorter along them."""
    model, split = ctx.model, ctx.split
    alpha, N = float(para1), int(para2)
    n_f, n_r = len(split.forget_train), len(split.retain_train)
    big = int(ctx.setting("grad_batch_size", 512))  # a sum of gradients: the batch size only sets the speed
    g_f = mean_grad(model, ctx.loader(split.forget_train, batch_size=big, shuffle=False))
    g_r = mean_grad(model, ctx.loader(split.retain_train, batch_size=big, shuffle=False))
    v = wfisher_direction(g_f, g_r, n_f, n_r)
    chosen = _subset(split.retain_train, min(1.0, N / max(n_r, 1)), ctx.generator(2))
    x = ctx.exp.train.normalize(ctx.exp.train.x[chosen.to(ctx.device)])
    G = per_sample_grads(model, x, ctx.targets(chosen), int(ctx.setting("chunk_size", 64)))
    step = woodfisher_inverse_apply(G, v, float(ctx.setting("damping", 1.0)))
    check_finite(step, "Wfisher perturbation")
    return _apply_delta(ctx, model, unflatten(alpha * step, model))


def fisher_diagonal(model, x, targets, num_outputs: int, kind: str = "true", chunk_size: int = 64) -> torch.Tensor:
    """Flat diagonal Fisher, mean over the samples (eval mode). "true": Σ_y p_y(x)·g_y(x)², g_y the CE gradient for
    label y, p the model's softmax (Golatkar et al.); "empirical": g(x)² at the sample's own label."""
    if kind not in ("true", "empirical"):
        raise ValueError(f"FisherForgetting: fisher is 'true' or 'empirical', got {kind!r}")
    fisher = torch.zeros(num_trainable(model), device=x.device)
    if kind == "empirical":
        for block in iter_per_sample_grads(model, x, targets, chunk_size):
            fisher += (block ** 2).sum(0)
        return fisher / max(len(x), 1)
    with eval_mode(model), torch.no_grad():
        probs = torch.cat([F.softmax(model(x[i:i + chunk_size]), 1) for i in range(0, len(x), chunk_size)]) \
            if len(x) else torch.empty(0, num_outputs, device=x.device)
    for label in range(num_outputs):
        y = torch.full((len(x),), label, dtype=torch.long, device=x.device)
        start = 0
        for block in iter_per_sample_grads(model, x, y, chunk_size):
            w = probs[start:start + len(block), label:label + 1]
            fisher += (w * block ** 2).sum(0)
            start += len(block)
    return fisher / max(len(x), 1)


def fisher_noise_variance(ctx, model, fisher: Dict[str, torch.Tensor], alpha: float):
    """Per-weight (mean, variance) of Golatkar et al.'s Fisher forgetting, as in the code the method comes from:
    var = α·min(1/(F + 1e-8), max_var) (head: cap head_max_var), averaged over a weight's input dimension (dim 1), the
    forget class's head row re-centred at 0 with variance forget_row_var, then head and 1-d (BatchNorm) parameters ×
    layer_scale. Returns {name: (mu, var)}."""
    max_var = float(ctx.setting("max_var", 1e3))
    head_max_var = float(ctx.setting("head_max_var", 1e2))
    average = bool(ctx.setting("average_input_dim", True))
    forget_row_var = float(ctx.setting("forget_row_var", 1e-4))
    scale = float(ctx.setting("layer_scale", 10.0))
    head = _classifier(model)
    head_keys = {f"{head[0]}.weight", f"{head[0]}.bias"} if head is not None else set()
    f = ctx.split.forget_index
    out = {}
    for k, p in trainable(model).items():
        is_head = k in head_keys
        var = (1.0 / (fisher[k] + 1e-8)).clamp(max=head_max_var if is_head else max_var) * alpha
        if average and p.ndim > 1:
            var = var.mean(dim=1, keepdim=True).expand_as(p).clone()
        mu = p.detach().clone()
        if is_head:
            mu[f] = 0.0
            var[f] = forget_row_var
        if is_head or p.ndim == 1:
            var = var * scale
        out[k] = (mu, var)
    return out


@register("FisherForgetting", Knob("nonneg", "α, noise scale", 1e-8), UNUSED, gradient=False, per_sample=True,
          # the true Fisher over all of D_r with Golatkar et al.'s variance rules (fisher_noise_variance)
          settings={"fisher": ("true", "'true' or 'empirical' Fisher"),
                    "fisher_samples": (None, "retain samples in the Fisher (None: all of D_r)"),
                    "max_var": (1e3, "variance cap"), "head_max_var": (1e2, "variance cap of the output layer"),
                    "average_input_dim": (True, "average the variance over a weight's input dimension"),
                    "forget_row_var": (1e-4, "variance of the forget class's output row"),
                    "layer_scale": (10.0, "variance factor of the output layer and 1-d weights")},
          our={"para1": 1e-7})  # 10× the plain noise
def FisherForgetting(ctx, para1, para2=None):
    """Fisher forgetting (Golatkar et al.): θ ← μ + √var·ε per weight, var from the diagonal true Fisher of D_r (or of
    fisher_samples random retain samples); μ = θ except the forget class's head row, re-centred at 0
    (``fisher_noise_variance``)."""
    model, split = ctx.model, ctx.split
    alpha = float(para1)
    idx = split.retain_train
    n = ctx.setting("fisher_samples", None)
    if n is not None and int(n) < len(idx):
        idx = _subset(idx, int(n) / len(idx), ctx.generator(6))
    x_all = ctx.exp.train.normalize(ctx.exp.train.x[idx.to(ctx.device)])
    flat = fisher_diagonal(model, x_all, ctx.targets(idx), split.num_outputs, ctx.setting("fisher", "true"),
                           int(ctx.setting("chunk_size", 64)))
    moments = fisher_noise_variance(ctx, model, unflatten(flat, model), alpha)
    gen = ctx.generator(3)
    delta = {}
    for k, p in trainable(model).items():
        mu, var = moments[k]
        noise = torch.randn(p.shape, generator=gen).to(p.device)
        delta[k] = mu + var.sqrt() * noise - p.detach()
    return _apply_delta(ctx, model, delta)


def _classifier(model):
    """(name, module) of the last Linear layer (the output layer)."""
    last = None
    for name, mod in model.named_modules():
        if isinstance(mod, nn.Linear):
            last = (name, mod)
    return last


@register("FT_prune", Knob("lr", "learning rate (SGD)", 0.01),
          Knob("nonneg", "initial ℓ1 coefficient γ₀ (decays linearly to 0)", 5e-5), gradient=True,
          settings={"epochs": (10, "epochs on D_r")}, our={"para1": 0.05})
def FT_prune(ctx, para1, para2):
    """ℓ1-sparse fine-tuning on D_r: CE + γ_t‖θ‖₁ with γ_t decaying linearly from para2 to 0 over the epochs."""
    model, epochs = ctx.model, int(ctx.setting("epochs", 5))
    gamma0 = float(para2)
    params = list(model.parameters())
    opt = _sgd(model, para1, ctx)
    return _train_ce(ctx, model, ctx.loader(ctx.split.retain_train), opt, epochs,
                     loss_extra=lambda e: gamma0 * (1 - e / epochs) * sum(p.abs().sum() for p in params))


def _optimizer(ctx, model, lr, default="adam", weight_decay=0.0):
    """Adam or SGD (momentum 0.9) by the ``optimizer`` setting; ``weight_decay`` as the method's default."""
    name = ctx.setting("optimizer", default)
    wd = float(ctx.setting("weight_decay", weight_decay))
    if name == "adam":
        return torch.optim.Adam(model.parameters(), lr=float(lr), weight_decay=wd)
    if name == "sgd":
        return torch.optim.SGD(model.parameters(), lr=float(lr), momentum=float(ctx.setting("momentum", 0.9)),
                               weight_decay=wd)
    raise ValueError(f"optimizer is 'adam' or 'sgd', got {name!r}")


def unsir_noise_loss(model, noise, label, l2: float) -> torch.Tensor:
    """UNSIR's error-maximising objective: −CE(noise, forget class) + l2·mean over the batch of each noise image's
    squared L2 norm."""
    return -F.cross_entropy(model(noise), label) + l2 * noise.pow(2).flatten(1).sum(1).mean()


def per_class_first(ctx, idx, per_class):
    """The first ``per_class`` samples of each class of ``idx`` (dataset order), classes ascending; None: all."""
    if per_class is None:
        return idx
    y = ctx.exp.train.y[idx.to(ctx.exp.train.y.device)].cpu()
    return torch.cat([idx[y == c][:int(per_class)] for c in torch.unique(y)])


@register("UNSIR", Knob("lr", "impair learning rate (Adam)", 1e-4), Knob("lr", "repair learning rate (Adam)", 1e-4),
          gradient=True,
          settings={"optimizer": ("adam", "'adam' or 'sgd'"), "noise_steps": (25, "noise optimisation steps"),
                    "noise_lr": (0.1, "noise learning rate (Adam)"), "noise_l2": (0.1, "L2 weight per noise image"),
                    "noise_batch_size": (32, "noise images"), "noise_copies": (80, "copies of each noise image"),
                    "samples_per_class": (500, "images per retain class"),
                    "impair_batch_size": (32, "impair batch size"), "repair_batch_size": (128, "repair batch size")},
          our={"para1": 1e-3, "repair_epochs": 0})  # 10× the impair lr; the replay repairs
def UNSIR(ctx, para1, para2):
    """UNSIR: learn a batch of error-maximising noise for the forget class (model frozen), then impair (an epoch on
    noise_copies copies of the noise, labelled as the forget class, shuffled with samples_per_class images of each
    retain class, lr para1) and repair (an epoch on those retain images, lr para2); Adam."""
    model, split, exp = ctx.model, ctx.split, ctx.exp
    f = split.forget_index
    nb = int(ctx.setting("noise_batch_size", 32))
    noise = torch.randn((nb,) + exp.train.shape, generator=ctx.generator(4)).to(ctx.device).requires_grad_(True)
    noise_opt = torch.optim.Adam([noise], lr=float(ctx.setting("noise_lr", 0.1)))
    label = torch.full((nb,), f, dtype=torch.long, device=ctx.device)
    l2 = float(ctx.setting("noise_l2", 0.1))
    model.eval()
    for _ in range(int(ctx.setting("noise_steps", 25))):
        loss = unsir_noise_loss(model, noise, label, l2)
        check_finite(loss, "UNSIR noise loss")
        noise_opt.zero_grad(set_to_none=True)
        loss.backward()
        noise_opt.step()
    noise = noise.detach()
    model.zero_grad(set_to_none=True)
    retain = per_class_first(ctx, split.retain_train, ctx.setting("samples_per_class", 500))
    retain_targets = ctx.targets(retain)
    n_noise = nb * int(ctx.setting("noise_copies", 80))
    bs = int(ctx.setting("impair_batch_size", 32))
    opt = _optimizer(ctx, model, para1)
    model.train()
    gen = ctx.generator(9)
    for _ in range(int(ctx.setting("impair_epochs", 1))):
        order = torch.randperm(n_noise + len(retain), generator=gen)
        for b in range(0, len(order), bs):
            sel = order[b:b + bs]
            is_noise = sel < n_noise
            r = retain[sel[~is_noise] - n_noise]
            x = torch.cat([noise[(sel[is_noise] % nb).to(ctx.device)],
                           exp.train.normalize(exp.train.x[r.to(ctx.device)])])
            y = torch.cat([torch.full((int(is_noise.sum()),), f, dtype=torch.long, device=ctx.device),
                           retain_targets[(sel[~is_noise] - n_noise).to(ctx.device)]])
            ctx.reg.step(opt, F.cross_entropy(model(x), y))
    opt = _optimizer(ctx, model, para2)
    repair = ctx.loader(retain, retain_targets, batch_size=int(ctx.setting("repair_batch_size", 128)), stream=4)
    return _train_ce(ctx, model, repair, opt, int(ctx.setting("repair_epochs", 1)))


@register("SCRUB", Knob("lr", "learning rate (Adam; SGD with optimizer=sgd)", 1e-4),
          Knob("count0", "epochs with max steps on D_f", 2), gradient=True,
          # the later paper's values (weight decay 5e-4)
          settings={"epochs": (9, "epochs"), "alpha": (0.1, "weight of the KL on D_r"),
                    "gamma": (1.0, "weight of the CE on D_r"), "temperature": (4.0, "distillation temperature"),
                    "optimizer": ("adam", "'adam' or 'sgd'"), "milestones": ([3, 5, 9], "lr × 0.1 after these epochs"),
                    "batch_size": (64, "batch size")},
          our={"para2": 3})
def SCRUB(ctx, para1, para2):
    """SCRUB: each epoch e = 1..epochs, max steps on D_f (−KL to the teacher) while e ≤ para2, then min steps on D_r,
    or a retain_fraction of it (γ·CE + α·KL); KL is the T²-scaled distillation loss; lr para1 × 0.1 per milestone
    passed (e > m); Adam (weight decay 5e-4) or SGD by ``optimizer``."""
    model, split = ctx.model, ctx.split
    teacher = ctx.teacher.eval()
    temp = float(ctx.setting("temperature", 4.0))
    alpha, gamma = float(ctx.setting("alpha", 0.1)), float(ctx.setting("gamma", 1.0))
    milestones = list(ctx.setting("milestones", [3, 5, 9]))
    decay = float(ctx.setting("lr_decay", 0.1))
    retain = _subset(split.retain_train, ctx.setting("retain_fraction", 1.0), ctx.generator(7))
    opt = _optimizer(ctx, model, para1, weight_decay=5e-4)
    model.train()
    for epoch in range(1, int(ctx.setting("epochs", 9)) + 1):
        for group in opt.param_groups:
            group["lr"] = float(para1) * decay ** sum(epoch > m for m in milestones)
        if epoch <= int(para2):
            for x, _ in ctx.loader(split.forget_train, stream=10 + epoch):
                with torch.no_grad():
                    t = teacher(x)
                ctx.reg.step(opt, -distill_kl(model(x), t, temp))
        for x, y in ctx.loader(retain, stream=100 + epoch):
            with torch.no_grad():
                t = teacher(x)
            out = model(x)
            ctx.reg.step(opt, gamma * F.cross_entropy(out, y) + alpha * distill_kl(out, t, temp))
    return model


@register("salun", Knob("lr", "learning rate (Adam)", 4e-4),
          Knob("ratio", "saliency-mask ratio (ignored with --mask_path)", 0.5), gradient=True,
          settings={"epochs": (3, "epochs")}, our={"para1": 4e-3})  # 10× the plain lr
def salun(ctx, para1, para2):
    """SalUn as the paper's code runs it: Adam (lr para1); each epoch one pass over D_f with labels drawn uniformly
    over all outputs (the forget class included), fresh each batch, then one pass over D_r (or a retain_fraction of
    it); updates restricted to the salient weights (top para2 fraction of |∇ CE(D_f)|); a --mask_path mask replaces
    that saliency mask."""
    model, split = ctx.model, ctx.split
    reg = ctx.reg
    if ctx.mask is None:
        from .saliency import forget_gradient, saliency_masks  # the SalUn mask of saliency_mu/generate_mask.py
        grads = forget_gradient(model, ctx.loader(split.forget_train, shuffle=False))
        mask = saliency_masks(grads, [float(para2)])[float(para2)]
        reg = Regulariser(model, l1=ctx.reg.l1, l2=ctx.reg.l2, mask=mask)
        if ctx.reg.anchor is not None:
            reg.anchor = ctx.reg.anchor  # ℓ2 towards the pretrained weights, whatever ran before
    retain = _subset(split.retain_train, ctx.setting("retain_fraction", 1.0), ctx.generator(8))
    forget_loader = ctx.loader(split.forget_train, shuffle=False, stream=8)  # the reference's is unshuffled
    retain_loader = ctx.loader(retain, stream=9)
    gen, k = ctx.generator(9), split.num_outputs
    opt = torch.optim.Adam(model.parameters(), lr=float(para1))
    model.train()
    for _ in range(int(ctx.setting("epochs", 3))):
        for x, _y in forget_loader:
            y = torch.randint(0, k, (len(x),), generator=gen).to(x.device)
            reg.step(opt, F.cross_entropy(model(x), y))
        for x, y in retain_loader:
            reg.step(opt, F.cross_entropy(model(x), y))
    return model


# ----------------------------------------------------------------------------- lookup, knob ranges, settings
from . import recent_methods  # noqa: E402,F401  (registers the recent class-wise methods after these)


def check_knobs(name: str, para1, para2) -> None:
    """ValueError (one line) unless para1/para2 are in the range of what they mean for method ``name``."""
    import math

    entry = get_method(name)
    kinds = KNOBS.get(entry.base or entry.name, (None, None))
    for flag, value, kind, meaning in (("--para1", para1, kinds[0], entry.para1), ("--para2", para2, kinds[1],
                                                                                   entry.para2)):
        if kind is None or value is None:
            continue
        test, integral, wording = KNOB_KINDS[kind]
        v = float(value)
        if not (math.isfinite(v) and test(v) and (not integral or v == int(v))):
            raise ValueError(f"{name} {flag} {value:g} is out of range: it is the {meaning}, {wording}")


def our_names():
    return [f"{name}_our" for name, m in METHODS.items() if m.approximate]


def orth_names():
    return [f"{name}_orth" for name, m in METHODS.items() if m.approximate]


def method_names():
    """Every registry name: the methods, then their ``_our`` variants, then their ``_orth`` variants."""
    return list(METHODS) + our_names() + orth_names()


def get_method(name: str) -> Method:
    """A registry entry; ``<method>_our`` is generated by the generic wrapper. Unknown → UnknownMethodError."""
    if name in METHODS:
        return METHODS[name]
    if name.endswith("_our") and name[:-4] in METHODS and METHODS[name[:-4]].approximate:
        from .over_unlearning import our_variant
        return our_variant(METHODS[name[:-4]])
    if name.endswith("_orth") and name[:-5] in METHODS and METHODS[name[:-5]].approximate:
        from .orthogonal import orth_variant
        return orth_variant(METHODS[name[:-5]])
    raise UnknownMethodError(f"unknown method {name!r}; choose one of: {', '.join(method_names())}")


RECIPE_NAME = "UNLEARN_OVERRIDES"  # what the error messages call a recipe's content


def _merge(base: dict, extra: dict) -> dict:
    """``base`` updated by ``extra``, nested dicts merged key by key (neither argument changes)."""
    out = dict(base)
    for k, v in extra.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


RECIPE_LABEL = "UNLEARN_OVERRIDES recipe"  # what error messages call a recipe (its keys: UNLEARN, OVER_UNLEARN)


def load_recipe(source, label: str = RECIPE_LABEL) -> dict:
    """A recipe: settings merged over every dataset's method settings (so a target and its shadow models get the
    same one), ``{"UNLEARN": {method: {...}}, "OVER_UNLEARN": {method: {...}, "replay": {...}, "orth": {...}}}``.
    ``source``: a JSON object (inline text or a dict) or the path of a .json file. ValueError (one line, starting
    with ``label``) for anything else."""
    import json

    data = source
    if not isinstance(source, dict):
        raw = str(source or "").strip()
        if not raw:
            return {}
        try:
            if raw.startswith("{"):
                data = json.loads(raw)
            else:
                with open(raw) as fh:
                    data = json.load(fh)
        except (OSError, ValueError) as err:
            raise ValueError(f"{label} {raw[:80]!r} is neither a JSON object nor a readable JSON file ({err})")
    shape = '{"UNLEARN": {method: {...}}, "OVER_UNLEARN": {method: {...}}}'
    if not isinstance(data, dict):
        raise ValueError(f"{label} must hold a JSON object {shape}, got a {type(data).__name__}")
    unknown = set(data) - {"UNLEARN", "OVER_UNLEARN"}
    if unknown:
        raise ValueError(f"{label} takes the keys UNLEARN and OVER_UNLEARN, got {sorted(unknown)}")
    for key, table in data.items():
        if not isinstance(table, dict) or not all(isinstance(v, dict) for v in table.values()):
            raise ValueError(f"{label}: {key} must map method names to objects of settings {shape}, "
                             f"got {json.dumps(table)[:80]}")
    return data


def _dataset_table(table: dict, dataset: str) -> dict:
    # a dataset without its own entry (a new CPU preset, a shadow preset) takes the digits values
    return table.get(dataset, table["digits"])


def plain_settings(dataset: str) -> Dict[str, dict]:
    """{method: settings} on ``dataset``: the registered (paper-preset) settings, replaced as a whole by the
    dataset's entry in config.UNLEARN where it has one."""
    own = _dataset_table(config.UNLEARN, dataset)
    return {name: copy.deepcopy(own[name]) if name in own else m.defaults() for name, m in METHODS.items()}


def over_unlearn_settings(dataset: str) -> Dict[str, dict]:
    """{method: phase-1 overrides of ``_our``, "replay": the replay, "orth": the ``_orth`` over-unlearning} on
    ``dataset``: the registered ones, each replaced as a whole by the dataset's entry in config.OVER_UNLEARN."""
    from .orthogonal import ORTH
    from .over_unlearning import REPLAY

    own = _dataset_table(config.OVER_UNLEARN, dataset)
    table = {name: own[name] if name in own else m.our for name, m in METHODS.items()}
    table.update(replay=own.get("replay", REPLAY), orth=own.get("orth", ORTH))
    return copy.deepcopy(table)


def method_settings(dataset: str, name: str, recipe: Optional[dict] = None) -> dict:
    """Settings of a method on a dataset (``plain_settings``); for ``_our`` the phase-1 overrides and "replay" are
    merged in (``over_unlearn_settings``); for ``_orth`` the method's plain settings plus "orth" and "replay".
    ``recipe`` (``load_recipe``) is merged over both tables first."""
    entry = get_method(name)
    base = entry.base or entry.name
    extra = recipe or {}
    plain = _merge(plain_settings(dataset), extra.get("UNLEARN", {}))
    settings = dict(plain.get(base, {}))
    if entry.base:
        over = _merge(over_unlearn_settings(dataset), extra.get("OVER_UNLEARN", {}))
        if entry.name.endswith("_orth"):
            settings["orth"] = dict(over.get("orth", {}), **over.get(base, {}).get("orth", {}))
            settings["replay"] = dict(over.get("replay", {}))  # a method's own `_our` replay is not `_orth`'s
        else:
            settings.update(over.get(base, {}))
            settings["replay"] = dict(over.get("replay", {}), **over.get(base, {}).get("replay", {}))
    return settings


def describe(dataset: str = "digits") -> str:
    """The registry as a table: method, para1/para2 meaning and default (on ``dataset``), gradient-based."""
    rows = [f"{'method':<22} {'para1':<58} {'para2':<62} gradient-based"]
    for name in method_names():
        m = get_method(name)
        s = method_settings(dataset, name)
        p1 = f"{m.para1} [{s.get('para1')}]" if m.para1 != "unused" else "unused"
        p2 = f"{m.para2} [{s.get('para2')}]" if m.para2 != "unused" else "unused"
        rows.append(f"{name:<22} {p1:<58} {p2:<62} {'yes' if m.gradient else 'no'}")
    return "\n".join(rows)


# ----------------------------------------------------------------------------- the docs table
DOCS_DATASETS = ("cifar20", "digits")  # the paper presets (cifar20 = cifar100 = imagenet64) and the CPU preset


def _cell(text) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _value(v) -> str:
    return "–" if v is None else f"{v:g}" if isinstance(v, float) else str(v)


def markdown_table() -> str:
    """The methods table of docs/unlearning.md, from the registry: knob meanings with their defaults on the paper
    presets and on digits, whether the method takes gradient steps, its other settings (paper-preset value) and
    the first sentence of its docstring."""
    def knob(m, key, meaning):
        if meaning == "unused":
            return "–"
        values = [_value(method_settings(ds, m.name).get(key)) for ds in DOCS_DATASETS]
        return f"{meaning} [paper {values[0]}; digits {values[1]}]"

    def flat(d, prefix=""):
        for k, v in d.items():
            yield from flat(v, f"{prefix}{k}.") if isinstance(v, dict) else [f"`{prefix}{k}` {_value(v)}"]

    header = ["method", "para1 [default: paper; digits]", "para2 [default: paper; digits]", "gradient",
              "other settings (paper preset)", "`_our` phase 1 (paper preset)", "what it does"]
    rows = []
    for m in METHODS.values():
        other = "; ".join(f"`{k}` {_value(v)}: {meaning}" for k, (v, meaning) in m.settings.items())
        our = ", ".join(flat(m.our)) if m.approximate else "no `_our`"
        first = " ".join(m.doc.split()).split(". ")[0].rstrip(".")
        rows.append([_cell(c) for c in (m.name, knob(m, "para1", m.para1), knob(m, "para2", m.para2),
                                        "yes" if m.gradient else "no", other or "–", our or "–", first)])
    return tables.markdown_table(header, rows)


DOCS_PATH = "docs/unlearning.md"
DOCS_BEGIN = "<!-- methods table: generated by python forget_full_class_strategies.py --write-docs -->"
DOCS_END = "<!-- end -->"


def docs_with_table(text: str) -> str:
    """``text`` (docs/unlearning.md) with the part between DOCS_BEGIN and the next DOCS_END replaced by
    ``markdown_table()``. ValueError if the markers are missing."""
    begin = text.find(DOCS_BEGIN)
    end = text.find(DOCS_END, begin + len(DOCS_BEGIN)) if begin >= 0 else -1
    if begin < 0 or end < 0:
        raise ValueError(f"{DOCS_PATH} has no '{DOCS_BEGIN}' … '{DOCS_END}' block")
    return text[:begin + len(DOCS_BEGIN)] + "\n" + markdown_table() + "\n" + text[end:]
