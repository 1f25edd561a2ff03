"""Forgetting quality against a population of retrained models: statistics only (numpy, scipy, scikit-learn).

The question: given K models retrained without the forget class and K models unlearned by a method (one per
seed), can a per-model statistic tell the two populations apart? Three answers, each from the same statistic:

* U-LiRA-style likelihood ratio: for each model, Gaussians are fitted to the statistic of the *other* retrained
  and the *other* unlearned models (leave-one-out), and the model's score is
  log N(x; μ_unl, σ_unl) − log N(x; μ_ret, σ_ret). Unlearned models are the positive class ("member" = the model
  was unlearned, not retrained); the scores give a ROC AUC and the TPR at a fixed FPR.
* Challenge-style (ε, δ): over single thresholds on the raw statistic, the false positive and false negative
  rates of deciding "unlearned" give ε(t) = max(log((1−δ−FPR)/FNR), log((1−δ−FNR)/FPR)); the estimate is the largest
  ε(t) over thresholds where both rates are non-zero. Clopper–Pearson bounds on the two rates turn that into a
  confidence interval at the chosen threshold and a certified lower bound over all thresholds; ``epsilon_heldout``
  chooses the threshold on half of the models and measures ε and its interval on the other half.
* ``resolution``: which ε values K models can resolve at all (the largest finite estimate, the largest lower
  bound that perfect separation could certify, the smallest K that can certify ε > 0).

The per-model statistics come from the Reminiscence Attack's steps-to-τ (``per_model_statistics``).
"""
from __future__ import annotations

import math
from typing import Dict, Optional, Sequence

import numpy as np
from scipy import stats
from sklearn.metrics import roc_auc_score, roc_curve

from ..scoring import roc_auc_ci

CHALLENGE_DELTA = 1e-5  # the δ of the NeurIPS 2023 unlearning challenge's metric
DEFAULT_CONFIDENCE = 0.95
DEFAULT_MAX_FPR = 0.05

# Which statistics are computed per model, and which way "unlearned" points: every one of them is a relearning
# speed, and an approximately unlearned model relearns faster (fewer steps) than a retrained one.
STATISTICS = {
    "forget_steps": "mean steps-to-τ of the forget-class attacker samples",
    "forget_over_ood": "mean forget steps-to-τ divided by the mean OOD steps-to-τ of the same model",
    "ood_steps": "mean steps-to-τ of the OOD samples relabelled to the forget output (no forget data)",
}


class QualityError(ValueError):
    """Populations too small or malformed for the requested statistic."""


# ----------------------------------------------------------------------------- the per-model statistic
def per_model_statistics(forget_steps: Sequence[float], ood_steps: Sequence[float]) -> Dict[str, float]:
    """One model's relearning statistics from its ReA runs (steps-to-τ per run, forget side and OOD side)."""
    f = np.asarray(forget_steps, dtype=np.float64)
    o = np.asarray(ood_steps, dtype=np.float64)
    if f.size == 0 or o.size == 0:
        raise QualityError("a model needs at least one forget run and one OOD run")
    mf, mo = float(f.mean()), float(o.mean())
    # an OOD mean of 0 means the model already predicts the forget output on OOD images: no normalisation possible
    return {"forget_steps": mf, "ood_steps": mo, "forget_over_ood": mf / mo if mo > 0 else float("nan")}


# ----------------------------------------------------------------------------- U-LiRA-style likelihood ratio
def _std(values: np.ndarray) -> Optional[float]:
    return float(values.std(ddof=1)) if values.size >= 2 else None


def gaussian_logpdf(x, mu: float, sd: float):
    return stats.norm.logpdf(x, loc=mu, scale=sd)


