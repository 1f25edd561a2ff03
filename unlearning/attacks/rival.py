"""Attacks of rival papers on class unlearning, as pure functions: a model (never changed), the Experiment's data and
split, and settings in; a plain dict of JSON-able numbers out.

    prototypical_relearning_attack  PRA, Ha et al., "Unlearning's Blind Spots: Over-Unlearning and Prototypical
                                    Relearning Attack" (ICML 2026): a few forget images' mean penultimate feature,
                                    L2-normalised, blended into the forget class's output row; no gradient step
    cmia_features, cmia_score       CMIA, Ebrahimpour-Boroojeny et al., "Unlearning Isn't Forgetting: Revealing
                                    Hidden Leakage in Class Unlearning Evaluations" (ICML 2026): the probabilities a
                                    model gives the retained classes on forget inputs tell unlearned models from
                                    retrained ones
    retain_relearning               Siddiqui et al., "From Dormant to Deleted" (arXiv 2505.22310): fine-tune on retain
                                    data only and watch the forget accuracy come back

What each reference computes and where ours differs: docs/fidelity.md, "Rival attacks and defences".

``exp`` is anything with ``train`` / ``test`` (ImageData) and ``split`` (a ClassSplit): an
unlearning.experiment.Experiment, or a small stand-in in the tests. Every model is a project model: ``features(x)``
(penultimate features) and a final ``nn.Linear`` output layer (models/: ResNet-8/18/20, ViT — ``fc``).
"""
from __future__ import annotations

import copy
import math
from typing import Dict, List, Sequence

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from ..evaluation import accuracy, eval_mode, predict
from ..methods.common import head_of
from ..training import Loader, cycle
from .base import Attack, register_attack, run_checkpoint


# ----------------------------------------------------------------------------- shared pieces
def _targets(exp, data, idx) -> torch.Tensor:
    idx = torch.as_tensor(idx, dtype=torch.long)
    return exp.split.targets(data.y[idx.to(data.y.device)])


def _acc(model, exp, which: str) -> float:
    """Accuracy on a named subset of the split ('forget_train', 'forget_test', 'retain_train', 'retain_test')."""
    idx = getattr(exp.split, which)
    data = exp.test if which.endswith("_test") else exp.train
    return float(accuracy(model, data, idx, _targets(exp, data, idx)))


def split_accuracies(model, exp, which: Sequence[str] = ("forget_train", "forget_test", "retain_train",
                                                         "retain_test")) -> Dict[str, float]:
    """{subset: accuracy} of the model on the named subsets of the split (nan for an empty subset)."""
    return {w: _acc(model, exp, w) for w in which}


# ----------------------------------------------------------------------------- PRA
def prototype_row(features: torch.Tensor, normalize: bool = True, metric: str = "cosine"):
    """(weight row, bias) of the prototype classifier of a few samples' penultimate ``features`` (n×d).

    The prototype is the mean feature, L2-normalised when ``normalize`` (the reference normalises the mean, not each
    feature). ``metric`` "cosine": row = prototype, bias 0; "l2": row = 2·prototype, bias = −‖prototype‖², the
    linear part of −‖h − prototype‖² (Spotter's proto_utils.update_fc_with_prototypes)."""
    proto = features.float().mean(0)
    if normalize:
        proto = F.normalize(proto, p=2, dim=0)
    if metric == "cosine":
        return proto, torch.zeros((), dtype=proto.dtype, device=proto.device)
    if metric == "l2":
        return 2.0 * proto, -(proto ** 2).sum()
    raise ValueError(f"PRA metric is 'cosine' or 'l2', got {metric!r}")


