"""The figures of the attack stages, written atomically as PNG (matplotlib with the Agg backend, imported lazily)."""
from __future__ import annotations

import numpy as np

from .files import atomic_write
from .paths import fmt_param


def _pyplot():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def _save(fig, path: str, dpi: int) -> str:
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=dpi))
    _pyplot().close(fig)
    return path


def plot_relearning_curves(path: str, result: dict, title: str) -> str:
    """One panel per lr: forget vs OOD (pooled, and per class) mean accuracy with a ±1 std band over repeats."""
    plt = _pyplot()
    cfg = result["settings"]
    lrs = cfg["relearning_lr"]
    runs, acc = result["runs"], result["acc"]
    fig, axes = plt.subplots(1, len(lrs), figsize=(5 * len(lrs), 3.8), squeeze=False)
    steps = np.arange(acc.shape[1])
    for ax, lr in zip(axes[0], lrs):
        res = result["per_lr"][fmt_param(lr)]
        sel = np.array([r.lr == lr for r in runs])
        side = np.array([r.side for r in runs])
        k = np.array([r.ood_class for r in runs])
        for name, mask, color in (("forget (member)", sel & (side == "forget"), "tab:red"),
                                  ("OOD (non-member)", sel & (side == "ood"), "tab:blue")):
            mu, sd = acc[mask].mean(0), acc[mask].std(0)
            ax.plot(steps, mu, color=color, label=f"{name}, n={mask.sum()}")
            ax.fill_between(steps, np.clip(mu - sd, 0, 1), np.clip(mu + sd, 0, 1), color=color, alpha=0.2)
        for c in sorted(set(k[sel & (side == "ood")])):
            ax.plot(steps, acc[sel & (k == c)].mean(0), color="tab:blue", lw=0.7, ls=":", alpha=0.8)
        ax.axhline(cfg["threshold"], color="gray", lw=0.8, ls="--")
        ax.set_title(f"lr {lr:g}: AUC {res['roc_auc']:.2f}, bal. acc {res['balanced_accuracy']:.2f}", fontsize=9)
        ax.set_xlabel("relearning step")
        ax.set_ylim(-0.02, 1.02)
    axes[0][0].set_ylabel("accuracy on attacker sample")
    axes[0][0].legend(fontsize=7, loc="lower right")
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return _save(fig, path, dpi=110)


def plot_extraction_curve(path: str, history: list, title: str) -> str:
    """Fidelity and student accuracy of the extracted copy against the queries used."""
    plt = _pyplot()
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
    return _save(fig, path, dpi=120)
