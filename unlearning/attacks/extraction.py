"""Black-box access and data-free model extraction (DFME): the attacker of the black-box ReA.

The attacker sees the victim only through :class:`BlackBoxVictim`: images in, output probabilities (or logits)
out, one query per image, a hard budget. A generator proposes images on which the student and the victim
disagree; the student learns to match the victim's centred log-probabilities under an ℓ1 loss; the generator's
gradient *through the black box* is a forward-difference estimate along random unit directions.

Per iteration: ``generator_steps`` generator updates (each ``batch_size·(grad_m+1)`` queries), then
``student_steps`` student updates (each ``batch_size`` queries).
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Optional, Sequence

import torch
import torch.nn as nn

import config
from models.generator import GENERATORS

from ..files import write_tsv
from ..runtime import Progress, generator
from ..training import check_finite, check_finite_model


class BlackBoxAccessError(PermissionError):
    """Anything but a query was asked of the black-box victim (parameters, gradients, the module, ...).

    Deliberately *not* an AttributeError, so ``hasattr``/``getattr(..., default)`` cannot swallow it either.
    """


class QueryBudgetExceeded(RuntimeError):
    """A query would take the attacker past the query budget; it is refused before it runs."""


# ----------------------------------------------------------------------------- the black box
VICTIM_OUTPUTS = ("probs", "logits")
VICTIM_FILE = "last.pt"  # the unlearned model in its run folder (unlearning/unlearn.py)


class BlackBoxVictim:
    """Query-only access to a victim model.

    ``query(x)`` → detached outputs of a batch of normalised images (N×C×H×W), counted as N queries. The model
    is held in a closure stored in a slot that the public attribute interface refuses to return: every
    attribute outside ``PUBLIC`` (``parameters``, ``state_dict``, ``__dict__``, ``__reduce_ex__`` and so on)
    raises :class:`BlackBoxAccessError`, so an extraction loop cannot read weights or gradients by accident or
    copy/pickle the model out. (Python has no true privacy: a caller digging with ``object.__getattribute__``
    or ``gc`` can still reach it; this is a guard for honest code, checked by the tests.)
    """

    __slots__ = ("_bb_answer", "_bb_state")
    PUBLIC = frozenset({"query", "queries_used", "remaining", "budget", "output", "input_shape", "PUBLIC",
                        "__class__", "__repr__", "__doc__"})

    def __init__(self, model: nn.Module, budget: int, output: str = "probs", input_shape: Optional[Sequence[int]] = None,
                 device=None):
        if isinstance(budget, bool) or int(budget) != budget or budget < 1:
            raise ValueError(f"query budget must be a positive integer, got {budget!r}")
        if output not in VICTIM_OUTPUTS:
            raise ValueError(f"black-box output must be one of {VICTIM_OUTPUTS}, got {output!r}")
        model.eval()  # a deployed model: BatchNorm running statistics never change under queries

        def answer(x: torch.Tensor) -> torch.Tensor:
            with torch.no_grad():
                model.eval()
                target = x.detach() if device is None else x.detach().to(device)
                out = model(target).detach().float()
                if output == "probs":
                    out = torch.softmax(out, dim=1)
                return out.to(x.device)

        object.__setattr__(self, "_bb_answer", answer)
        object.__setattr__(self, "_bb_state", {
            "used": 0, "budget": int(budget), "output": output,
            "input_shape": None if input_shape is None else tuple(int(s) for s in input_shape)})

    def __getattribute__(self, name):
        if name in BlackBoxVictim.PUBLIC:
            return object.__getattribute__(self, name)
        raise BlackBoxAccessError(
            f"black-box victim: {name!r} is not available; the only access is query(x) "
            f"(and queries_used / remaining / budget / output / input_shape)")

    def __setattr__(self, name, value):
        raise BlackBoxAccessError(f"black-box victim: cannot set {name!r}")

    def __delattr__(self, name):
        raise BlackBoxAccessError(f"black-box victim: cannot delete {name!r}")

    def __dir__(self):
        return sorted(n for n in BlackBoxVictim.PUBLIC if not n.startswith("__"))

    def __repr__(self):
        s = object.__getattribute__(self, "_bb_state")
        return f"BlackBoxVictim(output={s['output']}, queries_used={s['used']}, budget={s['budget']})"

    @property
    def queries_used(self) -> int:
        return object.__getattribute__(self, "_bb_state")["used"]

    @property
    def budget(self) -> int:
        return object.__getattribute__(self, "_bb_state")["budget"]

    @property
    def remaining(self) -> int:
        s = object.__getattribute__(self, "_bb_state")
        return s["budget"] - s["used"]

    @property
    def output(self) -> str:
        return object.__getattribute__(self, "_bb_state")["output"]

    @property
    def input_shape(self):
        return object.__getattribute__(self, "_bb_state")["input_shape"]

    def query(self, x: torch.Tensor) -> torch.Tensor:
        """Victim outputs for the images ``x`` (no gradient, a fresh tensor); costs ``len(x)`` queries."""
        s = object.__getattribute__(self, "_bb_state")
        if not isinstance(x, torch.Tensor) or x.ndim != 4:
            raise ValueError(f"query expects a batch of images N×C×H×W, got {getattr(x, 'shape', type(x).__name__)}")
        if s["input_shape"] is not None and tuple(x.shape[1:]) != s["input_shape"]:
            raise ValueError(f"query images have shape {tuple(x.shape[1:])}, the victim takes {s['input_shape']}")
        n = int(x.shape[0])
        if s["used"] + n > s["budget"]:
            raise QueryBudgetExceeded(
                f"query of {n} images refused: {s['used']} of the budget of {s['budget']} queries already used")
        out = object.__getattribute__(self, "_bb_answer")(x)
        s["used"] += n
        return out


# ----------------------------------------------------------------------------- DFME
@dataclass
class DFMEConfig:
    """Hyper-parameters of one extraction (defaults: the DFME paper's CIFAR-10 setting)."""

    query_budget: int = 20_000_000
    batch_size: int = 256
    lr_student: float = 0.1
    lr_generator: float = 1e-4
    grad_m: int = 1
    grad_epsilon: float = 1e-3
    student_steps: int = 5
    generator_steps: int = 1
    milestones: Sequence[float] = (0.1, 0.3, 0.5)  # fractions of the query budget
    gamma: float = 0.3
    momentum: float = 0.9
    weight_decay: float = 5e-4
    nz: int = 256
    generator: str = "conv"
    eval_points: int = 20
    seed: int = 0
    probs_floor: float = 1e-12  # log of a probability below this is clipped (probabilities can underflow to 0)

    def validate(self) -> "DFMEConfig":
        def positive_int(name):
            v = getattr(self, name)
            if isinstance(v, bool) or int(v) != v or v < 1:
                raise ValueError(f"--{name} must be a positive integer, got {v!r}")
        for name in ("query_budget", "batch_size", "grad_m", "student_steps", "nz", "eval_points"):
            positive_int(name)
        if isinstance(self.generator_steps, bool) or int(self.generator_steps) != self.generator_steps \
                or self.generator_steps < 0:
            raise ValueError(f"--generator_steps must be an integer ≥ 0, got {self.generator_steps!r}")
        for name in ("lr_student", "lr_generator", "grad_epsilon"):
            v = getattr(self, name)
            if not v > 0:
                raise ValueError(f"--{name} must be > 0, got {v!r}")
        if not 0 < self.gamma <= 1:
            raise ValueError(f"--gamma must be in (0, 1], got {self.gamma!r}")
        ms = list(self.milestones)
        if any(not 0 < m < 1 for m in ms) or ms != sorted(ms):
            raise ValueError(f"--milestones are increasing fractions of the query budget in (0, 1), got {ms}")
        if self.generator not in GENERATORS:
            raise ValueError(f"--generator must be one of {sorted(GENERATORS)}, got {self.generator!r}")
        per_iter = self.queries_per_iteration
        if self.query_budget < per_iter:
            raise ValueError(
                f"--query_budget {self.query_budget} is below one DFME iteration: batch_size·(generator_steps·"
                f"(grad_m+1) + student_steps) = {per_iter} queries")
        return self

    @property
    def queries_per_iteration(self) -> int:
        return self.batch_size * (self.generator_steps * (self.grad_m + 1) + self.student_steps)


def centred_log_probs(out: torch.Tensor, kind: str, floor: float = 1e-12) -> torch.Tensor:
    """The victim's log-probabilities minus their mean per sample (removes the softmax's free offset)."""
    if kind == "probs":
        logp = torch.log(out.clamp_min(floor))
    elif kind == "logits":
        logp = torch.log_softmax(out, dim=1)
    else:
        raise ValueError(f"unknown output kind {kind!r}")
    return logp - logp.mean(dim=1, keepdim=True)


def l1_per_sample(student_logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return (student_logits - target).abs().mean(dim=1)


def unit_directions(n: int, m: int, shape, gen: torch.Generator, device) -> torch.Tensor:
    """n×m random directions, uniform on the unit sphere of the image space (seeded on the CPU)."""
    u = torch.randn(n, m, *shape, generator=gen)
    norms = u.flatten(2).norm(dim=2).clamp_min(1e-12)
    return (u / norms.view(n, m, *([1] * len(shape)))).to(device)


def forward_difference_grad(loss_fn, pre: torch.Tensor, m: int, eps: float, gen: torch.Generator):
    """Zeroth-order estimate of ∇ loss_fn at each row of ``pre`` (DFME's forward differences).

    ``loss_fn(points)`` returns one loss per point. With d the dimension and u_1..u_m unit directions,
    ĝ = (d/m) Σ_j [loss(pre + ε u_j) − loss(pre)] / ε · u_j. All m+1 points of every sample go to the
    black box in one batch. Returns (ĝ, loss at ``pre``).
    """
    n, shape = pre.shape[0], tuple(pre.shape[1:])
    d = pre[0].numel()
    u = unit_directions(n, m, shape, gen, pre.device)
    points = torch.cat([pre.unsqueeze(1), pre.unsqueeze(1) + eps * u], dim=1)  # n×(m+1)×…
    losses = loss_fn(points.reshape(n * (m + 1), *shape)).view(n, m + 1)
    diffs = (losses[:, 1:] - losses[:, :1]) / eps  # n×m
    grad = (d / m) * (diffs.view(n, m, *([1] * len(shape))) * u).sum(dim=1)
    return grad, losses[:, 0]


@dataclass
class EvalSet:
    """Held-out data to *report* extraction quality (never used for training or selection): normalised images,
    their true output indices, and the victim's argmax computed by the experimenter before the victim was wrapped.
    ``extra``: further named sets (images, victim argmax), e.g. forget or OOD images, scored for agreement only."""

    x: torch.Tensor
    labels: torch.Tensor
    victim_labels: torch.Tensor
    extra: dict = field(default_factory=dict)

    @staticmethod
    def _predict(student, x, batch_size):
        return torch.cat([student(x[b:b + batch_size]).argmax(1) for b in range(0, len(x), batch_size)])

    def score(self, student: nn.Module, batch_size: int = 1024) -> dict:
        was = student.training
        student.eval()
        with torch.no_grad():
            pred = self._predict(student, self.x, batch_size)
            out = {"student_acc": (pred == self.labels).float().mean().item(),
                   "fidelity": (pred == self.victim_labels).float().mean().item()}
            for name, (x, victim_labels) in self.extra.items():
                out[f"fidelity_{name}"] = (self._predict(student, x, batch_size) == victim_labels).float().mean().item()
        student.train(was)
        return out


def lr_factor(fraction: float, milestones: Sequence[float], gamma: float) -> float:
    return gamma ** sum(fraction >= m for m in milestones)


def extract(victim: BlackBoxVictim, student: nn.Module, gen_model: nn.Module, cfg: DFMEConfig,
            eval_set: Optional[EvalSet] = None, progress: bool = False, log_path: Optional[str] = None) -> dict:
    """Run DFME until the next iteration would not fit in the budget. ``student`` ends holding the copy.

    Touches the victim only through ``victim.query``. Returns the history (one row per evaluation point) and
    a summary.
    """
    cfg.validate()
    if victim.budget < cfg.query_budget:
        raise ValueError(f"the black box allows {victim.budget} queries, the extraction wants {cfg.query_budget}")
    rng = generator(cfg.seed)
    kind = victim.output
    opt_s = torch.optim.SGD(student.parameters(), lr=cfg.lr_student, momentum=cfg.momentum,
                            weight_decay=cfg.weight_decay)
    opt_g = torch.optim.Adam(gen_model.parameters(), lr=cfg.lr_generator)
    start_used = victim.queries_used
    budget = cfg.query_budget
    used = lambda: victim.queries_used - start_used  # noqa: E731
    per_iter = cfg.queries_per_iteration
    n_iter = budget // per_iter
    eval_at = {int(round(k * n_iter / cfg.eval_points)) for k in range(1, cfg.eval_points + 1)}
    history = []
    t0 = time.perf_counter()
    loss_s = loss_g = float("nan")

    def record(it):
        row = {"iteration": it, "queries": used(), "seconds": time.perf_counter() - t0,
               "lr_student": opt_s.param_groups[0]["lr"], "lr_generator": opt_g.param_groups[0]["lr"],
               "loss_student": loss_s, "loss_generator": loss_g}
        if eval_set is not None:
            row.update(eval_set.score(student))
        history.append(row)
        if log_path:
            write_tsv(log_path, history, list(row))

    def black_box_targets(x):
        return centred_log_probs(victim.query(x), kind, cfg.probs_floor)

    def generator_loss(x):
        """Per-sample generator loss: minus the student–victim ℓ1 disagreement."""
        return -l1_per_sample(student(x), black_box_targets(x))

    record(0)
    bar = Progress(n_iter, "DFME iterations", enabled=progress)
    gen_model.train()
    for it in range(1, n_iter + 1):
        factor = lr_factor(used() / budget, cfg.milestones, cfg.gamma)
        for group in opt_s.param_groups:
            group["lr"] = cfg.lr_student * factor
        for group in opt_g.param_groups:
            group["lr"] = cfg.lr_generator * factor

        # generator: maximise the student–victim ℓ1 disagreement; the gradient through the black box is estimated
        for _ in range(cfg.generator_steps):
            z = gen_model.sample_noise(cfg.batch_size, rng)
            pre = gen_model.pre_images(z)
            student.eval()  # a per-sample function of the input, as the finite differences assume
            with torch.no_grad():
                grad, base = forward_difference_grad(lambda pts: generator_loss(gen_model.squash(pts)), pre.detach(),
                                                     cfg.grad_m, cfg.grad_epsilon, rng)
            check_finite(grad, "generator gradient estimate")
            opt_g.zero_grad(set_to_none=True)
            pre.backward(grad / cfg.batch_size)  # chain rule through the generator for the mean loss
            opt_g.step()
            loss_g = base.mean().item()

        # student: match the victim's centred log-probabilities on fresh generator images
        student.train()
        for _ in range(cfg.student_steps):
            with torch.no_grad():
                x = gen_model(gen_model.sample_noise(cfg.batch_size, rng))
                target = black_box_targets(x)
            loss = l1_per_sample(student(x), target).mean()
            check_finite(loss, "student loss")
            opt_s.zero_grad(set_to_none=True)
            loss.backward()
            opt_s.step()
            loss_s = loss.item()

        if it in eval_at:
            check_finite_model(student)
            record(it)
            bar.note = f"{used():,} of {budget:,} queries, fidelity {history[-1].get('fidelity', float('nan')):.3f}"
        bar.update()
    bar.close()
    student.eval()
    summary = {"queries_used": used(), "iterations": n_iter, "seconds": time.perf_counter() - t0,
               "queries_per_iteration": per_iter}
    if eval_set is not None:
        summary.update({k: v for k, v in history[-1].items() if k == "student_acc" or k.startswith("fidelity")})
    return {"history": history, "summary": summary}


# ----------------------------------------------------------------------------- preset values
def dfme_defaults(dataset: str) -> dict:
    defaults = asdict(DFMEConfig())
    defaults.update(config.DFME.get(dataset, {}))
    return defaults
