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
    return sum(p.abs().sum() for p in model.parameters())


class Regulariser:
    """Optional λ₁‖θ‖₁, λ₂‖θ−θ₀‖² (θ₀ = weights at construction) and a 0/1 update mask (SalUn).

    The mask multiplies the *update* (new − old), so momentum, weight decay or Adam cannot move a masked weight.
    """

    def __init__(self, model: nn.Module, l1: float = 0.0, l2: float = 0.0, mask: Optional[Dict[str, torch.Tensor]] = None):
        self.l1, self.l2 = float(l1 or 0.0), float(l2 or 0.0)
        self.params = dict(model.named_parameters())
        self._bad = None  # device flag: some loss since the last flush() was NaN/inf (CUDA only)
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

    def penalty(self, loss: torch.Tensor) -> torch.Tensor:
        if self.l1:
            loss = loss + self.l1 * sum(p.abs().sum() for p in self.params.values())
        if self.l2:
            loss = loss + self.l2 * sum(((p - self.anchor[k]) ** 2).sum() for k, p in self.params.items())
        return loss

    def step(self, optimizer: torch.optim.Optimizer, loss: torch.Tensor) -> torch.Tensor:
        """Penalise, check, backward, step (masked). Returns the penalised loss."""
        loss = self.penalty(loss)
        if loss.device.type == "cuda":
            bad = ~torch.isfinite(loss.detach())
            self._bad = bad if self._bad is None else self._bad | bad
            self._unchecked += 1
            if self._unchecked >= CHECK_EVERY_CUDA:
                self.flush()
        else:
            check_finite(loss)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        before = {k: p.detach().clone() for k, p in self.params.items()} if self.mask else None
        optimizer.step()
        if self.mask:
            with torch.no_grad():
                for k, p in self.params.items():
                    p.copy_(before[k] + self.mask[k] * (p - before[k]))
        return loss

    def flush(self) -> None:
        """Raise Diverged if any loss since the last flush was NaN/inf (one host read; a no-op on the CPU)."""
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


# ----------------------------------------------------------------------------- supervised recipe (pretraining, retrain)
def train_supervised(model: nn.Module, loader: Loader, recipe: dict, validate: Callable[[nn.Module], float],
                     l1: float = 0.0, log_path: Optional[str] = None, desc: str = "train",
                     progress: bool = True, compile: bool = False) -> dict:
    """SGD + warm-up + multi-step decay; keeps the weights with the best validation accuracy, the latest of the
    epochs that tie for it (a small validation split saturates early: the first tied epoch can be an early one).

    ``recipe``: epochs, lr, milestones, momentum, weight_decay, warmup_epochs. Returns a summary with the
    per-epoch history; ``model`` ends holding the best weights. ``compile``: torch.compile the training forward
    (``Experiment.speed.compile``).
    """
    opt = torch.optim.SGD(model.parameters(), lr=recipe["lr"], momentum=recipe.get("momentum", 0.9),
                          weight_decay=recipe.get("weight_decay", 5e-4))
    reg = Regulariser(model, l1=l1)
    device = next(model.parameters()).device
    forward = torch.compile(model) if compile else model
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
            for group in opt.param_groups:
                group["lr"] = lr
            logits = forward(x)
            loss = F.cross_entropy(logits, y)
            reg.step(opt, loss)
            tot_loss += loss.detach().double() * len(y)
            tot_correct += (logits.argmax(1) == y).sum()
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