def ulira_scores(retrained: Sequence[float], unlearned: Sequence[float], min_std: Optional[float] = None) -> dict:
    """Leave-one-out likelihood-ratio score of every model (higher = more like the unlearned population).

    For model i, both Gaussians are fitted without i (it belongs to one population only, so one fit has n−1
    points and the other n). A population fitted on a single value takes the pooled within-population standard
    deviation of the two fit sets; every standard deviation is at least ``min_std`` (default: 1% of the pooled
    standard deviation of all values, or 1e-6 if they are all equal), so a constant population does not give
    infinite scores.
    """
    r = np.asarray(retrained, dtype=np.float64).ravel()
    u = np.asarray(unlearned, dtype=np.float64).ravel()
    if r.size < 2 or u.size < 2:
        raise QualityError(f"U-LiRA needs at least 2 models per population (got {r.size} retrained, {u.size} unlearned)")
    if not (np.isfinite(r).all() and np.isfinite(u).all()):
        raise QualityError("U-LiRA needs finite statistics")
    if min_std is None:
        pooled = np.concatenate([r, u]).std(ddof=1)
        min_std = max(0.01 * pooled, 1e-6)

    def fit(rs: np.ndarray, us: np.ndarray):
        dev = np.concatenate([rs - rs.mean(), us - us.mean()])
        dof = rs.size + us.size - 2
        pooled = math.sqrt(float((dev ** 2).sum()) / dof) if dof > 0 else None
        out = []
        for v in (rs, us):
            sd = _std(v)
            sd = pooled if sd is None else sd
            out.append((float(v.mean()), max(sd if sd is not None else 0.0, min_std)))
        return out

    def score(x, rs, us):
        (mr, sr), (mu, su) = fit(rs, us)
        return float(gaussian_logpdf(x, mu, su) - gaussian_logpdf(x, mr, sr)), (mr, sr, mu, su)

    r_scores, u_scores, fits = [], [], []
    for i in range(r.size):
        s, f = score(r[i], np.delete(r, i), u)
        r_scores.append(s)
        fits.append({"population": "retrained", "index": i, "mu_ret": f[0], "sd_ret": f[1], "mu_unl": f[2], "sd_unl": f[3]})
    for i in range(u.size):
        s, f = score(u[i], r, np.delete(u, i))
        u_scores.append(s)
        fits.append({"population": "unlearned", "index": i, "mu_ret": f[0], "sd_ret": f[1], "mu_unl": f[2], "sd_unl": f[3]})
    return {"retrained_scores": r_scores, "unlearned_scores": u_scores, "fits": fits, "min_std": float(min_std)}


def roc_summary(positive_scores: Sequence[float], negative_scores: Sequence[float],
                max_fpr: float = DEFAULT_MAX_FPR) -> dict:
    """ROC AUC (with its 95% interval, ``scoring.roc_auc_ci``) and TPR at FPR ≤ ``max_fpr`` of "positive iff
    score ≥ threshold" (higher = more positive).

    Positives are the unlearned models, negatives the retrained ones; the rates use every distinct threshold
    (sklearn's roc_curve), so with n negatives the FPR moves in steps of 1/n and ``max_fpr`` < 1/n means FPR = 0.
    """
    p = np.asarray(positive_scores, dtype=np.float64)
    n = np.asarray(negative_scores, dtype=np.float64)
    y = np.r_[np.ones(p.size), np.zeros(n.size)]
    s = np.r_[p, n]
    fpr, tpr, _ = roc_curve(y, s, pos_label=1, drop_intermediate=False)
    ok = fpr <= max_fpr + 1e-12
    return {"auc": float(roc_auc_score(y, s)), "auc_ci": list(roc_auc_ci(p, n)),
            "tpr_at_fpr": float(tpr[ok].max()) if ok.any() else 0.0,
            "max_fpr": float(max_fpr), "fpr_resolution": 1.0 / n.size,
            "rule": "unlearned iff likelihood-ratio score >= threshold"}


def ulira(retrained: Sequence[float], unlearned: Sequence[float], max_fpr: float = DEFAULT_MAX_FPR,
          min_std: Optional[float] = None) -> dict:
    """Leave-one-out likelihood-ratio scores and their ROC summary."""
    sc = ulira_scores(retrained, unlearned, min_std)
    return dict(sc, **roc_summary(sc["unlearned_scores"], sc["retrained_scores"], max_fpr))


# ----------------------------------------------------------------------------- challenge-style (ε, δ)
def clopper_pearson(k: int, n: int, alpha: float):
    """One-sided Clopper–Pearson bounds of a binomial rate k/n, each at level 1 − alpha: (lower, upper)."""
    if n <= 0 or not 0 <= k <= n:
        raise QualityError(f"Clopper–Pearson needs 0 ≤ k ≤ n, n > 0 (got k={k}, n={n})")
    lo = 0.0 if k == 0 else float(stats.beta.ppf(alpha, k, n - k + 1))
    hi = 1.0 if k == n else float(stats.beta.ppf(1.0 - alpha, k + 1, n - k))
    return lo, hi


def _eps(fpr: float, fnr: float, delta: float) -> float:
    """max(log((1−δ−FPR)/FNR), log((1−δ−FNR)/FPR)), at least 0; inf where a denominator is 0."""
    def one(a, b):
        num = 1.0 - delta - a
        if num <= 0:
            return 0.0
        return math.inf if b <= 0 else math.log(num / b)
    return max(0.0, one(fpr, fnr), one(fnr, fpr))


