"""The figures of the attack stages, written atomically as PNG (matplotlib with the Agg backend, imported lazily)."""
from __future__ import annotations

import re

import numpy as np

from .files import atomic_write
from .paths import fmt_param
from .scoring import operating_points, roc_auc, tpr_at_fpr


def _pyplot():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def _save(fig, path: str, dpi: int = 120) -> str:
    """The PNG, written atomically, cut to what is drawn (titles above the axes and legends outside them included)."""
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=dpi, bbox_inches="tight", pad_inches=0.15))
    _pyplot().close(fig)
    return path


def plot_relearning_curves(path: str, result: dict, title: str, subtitle: str = "") -> str:
    """One panel per lr: forget vs OOD (pooled, and per class, dotted) mean accuracy with a ±1 std band over repeats.
    ``title``: short (dataset, net, method, attack); ``subtitle``: the details, smaller and wrapped."""
    plt = _pyplot()
    cfg = result["settings"]
    lrs = cfg["relearning_lr"]
    runs, acc = result["runs"], result["acc"]
    fig, axes = plt.subplots(1, len(lrs), figsize=(5.5 * len(lrs), 4.0), squeeze=False)
    steps = np.arange(acc.shape[1])
    side = np.array([r.side for r in runs])
    k = np.array([r.ood_class for r in runs])
    classes = sorted(set(k[side == "ood"].tolist()))
    shades = plt.get_cmap("Blues")(np.linspace(0.45, 0.9, max(len(classes), 1)))
    for ax, lr in zip(axes[0], lrs):
        res = result["per_lr"][fmt_param(lr)]
        sel = np.array([r.lr == lr for r in runs])
        for name, mask, color in (("forget (member)", sel & (side == "forget"), "tab:red"),
                                  ("OOD (non-member), pooled", sel & (side == "ood"), "tab:blue")):
            mu, sd = acc[mask].mean(0), acc[mask].std(0)
            ax.plot(steps, mu, color=color, lw=1.8, label=f"{name}, n={mask.sum()}")
            ax.fill_between(steps, np.clip(mu - sd, 0, 1), np.clip(mu + sd, 0, 1), color=color, alpha=0.2,
                            label="±1 std over repeats" if color == "tab:red" else None)
        for c, shade in zip(classes, shades):
            m = sel & (side == "ood") & (k == c)
            ax.plot(steps, acc[m].mean(0), color=shade, lw=1.0, ls=":", label=f"OOD class {c}, n={m.sum()}")
        ax.axhline(cfg["threshold"], color="gray", lw=0.8, ls="--", label=f"τ = {cfg['threshold']:g}")
        ax.set_title(f"lr {lr:g}: AUC {res['roc_auc']:.2f}, bal. acc {res['balanced_accuracy']:.2f}", fontsize=9)
        ax.set_xlabel("relearning step")
        ax.set_ylim(-0.02, 1.02)
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("accuracy on attacker sample")
    axes[0][-1].legend(fontsize=7, loc="lower right", framealpha=0.85)
    fig.tight_layout()
    _titled(fig, title, subtitle, width=int(45 * len(lrs)) + 30)
    return _save(fig, path, dpi=110)


def plot_extraction_curve(path: str, history: list, title: str, subtitle: str = "") -> str:
    """Fidelity and student accuracy of the extracted copy against the queries used."""
    from matplotlib.ticker import EngFormatter

    plt = _pyplot()
    q = [r["queries"] for r in history]
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    ax.plot(q, [r["fidelity"] for r in history], "o-", ms=4, label="fidelity: agreement with the victim")
    ax.plot(q, [r["student_acc"] for r in history], "s--", ms=4, label="student accuracy (true labels)")
    names = {"forget": "forget-class", "ood": "OOD"}
    for key in sorted(k for k in history[-1] if k.startswith("fidelity_")):
        ax.plot(q, [r[key] for r in history], ":", lw=1.6,
                label=f"fidelity on {names.get(key[9:], key[9:])} test images")
    ax.xaxis.set_major_formatter(EngFormatter(sep=""))  # 100k, 1M: no overprinted six-digit ticks
    ax.set_xlabel("queries to the victim")
    ax.set_ylabel("on retain test images (unless noted)")
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=7, framealpha=0.85)
    fig.tight_layout()
    _titled(fig, title, subtitle, width=90)
    return _save(fig, path)


# ----------------------------------------------------------------------------- sweep figures (the report's)
# Each takes data already loaded from the sweep's results.json / curves files, writes one PNG atomically and
# returns the figure's title (dataset, net and what it shows).
REFERENCE = "retrain"


