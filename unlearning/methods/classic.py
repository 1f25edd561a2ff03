"""The classic unlearning methods, each ``fn(ctx, para1, para2) -> model`` with its registration above it.

``ctx`` (``methods.context.Context``) carries the model to unlearn (a copy of the pretrained one, changed in place),
the pretrained model (teacher), the Experiment (data + split), a ``Regulariser`` (--l1/--l2/--mask_path: every
gradient update goes through ``ctx.reg.step``, every direct weight perturbation through ``ctx.reg.apply_to_delta``),
the seed and the method's settings (``methods.settings.method_settings``).
"""
from __future__ import annotations

from typing import Dict, Optional

import torch
import torch.nn.functional as F

from ..evaluation import accuracy, eval_mode
from ..per_sample import iter_per_sample_grads, num_trainable, per_sample_grads, trainable, unflatten
from ..saliency import forget_gradient, saliency_masks
from ..training import Loader, Regulariser, check_finite, check_finite_model, cycle, train_supervised, warmup_multistep_lr
from .common import classifier_layer, mean_grad, mean_squared_grads
from .registry import UNUSED, Knob, register


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
    train_supervised(model, loader, recipe, lambda m: accuracy(m, exp.train, val, val_targets), progress=False,
                     compile=exp.speed.compile, capture=exp.speed.capture)
    return model


@register("finetune", Knob("lr", "learning rate (SGD)", 0.025), Knob("epochs", "epochs on D_r", 10), gradient=True,
          settings={"milestones": ([6], "lr × gamma from these epochs on"), "gamma": (0.8, "lr factor per milestone")},
          our={"para1": 0.05})
def finetune(ctx, para1, para2):
    """SGD on D_r only (catastrophic forgetting of D_f) under the reference's schedule: a linear warm-up over the
    first epoch, then lr × 0.8 from each milestone epoch on (its milestone: epoch 6)."""
    loader = ctx.loader(ctx.split.retain_train)
    milestones, gamma = [int(m) for m in ctx.setting("milestones")], float(ctx.setting("gamma"))
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
    model, alpha, epochs = ctx.model, float(para2), int(ctx.setting("epochs"))
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
          settings={"batch_size": (128, "batch size"),
                    "use_retain": (True, "train on D_r too (False: D_f with random labels only)")},
          # phase 1: D_f only, 3 epochs, Adam 0.0025
          our={"para1": 0.0025, "para2": 3, "use_retain": False, "replay": {"epochs": 3, "milestones": [6]}})
