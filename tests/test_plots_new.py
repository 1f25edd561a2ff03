"""The sweep figures of unlearning/plots.py on tiny synthetic inputs, and the report that gathers them: each writes a
valid PNG titled with the dataset and the net. Everything is written under tmp_path."""
import csv
import os

import numpy as np

from unlearning import plots
from unlearning.files import write_json

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def is_png(path) -> bool:
    with open(path, "rb") as fh:
        head = fh.read(8)
    if head != PNG_MAGIC:
        return False
    import matplotlib.pyplot as plt
    img = plt.imread(path)
    return img.ndim == 3 and img.shape[0] > 50 and img.shape[1] > 50


def scores(rng, n, shift):
    return (rng.integers(5, 20, n) + shift).tolist()


def test_roc_methods(tmp_path):
    rng = np.random.default_rng(0)
    entries = [dict(label="retrain", member=scores(rng, 20, 0), non_member=scores(rng, 60, 0)),
               dict(label="badteacher", member=scores(rng, 20, -8), non_member=scores(rng, 60, 0))]
    path = tmp_path / "roc.png"
    title = plots.plot_roc_methods(str(path), entries, "digits", "resnet8", subtitle="forget class 3, lr 0.01")
    assert is_png(path) and "digits" in title and "resnet8" in title and "ROC" in title


def test_roc_points_run_from_origin_to_one_one():
    fpr, tpr = plots.roc_points([1, 2, 3], [4, 5, 6])  # fewer steps = member: a perfect separation
    assert (fpr[0], tpr[0]) == (0.0, 0.0) and (fpr[-1], tpr[-1]) == (1.0, 1.0)
    assert np.all(np.diff(fpr) >= 0) and np.all(np.diff(tpr) >= 0) and tpr[fpr == 0].max() == 1.0


def test_relearning_overlay(tmp_path):
    steps = np.arange(11)
    entries = [dict(label=m, forget=1 / (1 + np.exp(-(steps - c))), ood=1 / (1 + np.exp(-(steps - c - 2))))
               for m, c in (("retrain", 8), ("negative_grad", 3), ("badteacher_our", 4))]
    path = tmp_path / "overlay.png"
    title = plots.plot_relearning_overlay(str(path), entries, "cifar20", "ResNet18", threshold=0.9)
    assert is_png(path) and "cifar20" in title and "ResNet18" in title


def test_image_grid_composes_pngs(tmp_path):
    import matplotlib.pyplot as plt

    images = []
    for i in range(4):
        p = tmp_path / f"tsne{i}.png"
        plt.imsave(str(p), np.random.default_rng(i).random((20, 20, 3)))
        images.append(dict(label=f"method{i}", image=str(p)))
    images.append(dict(label="missing", image=str(tmp_path / "nope.png")))
    path = tmp_path / "grid.png"
    title = plots.plot_image_grid(str(path), images, "digits", "resnet8")
    assert is_png(path) and "digits" in title and "resnet8" in title and "t-SNE" in title


def test_ta_vs_rea(tmp_path):
    entries = [dict(label="retrain", TA=0.989, AUC=0.48), dict(label="negative_grad", TA=0.989, AUC=0.97),
               dict(label="badteacher", TA=0.982, AUC=0.96), dict(label="broken", TA=None, AUC=0.5)]
    path = tmp_path / "ta.png"
    title = plots.plot_ta_vs_rea(str(path), entries, "digits", "resnet8")
    assert is_png(path) and "digits" in title and "resnet8" in title


def test_fidelity_vs_rea(tmp_path):
    entries = [dict(label="retrain", fidelity=0.82, AUC=0.55, white_AUC=0.48),
               dict(label="badteacher", fidelity=0.97, AUC=0.61, white_AUC=0.96),
               dict(label="badteacher_our", fidelity=0.95, AUC=0.83)]
    path = tmp_path / "fid.png"
    title = plots.plot_fidelity_vs_rea(str(path), entries, "digits", "resnet8")
    assert is_png(path) and "digits" in title and "resnet8" in title and "fidelity" in title


def test_labels_of_close_points_do_not_overlap():
    spots = plots.label_positions([0.5, 0.52, 0.51, 0.9], [0.5, 0.5, 0.51, 0.5])
    close = spots[:3]
    ys = sorted(y for _, y in close)
    assert all(b - a >= 0.055 - 1e-9 for a, b in zip(ys, ys[1:]))
    assert spots[3] == (0.9, 0.5)  # far enough away: stays at its point