@torch.no_grad()
def blend_prototype(model: nn.Module, features: torch.Tensor, class_index: int, alpha: float = 0.5,
                    normalize: bool = True, metric: str = "cosine") -> nn.Module:
    """A COPY of ``model`` whose output row and bias of ``class_index`` are (1−α)·old + α·prototype
    (``prototype_row``); every other weight equal. ``features``: the attacker's samples' penultimate features."""
    attacked = copy.deepcopy(model)
    head = head_of(attacked, "this attack")
    w, b = prototype_row(features.to(head.weight.device), normalize, metric)
    head.weight[class_index] = (1 - alpha) * head.weight[class_index] + alpha * w.to(head.weight.dtype)
    if head.bias is not None:
        head.bias[class_index] = (1 - alpha) * head.bias[class_index] + alpha * b.to(head.bias.dtype)
    return attacked


def prototypical_relearning_attack(model: nn.Module, exp, n_samples: int = 5, alpha: float = 0.5, seed: int = 0,
                                   source: str = "forget_train", normalize: bool = True,
                                   metric: str = "cosine") -> dict:
    """Prototypical Relearning Attack (Ha et al., ICML 2026; reference: Seung-B/Spotter-Unlearning, proto_utils.py
    ``update_fc_with_prototypes``, called from Spotter.ipynb with 5 samples, cosine metric).

    The attacker holds ``n_samples`` images of the forget class (a seeded random choice from ``source``, a forget
    subset of the split; the reference takes the first 5 forget images of a seeded shuffle of the train set). Their
    penultimate features (eval mode) are averaged, the mean L2-normalised, and blended into the forget class's
    output row: row ← (1−α)·row + α·prototype, bias ← (1−α)·bias (the cosine prototype's bias is 0). No gradient
    step; the model itself is not changed (the attack works on a copy).

    Returns accuracies before and after on forget-train, forget-test, retain-train and retain-test, the forget
    accuracy recovered (after − before) on forget-train and forget-test, and the samples' indices."""
    split = exp.split
    pool = torch.as_tensor(getattr(split, source), dtype=torch.long)
    if not source.startswith("forget"):
        raise ValueError(f"PRA draws forget-class samples: source is 'forget_train' or 'forget_test', got {source!r}")
    if not 1 <= int(n_samples) <= len(pool):
        raise ValueError(f"PRA needs 1..{len(pool)} samples of {source}, got {n_samples}")
    if not 0.0 <= float(alpha) <= 1.0:
        raise ValueError(f"PRA α is a blend weight in [0, 1], got {alpha}")
    gen = torch.Generator().manual_seed(int(seed))
    chosen = pool[torch.randperm(len(pool), generator=gen)[:int(n_samples)]]
    data = exp.test if source.endswith("_test") else exp.train
    feats = predict(model, data, chosen, features=True)
    attacked = blend_prototype(model, feats, split.forget_index, float(alpha), normalize, metric)
    before, after = split_accuracies(model, exp), split_accuracies(attacked, exp)
    out = {"n_samples": int(n_samples), "alpha": float(alpha), "metric": metric, "source": source,
           "samples": [int(i) for i in chosen]}
    out.update({f"{k}_before": v for k, v in before.items()})
    out.update({f"{k}_after": v for k, v in after.items()})
    for k in ("forget_train", "forget_test"):
        out[f"{k}_recovered"] = after[k] - before[k]
    return out


# ----------------------------------------------------------------------------- CMIA
@torch.no_grad()
def cmia_features(model: nn.Module, x: torch.Tensor, forget_index: int, sort: bool = False) -> np.ndarray:
    """CMIA's feature vector of each input (normalised images ``x``): the model's softmax over the retained classes
    only — the forget logit removed and the rest renormalised, i.e. p_k / (1 − p_f) for k ≠ f — indexed by class in
    output order without the forget class (``sort``: in decreasing order instead, which drops which class is the
    neighbour). Eval mode; an n × (K−1) float64 array."""
    with eval_mode(model):
        logits = model(x).double()
    keep = [k for k in range(logits.shape[1]) if k != int(forget_index)]
    p = F.softmax(logits[:, keep], dim=1)
    if sort:
        p = p.sort(dim=1, descending=True).values
    return p.cpu().numpy()


