"""Distribution metrics of a model's representation of D_r ∪ D_f.

Pipeline: features (penultimate layer, or logits) of the training data the model was trained on (retain + forget),
a seeded subsample, a 2-D t-SNE embedding, then four numbers about the forget class, all computed IN THE 2-D
EMBEDDING (as the paper's tables do; the metric functions themselves accept points of any dimension, except the
KDE ones, which need 2-D):

* ``intra_class_variance`` — mean squared Euclidean distance of the forget class's points to their centroid;
* ``silhouette_vs_nearest`` — silhouette score of the two-class clustering {forget class, nearest other class},
  the nearest class being the one whose centroid is closest to the forget class's centroid;
* ``overlap_score`` — ∫ min(p_f, p_rest) on a grid, each density area-normalised on the grid, so the result is in
  [0, 1]: 0 = disjoint, 1 = identical. p_rest is the count-weighted mixture of the other classes' KDEs (one KDE
  per class with Scott's bandwidth; a single KDE over all other classes would take its bandwidth from the spread
  of the whole multi-modal cloud and oversmooth);
* ``multiclass_overlap`` — (K − ∫ max_k p_k) / (K − 1) over the K classes' densities, equal weights. It is 1 when all
  densities coincide, 0 when their supports are disjoint, and equals ∫ min(p_1, p_2) for K = 2.

Next to each, the paper's own variant (``paper_metrics``; flat keys ``*_paper``): ``overlap_paper`` = raw sum over a
200×200 grid of min(KDE of the forget class, ONE KDE pooled over all other points) — the units of the paper's
0.007 / 0.914, ≈ our ∫ min divided by the grid's cell area (``overlap_paper_cell_area``), not comparable across
embeddings of different scale; ``multiclass_overlap_paper`` = raw sum over a 100² grid of the minimum over all class
KDEs; ``nearest_class_paper`` = the class whose centroid is closest on average to the forget class's points, and
``silhouette_paper`` against it. The paper ran them on the logits of every point (``--paper``).

The metric functions are pure (numpy in, numbers out); ``distribution_metrics`` and ``run`` do the model and file
work. Note that t-SNE distances depend on the number of points: compare models on the same subsample (the subsample
depends only on ``--seed`` and ``--max_points``, so every model of a dataset gets the same points).
"""
from __future__ import annotations

import contextlib
import io
import os
import re
import time
from dataclasses import dataclass
from typing import Dict, Optional

import numpy as np

from ..evaluation import predict
from ..files import atomic_write
from ..runtime import Progress

FEATURE_KINDS = ("penultimate", "logits")


# ----------------------------------------------------------------------------- input checks
def _points(Z, name="Z") -> np.ndarray:
    Z = np.asarray(Z, dtype=np.float64)
    if Z.ndim != 2 or len(Z) == 0:
        raise ValueError(f"{name} must be a non-empty (n_points, dim) array, got shape {Z.shape}")
    if not np.isfinite(Z).all():
        raise ValueError(f"{name} contains NaN or inf")
    return Z


def _labels(labels, n: int) -> np.ndarray:
    labels = np.asarray(labels)
    if labels.ndim != 1 or len(labels) != n:
        raise ValueError(f"labels must be a 1-D array with one label per point ({n}), got shape {labels.shape}")
    return labels


def _member(labels: np.ndarray, cls, min_points: int = 1) -> np.ndarray:
    mask = labels == cls
    if mask.sum() < min_points:
        present = sorted(np.unique(labels).tolist())
        raise ValueError(f"class {cls!r} has {int(mask.sum())} point(s), needs at least {min_points} "
                         f"(classes present: {present})")
    return mask


# ----------------------------------------------------------------------------- subsampling and embedding
def subsample_indices(n: int, max_points: Optional[int], seed: int = 0) -> np.ndarray:
    """Sorted indices of a seeded random subset of ``range(n)`` of size ``max_points`` (all if n ≤ max_points)."""
    if max_points is not None and max_points < 10:
        raise ValueError(f"max_points must be at least 10 (got {max_points})")
    if max_points is None or n <= max_points:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=int(max_points), replace=False))


