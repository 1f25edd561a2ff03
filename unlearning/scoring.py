"""Membership scoring from two score lists: ROC AUC (with a 95% interval), balanced accuracy (best in-sample
threshold, and held out), TPR at a low FPR.

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
from scipy import optimize, stats
from sklearn.metrics import roc_auc_score, roc_curve

AUC_CONFIDENCE = 0.95  # the level of every AUC interval (``roc_auc_ci``)
HELDOUT_FOLDS = 5  # folds of the held-out balanced accuracy (fewer where a side has fewer scores)


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


def heldout_balanced_accuracy(member, non_member, higher_is_member: bool = True,
                              folds: int = HELDOUT_FOLDS) -> float:
    """Balanced accuracy of the best-threshold rule scored on scores it was not chosen on (k-fold).

    Each side is cut into k = min(``folds``, |M|, |N|) folds by position (score i goes to fold i mod k: the
    order of the lists, e.g. repetition by repetition, not their values); for each fold the threshold of
    ``best_balanced_accuracy`` is chosen on the other folds, moved halfway down to the next lower training score
    (the same decisions on the training folds, the widest margin), and decides the fold's scores. The pooled decisions
    give (TPR + TNR)/2. Unlike the in-sample figure it can fall below 0.5 (a threshold that does not transfer);
    no signal gives about 0.5 either side. NaN when a side has fewer than 2 scores (nothing to hold out).
    """
    m, n = _oriented(member, non_member, higher_is_member)
    if int(folds) < 2:
        raise ValueError(f"folds must be at least 2, got {folds}")
    k = min(int(folds), m.size, n.size)
    if k < 2:
        return float("nan")
    fm, fn = np.arange(m.size) % k, np.arange(n.size) % k
    tp = tn = 0
    for f in range(k):
        tm, tn_ = m[fm != f], n[fn != f]
        _, thr = best_balanced_accuracy(tm, tn_, higher_is_member=True)
        below = np.r_[tm, tn_][np.r_[tm, tn_] < thr]
        if below.size and np.isfinite(thr):  # the same training decisions, halfway to the next lower score
            thr = (thr + float(below.max())) / 2.0
        tp += int((m[fm == f] >= thr).sum())
        tn += int((n[fn == f] < thr).sum())
    return float((tp / m.size + tn / n.size) / 2.0)


def _z(confidence: float) -> float:
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    return float(stats.norm.ppf(0.5 + confidence / 2.0))


def delong_variance(member, non_member, higher_is_member: bool = True) -> float:
    """DeLong's variance of the AUC: var(V10)/|M| + var(V01)/|N|, V10_i (V01_j) the fraction of non-members
    (members) member i beats (member j is beaten by), ties ½, sample variances (ddof 1; 0 for one score)."""
    m, n = _oriented(member, non_member, higher_is_member)
    psi = (m[:, None] > n[None, :]) + 0.5 * (m[:, None] == n[None, :])
    v10, v01 = psi.mean(1), psi.mean(0)
    s10 = float(v10.var(ddof=1)) if m.size > 1 else 0.0
    s01 = float(v01.var(ddof=1)) if n.size > 1 else 0.0
    return s10 / m.size + s01 / n.size


def delong_ci(member, non_member, higher_is_member: bool = True, confidence: float = AUC_CONFIDENCE):
    """AUC ± z·√(DeLong variance), clipped to [0, 1]. Zero width where the variance is 0 (e.g. perfect
    separation): use ``roc_auc_ci`` there."""
    a, se = roc_auc(member, non_member, higher_is_member), delong_variance(member, non_member, higher_is_member) ** 0.5
    z = _z(confidence)
    return max(0.0, a - z * se), min(1.0, a + z * se)


def _hanley_mcneil_variance(a: float, n_member: int, n_non_member: int) -> float:
    """Hanley–McNeil's variance of an AUC a, both sizes replaced by N* = (|M| + |N|)/2 (Newcombe 2006)."""
    n_star = (n_member + n_non_member) / 2.0 - 1.0
    return a * (1.0 - a) / (n_member * n_non_member) * (1.0 + n_star * ((1.0 - a) / (2.0 - a) + a / (1.0 + a)))


def roc_auc_ci(member, non_member, higher_is_member: bool = True, confidence: float = AUC_CONFIDENCE):
    """(lower, upper): the AUC's score-type interval of Newcombe (2006, method 5): the AUC values A with
    (A − Â)² ≤ z²·V(A), V Hanley–McNeil's variance at A (``_hanley_mcneil_variance``). Unlike AUC ± z·SE it stays
    inside [0, 1] and does not shrink to a point at Â = 1 or 0: perfectly separated scores give an upper end 1
    and a lower end below 1 that rises with the number of scores."""
    a = roc_auc(member, non_member, higher_is_member)
    nm, nn = np.size(member), np.size(non_member)
    z2 = _z(confidence) ** 2

    def excess(x):  # > 0 outside the interval, < 0 inside (at x = â when 0 < â < 1)
        return (x - a) ** 2 - z2 * _hanley_mcneil_variance(x, nm, nn)

    tiny = 1e-12
    lo = 0.0 if a <= tiny or excess(tiny) <= 0 else optimize.brentq(excess, tiny, a if a < 1 else _inside(excess))
    hi = 1.0 if a >= 1 - tiny or excess(1 - tiny) <= 0 else optimize.brentq(
        excess, a if a > 0 else _inside(excess, upper=True), 1 - tiny)
    return float(lo), float(hi)


def _inside(excess, upper: bool = False) -> float:
    """A point next to Â = 1 (or 0, ``upper``) strictly inside the interval, where ``excess`` < 0 (V(A) ~ 1 − A
    falls slower than (1 − A)²)."""
    d = 1e-3
    while d > 1e-15:
        x = d if upper else 1.0 - d
        if excess(x) < 0:
            return x
        d /= 10.0
    return d if upper else 1.0 - d


def membership_scores(member, non_member, higher_is_member: bool = True, max_fpr: float = 0.05) -> dict:
    """All figures plus the decision rule, as one JSON-friendly dict (``balanced_accuracy``: the best in-sample
    threshold's; ``balanced_accuracy_heldout``: that rule scored on held-out folds, None with fewer than 2 scores a
    side; ``roc_auc_ci``: the AUC's ``AUC_CONFIDENCE`` interval)."""
    ba, thr = best_balanced_accuracy(member, non_member, higher_is_member)
    held = heldout_balanced_accuracy(member, non_member, higher_is_member)
    return {
        "roc_auc": roc_auc(member, non_member, higher_is_member),
        "roc_auc_ci": list(roc_auc_ci(member, non_member, higher_is_member)),
        "auc_confidence": AUC_CONFIDENCE,
        "balanced_accuracy": ba,
        "balanced_accuracy_heldout": None if np.isnan(held) else held,
        "threshold": thr,
        "rule": "member iff score >= threshold" if higher_is_member else "member iff score <= threshold",
        "tpr_at_fpr": tpr_at_fpr(member, non_member, max_fpr, higher_is_member),
        "max_fpr": float(max_fpr),
        "n_member": int(np.size(member)),
        "n_non_member": int(np.size(non_member)),
    }
