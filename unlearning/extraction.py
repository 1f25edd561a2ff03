"""Black-box access and data-free model extraction (DFME), SPEC §6 black-box paragraph.

The attacker sees the victim only through :class:`BlackBoxVictim`: images in, output probabilities (or logits)
out, one query per image, a hard budget. A generator proposes images on which the student and the victim
disagree; the student learns to match the victim's centred log-probabilities under an ℓ1 loss; the generator's
gradient *through the black box* is a forward-difference estimate along random unit directions.

Per iteration: ``generator_steps`` generator updates (each ``batch_size·(grad_m+1)`` queries), then
``student_steps`` student updates (each ``batch_size`` queries).
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from typing import Optional, Sequence

import torch
import torch.nn as nn
from tqdm.auto import tqdm

import config
from models import canonical_name
from models.generator import GENERATORS, build_generator

from .evaluation import predict
from .experiment import (CheckpointError, Experiment, StagedOutput, add_run_identity_args, atomic_write, base_parser,
                         finish_args, fmt_param, generator, load_model, save_checkpoint, seed_everything, write_json,
                         write_tsv)
from .fingerprint import file_fingerprint
from .run_identity import RunIdentity, preflight
from .training import Diverged, check_finite, check_finite_model


class BlackBoxAccessError(PermissionError):
    """Anything but a query was asked of the black-box victim (parameters, gradients, the module, ...).

    Deliberately *not* an AttributeError, so ``hasattr``/``getattr(..., default)`` cannot swallow it either.
    """


class QueryBudgetExceeded(RuntimeError):
    """A query would take the attacker past the query budget; it is refused before it runs."""


# ----------------------------------------------------------------------------- the black box
_OUTPUTS = ("probs", "logits")
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
        if output not in _OUTPUTS:
            raise ValueError(f"black-box output must be one of {_OUTPUTS}, got {output!r}")
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
    device = gen_model.fc.weight.device
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
    bar = tqdm(range(1, n_iter + 1), desc="DFME", disable=not progress, leave=False)
    gen_model.train()
    for it in bar:
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
            bar.set_postfix(q=used(), fid=f"{history[-1].get('fidelity', float('nan')):.3f}")
    student.eval()
    summary = {"queries_used": used(), "iterations": n_iter, "seconds": time.perf_counter() - t0,
               "queries_per_iteration": per_iter}
    if eval_set is not None:
        summary.update({k: v for k, v in history[-1].items() if k == "student_acc" or k.startswith("fidelity")})
    return {"history": history, "summary": summary}


# ----------------------------------------------------------------------------- a whole attack run
def dfme_defaults(dataset: str) -> dict:
    defaults = asdict(DFMEConfig())
    defaults.update(config.DFME.get(dataset, {}))
    return defaults


def add_dfme_args(p: argparse.ArgumentParser, dataset: str, target_args: bool = True) -> argparse.ArgumentParser:
    """DFME flags; defaults from ``config.DFME[dataset]``. ``target_args``: also --model_path/--out_dir/--quiet
    (left out where the host parser, e.g. the black-box ReA's, defines them with its own meaning)."""
    d = dfme_defaults(dataset)
    g = p.add_argument_group("DFME (data-free model extraction)")
    g.add_argument("--query_budget", type=int, default=d["query_budget"], help="queries (images) the attacker may send")
    g.add_argument("--batch_size", "-b", type=int, default=d["batch_size"], help="generator batch per step")
    g.add_argument("--student_net", default=None, help="model registry name of the copy (default: the preset's net)")
    g.add_argument("--lr_student", type=float, default=d["lr_student"], help="SGD learning rate of the student")
    g.add_argument("--lr_generator", type=float, default=d["lr_generator"], help="Adam learning rate of the generator")
    g.add_argument("--grad_m", type=int, default=d["grad_m"], help="random directions per forward-difference estimate")
    g.add_argument("--grad_epsilon", type=float, default=d["grad_epsilon"], help="forward-difference step ε")
    g.add_argument("--student_steps", type=int, default=d["student_steps"], help="student updates per iteration")
    g.add_argument("--generator_steps", type=int, default=d["generator_steps"], help="generator updates per iteration")
    g.add_argument("--milestones", type=float, nargs="*", default=list(d["milestones"]),
                   help="fractions of the budget at which both learning rates are multiplied by --gamma")
    g.add_argument("--gamma", type=float, default=d["gamma"], help="learning-rate decay at each milestone")
    g.add_argument("--nz", type=int, default=d["nz"], help="generator noise size")
    g.add_argument("--generator", default=d["generator"], help=f"generator registry name {sorted(GENERATORS)}")
    g.add_argument("--victim_output", choices=_OUTPUTS, default=d.get("victim_output", "probs"),
                   help="what the black box returns")
    g.add_argument("--eval_points", type=int, default=d["eval_points"], help="evaluations logged over the run")
    g.add_argument("--dfme_seed", type=int, default=None, help="seed of the extraction (default: -seed)")
    if target_args:
        g.add_argument("--model_path", default=None,
                       help=f"victim checkpoint (default: <unlearning run folder>/{VICTIM_FILE}, named by the identity "
                            "arguments)")
        g.add_argument("--out_dir", default=None,
                       help="folder under which dfme/<tag>/ is written (default: the run folder, or the --model_path "
                            "checkpoint's folder)")
        g.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def dfme_parser(dataset: str) -> argparse.ArgumentParser:
    p = base_parser(f"Black-box model extraction (DFME) of a {dataset} victim.", dataset)
    add_run_identity_args(p)
    return add_dfme_args(p, dataset)


def finish_dfme_args(args) -> argparse.Namespace:
    args = finish_args(args)
    if args.forget_class is None:
        args.forget_class = config.preset(args.dataset)["forget_class"]
    try:
        args.student_net = canonical_name(args.student_net or args.net)
    except ValueError as err:
        sys.exit(f"error: --student_net: {err}")
    if args.dfme_seed is None:
        args.dfme_seed = args.seed
    return args


def config_from_args(args) -> DFMEConfig:
    return DFMEConfig(query_budget=args.query_budget, batch_size=args.batch_size, lr_student=args.lr_student,
                      lr_generator=args.lr_generator, grad_m=args.grad_m, grad_epsilon=args.grad_epsilon,
                      student_steps=args.student_steps, generator_steps=args.generator_steps,
                      milestones=tuple(args.milestones), gamma=args.gamma, nz=args.nz, generator=args.generator,
                      eval_points=args.eval_points, seed=args.dfme_seed).validate()


TAG_KEYS = ("batch_size", "lr_student", "lr_generator", "grad_m", "grad_epsilon", "student_steps", "generator_steps",
            "milestones", "gamma", "nz", "generator", "victim_output")  # settings that change the copy


def dfme_tag(args) -> str:
    """budget-<q>_student-<net>_seed-<s>, plus _<key>-<value> for every setting that differs from the preset's
    (config.DFME), so two extractions with different settings never share a folder."""
    tag = f"budget-{args.query_budget}_student-{canonical_name(args.student_net)}_seed-{args.dfme_seed}"
    defaults = dict(dfme_defaults(args.dataset))
    defaults.setdefault("victim_output", "probs")
    for key in TAG_KEYS:
        value, default = getattr(args, key), defaults[key]
        if isinstance(default, (list, tuple)):
            value, default = [float(v) for v in value], [float(v) for v in default]
            if value != default:
                tag += f"_{key}-" + "-".join(fmt_param(v) for v in value)
        elif value != default:
            tag += f"_{key}-{fmt_param(value)}"
    return tag


def resolve_identity(args) -> None:
    """Without --model_path the victim is an unlearning run: fill the method's default para1/para2 exactly as the
    unlearning driver does, so the run folder name matches the one it wrote."""
    if not args.model_path:
        from .run_identity import resolve
        resolve(args)


def victim_path(args) -> str:
    return args.model_path or RunIdentity.of(args).checkpoint(VICTIM_FILE)


def dfme_dir(args) -> str:
    """<out_dir | the --model_path checkpoint's folder | the run folder>/dfme/<tag>: one copy per target (method,
    parameters, seed) and per extraction (budget, student, DFME seed), so no target overwrites another's copy."""
    if args.out_dir:
        base = args.out_dir
    elif args.model_path:
        base = os.path.dirname(os.path.abspath(args.model_path))
    else:
        base = RunIdentity.of(args).run_dir
    return os.path.join(base, "dfme", dfme_tag(args))


def student_path(args) -> str:
    return os.path.join(dfme_dir(args), "student.pt")


def plot_curve(path: str, history: list, title: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    q = [r["queries"] for r in history]
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    ax.plot(q, [r["fidelity"] for r in history], "o-", label="fidelity (agreement with victim)")
    ax.plot(q, [r["student_acc"] for r in history], "s--", label="student accuracy (true labels)")
    for key in sorted(k for k in history[-1] if k.startswith("fidelity_")):
        ax.plot(q, [r[key] for r in history], ":", label=f"fidelity on {key[9:]} test images")
    ax.set_xlabel("queries used")
    ax.set_ylabel("retain test (unless noted)")
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=120))
    plt.close(fig)