def sweep_title(dataset: str, net: str, what: str) -> str:
    """The one title form of the report's figures: '<dataset> / <net>: <what>'."""
    return f"{dataset} / {net}: {what}"


def _wrapped(text: str, width: int = 90) -> str:
    """``text`` in lines of at most ``width`` characters, broken after a space or a '/' (so a path breaks between
    its folders, never inside a name)."""
    lines, line = [], ""
    for piece in re.split(r"(?<=[ /])", str(text or "")):
        if line and len(line) + len(piece) > width:
            lines.append(line.rstrip())
            line = piece.lstrip()
        else:
            line += piece
    if line.strip():
        lines.append(line.rstrip())
    return "\n".join(lines)


def _titled(fig, title: str, subtitle: str = "", width: int = 110) -> None:
    """A short bold title above the axes and, under it, a smaller subtitle wrapped at ``width`` characters; the
    figure is saved with a tight bounding box, so both stay whole."""
    y = 1.0
    if subtitle:
        text = _wrapped(subtitle, width)
        fig.text(0.5, y, text, ha="center", va="bottom", fontsize=7, color="0.3")
        y += (text.count("\n") + 1) * 7 * 1.35 / 72 / fig.get_figheight() + 0.01
    fig.suptitle(title, fontsize=10, fontweight="bold", y=y, va="bottom")


def _method_colours(names):
    """Stable colours per method label, the reference grey; distinct for up to 20 methods."""
    plt = _pyplot()
    others = [n for n in names if n != REFERENCE]
    k = 10 if len(others) <= 10 else 20  # more than 10 methods: tab20, so no two share a colour up to 20
    cmap = plt.get_cmap(f"tab{k}")
    colours = {n: cmap(i % k) for i, n in enumerate(others)}
    colours[REFERENCE] = "0.45"
    return colours


def roc_points(member, non_member, higher_is_member: bool = False):
    """(FPR, TPR) of every threshold, from (0, 0) to (1, 1); steps-to-τ scores: fewer steps = member."""
    _, tpr, fpr = operating_points(member, non_member, higher_is_member)
    return np.asarray(fpr)[::-1], np.asarray(tpr)[::-1]


def plot_roc_methods(path: str, entries: list, dataset: str, net: str, max_fpr: float = 0.05,
                     what: str = "white-box ReA ROC (steps-to-τ)", subtitle: str = "") -> str:
    """ROC curve per method from its member / non-member scores (left), a marker at ``max_fpr`` with TPR@FPR in the
    legend, and the same curves with FPR on a log scale (right).
    ``entries``: [{"label", "member", "non_member", "higher_is_member" (default False)}]."""
    plt = _pyplot()
    # the log-scale view beside the linear one, not inset: an inset covers curves that run below the diagonal
    fig, (ax, lg) = plt.subplots(1, 2, figsize=(10.5, 4.6), gridspec_kw={"width_ratios": [1.2, 1]})
    colours = _method_colours([e["label"] for e in entries])
    for e in sorted(entries, key=lambda e: e["label"] != REFERENCE):
        hi = bool(e.get("higher_is_member", False))
        fpr, tpr = roc_points(e["member"], e["non_member"], hi)
        auc = roc_auc(e["member"], e["non_member"], hi)
        t5 = tpr_at_fpr(e["member"], e["non_member"], max_fpr, hi)
        ref = e["label"] == REFERENCE
        style = dict(color=colours[e["label"]], lw=3.5 if ref else 1.6, alpha=0.7 if ref else 1.0)
        # straight segments between operating points: tied scores (integer steps) split at random, as AUC counts them
        ax.plot(fpr, tpr, label=f"{e['label']}: AUC {auc:.2f}, TPR@{max_fpr:.0%}FPR {t5:.2f}", **style)
        lg.plot(np.clip(fpr, 1e-3, 1), tpr, **style)
        for a in (ax, lg):
            a.plot([max_fpr], [t5], "o", color=style["color"], ms=5, mec="k", mew=0.5, zorder=4)
    ax.plot([0, 1], [0, 1], color="k", lw=0.7, ls="--")
    lg.plot(np.logspace(-3, 0, 50), np.logspace(-3, 0, 50), color="k", lw=0.7, ls="--")
    for a in (ax, lg):
        a.axvline(max_fpr, color="0.6", lw=0.8, ls=":")
        a.set_ylim(-0.01, 1.02)
        a.grid(alpha=0.3)
        a.set_xlabel("false positive rate (OOD samples called member)")
    ax.set_xlim(-0.01, 1.01)
    ax.set_ylabel("true positive rate (forget samples called member)")
    lg.set_xscale("log")
    lg.set_xlim(1e-2, 1)
    lg.set_title("FPR on a log scale", fontsize=9)
    ax.set_title("FPR on a linear scale", fontsize=9)
    fig.tight_layout()
    fig.legend(*ax.get_legend_handles_labels(), loc="upper center", bbox_to_anchor=(0.5, 0.0),
               ncol=2 if len(entries) > 3 else 1, fontsize=8, frameon=False,
               title=f"dot: TPR at {max_fpr:.0%} FPR (largest TPR with FPR ≤ {max_fpr:.0%})", title_fontsize=8)
    title = sweep_title(dataset, net, what)
    _titled(fig, title, subtitle)  # after the layout: above the axes, kept whole by the tight bounding box
    _save(fig, path)
    return title