def cmia_model_features(model: nn.Module, exp, which: str = "forget_test", sort: bool = False,
                        batch_size: int = 1024) -> np.ndarray:
    """``cmia_features`` of one model on a forget subset of the split (default: the forget class's test images)."""
    idx = torch.as_tensor(getattr(exp.split, which), dtype=torch.long)
    data = exp.test if which.endswith("_test") else exp.train
    out = [cmia_features(model, data.normalize(data.x[idx[b:b + batch_size].to(data.x.device)]),
                         exp.split.forget_index, sort) for b in range(0, len(idx), batch_size)]
    return np.concatenate(out) if out else np.zeros((0, exp.split.num_outputs - 1))


def _held_out_models(n: int, test_fraction: float, gen: np.random.Generator):
    order = gen.permutation(n)
    n_test = min(max(1, int(round(test_fraction * n))), n - 1)
    return order[n_test:], order[:n_test]  # (fit, test)


def cmia_score(features_unlearned_list: Sequence, features_retrained_list: Sequence, test_fraction: float = 0.5,
               seed: int = 0, C: float = 1.0, max_iter: int = 1000) -> dict:
    """CMIA's distinguisher, scored on held-out models: can a classifier tell an unlearned model's probability
    vectors (``cmia_features``) from those of models retrained without the forget class?

    Each list holds one n_i × d array per model. The models of each group are split at random (``seed``) into a fit
    part and a held-out part (``test_fraction`` of them, at least one; at least one left to fit): a logistic
    regression (scikit-learn, balanced class weights) is fitted on every vector of the fit models (label 1 =
    unlearned, 0 = retrained) and scored on every vector of the held-out models only — no model is both fitted on
    and scored. Returns the held-out ROC AUC over vectors (``auc``), the AUC over held-out models' mean scores
    (``model_auc``), the held-out balanced accuracy at probability 0.5, and the counts.

    The paper's attack (as its text and reviews describe it) fits an SVM per class on retrained references and
    measures accuracy on forget-class test samples; its code was not found (docs/fidelity.md)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score

    groups = [[np.asarray(f, dtype=np.float64) for f in features_unlearned_list],
              [np.asarray(f, dtype=np.float64) for f in features_retrained_list]]
    for name, g in zip(("unlearned", "retrained"), groups):
        if len(g) < 2:
            raise ValueError(f"CMIA needs at least 2 {name} models (one to fit, one held out), got {len(g)}")
        if any(f.ndim != 2 or len(f) == 0 for f in g):
            raise ValueError(f"CMIA: every {name} model's features must be a non-empty n × d array")
    dims = {f.shape[1] for g in groups for f in g}
    if len(dims) != 1:
        raise ValueError(f"CMIA: feature widths differ across models: {sorted(dims)}")
    if not 0.0 < float(test_fraction) < 1.0:
        raise ValueError(f"CMIA test_fraction is in (0, 1), got {test_fraction}")
    gen = np.random.default_rng(int(seed))
    parts = [_held_out_models(len(g), float(test_fraction), gen) for g in groups]

    def stack(which):  # which = 0: the fit models, 1: the held-out ones
        X, y, owners = [], [], []
        for label, g, part in zip((1, 0), groups, parts):
            for m in part[which]:
                X.append(g[m])
                y.append(np.full(len(g[m]), label))
                owners += [(label, int(m))] * len(g[m])
        return np.concatenate(X), np.concatenate(y), owners

    X_fit, y_fit, _ = stack(0)
    X_test, y_test, owners = stack(1)
    clf = LogisticRegression(C=float(C), class_weight="balanced", max_iter=int(max_iter)).fit(X_fit, y_fit)
    score = clf.predict_proba(X_test)[:, 1]
    pred = score >= 0.5
    tpr, tnr = pred[y_test == 1].mean(), (~pred[y_test == 0]).mean()
    means = {}
    for o, s in zip(owners, score):
        means.setdefault(o, []).append(s)
    m_label = np.array([o[0] for o in means])
    m_score = np.array([np.mean(v) for v in means.values()])
    return {"auc": float(roc_auc_score(y_test, score)), "model_auc": float(roc_auc_score(m_label, m_score)),
            "balanced_accuracy": float((tpr + tnr) / 2),
            "n_fit_models": [int(len(parts[0][0])), int(len(parts[1][0]))],
            "n_test_models": [int(len(parts[0][1])), int(len(parts[1][1]))],
            "n_fit_vectors": int(len(y_fit)), "n_test_vectors": int(len(y_test))}


def cmia_attack(unlearned_models: Sequence[nn.Module], retrained_models: Sequence[nn.Module], exp,
                which: str = "forget_test", sort: bool = False, **score_kw) -> dict:
    """``cmia_score`` of the models' ``cmia_features`` on the same forget inputs (``which``, default forget-test)."""
    fu = [cmia_model_features(m, exp, which, sort) for m in unlearned_models]
    fr = [cmia_model_features(m, exp, which, sort) for m in retrained_models]
    return dict(cmia_score(fu, fr, **score_kw), inputs=which, sort=bool(sort))