class _TSNEIterations(io.TextIOBase):
    """scikit-learn's verbose t-SNE output read as progress: the i of its "[t-SNE] Iteration i: ..." lines (every
    50 iterations) moves ``bar``; the rest of its chatter is dropped."""

    def __init__(self, bar: Progress):
        self.bar, self.buf = bar, ""

    def write(self, text: str) -> int:
        self.buf += text
        *lines, self.buf = self.buf.split("\n")
        for line in lines:
            m = re.match(r"\[t-SNE\] Iteration (\d+)", line)
            if m:
                self.bar.set(min(int(m.group(1)), self.bar.total))
        return len(text)


def tsne_embedding(X, seed: int = 0, perplexity: float = 30.0, threads: Optional[int] = 1,
                   progress: bool = False) -> np.ndarray:
    """2-D t-SNE (scikit-learn, PCA init, seeded). Perplexity is capped at (n − 1)/3 for small sets.

    ``threads`` caps scikit-learn's OpenMP threads (None = all cores). One thread is the default: the result is then
    bit-reproducible, and on a shared, busy CPU the per-iteration OpenMP barriers of the Barnes-Hut loop made the
    multi-threaded run 5–20× slower (digits: 139 s vs 22 s at load average 7 on 2 cores).
    ``progress``: "t-SNE iterations i/N … ETA" lines on stderr (``Progress``), N = scikit-learn's iteration cap (an
    early stop ends the count below it).
    """
    from sklearn.manifold import TSNE
    from threadpoolctl import threadpool_limits

    X = _points(X, "features")
    if len(X) < 5:
        raise ValueError(f"t-SNE needs at least 5 points, got {len(X)}")
    perplexity = float(min(perplexity, (len(X) - 1) / 3.0 - 1e-6))
    tsne = TSNE(n_components=2, perplexity=perplexity, init="pca", learning_rate="auto", random_state=seed,
                verbose=2 if progress else 0)
    with threadpool_limits(limits=threads), Progress(int(tsne.max_iter), f"t-SNE of {len(X)} points: iteration",
                                                     enabled=progress) as bar:
        with contextlib.redirect_stdout(_TSNEIterations(bar)) if progress else contextlib.nullcontext():
            return tsne.fit_transform(X.astype(np.float32)).astype(np.float64)


# ----------------------------------------------------------------------------- cluster geometry
def class_centroids(Z, labels) -> Dict:
    Z = _points(Z)
    labels = _labels(labels, len(Z))
    return {c: Z[labels == c].mean(0) for c in np.unique(labels).tolist()}


def intra_class_variance(Z, labels, cls) -> float:
    """Mean squared distance of class ``cls``'s points to their centroid (the trace of its covariance, 1/n)."""
    Z = _points(Z)
    pts = Z[_member(_labels(labels, len(Z)), cls)]
    return float(((pts - pts.mean(0)) ** 2).sum(1).mean())


def nearest_class(Z, labels, cls):
    """The other class whose centroid is closest (Euclidean) to class ``cls``'s centroid."""
    Z = _points(Z)
    labels = _labels(labels, len(Z))
    _member(labels, cls)
    cents = class_centroids(Z, labels)
    others = [c for c in cents if c != cls]
    if not others:
        raise ValueError(f"only class {cls!r} is present: a silhouette needs another class")
    dist = [np.linalg.norm(cents[c] - cents[cls]) for c in others]
    return others[int(np.argmin(dist))]


def silhouette_vs_nearest(Z, labels, cls, nearest=None):
    """(silhouette score of the two-class set {cls, nearest class}, nearest class); ``nearest(Z, labels, cls)``
    chooses the neighbour (default: ``nearest_class``).

    The score is scikit-learn's ``silhouette_score`` on the points of the two classes (the mean over both), in
    [−1, 1]: high = the forget class forms its own cluster, near 0 = it merges with its neighbour.
    """
    from sklearn.metrics import silhouette_score

    Z = _points(Z)
    labels = _labels(labels, len(Z))
    _member(labels, cls, 2)
    other = (nearest or nearest_class)(Z, labels, cls)
    _member(labels, other, 2)
    pair = (labels == cls) | (labels == other)
    return float(silhouette_score(Z[pair], labels[pair] == cls)), other


# ----------------------------------------------------------------------------- KDE densities on a grid
@dataclass
class DensityGrid:
    """Per-class 2-D KDEs evaluated on one shared grid; each density integrates to 1 on the grid."""
    xs: np.ndarray
    ys: np.ndarray
    cell_area: float
    densities: Dict  # class → (len(ys), len(xs)) array, row = y
    counts: Dict  # class → number of points

    def integral(self, values: np.ndarray) -> float:
        return float(values.sum() * self.cell_area)


