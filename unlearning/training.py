"""Training loops: in-memory minibatches, warm-up + multi-step schedule, L1/L2 penalties, gradient masks,
divergence checks, and the supervised pretraining recipe with best-on-validation selection."""
from __future__ import annotations

import copy
import math
import time
from typing import Callable, Dict, Optional, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from .errors import Diverged
from .files import write_tsv
from .runtime import Progress, generator
from .values import check_training_recipe


# ----------------------------------------------------------------------------- data
def random_crop_flip(x: torch.Tensor, gen: torch.Generator, pad: int, flip: bool = True) -> torch.Tensor:
    """Per-sample random crop (zero padding ``pad``) and horizontal flip, vectorised over the batch."""
    n, c, h, w = x.shape
    padded = F.pad(x, (pad, pad, pad, pad))
    # draws come from ``gen`` on its own device (a CUDA generator: no host round trip per batch)
    dy = torch.randint(0, 2 * pad + 1, (n,), generator=gen, device=gen.device).to(x.device)
    dx = torch.randint(0, 2 * pad + 1, (n,), generator=gen, device=gen.device).to(x.device)
    rows = (dy[:, None] + torch.arange(h, device=x.device))[:, :, None]  # n×h×1
    cols = (dx[:, None] + torch.arange(w, device=x.device))[:, None, :]  # n×1×w
    out = padded[torch.arange(n, device=x.device)[:, None, None], :, rows, cols].permute(0, 3, 1, 2)
    if flip:
        mirror = (torch.rand(n, generator=gen, device=gen.device) < 0.5).to(x.device)
        out = torch.where(mirror[:, None, None, None], out.flip(3), out)
    return out


