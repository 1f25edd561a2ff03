"""Distribution metrics on synthetic Gaussian clusters with known answers, and the entry point on digits."""
import json
import os

import numpy as np
import pytest

from unlearning.cli import distribution
from unlearning.metrics import representation as rep


def blob(rng, centre, n=400, sd=1.0):
    return rng.normal(0.0, sd, size=(n, 2)) + np.asarray(centre, dtype=float)


def two_clusters(dist, n=400, seed=0, same_points=False):
    rng = np.random.default_rng(seed)
    a = blob(rng, (0, 0), n)
    b = a + np.array([dist, 0.0]) if same_points else blob(rng, (dist, 0), n)
    return np.vstack([a, b]), np.array([0] * n + [1] * n)


# ----------------------------------------------------------------------------- overlap
def test_identical_points_overlap_exactly_one():
    Z, y = two_clusters(0.0, same_points=True)
    assert rep.overlap_score(Z, y, 0) == pytest.approx(1.0, abs=1e-9)
    assert rep.multiclass_overlap(Z, y) == pytest.approx(1.0, abs=1e-9)


def test_two_draws_of_the_same_gaussian_overlap_near_one():
    Z, y = two_clusters(0.0)
    assert 0.9 < rep.overlap_score(Z, y, 0) <= 1.0


def test_far_apart_clusters_overlap_near_zero():
    Z, y = two_clusters(30.0)
    assert rep.overlap_score(Z, y, 0) < 1e-6
    assert rep.multiclass_overlap(Z, y) < 1e-6


def test_overlap_of_unit_gaussians_matches_the_closed_form():
    # ∫ min of N(0,1) and N(d,1) (2-D, shifted along x) = 2·Φ(−d/2); KDE smoothing widens both a little.
    from scipy.stats import norm

    Z, y = two_clusters(2.0, n=2000)
    assert rep.overlap_score(Z, y, 0, grid_size=160) == pytest.approx(2 * norm.cdf(-1.0), abs=0.05)


def test_densities_are_area_normalised_and_overlap_monotone_in_distance():
    Z, y = two_clusters(3.0)
    grid = rep.class_densities(Z, y, grid_size=64)
    for d in grid.densities.values():
        assert grid.integral(d) == pytest.approx(1.0, abs=1e-9)
    scores = [rep.overlap_score(*two_clusters(d), 0) for d in (0.5, 2.0, 4.0, 8.0)]
    assert scores == sorted(scores, reverse=True)


def test_rest_is_the_count_weighted_mixture_of_the_other_classes():
    # forget class sits on class 1 (300 points) and far from class 2 (100 points): overlap = 300/400 of ~1.
    rng = np.random.default_rng(1)
    Z = np.vstack([blob(rng, (0, 0), 300), blob(rng, (0, 0), 300), blob(rng, (50, 0), 100)])
    y = np.array([0] * 300 + [1] * 300 + [2] * 100)
    assert rep.overlap_score(Z, y, 0) == pytest.approx(0.75, abs=0.06)


def test_multiclass_overlap_two_classes_equals_pairwise_and_three_cases():
    Z, y = two_clusters(2.0)
    grid = rep.class_densities(Z, y)
    assert rep.multiclass_overlap_from_grid(grid) == pytest.approx(rep.overlap_from_grid(grid, 0), abs=1e-12)
    rng = np.random.default_rng(2)
    base = blob(rng, (0, 0), 300)
    same = np.vstack([base, base, base])
    labels = np.repeat([0, 1, 2], 300)
    assert rep.multiclass_overlap(same, labels) == pytest.approx(1.0, abs=1e-9)
    apart = np.vstack([base, base + [40, 0], base + [0, 40]])
    assert rep.multiclass_overlap(apart, labels) < 1e-6
    classes, m = rep.pairwise_overlap(rep.class_densities(apart, labels))
    assert classes == [0, 1, 2] and np.allclose(np.diag(m), 1) and m[0, 1] < 1e-6