def amnesiac(ctx, para1, para2):
    """D_f relabelled uniformly at random (never the forget class), trained together with D_r (Adam);
    setting use_retain=False trains on the relabelled D_f alone."""
    split, model = ctx.split, ctx.model
    idx = split.forget_train
    targets = ctx.random_other_labels(len(idx))
    if ctx.setting("use_retain"):
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
    temperature = float(ctx.setting("temperature"))
    bad = ctx.fresh_model(stream=1).eval()
    good = ctx.teacher.eval()
    retain = _subset(split.retain_train, para2, ctx.generator(1))
    idx = torch.cat([split.forget_train, retain])
    is_forget = torch.cat([torch.ones(len(split.forget_train)), torch.zeros(len(retain))]).long().to(ctx.device)
    loader = ctx.loader(idx, is_forget)  # the "target" of a sample says which teacher it learns from
    opt = torch.optim.Adam(model.parameters(), lr=float(para1))
    model.train()
    for _ in range(int(ctx.setting("epochs"))):
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
    bs = int(ctx.setting("importance_batch_size"))
    order = ctx.setting("importance_order")
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
          settings={"damping": (1.0, "damping of the empirical Fisher"),
                    "grad_batch_size": (512, "batch size of the mean-gradient passes"),
                    "chunk_size": (64, "per-sample gradients per vmap chunk")},
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
    big = int(ctx.setting("grad_batch_size"))  # a sum of gradients: the batch size only sets the speed
    g_f = mean_grad(model, ctx.loader(split.forget_train, batch_size=big, shuffle=False))
    g_r = mean_grad(model, ctx.loader(split.retain_train, batch_size=big, shuffle=False))
    v = wfisher_direction(g_f, g_r, n_f, n_r)
    chosen = _subset(split.retain_train, min(1.0, N / max(n_r, 1)), ctx.generator(2))
    x = ctx.exp.train.normalize(ctx.exp.train.x[chosen.to(ctx.device)])
    G = per_sample_grads(model, x, ctx.targets(chosen), int(ctx.setting("chunk_size")))
    step = woodfisher_inverse_apply(G, v, float(ctx.setting("damping")))
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
    max_var = float(ctx.setting("max_var"))
    head_max_var = float(ctx.setting("head_max_var"))
    average = bool(ctx.setting("average_input_dim"))
    forget_row_var = float(ctx.setting("forget_row_var"))
    scale = float(ctx.setting("layer_scale"))
    head = classifier_layer(model)
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
          settings={"fisher": ("true", "'true' or 'empirical' Fisher"), "chunk_size": (64, "samples per Fisher chunk"),
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
    n = ctx.setting("fisher_samples")
    if n is not None and int(n) < len(idx):
        idx = _subset(idx, int(n) / len(idx), ctx.generator(6))
    x_all = ctx.exp.train.normalize(ctx.exp.train.x[idx.to(ctx.device)])
    flat = fisher_diagonal(model, x_all, ctx.targets(idx), split.num_outputs, ctx.setting("fisher"),
                           int(ctx.setting("chunk_size")))
    moments = fisher_noise_variance(ctx, model, unflatten(flat, model), alpha)
    gen = ctx.generator(3)
    delta = {}
    for k, p in trainable(model).items():
        mu, var = moments[k]
        noise = torch.randn(p.shape, generator=gen).to(p.device)
        delta[k] = mu + var.sqrt() * noise - p.detach()
    return _apply_delta(ctx, model, delta)


@register("FT_prune", Knob("lr", "learning rate (SGD)", 0.01),
          Knob("nonneg", "initial ℓ1 coefficient γ₀ (decays linearly to 0)", 5e-5), gradient=True,
          settings={"epochs": (10, "epochs on D_r")}, our={"para1": 0.05})
def FT_prune(ctx, para1, para2):
    """ℓ1-sparse fine-tuning on D_r: CE + γ_t‖θ‖₁ with γ_t decaying linearly from para2 to 0 over the epochs."""
    model, epochs = ctx.model, int(ctx.setting("epochs"))
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
                    "impair_epochs": (1, "impair epochs"), "repair_epochs": (1, "repair epochs"),
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
    nb = int(ctx.setting("noise_batch_size"))
    noise = torch.randn((nb,) + exp.train.shape, generator=ctx.generator(4)).to(ctx.device).requires_grad_(True)
    noise_opt = torch.optim.Adam([noise], lr=float(ctx.setting("noise_lr")))
    label = torch.full((nb,), f, dtype=torch.long, device=ctx.device)
    l2 = float(ctx.setting("noise_l2"))
    model.eval()
    for _ in range(int(ctx.setting("noise_steps"))):
        loss = unsir_noise_loss(model, noise, label, l2)
        check_finite(loss, "UNSIR noise loss")
        noise_opt.zero_grad(set_to_none=True)
        loss.backward()
        noise_opt.step()
    noise = noise.detach()
    model.zero_grad(set_to_none=True)
    retain = per_class_first(ctx, split.retain_train, ctx.setting("samples_per_class"))
    retain_targets = ctx.targets(retain)
    n_noise = nb * int(ctx.setting("noise_copies"))
    bs = int(ctx.setting("impair_batch_size"))
    opt = _optimizer(ctx, model, para1)
    model.train()
    gen = ctx.generator(9)
    for _ in range(int(ctx.setting("impair_epochs"))):
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
    repair = ctx.loader(retain, retain_targets, batch_size=int(ctx.setting("repair_batch_size")), stream=4)
    return _train_ce(ctx, model, repair, opt, int(ctx.setting("repair_epochs")))


@register("SCRUB", Knob("lr", "learning rate (Adam; SGD with optimizer=sgd)", 1e-4),
          Knob("count0", "epochs with max steps on D_f", 2), gradient=True,
          # the later paper's values (weight decay 5e-4)
          settings={"epochs": (9, "epochs"), "alpha": (0.1, "weight of the KL on D_r"),
                    "lr_decay": (0.1, "lr factor per milestone passed"),
                    "retain_fraction": (1.0, "fraction of D_r in the min steps"),
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
    temp = float(ctx.setting("temperature"))
    alpha, gamma = float(ctx.setting("alpha")), float(ctx.setting("gamma"))
    milestones = list(ctx.setting("milestones"))
    decay = float(ctx.setting("lr_decay"))
    retain = _subset(split.retain_train, ctx.setting("retain_fraction"), ctx.generator(7))
    opt = _optimizer(ctx, model, para1, weight_decay=5e-4)
    model.train()
    for epoch in range(1, int(ctx.setting("epochs")) + 1):
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
          settings={"epochs": (3, "epochs"), "retain_fraction": (1.0, "fraction of D_r per epoch")},
          our={"para1": 4e-3})  # 10× the plain lr
def salun(ctx, para1, para2):
    """SalUn as the paper's code runs it: Adam (lr para1); each epoch one pass over D_f with labels drawn uniformly
    over all outputs (the forget class included), fresh each batch, then one pass over D_r (or a retain_fraction of
    it); updates restricted to the salient weights (top para2 fraction of |∇ CE(D_f)|); a --mask_path mask replaces
    that saliency mask."""
    model, split = ctx.model, ctx.split
    reg = ctx.reg
    if ctx.mask is None:
        grads = forget_gradient(model, ctx.loader(split.forget_train, shuffle=False))
        mask = saliency_masks(grads, [float(para2)])[float(para2)]
        reg = Regulariser(model, l1=ctx.reg.l1, l2=ctx.reg.l2, mask=mask)
        if ctx.reg.anchor is not None:
            reg.anchor = ctx.reg.anchor  # ℓ2 towards the pretrained weights, whatever ran before
    retain = _subset(split.retain_train, ctx.setting("retain_fraction"), ctx.generator(8))
    forget_loader = ctx.loader(split.forget_train, shuffle=False, stream=8)  # the reference's is unshuffled
    retain_loader = ctx.loader(retain, stream=9)
    gen, k = ctx.generator(9), split.num_outputs
    opt = torch.optim.Adam(model.parameters(), lr=float(para1))
    model.train()
    for _ in range(int(ctx.setting("epochs"))):
        for x, _y in forget_loader:
            y = torch.randint(0, k, (len(x),), generator=gen).to(x.device)
            reg.step(opt, F.cross_entropy(model(x), y))
        for x, y in retain_loader:
            reg.step(opt, F.cross_entropy(model(x), y))
    return model