def run_dfme(args) -> dict:
    """Load the victim, wrap it, extract, save ``<dfme_dir>/student.pt`` + log.tsv + curve.png + results.json."""
    cfg = config_from_args(args)
    resolve_identity(args)
    out = dfme_dir(args)
    preflight(args.device, out)
    seed_everything(cfg.seed)
    exp = Experiment(args.dataset, args.data_root, args.download, args.device, forget_class=args.forget_class)
    split = exp.split
    vpath = victim_path(args)
    victim_fp = file_fingerprint(vpath)
    victim, vmeta = load_model(vpath, exp)

    # The experimenter's reference for *reporting* fidelity, computed before the victim disappears behind the wrapper.
    idx = split.retain_test
    x_eval = exp.test.normalize(exp.test.x[idx.to(exp.device)])
    labels = split.targets(exp.test.y[idx.to(exp.device)])
    victim_labels = predict(victim, exp.test, idx).argmax(1)
    extra = {}
    ood_idx = torch.cat([split.ood_test[k] for k in sorted(split.ood_test)]) if split.ood_test else idx[:0]
    for name, sel in (("forget", split.forget_test), ("ood", ood_idx)):
        if len(sel):  # how the copy treats the images ReA relearns (agreement with the victim only)
            extra[name] = (exp.test.normalize(exp.test.x[sel.to(exp.device)]), predict(victim, exp.test, sel).argmax(1))
    eval_set = EvalSet(x_eval, labels, victim_labels, extra)
    victim_test_acc = (victim_labels == labels).float().mean().item()

    box = BlackBoxVictim(victim, cfg.query_budget, output=args.victim_output,
                         input_shape=(exp.info.in_channels, exp.info.image_size, exp.info.image_size))
    del victim  # from here on the attack sees only the box

    torch.manual_seed(cfg.seed)
    student = exp.new_model(args.student_net)
    gen_model = build_generator(cfg.generator, cfg.nz, exp.info.in_channels, exp.info.image_size,
                                exp.train.mean, exp.train.std).to(exp.device)
    print(f"DFME: victim {vpath} ({vmeta.get('arch')}, retain-test acc {victim_test_acc:.4f}) → student "
          f"{args.student_net}, budget {cfg.query_budget} queries ({cfg.queries_per_iteration}/iteration) → {out}")
    # the copy's folder is replaced whole once the extraction has finished (the black-box ReA of an older copy,
    # under it, goes with it)
    with StagedOutput(out) as stage:
        return _extract_into(stage, args, cfg, exp, split, box, student, gen_model, eval_set, vpath, vmeta,
                             victim_fp, victim_test_acc)


