"""Class-wise unlearning methods of recent benchmarks and a rival defence against relearning.

    boundary_shrink     Chen et al., "Boundary Unlearning" (CVPR 2023): D_f relabelled by the pretrained model's
                        prediction on an FGSM-perturbed copy (the nearest other class), fine-tuned on those labels
    boundary_expanding  the same paper: an extra "shadow" output unit, D_f trained into it, the unit discarded
    delete              DELETE (CVPR 2025): distil the pretrained model's output on D_f with the forget logit masked
    sfr_on              SFR-on (ICLR 2025): adaptive gradient ascent on D_f (forget/remain Fisher-ratio saliency mask,
                        clipped, cosine-decaying weight) interleaved with descent on D_r
    pru                 Perception Revising Unlearning (ACML 2024): D_f only; the forget probability redistributed over
                        the other classes as the distillation target, plus embedding clustering terms
    weight_dist_reg     "From Dormant to Deleted" (tamper-resistant unlearning): from a safeguard method's result,
                        D_r training that also pushes the weights away from the pretrained ones

Every function has the registry's signature ``fn(ctx, para1, para2) -> model`` (strategies.Context) and its
registration (knobs, settings, paper-preset values) directly above it; every update goes through ``ctx.reg`` so
--l1/--l2/--mask_path apply. Sources and settings: docs/recent_methods.md.
"""
from __future__ import annotations

import dataclasses

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..evaluation import eval_mode
from ..training import cycle
from .common import head_of, mean_squared_grads
from .registry import METHODS, Knob, get_method, register
from .settings import method_settings


# ----------------------------------------------------------------------------- shared pieces
def _sgd(params, lr, ctx, momentum=0.9, weight_decay=0.0):
    return torch.optim.SGD(params, lr=float(lr), momentum=float(ctx.setting("momentum", momentum)),
                           weight_decay=float(ctx.setting("weight_decay", weight_decay)))


def redistributed_target(teacher_logits: torch.Tensor, forget_index: int) -> torch.Tensor:
    """The teacher's softmax with the forget class's probability p_f handed to the other classes in proportion to
    their own probabilities (PRU's redistribution): q_k = p_k + p_f·p_k/(1−p_f) for k ≠ f, q_f = 0.
    Equal to the softmax with the forget logit removed (DELETE's masked target)."""
    p = F.softmax(teacher_logits.float(), 1)
    pf = p[:, forget_index:forget_index + 1]
    others = p.clone()
    others[:, forget_index] = 0
    share = others / others.sum(1, keepdim=True).clamp_min(1e-30)
    q = others + share * pf
    return q / q.sum(1, keepdim=True)


def _kl_to(student_logits, target_probs):
    """KL(target ‖ student), batch mean."""
    return F.kl_div(F.log_softmax(student_logits, 1), target_probs, reduction="batchmean")


def _pixels(data, x_norm):
    """Normalised images → pixel values in [0, 1] (the inverse of ``data.normalize`` without its scale)."""
    mean = torch.tensor(data.mean, dtype=x_norm.dtype, device=x_norm.device).view(1, -1, 1, 1)
    std = torch.tensor(data.std, dtype=x_norm.dtype, device=x_norm.device).view(1, -1, 1, 1)
    return x_norm * std + mean, mean, std


# ----------------------------------------------------------------------------- Boundary Shrink
def fgsm_nearest_labels(teacher, data, x, y, bound: float, forget_index: int) -> torch.Tensor:
    """The label Boundary Shrink assigns: the pretrained model's prediction on x + bound·sign(∇ₓ CE) (pixel space,
    clipped to [0, 1] and to 8-bit levels), with the forget class excluded from the argmax."""
    u, mean, std = _pixels(data, x.detach())
    u = u.clone().requires_grad_(True)
    with eval_mode(teacher), torch.enable_grad():
        loss = F.cross_entropy(teacher((u - mean) / std), y)
        grad, = torch.autograd.grad(loss, u)
    adv = torch.clamp(u.detach() + bound * grad.sign(), 0.0, 1.0)
    adv = torch.round(adv * 255) / 255
    with eval_mode(teacher), torch.no_grad():
        logits = teacher((adv - mean) / std)
    logits[:, forget_index] = float("-inf")  # the nearest *other* class, even where the attack did not cross
    return logits.argmax(1)