def _at_threshold(pos: np.ndarray, neg: np.ndarray, t: float, delta: float, alpha: float) -> dict:
    """Rates, point ε and Clopper–Pearson ε interval of "positive iff x > t" (``epsilon``'s per-threshold row)."""
    fp, fn = int((neg > t).sum()), int((pos <= t).sum())
    fpr, fnr = fp / neg.size, fn / pos.size
    fpr_lo, fpr_hi = clopper_pearson(fp, neg.size, alpha)
    fnr_lo, fnr_hi = clopper_pearson(fn, pos.size, alpha)
    if fp == 0 and fn == 0:
        point = math.inf
    elif fp == 0 or fn == 0:
        point = math.nan
    else:
        point = _eps(fpr, fnr, delta)
    return {"threshold": t, "fpr": fpr, "fnr": fnr, "epsilon": point,
            "ci": [_eps(fpr_hi, fnr_hi, delta), _eps(fpr_lo, fnr_lo, delta)]}


def epsilon(retrained: Sequence[float], unlearned: Sequence[float], delta: float = 0.0,
            confidence: float = DEFAULT_CONFIDENCE) -> dict:
    """Challenge-style ε of telling unlearned from retrained models with one threshold on the statistic.

    The positive population is the one with the larger median (as in the challenge); the decision is "positive
    iff x > t" for t at every midpoint between distinct values (and below all of them). Per threshold:
    FPR = negatives called positive, FNR = positives called negative, ε(t) as in ``_eps``.

    * ``epsilon``: max ε(t) over thresholds where FPR > 0 and FNR > 0 (the challenge discards thresholds where
      exactly one rate is 0: a sign of too few models); inf when some threshold separates the populations
      perfectly; 0 when no threshold qualifies.
    * ``ci``: at the threshold that gives ``epsilon``, ε from the Clopper–Pearson bounds of its two rates
      (upper rate bounds → lower end; lower rate bounds → upper end, inf where a rate is 0). Each rate is bounded
      one-sided at level 1 − (1−confidence)/2, so both hold together with probability ≥ ``confidence``.
    * ``lower_bound``: max over all thresholds of the lower end: "ε ≥ this" at ``confidence`` for the best
      threshold, optimistic by the in-sample choice of that threshold.
    """
    r = np.asarray(retrained, dtype=np.float64).ravel()
    u = np.asarray(unlearned, dtype=np.float64).ravel()
    if r.size < 1 or u.size < 1:
        raise QualityError("ε needs at least one model per population")
    if not 0.0 < confidence < 1.0:
        raise QualityError(f"confidence must be in (0, 1), got {confidence}")
    unl_positive = bool(np.median(u) >= np.median(r))
    pos, neg = (u, r) if unl_positive else (r, u)
    alpha = (1.0 - confidence) / 2.0
    values = np.unique(np.concatenate([pos, neg]))
    thresholds = np.r_[values[0] - 1.0, (values[:-1] + values[1:]) / 2.0]
    best = {"epsilon": 0.0, "threshold": None, "fpr": None, "fnr": None}
    rows = []
    lower_bound = 0.0
    for t in thresholds:
        row = _at_threshold(pos, neg, float(t), delta, alpha)
        lower_bound = max(lower_bound, row["ci"][0])
        rows.append(row)
        point = row["epsilon"]
        if not math.isnan(point) and (best["threshold"] is None or point > best["epsilon"]):
            best = dict(row)
    if best["threshold"] is None:
        best["ci"] = [0.0, math.inf]
    return {"epsilon": best["epsilon"], "ci": best["ci"], "lower_bound": lower_bound, "threshold": best["threshold"],
            "fpr": best["fpr"], "fnr": best["fnr"], "perfect_separation": math.isinf(best["epsilon"]),
            "positive": "unlearned" if unl_positive else "retrained",
            "rule": f"{'unlearned' if unl_positive else 'retrained'} iff statistic > threshold",
            "delta": float(delta), "confidence": float(confidence), "n_retrained": int(r.size),
            "n_unlearned": int(u.size), "thresholds": rows}


