"""Wall time of the representation distribution metrics (variance, silhouette, overlap), stage by stage.

    python benchmarks/bench_distribution_metrics.py            # digits (pretrained model) + 20,000 synthetic points
    python benchmarks/bench_distribution_metrics.py --n 5000   # a smaller synthetic set
    python benchmarks/bench_distribution_metrics.py --docs docs/results/distribution_metrics.md   # also a docs page

Digits: features of D_r ∪ D_f of the pretrained ResNet-8 (pretrain it first: python pretrain_model_digits.py),
both feature kinds, full pipeline including the two PNGs. Synthetic: n points of 512-d features in 7 Gaussian
clusters (one is the "forget" class), t-SNE + metrics + PNGs on all n points (no subsampling).
"""
import argparse
import os
import platform
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from unlearning.metrics import representation as rep  # noqa: E402
from unlearning.measured_docs import add_docs_flag, script_command, write_measured  # noqa: E402
from unlearning.tables import markdown_table  # noqa: E402

THREADS = 1  # t-SNE OpenMP threads (--tsne_threads; 0 = all cores)


def digits(log_root, rows):
    from unlearning.experiment import Experiment, load_model
    from unlearning.paths import pretrain_dir

    path = os.path.join(pretrain_dir(log_root, "digits", "resnet8", 0), "model.pt")
    if not os.path.isfile(path):
        print(f"digits: skipped, no {path} (run python pretrain_model_digits.py)")
        rows.append(["digits", "skipped: no pretrained model", "", "", "", "", "", ""])
        return
    exp = Experiment("digits", device="cpu", forget_class=3)
    model, _ = load_model(path, exp, net="resnet8")
    with tempfile.TemporaryDirectory() as out:
        for kind in rep.FEATURE_KINDS:
            res = rep.distribution_metrics(model, exp, kind, max_points=2000, seed=0, plot_dir=out,
                                           tsne_threads=THREADS)
            s = res["seconds"]
            print(f"digits {kind:<11} n={res['n_points']:>6} d={res['feature_dim']:>3} | features {s['features']:6.2f}s"
                  f" | t-SNE {s['tsne']:6.2f}s | metrics {s['metrics']:5.2f}s | plots {s['plots']:5.2f}s"
                  f" | total {s['total']:6.2f}s")
            rows.append([f"digits {kind}", res["n_points"], res["feature_dim"], f"{s['features']:.2f}",
                         f"{s['tsne']:.2f}", f"{s['metrics']:.2f}", f"{s['plots']:.2f}", f"{s['total']:.2f}"])


def synthetic(n, rows, dim=512, classes=7, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 1.0, size=(classes, dim))
    centres[3] = centres[2] + rng.normal(0, 0.03, size=dim)  # the "forget" class half-merged with class 2
    labels = np.sort(rng.integers(0, classes, size=n))
    X = centres[labels] + rng.normal(0, 0.6, size=(n, dim))
    t0 = time.perf_counter()
    Z = rep.tsne_embedding(X, seed=0, threads=THREADS)
    t1 = time.perf_counter()
    m = rep.embedding_metrics(Z, labels, 3)
    t2 = time.perf_counter()
    with tempfile.TemporaryDirectory() as out:
        rep.plot_tsne(Z, labels, 3, os.path.join(out, "tsne.png"))
        rep.plot_overlap_map(m["grid"], 3, os.path.join(out, "overlap_map.png"))
    t3 = time.perf_counter()
    parts = {}
    t = time.perf_counter()
    rep.silhouette_vs_nearest(Z, labels, 3)
    parts["silhouette"] = time.perf_counter() - t
    t = time.perf_counter()
    grid = rep.class_densities(Z, labels)
    parts["KDE grid"] = time.perf_counter() - t
    t = time.perf_counter()
    rep.overlap_from_grid(grid, 3), rep.multiclass_overlap_from_grid(grid), rep.pairwise_overlap(grid)
    parts["overlaps"] = time.perf_counter() - t
    print(f"synthetic   n={n:>6} d={dim:>3} | t-SNE {t1 - t0:6.2f}s | metrics {t2 - t1:5.2f}s "
          f"({', '.join(f'{k} {v:.2f}s' for k, v in parts.items())}) | plots {t3 - t2:5.2f}s | total {t3 - t0:6.2f}s"
          f" | overlap {m['overlap']:.3f} silhouette {m['silhouette']:.3f}")
    rows.append(["synthetic", n, dim, "—", f"{t1 - t0:.2f}", f"{t2 - t1:.2f}", f"{t3 - t2:.2f}", f"{t3 - t0:.2f}"])


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, nargs="+", default=[20000], help="synthetic set sizes")
    p.add_argument("--log_root", default="log_files")
    p.add_argument("--skip_digits", action="store_true")
    p.add_argument("--tsne_threads", type=int, default=1, help="0 = all cores")
    add_docs_flag(p, "docs/results/distribution_metrics.md")
    args = p.parse_args(argv)
    global THREADS
    THREADS = args.tsne_threads or None
    torch.set_num_threads(1)
    setting = (f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs visible, torch threads 1, "
               f"t-SNE threads {THREADS or 'all'}, grid 128x128, perplexity 30, "
               f"load average at start {os.getloadavg()[0]:.1f}")
    print(setting)
    rows = []
    if not args.skip_digits:
        digits(args.log_root, rows)
    for n in args.n:
        synthetic(n, rows)
    end = f"load average at end {os.getloadavg()[0]:.1f}"
    print(f"{end} (a shared machine: > {os.cpu_count()} means contention)")
    if args.docs:
        table = markdown_table(["data", "points", "dim", "features s", "t-SNE s", "metrics s", "plots s", "total s"],
                               rows)
        write_measured(args.docs, "Wall time of the representation distribution metrics",
                       f"{setting}, {end}.\n\nDigits: D_r ∪ D_f features of the pretrained ResNet-8 (at most "
                       "2,000 points), the whole pipeline; synthetic: Gaussian clusters of 512-d points, t-SNE, metrics and "
                       "plots on all points. Metrics = variance, silhouette and the KDE overlaps.\n\n" + table,
                       command=script_command(__file__, argv))


if __name__ == "__main__":
    main()