@register("boundary_shrink", Knob("lr", "learning rate (SGD)", 1e-5), Knob("epochs", "epochs on D_f", 10),
          gradient=True, settings={"bound": (0.1, "FGSM step in pixel units"), "batch_size": (64, "batch size"),
                                   "weight_decay": (0.0, "SGD weight decay")})
def boundary_shrink(ctx, para1, para2):
    """Boundary Shrink: each D_f batch is relabelled with the pretrained model's prediction on its FGSM copy (bound
    in pixel units, forget class excluded) and the model takes a CE step on the clean images with those labels."""
    model, split = ctx.model, ctx.split
    bound, f = float(ctx.setting("bound")), split.forget_index
    opt = _sgd(model.parameters(), para1, ctx)
    model.train()
    for _ in range(int(para2)):
        for x, y in ctx.loader(split.forget_train, stream=21):
            labels = fgsm_nearest_labels(ctx.teacher, ctx.exp.train, x, y, bound, f)
            ctx.reg.step(opt, F.cross_entropy(model(x), labels))
    return model


# ----------------------------------------------------------------------------- Boundary Expanding
@register("boundary_expanding", Knob("lr", "learning rate (SGD)", 1e-5), Knob("epochs", "epochs on D_f", 10),
          gradient=True, settings={"batch_size": (64, "batch size"), "weight_decay": (0.0, "SGD weight decay")})
def boundary_expanding(ctx, para1, para2):
    """Boundary Expanding: a new output unit K (fresh nn.Linear row, seeded) is appended; D_f is trained into it
    with CE (features and head, SGD); then the unit is dropped, leaving the model's own K outputs."""
    model, split = ctx.model, ctx.split
    head = head_of(model)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(ctx.seed * 1000 + 31)
        extra = nn.Linear(head.in_features, 1).to(head.weight.device)
    k = head.out_features
    opt = _sgd(list(model.parameters()) + list(extra.parameters()), para1, ctx)
    model.train()
    for _ in range(int(para2)):
        for x, _ in ctx.loader(split.forget_train, stream=22):
            h = model.features(x)
            logits = torch.cat([head(h), extra(h)], 1)
            ctx.reg.step(opt, F.cross_entropy(logits, torch.full((len(x),), k, dtype=torch.long, device=x.device)))
    return model  # ``extra`` goes out of scope: the saved model keeps its K outputs


# ----------------------------------------------------------------------------- DELETE
@register("delete", Knob("lr", "learning rate (SGD)", 5e-5), Knob("epochs", "epochs on D_f", 20), gradient=True,
          # its CIFAR-100 configuration
          settings={"batch_size": (128, "batch size"), "weight_decay": (0.0, "SGD weight decay")})
def delete(ctx, para1, para2):
    """DELETE: on D_f only, KL from the pretrained model's softmax with the forget logit masked (its probability
    redistributed in proportion) to the model's softmax; SGD with momentum."""
    model, split, f = ctx.model, ctx.split, ctx.split.forget_index
    teacher = ctx.teacher.eval()
    opt = _sgd(model.parameters(), para1, ctx)
    model.train()
    for _ in range(int(para2)):
        for x, _ in ctx.loader(split.forget_train, stream=23):
            with torch.no_grad():
                target = redistributed_target(teacher(x), f)
            ctx.reg.step(opt, _kl_to(model(x), target))
    return model


# ----------------------------------------------------------------------------- SFR-on
def adaptive_forget_loss(logits, y, lambd: float) -> torch.Tensor:
    """SFR-on's adaptive CE: per-sample CE ℓᵢ weighted by n·ℓᵢ^(−λ)/Σⱼℓⱼ^(−λ) (weights detached), mean."""
    ce = F.cross_entropy(logits, y, reduction="none")
    coef = 1.0 / (ce.detach() ** lambd + 1e-15)
    return (coef / coef.sum() * ce * len(ce)).mean()


def fisher_ratio_mask(ctx, model, threshold: float):
    """1 where the forget Fisher (mean squared minibatch gradient on D_f) ≥ threshold × the remain Fisher."""
    i_f = mean_squared_grads(model, ctx.loader(ctx.split.forget_train, shuffle=False))
    i_r = mean_squared_grads(model, ctx.loader(ctx.split.retain_train, shuffle=False))
    return {k: ((i_f[k] + 1e-15) / (i_r[k] + 1e-15) >= threshold).float() for k in i_f}