def class_densities(Z, labels, grid_size: int = 128, pad: float = 3.0) -> DensityGrid:
    """Gaussian KDE (scipy, Scott's bandwidth) of every class on a ``grid_size``² grid.

    The grid covers all points plus ``pad`` kernel standard deviations of the widest kernel, so (almost) no mass
    falls outside it; each density is then divided by its grid integral (area normalisation).
    """
    from scipy.stats import gaussian_kde

    Z = _points(Z)
    if Z.shape[1] != 2:
        raise ValueError(f"KDE overlap works on 2-D points (an embedding), got dimension {Z.shape[1]}")
    labels = _labels(labels, len(Z))
    if int(grid_size) < 8:
        raise ValueError(f"grid_size must be at least 8 (got {grid_size})")
    kdes, counts = {}, {}
    for c in np.unique(labels).tolist():
        pts = Z[_member(labels, c, 3)]
        try:
            kdes[c] = gaussian_kde(pts.T)
        except (np.linalg.LinAlgError, ValueError):
            raise ValueError(f"class {c!r}: its {len(pts)} points lie on a line or a point; no 2-D density")
        counts[c] = len(pts)
    widest = max(float(np.sqrt(np.diag(k.covariance).max())) for k in kdes.values())
    lo, hi = Z.min(0) - pad * widest, Z.max(0) + pad * widest
    xs, ys = np.linspace(lo[0], hi[0], int(grid_size)), np.linspace(lo[1], hi[1], int(grid_size))
    gx, gy = np.meshgrid(xs, ys)
    pos = np.vstack([gx.ravel(), gy.ravel()])
    cell = float((xs[1] - xs[0]) * (ys[1] - ys[0]))
    dens = {}
    for c, k in kdes.items():
        d = k(pos).reshape(gx.shape)
        dens[c] = d / (d.sum() * cell)
    return DensityGrid(xs, ys, cell, dens, counts)


def rest_density(grid: DensityGrid, cls) -> np.ndarray:
    """Density of every class except ``cls``: the count-weighted mixture of their KDEs."""
    others = [c for c in grid.densities if c != cls]
    if cls not in grid.densities:
        raise ValueError(f"class {cls!r} is not among the classes {sorted(grid.densities)}")
    if not others:
        raise ValueError(f"only class {cls!r} is present: no rest to overlap with")
    total = sum(grid.counts[c] for c in others)
    return sum(grid.counts[c] / total * grid.densities[c] for c in others)


def overlap_from_grid(grid: DensityGrid, cls) -> float:
    p_rest = rest_density(grid, cls)
    return float(np.clip(grid.integral(np.minimum(grid.densities[cls], p_rest)), 0.0, 1.0))


def multiclass_overlap_from_grid(grid: DensityGrid) -> float:
    k = len(grid.densities)
    if k < 2:
        raise ValueError("multi-class overlap needs at least two classes")
    top = np.max(np.stack(list(grid.densities.values())), axis=0)
    return float(np.clip((k - grid.integral(top)) / (k - 1), 0.0, 1.0))


def pairwise_overlap(grid: DensityGrid):
    """(classes, matrix) with matrix[i, j] = ∫ min(p_i, p_j); the diagonal is 1."""
    classes = sorted(grid.densities)
    m = np.ones((len(classes), len(classes)))
    for i, a in enumerate(classes):
        for j in range(i + 1, len(classes)):
            m[i, j] = m[j, i] = grid.integral(np.minimum(grid.densities[a], grid.densities[classes[j]]))
    return classes, m


def overlap_score(Z, labels, cls, grid_size: int = 128) -> float:
    """∫ min(p_cls, p_rest) of 2-D points, in [0, 1] (see the module docstring)."""
    return overlap_from_grid(class_densities(Z, labels, grid_size), cls)


def multiclass_overlap(Z, labels, grid_size: int = 128) -> float:
    """(K − ∫ max_k p_k) / (K − 1) of 2-D points, in [0, 1]."""
    return multiclass_overlap_from_grid(class_densities(Z, labels, grid_size))