# ----------------------------------------------------------------------------- variance, silhouette
def test_variance_of_hand_computed_points():
    Z = np.array([[1.0, 1.0], [1.0, -1.0], [-1.0, 1.0], [-1.0, -1.0], [10.0, 10.0]])
    y = np.array([3, 3, 3, 3, 5])
    assert rep.intra_class_variance(Z, y, 3) == pytest.approx(2.0)  # every corner is √2 from (0, 0)


def test_known_gaussian_variance_is_recovered():
    rng = np.random.default_rng(3)
    Z = rng.normal(0.0, 3.0, size=(20000, 2)) + [5.0, -2.0]  # E‖z − μ‖² = 2·σ² = 18
    assert rep.intra_class_variance(Z, np.zeros(len(Z)), 0) == pytest.approx(18.0, rel=0.03)


def test_silhouette_picks_the_nearest_class_by_centroid():
    rng = np.random.default_rng(4)
    Z = np.vstack([blob(rng, (0, 0), 100), blob(rng, (6, 0), 100), blob(rng, (40, 0), 100)])
    y = np.repeat([0, 1, 2], 100)
    sil, other = rep.silhouette_vs_nearest(Z, y, 0)
    assert other == 1 and 0.5 < sil < 0.8  # separated but close
    far, other = rep.silhouette_vs_nearest(Z, y, 2)
    assert other == 1 and far > 0.9
    mixed, _ = rep.silhouette_vs_nearest(*two_clusters(0.0), 0)
    assert abs(mixed) < 0.05


def test_embedding_metrics_bundle_agrees_with_the_single_functions():
    Z, y = two_clusters(3.0)
    m = rep.embedding_metrics(Z, y, 1, grid_size=64)
    assert m["overlap"] == pytest.approx(rep.overlap_score(Z, y, 1, grid_size=64))
    assert m["variance"] == pytest.approx(rep.intra_class_variance(Z, y, 1))
    assert m["nearest_class"] == 0 and m["silhouette"] == pytest.approx(rep.silhouette_vs_nearest(Z, y, 1)[0])


# ----------------------------------------------------------------------------- subsample, t-SNE
def test_subsample_is_seeded_sorted_and_complete_when_small():
    a, b = rep.subsample_indices(1000, 100, seed=5), rep.subsample_indices(1000, 100, seed=5)
    assert np.array_equal(a, b) and len(np.unique(a)) == 100 and np.all(np.diff(a) > 0)
    assert not np.array_equal(a, rep.subsample_indices(1000, 100, seed=6))
    assert np.array_equal(rep.subsample_indices(50, 100), np.arange(50))
    assert np.array_equal(rep.subsample_indices(50, None), np.arange(50))


def test_tsne_is_deterministic_and_keeps_separated_clusters_apart():
    rng = np.random.default_rng(6)
    X = np.vstack([rng.normal(0, 1, (60, 10)), rng.normal(0, 1, (60, 10)) + 12.0])
    y = np.repeat([0, 1], 60)
    Z1, Z2 = rep.tsne_embedding(X, seed=0), rep.tsne_embedding(X, seed=0)
    assert Z1.shape == (120, 2) and np.allclose(Z1, Z2)
    assert rep.overlap_score(Z1, y, 0, grid_size=64) < 0.05


# ----------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("call, message", [
    (lambda: rep.overlap_score(np.zeros((10, 3)), np.zeros(10), 0), "2-D points"),
    (lambda: rep.overlap_score(*two_clusters(1.0), 7), r"class 7 is not among the classes \[0, 1\]"),
    (lambda: rep.intra_class_variance(*two_clusters(1.0), 7), "class 7 has 0 point"),
    (lambda: rep.intra_class_variance(np.zeros((4, 2)), np.zeros(3), 0), "one label per point"),
    (lambda: rep.intra_class_variance(np.array([[np.nan, 0.0]]), [0], 0), "NaN or inf"),
    (lambda: rep.silhouette_vs_nearest(np.random.rand(5, 2), np.zeros(5), 0), "only class 0 is present"),
    (lambda: rep.overlap_score(np.vstack([np.random.rand(5, 2), np.zeros((5, 2))]), np.repeat([0, 1], 5), 0),
     "lie on a line or a point"),
    (lambda: rep.subsample_indices(100, 3), "max_points must be at least 10"),
    (lambda: rep.overlap_score(*two_clusters(1.0), 0, grid_size=2), "grid_size must be at least 8"),
])
def test_bad_input_messages(call, message):
    with pytest.raises(ValueError, match=message):
        call()