def epsilon_heldout(retrained: Sequence[float], unlearned: Sequence[float], delta: float = 0.0,
                    confidence: float = DEFAULT_CONFIDENCE) -> dict:
    """ε with its threshold chosen on other models than the ones it is measured on.

    The models of each population are split by position: the even-indexed ones (0, 2, …: the selection half)
    choose the direction and the threshold exactly as ``epsilon`` does (the best point estimate; where no
    threshold qualifies, the one with the largest lower end); the odd-indexed ones (the evaluation half) give
    the rates, ε and the Clopper–Pearson interval at that fixed threshold. The interval is not raised by the
    choice of the threshold, as ``epsilon``'s ``ci`` and ``lower_bound`` are, and is wider (half the models).
    ``epsilon`` is NaN where exactly one evaluation rate is 0 (as in ``epsilon``); the interval is still defined.
    """
    r = np.asarray(retrained, dtype=np.float64).ravel()
    u = np.asarray(unlearned, dtype=np.float64).ravel()
    if r.size < 2 or u.size < 2:
        raise QualityError(f"a held-out ε needs at least 2 models per population (got {r.size} retrained, "
                           f"{u.size} unlearned)")
    sel = epsilon(r[0::2], u[0::2], delta, confidence)
    t = sel["threshold"]
    if t is None:  # no threshold with both rates non-zero on the selection half: the best certified one
        t = max(sel["thresholds"], key=lambda row: row["ci"][0])["threshold"]
    unl_positive = sel["positive"] == "unlearned"
    ev_r, ev_u = r[1::2], u[1::2]
    pos, neg = (ev_u, ev_r) if unl_positive else (ev_r, ev_u)
    row = _at_threshold(pos, neg, float(t), delta, (1.0 - confidence) / 2.0)
    return dict(row, positive=sel["positive"], rule=sel["rule"], delta=float(delta), confidence=float(confidence),
                selection="even-indexed models (0, 2, …)", evaluation="odd-indexed models (1, 3, …)",
                n_retrained=int(ev_r.size), n_unlearned=int(ev_u.size))


def resolution(n_retrained: int, n_unlearned: int, delta: float = 0.0, confidence: float = DEFAULT_CONFIDENCE) -> dict:
    """Which ε values populations of these sizes can resolve.

    * ``max_finite_epsilon``: the largest finite point estimate (rates of one model each: 1/n); beyond it the
      estimate can only say "perfectly separated" (inf).
    * ``max_certifiable_epsilon``: the lower bound that perfect separation gives (both observed rates 0): no
      data from this many models can certify a larger ε.
    * ``min_models_to_certify``: the smallest equal population size whose perfect separation certifies ε > 0.
    * ``delta_resolvable``: δ ≥ 1/n (a δ below the smallest non-zero rate is indistinguishable from δ = 0).
    """
    alpha = (1.0 - confidence) / 2.0
    n_min = min(n_retrained, n_unlearned)
    max_finite = max(_eps(1.0 / n_retrained, 1.0 / n_unlearned, delta), _eps(1.0 / n_unlearned, 1.0 / n_retrained, delta))
    cert = _eps(clopper_pearson(0, n_retrained, alpha)[1], clopper_pearson(0, n_unlearned, alpha)[1], delta)
    k = 1
    while _eps(clopper_pearson(0, k, alpha)[1], clopper_pearson(0, k, alpha)[1], delta) <= 0 and k < 100000:
        k += 1
    return {"max_finite_epsilon": max_finite, "max_certifiable_epsilon": cert, "min_models_to_certify": k,
            "delta": float(delta), "delta_resolvable": bool(delta == 0 or delta >= 1.0 / n_min),
            "confidence": float(confidence), "n_retrained": int(n_retrained), "n_unlearned": int(n_unlearned)}


# ----------------------------------------------------------------------------- one method against retraining
def compare(retrained: Sequence[float], unlearned: Sequence[float], max_fpr: float = DEFAULT_MAX_FPR,
            confidence: float = DEFAULT_CONFIDENCE, deltas: Sequence[float] = (0.0, CHALLENGE_DELTA)) -> dict:
    """U-LiRA and ε (at each δ) of one statistic: retrained vs unlearned values, one per model."""
    out = {"retrained": [float(v) for v in retrained], "unlearned": [float(v) for v in unlearned],
           "ulira": ulira(retrained, unlearned, max_fpr), "epsilon": {}}
    for d in deltas:
        e = epsilon(retrained, unlearned, d, confidence)
        e["resolution"] = resolution(len(retrained), len(unlearned), d, confidence)
        if len(retrained) >= 2 and len(unlearned) >= 2:
            e["heldout"] = epsilon_heldout(retrained, unlearned, d, confidence)
        out["epsilon"][f"{d:g}"] = e
    return out


def fmt_epsilon(e: dict) -> str:
    """'0.85 [0.00, 2.40]', '∞ [1.35, ∞]' (perfect separation), 'n/a [0.40, ∞]' (one rate 0, fixed threshold)."""
    def f(v):
        return "n/a" if isinstance(v, float) and math.isnan(v) else "∞" if v is None or math.isinf(v) else f"{v:.2f}"
    return f"{f(e['epsilon'])} [{f(e['ci'][0])}, {f(e['ci'][1])}]"