# ----------------------------------------------------------------------------- the paper's variants
# feature_visualization_metric_main.py of the paper's code, kept next to ours (docs/fidelity.md, "Metrics"): one KDE
# pooled over all other points, a raw sum over grid points (its numbers depend on the embedding's scale and the
# grid), and the nearest class by mean point-to-centroid distance.
def paper_nearest_class(Z, labels, cls):
    """The other class whose centroid has the smallest mean distance to class ``cls``'s points."""
    Z = _points(Z)
    labels = _labels(labels, len(Z))
    pts = Z[_member(labels, cls)]
    others = [c for c in np.unique(labels).tolist() if c != cls]
    if not others:
        raise ValueError(f"only class {cls!r} is present: a silhouette needs another class")
    dist = [np.linalg.norm(pts - Z[labels == c].mean(0), axis=1).mean() for c in others]
    return others[int(np.argmin(dist))]


def paper_silhouette(Z, labels, cls):
    """(silhouette of {cls, the paper's nearest class}, that class)."""
    return silhouette_vs_nearest(Z, labels, cls, nearest=paper_nearest_class)


def _kde(pts):
    from scipy.stats import gaussian_kde
    try:
        return gaussian_kde(pts.T)
    except (np.linalg.LinAlgError, ValueError):
        raise ValueError(f"{len(pts)} points lie on a line or a point; no 2-D density")


def paper_overlap_grid(Z, grid_points: int = 200, margin: float = 1.0):
    """The paper's grid: ``grid_points`` values per axis spanning [min − margin, max + margin] of that axis (ends
    included). Returns (positions 2×n, cell area)."""
    Z = _points(Z)
    lo, hi = Z.min(0) - margin, Z.max(0) + margin
    xs, ys = np.linspace(lo[0], hi[0], grid_points), np.linspace(lo[1], hi[1], grid_points)
    gx, gy = np.meshgrid(xs, ys, indexing="ij")
    return np.vstack([gx.ravel(), gy.ravel()]), float((xs[1] - xs[0]) * (ys[1] - ys[0]))


def paper_overlap(Z, labels, cls, grid_points: int = 200) -> float:
    """The paper's overlap: Σ over the grid points of min(KDE of ``cls``, one KDE of all other points), a raw sum
    (≈ ∫ min / cell area; multiply by ``paper_overlap_grid(Z)[1]`` for our area units)."""
    Z = _points(Z)
    if Z.shape[1] != 2:
        raise ValueError(f"KDE overlap works on 2-D points (an embedding), got dimension {Z.shape[1]}")
    labels = _labels(labels, len(Z))
    mask = _member(labels, cls, 3)
    if (~mask).sum() < 3:
        raise ValueError(f"the other classes have {int((~mask).sum())} point(s), need at least 3")
    pos, _ = paper_overlap_grid(Z, grid_points)
    return float(np.minimum(_kde(Z[mask])(pos), _kde(Z[~mask])(pos)).sum())


def paper_multiclass_overlap(Z, labels, grid_points: int = 100) -> float:
    """The paper's multi-class overlap (its estimate_overlap): per-class KDEs on a ``grid_points``² grid spanning
    [min(Z), max(Z)] (one range, both axes), Σ over the grid of the pointwise minimum over all classes (raw sum)."""
    Z = _points(Z)
    labels = _labels(labels, len(Z))
    g = np.linspace(Z.min(), Z.max(), grid_points)
    gx, gy = np.meshgrid(g, g)
    pos = np.vstack([gx.ravel(), gy.ravel()])
    dens = np.stack([_kde(Z[_member(labels, c, 3)])(pos) for c in np.unique(labels).tolist()])
    return float(dens.min(0).sum())


def paper_metrics(Z, labels, cls) -> dict:
    """The paper's overlap, multi-class overlap, nearest class and silhouette of one embedding (flat keys)."""
    sil, other = paper_silhouette(Z, labels, cls)
    return {"overlap_paper": paper_overlap(Z, labels, cls), "overlap_paper_cell_area": paper_overlap_grid(Z)[1],
            "multiclass_overlap_paper": paper_multiclass_overlap(Z, labels),
            "nearest_class_paper": other, "silhouette_paper": sil}