def _extract_into(stage, args, cfg, exp, split, box, student, gen_model, eval_set, vpath, vmeta, victim_fp,
                  victim_test_acc) -> dict:
    result = extract(box, student, gen_model, cfg, eval_set, progress=not args.quiet,
                     log_path=stage.path("log.tsv"))
    summ = result["summary"]
    victim_id = {"path": os.path.abspath(vpath), "arch": vmeta.get("arch"), "kind": vmeta.get("kind"),
                 "method": vmeta.get("method"), "para1": vmeta.get("para1"), "para2": vmeta.get("para2"),
                 "seed": vmeta.get("seed"), "run_dir": None if args.model_path else RunIdentity.of(args).run_dir,
                 "retain_test_acc": victim_test_acc, "fingerprint": victim_fp}
    meta = exp.model_meta(args.student_net, kind="dfme", seed=cfg.seed, forget_class=split.forget_class,
                          class_to_index={str(k): v for k, v in split.class_to_index.items()}, victim=victim_id,
                          query_budget=cfg.query_budget, queries_used=summ["queries_used"], victim_output=args.victim_output,
                          dfme=asdict(cfg), student_acc=summ["student_acc"],
                          **{k: v for k, v in summ.items() if k.startswith("fidelity")})
    save_checkpoint(stage.path("student.pt"), student, meta)
    ckpt = stage.final("student.pt")
    plot_curve(stage.path("curve.png"), result["history"],
               f"DFME {args.dataset}: {vmeta.get('arch')} victim → {args.student_net}, budget {cfg.query_budget}")
    results = {"status": "done", "stage": "dfme", "args": vars(args), "checkpoint": ckpt, "victim": victim_id,
               "model_fingerprint": victim_fp, "student_fingerprint": file_fingerprint(stage.path("student.pt")),
               "config": asdict(cfg), **summ, "history": result["history"], "device": str(exp.device)}
    write_json(stage.path("results.json"), results)
    stage.commit()
    others = "".join(f" ({k[9:]} {v:.3f})" for k, v in summ.items() if k.startswith("fidelity_"))
    print(f"fidelity {summ['fidelity']:.4f}{others} | student acc {summ['student_acc']:.4f} (victim {victim_test_acc:.4f}) | "
          f"{summ['queries_used']} queries | {summ['seconds']:.1f}s | {ckpt}")
    return results