def plot_relearning_overlay(path: str, entries: list, dataset: str, net: str, threshold=None,
                            what: str = "relearning curves, all methods", subtitle: str = "") -> str:
    """Mean accuracy per relearning step of every method, forget samples (left) and OOD samples (right); retrain
    thick grey. ``entries``: [{"label", "forget": [acc per step], "ood": [acc per step]}]."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
    colours = _method_colours([e["label"] for e in entries])
    order = sorted(entries, key=lambda e: e["label"] != REFERENCE)  # the reference first, under the others
    for ax, side, name in ((axes[0], "forget", "forget-class samples (members)"),
                           (axes[1], "ood", "OOD samples (non-members)")):
        for e in order:
            y = np.asarray(e[side], dtype=float)
            ref = e["label"] == REFERENCE
            ax.plot(np.arange(len(y)), y, color=colours[e["label"]], lw=4 if ref else 1.5, alpha=0.6 if ref else 1.0,
                    label=e["label"], zorder=1 if ref else 2)
        if threshold is not None:
            ax.axhline(threshold, color="k", lw=0.7, ls="--")
            ax.text(0.99, threshold, f" τ = {threshold:g}", transform=ax.get_yaxis_transform(), ha="right",
                    va="bottom", fontsize=7)
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("relearning step")
        ax.set_ylim(-0.02, 1.05)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("mean accuracy on the attacker sample")
    axes[1].legend(fontsize=7, loc="lower right", framealpha=0.85)
    title = sweep_title(dataset, net, what)
    fig.tight_layout()
    _titled(fig, title, subtitle)  # after the layout: above the axes, kept whole by the tight bounding box
    _save(fig, path)
    return title


def plot_image_grid(path: str, entries: list, dataset: str, net: str, what: str = "t-SNE of D_r ∪ D_f per method",
                    ncols=None, subtitle: str = "") -> str:
    """Existing PNGs (e.g. each run's distribution/tsne.png) side by side, one panel per entry, labelled.
    ``entries``: [{"label", "image": path of a PNG}]; an unreadable image leaves its panel with a note."""
    plt = _pyplot()
    n = max(1, len(entries))
    ncols = max(1, min(ncols or min(4, int(np.ceil(np.sqrt(n)))), n))  # near square unless told
    nrows = int(np.ceil(n / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.2 * ncols, 4.2 * nrows), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, e in zip(axes.ravel(), entries):
        try:
            ax.imshow(plt.imread(e["image"]))
        except (OSError, ValueError, SyntaxError) as err:
            ax.text(0.5, 0.5, f"unreadable:\n{type(err).__name__}", ha="center", va="center", fontsize=8)
        ax.set_title(e["label"], fontsize=9)
    title = sweep_title(dataset, net, what)
    fig.tight_layout()
    _titled(fig, title, subtitle)  # after the layout: above the axes, kept whole by the tight bounding box
    _save(fig, path, dpi=110)
    return title


def label_positions(fx, fy, height: float = 0.055, width: float = 0.25) -> list:
    """Where to put the label of each point, in axes fractions (fx, fy in [0, 1]): at the point's height, or moved
    up until it clears every label placed before it (a label is ``width`` × ``height`` of the axes).

    A label overlaps a placed one at ``oy`` while ``oy - height < ty < oy + height``; moving it to ``oy + height``
    makes the right-hand test false by construction (the same float expression), so every move raises ``ty`` and
    the loop ends even where rounding puts two labels a hair under ``height`` apart."""
    fx, fy = np.asarray(fx, dtype=float), np.asarray(fy, dtype=float)
    placed, out = [], [None] * len(fx)
    for i in sorted(range(len(fx)), key=lambda i: (fy[i], fx[i])):
        ty, moved = fy[i], True
        while moved:
            moved = False
            for ox, oy in placed:
                if abs(ox - fx[i]) < width and oy - height < ty < oy + height:
                    ty, moved = oy + height, True
        placed.append((fx[i], ty))
        out[i] = (float(fx[i]), float(ty))
    return out


def _scatter_points(ax, entries, x, y, colours) -> None:
    for e in entries:
        ref = e["label"] == REFERENCE
        ax.scatter([e[x]], [e[y]], s=90 if ref else 45, color=colours[e["label"]], edgecolors="k", linewidths=0.5,
                   zorder=3)


def _label_points(ax, entries, x, y) -> None:
    """Each entry's label to the right of its point (call once the axis limits are final); a label moved off its
    point's height gets a thin leader line."""
    to_axes = ax.transLimits  # data → axes fractions under the current limits
    frac = [to_axes.transform((float(e[x]), float(e[y]))) for e in entries]
    spots = label_positions([f[0] for f in frac], [f[1] for f in frac])
    for e, (px, py), (lx, ly) in zip(entries, frac, spots):
        ax.annotate(e["label"], (px, py), xycoords="axes fraction", xytext=(lx + 0.025, ly),
                    textcoords="axes fraction", fontsize=7, ha="left", va="center",
                    arrowprops=dict(arrowstyle="-", lw=0.5, color="0.5") if abs(ly - py) > 1e-9 else None)


def _padded(values, pad: float = 0.15, least: float = 0.01):
    """Axis limits around ``values`` with ``pad`` of their span (at least ``least``) on each side."""
    lo, hi = float(np.min(values)), float(np.max(values))
    span = max(hi - lo, least)
    return lo - pad * span, hi + pad * span


def plot_ta_vs_rea(path: str, entries: list, dataset: str, net: str, what: str = "utility vs white-box ReA",
                   subtitle: str = "") -> str:
    """Retain test accuracy against ReA AUC, one labelled point per method. ``entries``: [{"label", "TA", "AUC"}]."""
    plt = _pyplot()
    entries = [e for e in entries if e.get("TA") is not None and e.get("AUC") is not None]
    fig, ax = plt.subplots(figsize=(6.4, 4.8))
    _scatter_points(ax, entries, "AUC", "TA", _method_colours([e["label"] for e in entries]))
    ax.axvline(0.5, color="k", lw=0.7, ls="--")
    ax.text(0.5, 0.02, " chance", transform=ax.get_xaxis_transform(), fontsize=7)
    ax.set_xlim(-0.02, 1.2)
    if entries:
        ax.set_ylim(*_padded([e["TA"] for e in entries], least=0.02))
        _label_points(ax, entries, "AUC", "TA")
    ax.set_xlabel("ReA ROC AUC (0.5 = no signal; higher = forget class found)")
    ax.set_ylabel("TA: retain test accuracy")
    ax.grid(alpha=0.3)
    title = sweep_title(dataset, net, what)
    fig.tight_layout()
    _titled(fig, title, subtitle)  # after the layout: above the axes, kept whole by the tight bounding box
    _save(fig, path)
    return title


def plot_fidelity_vs_rea(path: str, entries: list, dataset: str, net: str,
                         what: str = "DFME fidelity vs black-box ReA", subtitle: str = "") -> str:
    """Agreement of the extracted copy with its victim against the black-box ReA AUC on the copy, one labelled point
    per method; where given, the white-box AUC of the victim is a hollow marker joined to it.
    ``entries``: [{"label", "fidelity", "AUC", "white_AUC" (optional)}]."""
    plt = _pyplot()
    entries = [e for e in entries if e.get("fidelity") is not None and e.get("AUC") is not None]
    fig, ax = plt.subplots(figsize=(6.4, 4.8))
    colours = _method_colours([e["label"] for e in entries])
    shown = False
    for e in entries:
        if e.get("white_AUC") is not None:
            ax.plot([e["fidelity"], e["fidelity"]], [e["white_AUC"], e["AUC"]], color=colours[e["label"]], lw=0.8,
                    ls=":", zorder=1)
            ax.scatter([e["fidelity"]], [e["white_AUC"]], s=45, facecolors="none", edgecolors=colours[e["label"]],
                       linewidths=1.2, zorder=2)
            shown = True
    if shown:  # one grey legend entry for the hollow markers of every colour
        ax.scatter([], [], s=45, facecolors="none", edgecolors="0.3", linewidths=1.2,
                   label="white-box AUC on the victim (hollow, dotted to its copy)")
    _scatter_points(ax, entries, "fidelity", "AUC", colours)
    ax.axhline(0.5, color="k", lw=0.7, ls="--")
    if entries:
        lo, hi = _padded([e["fidelity"] for e in entries], least=0.02)
        ax.set_xlim(lo, hi + 0.3 * (hi - lo))  # room for the labels on the right
        ax.set_xticks([t for t in ax.get_xticks() if lo <= t <= 1.0 + 1e-9])  # no tick at a fidelity above 1
    ax.set_ylim(-0.02, 1.05)
    if entries:
        _label_points(ax, entries, "fidelity", "AUC")
    ax.set_xlabel("DFME fidelity (agreement with the victim on retain test images)")
    ax.set_ylabel("black-box ReA ROC AUC on the copy")
    ax.grid(alpha=0.3)
    if shown:
        ax.legend(fontsize=7, loc="lower left")
    title = sweep_title(dataset, net, what)
    fig.tight_layout()
    _titled(fig, title, subtitle)  # after the layout: above the axes, kept whole by the tight bounding box
    _save(fig, path)
    return title


def plot_matrix(path: str, rows: list, columns: list, means, sds, dataset: str, net: str, what: str,
                subtitle: str = "", flagged=(), reference=None) -> str:
    """Heatmap of the attack matrix: one row per attack, one column per method; colour = the cell's mean (0–1),
    text = mean and ± sd; empty cells grey. ``means``/``sds``: len(rows) × len(columns) arrays (nan = empty);
    ``flagged``: row labels marked as reading class identity on retrain; ``reference``: the retrain column's index."""
    plt = _pyplot()
    means = np.asarray(means, dtype=float)
    sds = np.asarray(sds, dtype=float)
    fig, ax = plt.subplots(figsize=(max(6.0, 0.95 * len(columns) + 3.5), max(2.5, 0.62 * len(rows) + 1.6)))
    cmap = plt.get_cmap("viridis").with_extremes(bad="0.85")
    im = ax.imshow(np.ma.masked_invalid(means), cmap=cmap, vmin=0.0, vmax=1.0, aspect="auto")
    for i in range(len(rows)):
        for j in range(len(columns)):
            if np.isfinite(means[i, j]):
                text = f"{means[i, j]:.2f}" + (f"\n±{sds[i, j]:.2f}" if np.isfinite(sds[i, j]) else "")
                ax.text(j, i, text, ha="center", va="center", fontsize=7,
                        color="white" if means[i, j] < 0.55 else "black")
    ax.set_xticks(range(len(columns)))
    ax.set_xticklabels(columns, rotation=40, ha="right", fontsize=8)
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels([r + (" ⚠" if r in flagged else "") for r in rows], fontsize=8)
    if reference is not None:
        j = reference
        ax.add_patch(plt.Rectangle((j - 0.5, -0.5), 1, len(rows), fill=False, ec="red", lw=1.5))
    cb = fig.colorbar(im, ax=ax, fraction=0.03, pad=0.02)
    cb.set_label("score (AUC: 0.5 = chance; accuracy rows: forget accuracy)", fontsize=7)
    fig.tight_layout()
    title = sweep_title(dataset, net, what)
    _titled(fig, title, subtitle + ("; ⚠: the attack scores on retrain (reads class identity)" if flagged else "")
            + "; red frame: retrain, the reference")
    _save(fig, path)
    return title


def plot_retain_relearning(path: str, result: dict, dataset: str, net: str, what: str, subtitle: str = "") -> str:
    """Forget-train, forget-test and retain-test accuracy over the retain-only relearning steps."""
    plt = _pyplot()
    c = result["curve"]
    fig, ax = plt.subplots(figsize=(6.4, 3.8))
    for key, label, style in (("forget_train", "forget train (D_f)", "-"), ("forget_test", "forget test", "--"),
                              ("retain_test", "retain test", ":")):
        ax.plot(c["step"], c[key], style, marker="o", ms=3, label=label)
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("relearning step (retain data only)")
    ax.set_ylabel("accuracy")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="center right")
    fig.tight_layout()
    title = sweep_title(dataset, net, what)
    _titled(fig, title, subtitle)
    _save(fig, path)
    return title