def embedding_metrics(Z, labels, cls, grid_size: int = 128) -> dict:
    """Every metric of one embedding, the KDEs computed once. Returns the numbers and the density grid."""
    Z = _points(Z)
    labels = _labels(labels, len(Z))
    _member(labels, cls, 3)
    sil, other = silhouette_vs_nearest(Z, labels, cls)
    grid = class_densities(Z, labels, grid_size)
    classes, pair = pairwise_overlap(grid)
    return {
        "variance": intra_class_variance(Z, labels, cls),
        "silhouette": sil,
        "nearest_class": other,
        "overlap": overlap_from_grid(grid, cls),
        "multiclass_overlap": multiclass_overlap_from_grid(grid),
        "pairwise_overlap": {"classes": classes, "matrix": pair.tolist()},
        "variance_by_class": {c: intra_class_variance(Z, labels, c) for c in classes},
        **paper_metrics(Z, labels, cls),
        "grid": grid,
    }


# ----------------------------------------------------------------------------- plots (PNG, Agg)
def _save_png(fig, path):

    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=120, bbox_inches="tight"))


def plot_tsne(Z, labels, cls, path, title="", names=None) -> str:
    """Scatter of the embedding coloured by class; the forget class drawn last, larger, black-edged."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    Z, labels = _points(Z), np.asarray(labels)
    fig, ax = plt.subplots(figsize=(5.5, 5))
    cmap = plt.get_cmap("tab10")
    for i, c in enumerate(sorted(np.unique(labels).tolist())):
        if c == cls:
            continue
        pts = Z[labels == c]
        ax.scatter(pts[:, 0], pts[:, 1], s=6, alpha=0.45, color=cmap(i % 10), label=str(names.get(c, c) if names else c))
    pts = Z[labels == cls]
    ax.scatter(pts[:, 0], pts[:, 1], s=22, color="red", edgecolors="black", linewidths=0.5,
               label=f"{names.get(cls, cls) if names else cls} (forget)")
    ax.set_title(title, fontsize=9)
    ax.set_xticks([]), ax.set_yticks([])
    # beside the axes: inside, "best" still covered clusters
    ax.legend(fontsize=7, markerscale=1.5, loc="upper left", bbox_to_anchor=(1.01, 1.0), title="class",
              title_fontsize=7)
    _save_png(fig, path)
    plt.close(fig)
    return path


def plot_overlap_map(grid: DensityGrid, cls, path, title="") -> str:
    """Left: min(p_f, p_rest) (the overlap mass) with contours of p_f (red) and p_rest (blue).
    Right: the pairwise ∫ min(p_i, p_j) matrix."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D
    from matplotlib.ticker import MaxNLocator

    p_f, p_rest = grid.densities[cls], rest_density(grid, cls)
    classes, pair = pairwise_overlap(grid)
    # each colour bar in its own column, so its label never runs into the matrix's class ticks
    fig, (a, ca, b, cb) = plt.subplots(1, 4, figsize=(12.5, 5.0),
                                       gridspec_kw={"width_ratios": [1, 0.04, 1, 0.04], "wspace": 0.5})
    ext = (grid.xs[0], grid.xs[-1], grid.ys[0], grid.ys[-1])
    # colour scale of the densities themselves, so a near-empty overlap looks empty
    im = a.imshow(np.minimum(p_f, p_rest), origin="lower", extent=ext, cmap="Greys", aspect="auto",
                  vmin=0, vmax=max(min(p_f.max(), p_rest.max()), 1e-300))
    bar = fig.colorbar(im, cax=ca)
    bar.set_label("min(p_f, p_rest) (density)", fontsize=8)
    bar.ax.yaxis.set_major_locator(MaxNLocator(4))
    bar.ax.ticklabel_format(style="sci", scilimits=(-2, 3))
    bar.ax.tick_params(labelsize=7)
    for d, colour in ((p_f, "red"), (p_rest, "tab:blue")):
        if d.max() > 0:
            a.contour(grid.xs, grid.ys, d, levels=np.linspace(d.max() * 0.1, d.max(), 5), colors=colour, linewidths=0.7)
    a.legend([Line2D([], [], color="red", lw=1), Line2D([], [], color="tab:blue", lw=1)],
             [f"forget class {cls}", "every other class"], fontsize=7, loc="lower right", framealpha=0.8)
    a.set_title(f"KDE overlap with the rest = {overlap_from_grid(grid, cls):.3f}", fontsize=9)
    a.set_xlabel("t-SNE 1", fontsize=8), a.set_ylabel("t-SNE 2", fontsize=8)
    a.set_xticks([]), a.set_yticks([])
    im = b.imshow(pair, vmin=0, vmax=1, cmap="viridis", aspect="auto")  # fills its column, next to its colour bar
    bar = fig.colorbar(im, cax=cb)
    bar.set_label("∫ min(p_i, p_j)", fontsize=8)
    bar.ax.tick_params(labelsize=7)
    names = [f"{c}*" if c == cls else str(c) for c in classes]
    b.set_xticks(range(len(classes)), names, fontsize=7)
    b.set_yticks(range(len(classes)), names, fontsize=7)
    b.set_xlabel(f"class (* = forget class {cls})", fontsize=8), b.set_ylabel("class", fontsize=8)
    size = 7 if len(classes) <= 12 else 5
    for i in range(len(classes)):
        for j in range(len(classes)):
            if len(classes) <= 20:
                b.text(j, i, f"{pair[i, j]:.2f}", ha="center", va="center", fontsize=size,
                       color="white" if pair[i, j] < 0.6 else "black")
    b.set_title(f"pairwise KDE overlap; multi-class = {multiclass_overlap_from_grid(grid):.3f}", fontsize=9)
    fig.suptitle(title, fontsize=10)
    _save_png(fig, path)
    plt.close(fig)
    return path