def test_stacked_labels_end_where_rounding_makes_them_a_hair_closer_than_a_label():
    # one point per seed at a few shared heights: 0.982… + 0.055 rounds to a label 0.05499999… above it, which
    # the placement once took for an overlap and moved to the same height again, without end
    ys = [0.762, 0.854, 0.823, 0.792, 0.762, 0.792]
    spots = plots.label_positions([0.8] * len(ys), ys)
    placed = sorted(y for _, y in spots)
    assert all(b - a >= 0.055 - 1e-9 for a, b in zip(placed, placed[1:]))
    assert placed[0] == 0.762 and placed[-1] < 0.762 + 6 * 0.055


def test_wrapped_breaks_paths_between_folders():
    text = plots._wrapped("forget class 3 | digits/resnet8/forget_3/badteacher/p1-0.001_p2-0.3_mask-none_seed-0/x", 40)
    lines = text.splitlines()
    assert len(lines) > 1 and all(len(line) <= 40 for line in lines)
    assert "mask-none_seed-0/" in text.replace("\n", "")  # names stay whole
    assert all(not line.startswith("-") for line in lines)


# ----------------------------------------------------------------------------- the report gathers them
def _run(root, method, ta):
    d = os.path.join(root, "digits", "resnet8", "forget_3", method, "p1-none_p2-none_mask-none_seed-0")
    write_json(os.path.join(d, "results.json"), {
        "status": "done", "stage": "unlearn", "method": method,
        "args": {"dataset": "digits", "net": "resnet8", "forget_class": 3, "method": method, "seed": 0},
        "metrics": {"TA": ta, "UA": 0.0, "RA": 1.0, "MIA": 0.5, "RTE": 1.0}})
    return d


def _attack(folder, shift, rng, T=10):
    member = scores(rng, 6, -shift)
    non_member = scores(rng, 12, 0)
    rows = []
    for side, steps in (("forget", member), ("ood", non_member)):
        for i, s in enumerate(steps):
            acc = np.clip((np.arange(T + 1) - s + 5) / 5, 0, 1)
            rows.append(dict(run_id=len(rows), side=side, ood_class=-1 if side == "forget" else 7, repeat=i,
                             **{f"acc_{t}": a for t, a in enumerate(acc)}))
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "curves_lr0.01.tsv"), "w", newline="") as fh:
        w = csv.DictWriter(fh, list(rows[0]), delimiter="\t")
        w.writeheader()
        w.writerows(rows)
    write_json(os.path.join(folder, "results.json"), {
        "settings": {"threshold": 0.9, "relearning_lr": [0.01]}, "files": {"curves_lr0.01": "curves_lr0.01.tsv"},
        "per_lr": {"0.01": {"lr": 0.01, "roc_auc": 0.5 + shift / 40, "balanced_accuracy": 0.5 + shift / 40,
                            "tpr_at_fpr": 0.1, "mean_steps_forget": 10, "mean_steps_ood": 12,
                            "member_steps": member, "non_member_steps": non_member}},
        "prior_attack": {"scores": {"balanced_accuracy": 0.5}}})
    import matplotlib.pyplot as plt
    plt.imsave(os.path.join(folder, "relearning_curves.png"), np.zeros((10, 10, 3)))


