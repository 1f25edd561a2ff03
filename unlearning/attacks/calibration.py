"""Two-sided, calibrated Reminiscence Attack: direction and threshold fitted on the attacker's shadow models.

The paper's ReA is one-sided and picks its threshold on the target's own scores (an in-sample, optimistic
figure). Here the attacker fits the *direction* ("forgotten class relearned faster" or "slower") and the
*threshold* of the statistic on shadow models it trained itself (its own pretraining and unlearning, on data
disjoint from the target's), then applies that fixed rule to the target's runs.
"""
from __future__ import annotations

from typing import Dict, Iterable, Sequence

import numpy as np

from ..scoring import roc_auc

STATISTICS = {"steps": ("member_steps", "non_member_steps"), "area": ("member_area", "non_member_area")}


def _midpoint_thresholds(values: np.ndarray) -> np.ndarray:
    """Candidate thresholds between consecutive distinct values, plus both ends (a rule that transfers better
    than one placed exactly on a shadow score)."""
    u = np.unique(values)
    return np.concatenate([[-np.inf], (u[:-1] + u[1:]) / 2.0, [np.inf]])


def fit_rule(member: Sequence[float], non_member: Sequence[float]) -> dict:
    """Direction and threshold maximising balanced accuracy on the shadow scores.

    Rule: member iff ``sign * score > sign * threshold`` with sign = +1 when higher is member, −1 otherwise.
    Ties between directions go to "lower is member" (the paper's direction for steps-to-τ).
    """
    m, n = np.asarray(member, float), np.asarray(non_member, float)
    if len(m) == 0 or len(n) == 0:
        raise ValueError("fitting a rule needs member and non-member shadow scores")
    best = None
    for higher in (False, True):
        sign = 1.0 if higher else -1.0
        for t in _midpoint_thresholds(np.concatenate([m, n])):
            ba = 0.5 * ((sign * m > sign * t).mean() + (sign * n <= sign * t).mean())
            if best is None or ba > best["shadow_balanced_accuracy"] + 1e-12:
                best = {"higher_is_member": higher, "threshold": float(t), "shadow_balanced_accuracy": float(ba)}
    best["shadow_auc_oriented"] = roc_auc(m, n, best["higher_is_member"])
    return best


def apply_rule(rule: dict, member: Sequence[float], non_member: Sequence[float]) -> dict:
    """The fixed shadow rule on the target's scores: balanced accuracy, TPR, FPR, and the AUC oriented by the
    rule's direction (so a reversed signal that the shadows predicted counts as signal)."""
    m, n = np.asarray(member, float), np.asarray(non_member, float)
    sign = 1.0 if rule["higher_is_member"] else -1.0
    tpr = float((sign * m > sign * rule["threshold"]).mean())
    fpr = float((sign * n > sign * rule["threshold"]).mean())
    return {"balanced_accuracy": 0.5 * (tpr + 1.0 - fpr), "tpr": tpr, "fpr": fpr,
            "roc_auc": roc_auc(m, n, rule["higher_is_member"]), "rule": rule}


def pooled(results: Iterable[dict], lr_key: str, statistic: str = "steps"):
    """Member / non-member scores of one learning rate pooled over several ReA results (e.g. shadow seeds)."""
    km, kn = STATISTICS[statistic]
    member, non_member = [], []
    for res in results:
        per_lr = res["per_lr"][lr_key]
        member += list(per_lr[km])
        non_member += list(per_lr[kn])
    return member, non_member


def calibrated_attack(shadow_results: Sequence[dict], target_result: dict, lr_key: str,
                      statistic: str = "steps") -> Dict[str, object]:
    """Fit on the pooled shadow runs, score the target."""
    rule = fit_rule(*pooled(shadow_results, lr_key, statistic))
    return apply_rule(rule, *pooled([target_result], lr_key, statistic))