@register("sfr_on", Knob("lr", "retain learning rate (SGD, cosine to 0)", 0.01), Knob("count", "iterations", 1500),
          gradient=True,
          # its CIFAR-10 values (random forgetting)
          settings={"mask": (True, "restrict the updates to the Fisher-ratio mask"),
                    "forget_alpha": (25.0, "initial ascent weight α₀"), "forget_freq": (5, "an ascent step every N"),
                    "lambd": (0.5, "exponent λ of the adaptive CE"), "max_norm": (7.0, "gradient-norm clip"),
                    "threshold": (1.0, "forget/remain Fisher ratio of the mask"),
                    "ema_beta": (1.0, "fast-slow averaging β (1: none)"), "batch_size": (128, "batch size"),
                    "weight_decay": (5e-4, "SGD weight decay")})
def sfr_on(ctx, para1, para2):
    """SFR-on: para2 iterations of SGD (lr para1, cosine to 0); every forget_freq-th iteration first an ascent step on
    a D_f batch (−α_t · adaptive CE, gradient × forget/remain Fisher-ratio mask, norm clipped, α_t cosine-decaying
    from forget_alpha), then a CE step on a D_r batch; optional fast-slow averaging θ ← β·θ + (1−β)·θ_prev."""
    model, split = ctx.model, ctx.split
    n_iters, alpha0 = int(para2), float(ctx.setting("forget_alpha"))
    freq, lambd = int(ctx.setting("forget_freq")), float(ctx.setting("lambd"))
    max_norm, beta = float(ctx.setting("max_norm")), float(ctx.setting("ema_beta"))
    saliency = fisher_ratio_mask(ctx, model, float(ctx.setting("threshold"))) if ctx.setting("mask") else None
    opt = _sgd(model.parameters(), para1, ctx, weight_decay=5e-4)
    params = dict(model.named_parameters())

    def mask_and_clip(*_):
        if saliency is not None:
            for k, p in params.items():
                if p.grad is not None:
                    p.grad.mul_(saliency[k])
        torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm)

    forget, retain = cycle(ctx.loader(split.forget_train, stream=24)), cycle(ctx.loader(split.retain_train, stream=25))
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(n_iters, 1))
    model.train()
    for step in range(n_iters):
        prev = {k: p.detach().clone() for k, p in params.items()} if beta != 1.0 else None
        if step % freq == 0:
            alpha = alpha0 * opt.param_groups[0]["lr"] / float(para1)  # α_t follows the lr's cosine
            x, y = next(forget)
            hook = opt.register_step_pre_hook(mask_and_clip)  # between backward and the step
            try:
                ctx.reg.step(opt, -alpha * adaptive_forget_loss(model(x), y, lambd))
            finally:
                hook.remove()
        x, y = next(retain)
        ctx.reg.step(opt, F.cross_entropy(model(x), y))
        if prev is not None:
            with torch.no_grad():
                for k, p in params.items():
                    p.copy_(beta * p + (1 - beta) * prev[k])
        schedule.step()
    return model


# ----------------------------------------------------------------------------- PRU
def _mean_pairwise_distance(z: torch.Tensor) -> torch.Tensor:
    """Mean Euclidean distance over pairs i ≠ j (the off-diagonal mean of cdist(z, z))."""
    return torch.pdist(z).mean()


def pru_embedding_terms(emb, labels, lamb: float):
    """PRU's two embedding terms on a batch grouped by the redistributed label: 1/(mean distance between group
    means / λ) (pushes the groups apart) and the mean within-group pairwise distance (pulls each group together).
    Groups of one sample add no within-group term; a batch with one group adds no between-group term."""
    groups = [emb[labels == c] for c in torch.unique(labels)]
    zero = emb.sum() * 0
    between = zero
    if len(groups) > 1:
        centres = torch.stack([g.mean(0) for g in groups])
        between = 1.0 / (_mean_pairwise_distance(centres) / lamb + 1e-6)
    within = [_mean_pairwise_distance(g) for g in groups if len(g) > 1]
    return between, (torch.stack(within).mean() if within else zero)