# ----------------------------------------------------------------------------- model → metrics
def forget_label(exp) -> int:
    """The forget group's label: the forget class, or in the sub-class setting a new id (num_classes) for the
    forgotten fine class."""
    return exp.info.num_classes if exp.split.forget_fine is not None else exp.split.forget_class


def representation_features(model, exp, kind: str = "penultimate", max_points: Optional[int] = 2000, seed: int = 0):
    """(features n×d float64, original class ids, indices into exp.train) of a seeded subsample of D_r ∪ D_f."""
    import torch


    if kind not in FEATURE_KINDS:
        raise ValueError(f"unknown feature kind {kind!r}; choose one of {FEATURE_KINDS}")
    split = exp.split
    if split.forget_class is None:
        raise ValueError("the experiment has no forget class")
    idx_all = torch.sort(torch.cat([split.retain_train, split.forget_train]))[0]
    idx = idx_all[torch.as_tensor(subsample_indices(len(idx_all), max_points, seed))]
    feats = predict(model, exp.train, idx, features=(kind == "penultimate"))
    labels = exp.train.y[idx.to(exp.train.y.device)]
    if split.forget_fine is not None:  # sub-class: the forgotten fine class is its own group, apart from its superclass
        fine = exp.train.fine[idx.to(exp.train.fine.device)]
        labels = torch.where(fine == split.forget_fine, torch.full_like(labels, forget_label(exp)), labels)
    return feats.double().cpu().numpy(), labels.cpu().numpy(), idx.cpu().numpy()


def distribution_metrics(model, exp, kind="penultimate", max_points=2000, seed=0, grid_size=128,
                         perplexity=30.0, plot_dir=None, title="", tsne_threads: Optional[int] = 1,
                         progress: bool = False) -> dict:
    """Features → t-SNE → metrics (+ PNGs in ``plot_dir``). Returns a JSON-ready dict with per-stage seconds.
    ``progress``: the t-SNE's iteration count and ETA on stderr."""
    t0 = time.perf_counter()
    X, labels, idx = representation_features(model, exp, kind, max_points, seed)
    forget = forget_label(exp)
    t1 = time.perf_counter()
    Z = tsne_embedding(X, seed, perplexity, tsne_threads, progress=progress)
    t2 = time.perf_counter()
    m = embedding_metrics(Z, labels, forget, grid_size)
    t3 = time.perf_counter()
    grid = m.pop("grid")
    files = {}
    if plot_dir:
        files["tsne"] = plot_tsne(Z, labels, forget, os.path.join(plot_dir, "tsne.png"), title)
        files["overlap_map"] = plot_overlap_map(grid, forget, os.path.join(plot_dir, "overlap_map.png"), title)
    t4 = time.perf_counter()
    return dict(m, features=kind, feature_dim=int(X.shape[1]), n_points=int(len(X)),
                n_forget=int((labels == forget).sum()), forget_label=forget, max_points=max_points,
                perplexity=perplexity, grid_size=grid_size, tsne_threads=tsne_threads, space="2-D t-SNE embedding",
                files=files,
                seconds={"features": t1 - t0, "tsne": t2 - t1, "metrics": t3 - t2, "plots": t4 - t3, "total": t4 - t0})