class Loader:
    """Minibatches (normalised images, targets) of ``data[idx]`` with the given targets; seeded shuffling.

    ``targets`` is aligned with ``idx`` (so a method can relabel samples, e.g. random labels or OOD → forget).
    """

    def __init__(self, data, idx, targets, batch_size=64, shuffle=True, seed=0, augment=False, drop_last=False):
        self.data = data
        self.idx = torch.as_tensor(idx, dtype=torch.long).to(data.x.device)
        self.targets = torch.as_tensor(targets, dtype=torch.long).to(data.x.device)
        if len(self.idx) != len(self.targets):
            raise ValueError("Loader: idx and targets differ in length")
        self.batch_size = int(batch_size)
        self.shuffle = shuffle
        self.augment = augment
        self.drop_last = drop_last
        self.gen = generator(seed)
        # augmentation draws on the data's device when it is a GPU (seeded; the CPU path keeps the CPU generator)
        dev = data.x.device
        self.aug_gen = torch.Generator(device=dev).manual_seed(int(seed)) if dev.type == "cuda" else self.gen

    def __len__(self):
        n = len(self.idx)
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def __iter__(self):
        n = len(self.idx)
        order = torch.randperm(n, generator=self.gen).to(self.idx.device) if self.shuffle else torch.arange(n, device=self.idx.device)
        for b in range(len(self)):
            sel = order[b * self.batch_size:(b + 1) * self.batch_size]
            x = self.data.normalize(self.data.x[self.idx[sel]])
            if self.augment:
                x = random_crop_flip(x, self.aug_gen, pad=max(1, x.shape[-1] // 8))
            yield x, self.targets[sel]


def cycle(loader):
    """Endless iteration over a loader (reshuffled each pass)."""
    while True:
        yield from loader


# ----------------------------------------------------------------------------- optimisation
def check_finite(value: torch.Tensor, what: str = "loss") -> None:
    if not torch.isfinite(value).all():
        raise Diverged(f"{what} became NaN/inf")


# On a GPU a finite check is a host synchronisation: the loss checks of Regulariser.step are gathered on the device
# and read every CHECK_EVERY_CUDA steps and at every flush() (before a model is evaluated or saved).
CHECK_EVERY_CUDA = 50


def check_finite_model(model: nn.Module) -> None:
    for name, p in model.named_parameters():
        if not torch.isfinite(p).all():
            raise Diverged(f"weight {name} became NaN/inf")


def l1_norm(model: nn.Module) -> torch.Tensor:
    """Σ|θ| over the parameters: one foreach op (``torch._foreach_norm`` with ord 1) and a sum (differentiable)."""
    return torch.stack(torch._foreach_norm(list(model.parameters()), 1)).sum()


def sgd(params, lr: float, momentum: float, weight_decay: float, device: torch.device) -> torch.optim.SGD:
    """SGD with its multi-tensor kernels: ``fused`` on CUDA (one kernel per step), ``foreach`` elsewhere (the same
    arithmetic as the per-parameter loop, so the CPU numbers are those of ``torch.optim.SGD``'s default)."""
    cuda = torch.device(device).type == "cuda"
    return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay,
                           foreach=None if cuda else True, fused=True if cuda else None)


class Regulariser:
    """Optional λ₁‖θ‖₁, λ₂‖θ−θ₀‖² (θ₀ = weights at construction) and a 0/1 update mask (SalUn).

    The penalties' gradients (λ₁·sign θ, 2λ₂(θ−θ₀)) are added to the loss's gradients after ``backward`` with foreach
    ops, a handful of dispatched ops per step instead of several per parameter tensor through autograd; the sum is the
    one autograd would form (each term is computed exactly as autograd does, and a sum of two terms does not depend
    on their order). The mask multiplies the *update* (new − old), so momentum, weight decay or Adam cannot move a
    masked weight. On CUDA the finite checks of the penalised loss are gathered on the device and read every CHECK_EVERY_CUDA
    steps and at ``flush`` (there a check is a host synchronisation).
    """

    def __init__(self, model: nn.Module, l1: float = 0.0, l2: float = 0.0, mask: Optional[Dict[str, torch.Tensor]] = None):
        self.l1, self.l2 = float(l1 or 0.0), float(l2 or 0.0)
        self.params = dict(model.named_parameters())
        self._bad = None  # device flag: some loss since the last flush() was NaN/inf (gathered checks only)
        self._unchecked = 0
        self.anchor = {k: p.detach().clone() for k, p in self.params.items()} if self.l2 else None
        self.mask = None
        if mask is not None:
            missing = set(self.params) - set(mask)
            if missing:
                raise ValueError(f"mask has no entry for {sorted(missing)[:3]}…: made for another network?")
            self.mask = {k: mask[k].to(p.device, p.dtype) for k, p in self.params.items()}
            for k, p in self.params.items():
                if self.mask[k].shape != p.shape:
                    raise ValueError(f"mask for {k} has shape {tuple(self.mask[k].shape)}, weight has {tuple(p.shape)}")
        self._trained = [k for k, p in self.params.items() if p.requires_grad]

    def penalty(self, loss: torch.Tensor) -> torch.Tensor:
        """``loss`` plus the penalties, differentiable (``step`` adds their gradients directly instead)."""
        if self.l1:
            loss = loss + self.l1 * torch.stack(torch._foreach_norm(list(self.params.values()), 1)).sum()
        if self.l2:
            loss = loss + self.l2 * sum(((p - self.anchor[k]) ** 2).sum() for k, p in self.params.items())
        return loss

    @torch.no_grad()
    def penalty_value(self, loss: torch.Tensor) -> torch.Tensor:
        """``penalty(loss)`` without a graph: the value the finite check reads."""
        return self.penalty(loss.detach())

    @torch.no_grad()
    def add_penalty_grads(self) -> None:
        """p.grad += λ₁·sign(p) + 2λ₂(p − p₀) for every trained parameter (foreach ops; a missing grad is zero)."""
        if not (self.l1 or self.l2) or not self._trained:
            return
        params = [self.params[k] for k in self._trained]
        for p in params:
            if p.grad is None:
                p.grad = torch.zeros_like(p)
        grads = [p.grad for p in params]
        if self.l1:  # autograd's abs backward: (λ₁ · 1) · sgn(p), exact
            torch._foreach_add_(grads, torch._foreach_mul(torch._foreach_sign(params), self.l1))
        if self.l2:  # autograd's pow backward: λ₂ · (2 · (p − p₀))
            diff = torch._foreach_sub(params, [self.anchor[k] for k in self._trained])
            torch._foreach_add_(grads, torch._foreach_mul(torch._foreach_mul(diff, 2.0), self.l2))

    def check(self, loss: torch.Tensor) -> None:
        """The finite check of one (penalised) loss: at once on the CPU, gathered on the device on CUDA."""
        if loss.device.type == "cuda":
            self.gather(~torch.isfinite(loss.detach()))
            self._unchecked += 1
            if self._unchecked >= CHECK_EVERY_CUDA:
                self.flush()
        else:
            check_finite(loss)

    def gather(self, bad: torch.Tensor) -> None:
        """Add a device flag "some loss was NaN/inf" to those the next ``flush`` reads (no host read here)."""
        self._bad = bad.clone() if self._bad is None else self._bad | bad

    def step(self, optimizer: torch.optim.Optimizer, loss: torch.Tensor) -> torch.Tensor:
        """Penalise, check, backward, step (masked). Returns the penalised loss (detached)."""
        penalised = self.penalty_value(loss) if (self.l1 or self.l2) else loss.detach()
        self.check(penalised)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.add_penalty_grads()
        before = {k: p.detach().clone() for k, p in self.params.items()} if self.mask else None
        optimizer.step()
        if self.mask:
            with torch.no_grad():
                for k, p in self.params.items():
                    p.copy_(before[k] + self.mask[k] * (p - before[k]))
        return penalised

    def flush(self) -> None:
        """Raise Diverged if any loss since the last flush was NaN/inf (one host read; a no-op when nothing was gathered)."""
        bad, self._bad, self._unchecked = self._bad, None, 0
        if bad is not None and bool(bad):
            raise Diverged("loss became NaN/inf")

    def apply_to_delta(self, delta: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
        """Mask a direct weight perturbation (Wfisher)."""
        return {k: v * self.mask[k] for k, v in delta.items()} if self.mask else delta


def warmup_multistep_lr(base_lr: float, epoch: int, step: int, steps_per_epoch: int,
                        warmup_epochs: int = 1, milestones: Sequence[int] = (), gamma: float = 0.2) -> float:
    """Linear warm-up over the first ``warmup_epochs`` (per step), then ×gamma at each milestone epoch."""
    if epoch < warmup_epochs:
        return base_lr * (epoch * steps_per_epoch + step + 1) / (warmup_epochs * steps_per_epoch)
    return base_lr * gamma ** sum(epoch >= m for m in milestones)


# ----------------------------------------------------------------------------- compiled and captured steps
# The torch.compile backend of --compile and --capture (a test swaps in torch._dynamo.testing.CompileCounter to count
# compilations without generating code).
COMPILE_BACKEND = "inductor"


def compiled(fn, device: torch.device, graphs: bool = False):
    """``torch.compile`` of ``fn`` with static shapes; ``graphs``: on CUDA with the inductor backend in mode
    "reduce-overhead" (each compiled graph replayed as a CUDA graph)."""
    cuda = torch.device(device).type == "cuda"
    kwargs = {"mode": "reduce-overhead"} if graphs and cuda and COMPILE_BACKEND == "inductor" else {}
    return torch.compile(fn, backend=COMPILE_BACKEND, dynamic=False, **kwargs)


def static_batches(loader: Loader) -> Loader:
    """``loader`` without its last partial batch (a compiled step sees one batch shape, so it compiles once); a
    loader of fewer images than one batch keeps its only batch."""
    if loader.drop_last or len(loader.idx) < loader.batch_size:
        return loader
    out = copy.copy(loader)  # shares the shuffling generator: the same batches, the last partial one left out
    out.drop_last = True
    return out


class CapturedStep:
    """One supervised training step (forward, cross-entropy, backward, λ₁ gradient, SGD) as compiled graphs: the
    forward with the loss (its backward is the graph AOTAutograd derives) and the parameter update (the λ₁·sign θ
    gradient and the optimiser's step). On CUDA each graph is a CUDA graph (``compiled``). The learning rate is a
    device tensor written in place each step, the running sums and the finite check stay on the device: the step
    reads nothing back to the host. Returns (loss, number correct), both device tensors."""

    def __init__(self, model: nn.Module, optimizer: torch.optim.Optimizer, reg: Regulariser):
        self.model, self.opt, self.reg = model, optimizer, reg
        device = next(model.parameters()).device
        for group in optimizer.param_groups:  # a tensor lr: a new value is no new constant (no recompilation)
            group["lr"] = torch.tensor(float(group["lr"]), dtype=torch.float32, device=device)
        self.forward = compiled(self._forward, device, graphs=True)
        self.update = compiled(self._update, device, graphs=True)

    def _forward(self, x, y):
        logits = self.model(x)
        loss = F.cross_entropy(logits, y)
        with torch.no_grad():
            bad = ~torch.isfinite(self.reg.penalty(loss.detach()))
        return loss, (logits.argmax(1) == y).sum(), bad

    def _update(self):
        self.reg.add_penalty_grads()
        self.opt.step()

    def __call__(self, x: torch.Tensor, y: torch.Tensor, lr: float):
        for group in self.opt.param_groups:
            group["lr"].fill_(lr)
        loss, correct, bad = self.forward(x, y)
        self.reg.gather(bad)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.update()
        return loss.detach(), correct


# ----------------------------------------------------------------------------- supervised recipe (pretraining, retrain)
def train_supervised(model: nn.Module, loader: Loader, recipe: dict, validate: Callable[[nn.Module], float],
                     l1: float = 0.0, log_path: Optional[str] = None, desc: str = "train",
                     progress: bool = True, compile: bool = False, capture: bool = False) -> dict:
    """SGD + warm-up + multi-step decay; keeps the weights with the best validation accuracy, the latest of the
    epochs that tie for it (a small validation split saturates early: the first tied epoch can be an early one).

    ``recipe``: epochs, lr, milestones, momentum, weight_decay, warmup_epochs. Returns a summary with the
    per-epoch history; ``model`` ends holding the best weights. ``compile``: torch.compile the training forward
    (``Experiment.speed.compile``); ``capture``: the whole step compiled (``CapturedStep``,
    ``Experiment.speed.capture``). Either one drops the loader's last partial batch (``static_batches``): one
    batch shape, one compilation.
    """
    recipe = check_training_recipe(recipe)  # whatever its source: preset, flags, a run's "pretrain" setting
    device = next(model.parameters()).device
    opt = sgd(model.parameters(), recipe["lr"], recipe.get("momentum", 0.9), recipe.get("weight_decay", 5e-4), device)
    reg = Regulariser(model, l1=l1)
    if compile or capture:
        loader = static_batches(loader)
    step_fn = CapturedStep(model, opt, reg) if capture else None
    forward = compiled(model, device) if compile and not capture else model
    history, best_acc, best_state, best_epoch = [], -1.0, None, -1
    bar = Progress(recipe["epochs"], f"{desc}: epoch", enabled=progress)
    start = time.perf_counter()
    for epoch in range(recipe["epochs"]):
        model.train()
        # running sums stay on the device (float64: the same sums as adding Python floats); read once per epoch
        tot_loss = torch.zeros((), dtype=torch.float64, device=device)
        tot_correct = torch.zeros((), dtype=torch.long, device=device)
        tot_n = 0
        for step, (x, y) in enumerate(loader):
            lr = warmup_multistep_lr(recipe["lr"], epoch, step, len(loader), recipe.get("warmup_epochs", 1),
                                     recipe.get("milestones", ()))
            if step_fn is not None:
                loss, correct = step_fn(x, y, lr)
            else:
                for group in opt.param_groups:
                    group["lr"] = lr
                logits = forward(x)
                loss = F.cross_entropy(logits, y)
                reg.step(opt, loss)
                correct = (logits.argmax(1) == y).sum()
            tot_loss += loss.detach().double() * len(y)
            tot_correct += correct
            tot_n += len(y)
        reg.flush()
        check_finite_model(model)
        tot_loss, tot_correct = tot_loss.item(), tot_correct.item()
        val_acc = validate(model)
        if not math.isfinite(val_acc):
            raise ValueError("validation accuracy is NaN: the validation split has no images (too few training images "
                             "per class for val_fraction); use more data or a larger val_fraction")
        if val_acc >= best_acc:  # ties: the later epoch
            best_acc, best_epoch = val_acc, epoch
            best_state = copy.deepcopy(model.state_dict())
        history.append({"epoch": epoch + 1, "lr": lr, "train_loss": tot_loss / tot_n, "train_acc": tot_correct / tot_n,
                        "val_acc": val_acc, "seconds": time.perf_counter() - start})
        bar.update(note=f"train loss {tot_loss / tot_n:.3f}, val acc {val_acc:.3f}")
        if log_path:
            write_tsv(log_path, history, list(history[0]))
    bar.close()
    model.load_state_dict(best_state)
    return {"best_val_acc": best_acc, "best_epoch": best_epoch + 1, "history": history,
            "seconds": time.perf_counter() - start}