# ----------------------------------------------------------------------------- entry point on digits
def test_distribution_metric_entry_point_writes_results_and_pngs(digits_pretrained, tmp_path):
    out = str(tmp_path / "dist")
    res = distribution.main(["--model_path", digits_pretrained, "--out_dir", out, "--max_points", "300", "--device", "cpu",
                    "--grid_size", "48"])
    with open(os.path.join(out, "results.json")) as fh:
        saved = json.load(fh)
    assert saved["n_points"] == 300 and saved["forget_label"] == 3 and saved["features"] == "penultimate"
    assert 0 <= saved["overlap"] <= 1 and -1 <= saved["silhouette"] <= 1 and saved["variance"] > 0
    assert saved["nearest_class"] in (0, 1, 2, 4, 5, 6) and saved["feature_dim"] == 64
    for name in ("tsne.png", "overlap_map.png"):
        with open(os.path.join(out, name), "rb") as fh:
            assert fh.read(8) == b"\x89PNG\r\n\x1a\n"
    assert res["overlap"] == saved["overlap"]


def test_distribution_metric_finds_the_run_folder_and_reports_a_missing_one(digits_pretrained, tmp_path):
    import shutil

    from unlearning.cli.args import finish_args
    from unlearning.run_identity import run_dir_from_args
    from unlearning.cli.unlearn import resolve

    log_root = str(tmp_path / "logs")
    args = finish_args(distribution.parser().parse_args(["--log_root", log_root, "-method", "badteacher"]))
    resolve(args)  # the unlearning driver's defaults name the folder
    run_dir = run_dir_from_args(args)
    assert "p1-none" not in run_dir
    with pytest.raises(SystemExit, match="error: no checkpoint .*last.pt: run the unlearning method"):
        distribution.main(["--log_root", log_root, "-method", "badteacher", "--device", "cpu"])
    os.makedirs(run_dir)
    for name in ("last.pt", "mid.pt"):
        shutil.copy(digits_pretrained, os.path.join(run_dir, name))
    res = distribution.main(["--log_root", log_root, "-method", "badteacher", "--device", "cpu", "--features", "logits",
                    "--max_points", "200", "--grid_size", "32"])
    assert res["feature_dim"] == 7 and os.path.isfile(os.path.join(run_dir, "distribution_logits", "results.json"))
    res = distribution.main(["--log_root", log_root, "-method", "badteacher", "--device", "cpu", "--checkpoint", "mid.pt",
                    "--max_points", "200", "--grid_size", "32"])
    assert res["checkpoint"].endswith("mid.pt") and os.path.isfile(os.path.join(run_dir, "distribution_mid", "tsne.png"))
    with pytest.raises(SystemExit, match="error: unknown method 'nope'"):
        distribution.main(["--log_root", log_root, "-method", "nope"])


def test_distribution_metric_bad_arguments(tmp_path):
    with pytest.raises(SystemExit, match="error: checkpoint .* does not exist"):
        distribution.main(["--model_path", str(tmp_path / "none.pt"), "--device", "cpu"])
    with pytest.raises(SystemExit, match="error: --max_points must be at least 10"):
        distribution.main(["--model_path", str(tmp_path / "none.pt"), "--max_points", "5"])
    with pytest.raises(SystemExit, match="error: --tsne_threads must be 0 .all cores. or positive"):
        distribution.main(["--model_path", str(tmp_path / "none.pt"), "--tsne_threads", "-2"])
    with pytest.raises(SystemExit, match="error: forget class 8 is an OOD class"):
        distribution.main(["--model_path", str(tmp_path / "none.pt"), "--forget_class", "8", "--device", "cpu"])
