"""Membership scoring from two score lists: ROC AUC, best-threshold balanced accuracy, TPR at a low FPR.

Every function takes ``member`` and ``non_member`` scores and an explicit direction: ``higher_is_member=True``
means "a larger score is more member-like" (e.g. the area under a relearning curve, an MIA member rate);
``higher_is_member=False`` means "a smaller score is more member-like" (e.g. steps to relearn). Internally the
scores are negated in the second case, so sklearn's ROC functions (positive = member, higher = more positive)
serve both. Decisions are "member iff score ≥ threshold" (or "≤" for the reversed direction); tied scores
always fall on the same side, so the rates are the conservative (non-randomised) ones.
"""
from __future__ import annotations

from typing import Sequence, Tuple

import numpy as np
from sklearn.metrics import roc_auc_score, roc_curve


def _oriented(member: Sequence[float], non_member: Sequence[float], higher_is_member: bool):
    m = np.asarray(member, dtype=np.float64).ravel()
    n = np.asarray(non_member, dtype=np.float64).ravel()
    if len(m) == 0 or len(n) == 0:
        raise ValueError(f"scoring needs at least one member and one non-member score (got {len(m)} and {len(n)})")
    if not (np.isfinite(m).all() and np.isfinite(n).all()):
        raise ValueError("scores must be finite numbers")
    return (m, n) if higher_is_member else (-m, -n)


def _labelled(member, non_member, higher_is_member: bool):
    """(labels, oriented scores) in sklearn's convention: label 1 = member, a larger score = more member-like."""
    m, n = _oriented(member, non_member, higher_is_member)
    return np.r_[np.ones(m.size), np.zeros(n.size)], np.r_[m, n]


def roc_auc(member, non_member, higher_is_member: bool = True) -> float:
    """P(member score is more member-like than a non-member's), ties counted ½ (Mann–Whitney U / (|M|·|N|)).

    0.5 = no signal; below 0.5 = the signal exists but runs the other way.
    """
    # _oriented rejects an empty side first, with a message naming the two lists (sklearn's names y_true)
    y, s = _labelled(member, non_member, higher_is_member)
    pairs2 = 2.0 * y.sum() * (y.size - y.sum())
    # the AUC is a multiple of 1/(2·|M|·|N|); snapping to it drops the trapezoid sum's last-bit rounding, so
    # printed tables keep the exact pair count's digits (0.2375, not 0.23749999999999996)
    return float(round(roc_auc_score(y, s) * pairs2) / pairs2)


def operating_points(member, non_member, higher_is_member: bool = True):
    """(thresholds, TPR, FPR) for every distinct decision "member iff oriented score ≥ threshold".

    Thresholds are the distinct oriented scores in increasing order followed by +inf (nobody is a member), so
    the list runs from (TPR, FPR) = (1, 1) to (0, 0).
    """
    # roc_curve lists them from +inf down; keep every threshold (no dropped collinear points), then reverse
    fpr, tpr, thr = roc_curve(*_labelled(member, non_member, higher_is_member), drop_intermediate=False)
    return thr[::-1], tpr[::-1], fpr[::-1]


def best_balanced_accuracy(member, non_member, higher_is_member: bool = True) -> Tuple[float, float]:
    """(max over thresholds of (TPR + TNR)/2, the threshold in the caller's units).

    The threshold reads "member iff score ≥ threshold" when ``higher_is_member`` and "member iff score ≤
    threshold" otherwise; ±inf means "nobody is a member" (balanced accuracy 0.5). The first (lowest oriented)
    best threshold wins ties. Chosen on the scores themselves, as in the paper: an optimistic, in-sample figure.
    """
    thr, tpr, fpr = operating_points(member, non_member, higher_is_member)
    ba = (tpr + 1.0 - fpr) / 2.0
    i = int(np.argmax(ba))
    t = float(thr[i]) if higher_is_member else float(-thr[i])
    return float(ba[i]), t


def tpr_at_fpr(member, non_member, max_fpr: float = 0.05, higher_is_member: bool = True) -> float:
    """The largest TPR over thresholds whose FPR is ≤ ``max_fpr`` (0 if only "nobody" qualifies)."""
    if not 0.0 <= max_fpr <= 1.0:
        raise ValueError(f"max_fpr must be in [0, 1], got {max_fpr}")
    _, tpr, fpr = operating_points(member, non_member, higher_is_member)
    return float(tpr[fpr <= max_fpr + 1e-12].max())


def membership_scores(member, non_member, higher_is_member: bool = True, max_fpr: float = 0.05) -> dict:
    """All three figures plus the decision rule, as one JSON-friendly dict."""
    ba, thr = best_balanced_accuracy(member, non_member, higher_is_member)
    return {
        "roc_auc": roc_auc(member, non_member, higher_is_member),
        "balanced_accuracy": ba,
        "threshold": thr,
        "rule": "member iff score >= threshold" if higher_is_member else "member iff score <= threshold",
        "tpr_at_fpr": tpr_at_fpr(member, non_member, max_fpr, higher_is_member),
        "max_fpr": float(max_fpr),
        "n_member": int(np.size(member)),
        "n_non_member": int(np.size(non_member)),
    }