# ----------------------------------------------------------------------------- retain-only relearning
def _relearn_optimizer(params, name: str, lr: float, momentum: float, weight_decay: float):
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)
    raise ValueError(f"retain relearning optimizer is 'adam' or 'sgd', got {name!r}")


def retain_relearning(model: nn.Module, exp, steps: int = 100, lr: float = 1e-5, eval_every: int = 10,
                      optimizer: str = "adam", schedule: str = "cosine", batch_size: int = 128,
                      momentum: float = 0.0, weight_decay: float = 0.0, seed: int = 0,
                      train_mode: bool = True) -> dict:
    """Retain-only relearning ("From Dormant to Deleted", arXiv 2505.22310; reference: shoaibahmed/vision_relearning,
    vision_unlearner.py with ``--relearn-example-type retain`` and 0 forget examples, ``train_direct``).

    A copy of ``model`` is fine-tuned with cross-entropy on D_r only (shuffled batches of ``batch_size``, seeded):
    ``steps`` optimiser steps, Adam (the reference's; "sgd": SGD with ``momentum``), lr ``lr`` (reference 1e-5),
    ``schedule`` "cosine" (torch's CosineAnnealingLR to 0.1·lr over the steps, the reference's) or "none". The
    model trains in train mode (BatchNorm statistics adapt, as in the reference) unless ``train_mode`` is False.
    After step 0 and every ``eval_every`` steps (and the last) the forget-train, forget-test and retain-test
    accuracies are recorded (eval mode). The model passed in is not changed.

    Returns the curve ({step, forget_train, forget_test, retain_test} lists) and the recovered forget accuracy:
    final − initial and max − initial, on forget-train and forget-test."""

    steps, eval_every = int(steps), int(eval_every)
    if steps < 1 or eval_every < 1:
        raise ValueError(f"retain relearning needs steps ≥ 1 and eval_every ≥ 1, got {steps}, {eval_every}")
    if schedule not in ("cosine", "none"):
        raise ValueError(f"retain relearning schedule is 'cosine' or 'none', got {schedule!r}")
    split = exp.split
    m = copy.deepcopy(model)
    r = torch.as_tensor(split.retain_train, dtype=torch.long)
    loader = cycle(Loader(exp.train, r, _targets(exp, exp.train, r), int(batch_size), shuffle=True, seed=int(seed)))
    opt = _relearn_optimizer(m.parameters(), optimizer, float(lr), float(momentum), float(weight_decay))
    sched = (torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps, eta_min=0.1 * float(lr))
             if schedule == "cosine" else None)
    curve = {"step": [], "forget_train": [], "forget_test": [], "retain_test": []}

    def record(step):
        curve["step"].append(step)
        for k, v in split_accuracies(m, exp, ("forget_train", "forget_test", "retain_test")).items():
            curve[k].append(v)

    record(0)
    for step in range(1, steps + 1):
        m.train(train_mode)
        x, y = next(loader)
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(m(x), y)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"retain relearning loss became {loss.item()} at step {step}")
        loss.backward()
        opt.step()
        if sched is not None:
            sched.step()
        if step % eval_every == 0 or step == steps:
            record(step)
    out = {"curve": curve, "steps": steps, "lr": float(lr), "optimizer": optimizer, "schedule": schedule,
           "batch_size": int(batch_size)}
    for k in ("forget_train", "forget_test"):
        c = curve[k]
        out[f"{k}_initial"], out[f"{k}_final"] = c[0], c[-1]
        out[f"{k}_recovered"] = c[-1] - c[0]
        out[f"{k}_max_recovered"] = max(c) - c[0] if not any(math.isnan(v) for v in c) else float("nan")
    out["retain_test_final"] = curve["retain_test"][-1]
    return out