@register("pru", Knob("lr", "embedding-shift learning rate (SGD)", 4e-4),
          Knob("count", "rounds (shift epoch + refine)", 10), gradient=True,
          settings={"lamb": (1.0, "λ of the between-group term"), "refine_epochs": (1, "refine epochs per round"),
                    "refine_lr": (1e-4, "refine learning rate"), "batch_size": (128, "batch size"),
                    "weight_decay": (1e-4, "SGD weight decay")})
def pru(ctx, para1, para2):
    """PRU: para2 rounds on D_f only, each = one epoch of embedding shift (lr para1; KL to the redistributed target
    + the two embedding terms) then refine_epochs of KL alone (refine_lr); the output layer stays frozen, as in the
    reference code; SGD with momentum and weight decay, a fresh optimiser each epoch."""
    model, split, f = ctx.model, ctx.split, ctx.split.forget_index
    teacher = ctx.teacher.eval()
    lamb = float(ctx.setting("lamb"))
    head = head_of(model)
    frozen = {id(p) for p in head.parameters()}
    body = [p for p in model.parameters() if id(p) not in frozen]
    loader = ctx.loader(split.forget_train, stream=26)

    def epoch(lr, shift):
        opt = _sgd(body, lr, ctx, weight_decay=1e-4)
        for x, _ in loader:
            with torch.no_grad():
                target = redistributed_target(teacher(x), f)
            h = model.features(x)
            loss = F.kl_div(torch.log(F.softmax(head(h), 1) + 1e-6), target, reduction="batchmean")
            if shift:
                between, within = pru_embedding_terms(h, target.argmax(1), lamb)
                loss = loss + between + within
            ctx.reg.step(opt, loss)

    model.train()
    for _ in range(int(para2)):
        epoch(para1, shift=True)
        for _ in range(int(ctx.setting("refine_epochs"))):
            epoch(ctx.setting("refine_lr"), shift=False)
    return model


# ----------------------------------------------------------------------------- weight-distance regularisation
def weight_distance(model, anchor) -> torch.Tensor:
    """RMS of θ − θ_anchor over every trainable weight (one flat vector)."""
    sq = sum(((p - a) ** 2).sum() for p, a in zip(model.parameters(), anchor))
    n = sum(a.numel() for a in anchor)
    return torch.sqrt(sq / n + 1e-8)


@register("weight_dist_reg", Knob("lr", "learning rate (Adam, cosine to 0)", 1e-5),
          Knob("epochs", "epochs on D_r after the safeguard", 100), gradient=True,
          settings={"alpha": (1.0, "weight of the weight distance"),
                    "safeguard": ("SCRUB", "registry method run first (None: start from the pretrained model)"),
                    "batch_size": (128, "batch size"), "weight_decay": (0.0, "Adam weight decay")})
def weight_dist_reg(ctx, para1, para2):
    """Weight-distance regularisation: the registry method ``safeguard`` first (its own settings; None = start from
    the pretrained model), then para2 epochs of D_r with CE − α·RMS(θ − θ_pretrained), Adam, lr para1 cosine to 0:
    retain accuracy is kept while the weights move away from the pretrained ones, so that relearning from nearby
    starts further from the forgotten solution."""
    model = ctx.model
    base = ctx.setting("safeguard")
    if base:
        entry = get_method(base)
        s = method_settings(ctx.exp.info.name, base, ctx.recipe)
        entry.fn(dataclasses.replace(ctx, settings=s, on_phase=None), s.get("para1"), s.get("para2"))
    anchor = [p.detach().clone() for p in ctx.teacher.parameters()]
    alpha = float(ctx.setting("alpha"))
    opt = torch.optim.Adam(model.parameters(), lr=float(para1), weight_decay=float(ctx.setting("weight_decay")))
    loader = ctx.loader(ctx.split.retain_train, stream=27)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(int(para2) * len(loader), 1))
    model.train()
    for _ in range(int(para2)):
        for x, y in loader:
            ctx.reg.step(opt, F.cross_entropy(model(x), y) - alpha * weight_distance(model, anchor))
            schedule.step()
    return model


# the methods this module registers, in order (the registry itself is registry.METHODS)
RECENT_METHODS = [{"name": name} for name, m in METHODS.items() if m.fn.__module__ == __name__]