def test_report_lists_and_embeds_every_figure(tmp_path):
    import matplotlib.pyplot as plt

    from unlearning.report import build_report

    root = str(tmp_path / "logs")
    rng = np.random.default_rng(1)
    for method, ta, shift in (("retrain", 0.99, 0), ("badteacher", 0.98, 8)):
        d = _run(root, method, ta)
        _attack(os.path.join(d, "rea", "tag"), shift, rng)
        copy = os.path.join(d, "dfme", "q")
        _attack(os.path.join(copy, "rea", "tag"), shift // 2, rng)
        write_json(os.path.join(copy, "results.json"), {"stage": "dfme", "fidelity": 0.9 + shift / 100})
        plt.imsave(os.path.join(copy, "curve.png"), np.zeros((10, 10, 3)))
        dist = os.path.join(d, "distribution")
        write_json(os.path.join(dist, "results.json"), {"stage": "distribution", "features": "penultimate",
                                                        "variance": 1.0, "silhouette": 0.5, "overlap": 0.1})
        for name in ("tsne.png", "overlap_map.png"):
            plt.imsave(os.path.join(dist, name), rng.random((12, 12, 3)))
    quality = os.path.join(root, "digits", "resnet8", "forget_3", "quality", "K4_seed-0_tag")
    os.makedirs(quality)
    plt.imsave(os.path.join(quality, "distributions.png"), np.zeros((10, 10, 3)))
    out = str(tmp_path / "report")
    rep = build_report(root, out, warn=lambda line: None)
    md = open(os.path.join(out, "report.md")).read()
    figures = rep["figures"]
    names = {os.path.basename(f) for f in figures}
    for made in ("digits_resnet8_forget3_rea_balanced_accuracy.png", "digits_resnet8_forget3_rea_lr0.01_roc.png",
                 "digits_resnet8_forget3_rea_lr0.01_relearning.png", "digits_resnet8_forget3_rea_lr0.01_ta_vs_auc.png",
                 "digits_resnet8_forget3_blackbox_balanced_accuracy.png",
                 "digits_resnet8_forget3_blackbox_lr0.01_roc.png",
                 "digits_resnet8_forget3_blackbox_lr0.01_fidelity_vs_auc.png",
                 "digits_resnet8_forget3_tsne_penultimate.png", "digits_resnet8_forget3_attack_matrix.png"):
        assert made in names and is_png(os.path.join(out, made)), made
    for kept in ("tsne.png", "overlap_map.png", "curve.png", "relearning_curves.png", "distributions.png"):
        assert kept in names, kept
    # docs/pipeline.md's list of the report's figures is what the report writes
    import re
    docs = open(os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "docs", "pipeline.md")).read()
    documented = {name.replace("…", "digits_resnet8_forget3").replace("<lr>", "0.01").replace("<features>", "penultimate")
                  for name in re.findall(r"`(…_[^`]+\.png)`", docs)}
    report_own = {os.path.basename(f) for f in figures if os.path.dirname(f) == out}
    assert documented == report_own
    assert "### digits / resnet8, forget class 3" in md
    for f in figures:  # every figure named and embedded, by a path relative to the report
        rel = os.path.relpath(f, out)
        assert f"]({rel})" in md and os.path.isfile(os.path.join(out, rel)), rel


def test_report_without_attack_details_still_builds(tmp_path):
    """Results without scores, curves or PNGs (older runs): the tables come, the figures that need them do not."""
    from unlearning.report import build_report

    root = str(tmp_path)
    d = _run(root, "retrain", 0.99)
    write_json(os.path.join(d, "rea", "tag", "results.json"), {"per_lr": {"0.01": {
        "lr": 0.01, "roc_auc": 0.5, "balanced_accuracy": 0.55, "tpr_at_fpr": 0.0}}})
    rep = build_report(root, warn=lambda line: None)
    names = {os.path.basename(f) for f in rep["figures"]}
    assert names == {"digits_resnet8_forget3_rea_balanced_accuracy.png", "digits_resnet8_forget3_rea_lr0.01_ta_vs_auc.png",
                     "digits_resnet8_forget3_attack_matrix.png"}
    assert "## Figures" in rep["markdown"]


def test_quality_plot_names_its_unit_and_ceiling(tmp_path):
    import matplotlib.pyplot as plt

    from unlearning.cli.quality import plot, quality_figure

    models = [{"stats": {"forget_steps": 10.0 + i, "forget_over_ood": 0.8, "ood_steps": 12.0}} for i in range(3)]
    results = {"settings": {"dataset": "digits", "net": "resnet8", "forget_class": 3, "K": 3, "rea": {"steps": 75}},
               "retrained": {"models": models}, "methods": {"negative_grad": {"models": models}}}
    path = tmp_path / "distributions.png"
    plot(str(path), results)
    assert is_png(path)
    fig = quality_figure(results)
    assert "digits / resnet8" in fig._suptitle.get_text()
    steps_axes = [ax for ax in fig.axes if ax.get_ylabel().startswith("steps to τ")]
    assert len(steps_axes) == 2 and any("ratio" in ax.get_ylabel() for ax in fig.axes)
    for ax in steps_axes:
        assert any("T+1 = 76" in t.get_text() for t in ax.texts)
        assert any(np.allclose(line.get_ydata(), 76) for line in ax.get_lines())
    plt.close(fig)


def test_method_colours_are_distinct_up_to_twenty_methods():
    from unlearning.plots import _method_colours

    for n in (3, 12, 20):
        c = _method_colours(["retrain"] + [f"m{i}" for i in range(n)])
        assert c["retrain"] == "0.45" and len({v for k, v in c.items() if k != "retrain"}) == n