# ----------------------------------------------------------------------------- as attacks of the registry
def _number(res: dict, key: str):
    v = res.get(key)
    if v is not None and not isinstance(v, (int, float)):
        raise ValueError(f"{key} is a {type(v).__name__}, not a number")
    return v


def pra_rows(res: dict) -> List[dict]:
    """The report row of a PRA results.json: forget accuracy before and after the prototype write."""
    r = res.get("pra")
    if not isinstance(r, dict):
        raise ValueError("no pra results")
    return [{k: _number(r, k) for k in ("forget_train_before", "forget_test_before", "forget_train_after",
                                        "forget_test_after", "forget_test_recovered", "retain_test_after")}]


def retain_relearning_rows(res: dict) -> List[dict]:
    """The report row of a retain-only relearning results.json: forget accuracy at the start, at the end and at its
    best over the curve."""
    r = res.get("retain_relearn")
    if not isinstance(r, dict):
        raise ValueError("no retain_relearn results")
    row = {k: _number(r, k) for k in ("forget_test_initial", "forget_test_final", "forget_test_max_recovered",
                                      "retain_test_final", "forget_train_final")}
    if row["forget_test_initial"] is not None and row["forget_test_max_recovered"] is not None:
        row["forget_test_max"] = row["forget_test_initial"] + row["forget_test_max_recovered"]
    else:
        row["forget_test_max"] = None
    return [row]


register_attack(Attack(
    "pra", "Prototypical Relearning Attack (a few forget images' prototype written into the forget row)", ("pra",),
    run_checkpoint, pra_rows, script="rival_attack_main_{dataset}.py",
    fields={"forget-test % before": ("forget_test_before", 100, 1), "forget-test % after": ("forget_test_after", 100, 1),
            "forget-train % after": ("forget_train_after", 100, 1),
            "retain-test % after": ("retain_test_after", 100, 1)},
    matrix=(("PRA: forget-test acc. after", "forget_test_after", 1, 3, "accuracy"),)))
register_attack(Attack(
    "retain_relearn", "Retain-only relearning (fine-tune on D_r only; forget accuracy that comes back)",
    ("retain_relearn",), run_checkpoint, retain_relearning_rows, script="rival_attack_main_{dataset}.py",
    fields={"forget-test % start": ("forget_test_initial", 100, 1), "forget-test % end": ("forget_test_final", 100, 1),
            "forget-test % best": ("forget_test_max", 100, 1), "forget-train % end": ("forget_train_final", 100, 1),
            "retain-test % end": ("retain_test_final", 100, 1)},
    matrix=(("retain-only relearning: best forget-test acc.", "forget_test_max", 1, 3, "accuracy"),)))