def dataset_from_argv(argv=None, default: str = "digits") -> str:
    """The -dataset value before full parsing: it picks the preset whose DFME defaults the parser shows."""
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("-dataset", "--dataset", default=default)
    return pre.parse_known_args(argv)[0].dataset


def main(dataset: Optional[str] = None, argv=None) -> dict:
    """Entry point of dfme_attack.py (``dataset`` None: read from the command line)."""
    if dataset is None:
        dataset = dataset_from_argv(argv)
        try:
            from datasets import get_dataset_info
            dataset = get_dataset_info(dataset).name
        except ValueError as err:
            sys.exit(f"error: {err}")
    args = finish_dfme_args(dfme_parser(dataset).parse_args(argv))
    try:
        return run_dfme(args)
    except Diverged as err:
        sys.exit(f"error: DFME diverged: {err}")
    except (CheckpointError, ValueError, FileNotFoundError) as err:
        sys.exit(f"error: {err}")
    except OSError as err:  # a disk that fills up or goes read-only while writing
        sys.exit(f"error: could not write the extracted copy: {err}")


# ----------------------------------------------------------------------------- black-box ReA
def blackbox_rea_main(dataset: str, argv=None) -> dict:
    """mia_on_mu_main_<dataset>_fullclass_blackbox.py: find (or make) the extracted copy, then run the white-box
    attack of ``unlearning.reminiscence`` on it, unchanged.

    The copy is ``--model_path`` if given; otherwise ``<run folder | --victim_path folder>/dfme/<tag>/student.pt``
    for the DFME flags given, extracted first when missing (or with ``--reextract``).
    """
    from .reminiscence import ReAError, rea_from_args, rea_parser
    from .reminiscence import config_from_args as rea_config_from_args

    p = rea_parser(dataset, blackbox=True)
    add_dfme_args(p, dataset, target_args=False)
    g = p.add_argument_group("black-box target")
    g.add_argument("--victim_path", default=None,
                   help=f"victim to extract when no copy exists (default: <run folder>/{VICTIM_FILE})")
    g.add_argument("--reextract", action="store_true", help="extract again even if the copy exists")
    args = finish_dfme_args(p.parse_args(argv))
    try:
        rea_config_from_args(args, args.dataset)  # bad attack flags fail before a long extraction
        if args.model_path is None:
            dargs = argparse.Namespace(**vars(args))
            dargs.model_path, dargs.out_dir = args.victim_path, None
            resolve_identity(dargs)
            for key in ("para1", "para2", "weight_path"):  # the resolved identity names the ReA outputs too
                setattr(args, key, getattr(dargs, key))
            copy_path = student_path(dargs)
            if args.reextract or not os.path.isfile(copy_path):
                run_dfme(dargs)
            else:
                print(f"using the extracted copy {copy_path}")
            args.model_path = copy_path
        return rea_from_args(args, blackbox=True)
    except Diverged as err:
        sys.exit(f"error: DFME diverged: {err}")
    except (ReAError, CheckpointError, ValueError, FileNotFoundError) as err:
        sys.exit(f"error: {err}")
    except OSError as err:
        sys.exit(f"error: could not write the black-box results: {err}")
