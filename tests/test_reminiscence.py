"""Reminiscence Attack: scorer on hand-computed lists, attacker samples, run independence, batched == loop, CLI."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch

from unlearning.attacks import reminiscence as R
from unlearning.cli.attack import rea_main
from unlearning.scoring import best_balanced_accuracy, membership_scores, roc_auc, tpr_at_fpr

torch.set_num_threads(1)


# ----------------------------------------------------------------------------- scorer
# Steps-to-τ (smaller = member). Hand count, member m < non-member n (ties ½):
# m=1: 5 of 5; m=2: 4 + ½ (tie with 2); m=2: 4.5; m=5: 2 (6, 7)  →  16 / 20 = 0.8.
# "member iff steps ≤ t": t=1: TPR ¼, FPR 0 → 0.625; t=2: ¾, ⅕ → 0.775 (best); t=3: ¾, ⅖ → 0.675;
# t=5: 1, ⅗ → 0.7.  TPR at FPR ≤ 5%: only t=1 qualifies → 0.25; at FPR ≤ 20%: t=2 → 0.75.
MEMBER_STEPS = [1, 2, 2, 5]
NON_MEMBER_STEPS = [2, 3, 4, 6, 7]


def test_scorer_hand_computed_steps_direction():
    assert roc_auc(MEMBER_STEPS, NON_MEMBER_STEPS, higher_is_member=False) == pytest.approx(0.8)
    ba, thr = best_balanced_accuracy(MEMBER_STEPS, NON_MEMBER_STEPS, higher_is_member=False)
    assert ba == pytest.approx(0.775) and thr == 2
    assert tpr_at_fpr(MEMBER_STEPS, NON_MEMBER_STEPS, 0.05, higher_is_member=False) == pytest.approx(0.25)
    assert tpr_at_fpr(MEMBER_STEPS, NON_MEMBER_STEPS, 0.2, higher_is_member=False) == pytest.approx(0.75)
    s = membership_scores(MEMBER_STEPS, NON_MEMBER_STEPS, higher_is_member=False)
    assert s["rule"] == "member iff score <= threshold" and s["tpr_at_fpr"] == pytest.approx(0.25)


def test_scorer_direction_is_explicit():
    neg_m, neg_n = [-v for v in MEMBER_STEPS], [-v for v in NON_MEMBER_STEPS]
    assert roc_auc(neg_m, neg_n, higher_is_member=True) == pytest.approx(0.8)
    assert best_balanced_accuracy(neg_m, neg_n, higher_is_member=True) == (pytest.approx(0.775), -2)
    # the same lists read the wrong way round: a reversed signal shows as AUC < 0.5, and is reported as such
    assert roc_auc(MEMBER_STEPS, NON_MEMBER_STEPS, higher_is_member=True) == pytest.approx(0.2)
    # perfect separation, and no separation at all
    assert roc_auc([1, 1], [5, 9], higher_is_member=False) == 1.0
    assert roc_auc([76, 76], [76, 76, 76], higher_is_member=False) == 0.5
    assert best_balanced_accuracy([76, 76], [76, 76], higher_is_member=False)[0] == 0.5
    assert tpr_at_fpr([1, 1], [5, 9], 0.05, higher_is_member=False) == 1.0


def test_scorer_auc_matches_sklearn_with_ties():
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(0)
    m, n = rng.integers(0, 8, 30), rng.integers(3, 12, 45)
    ref = roc_auc_score(np.r_[np.ones(30), np.zeros(45)], -np.r_[m, n])
    assert roc_auc(m, n, higher_is_member=False) == pytest.approx(ref, abs=1e-12)


def test_scorer_rejects_empty_lists():
    with pytest.raises(ValueError, match="at least one member and one non-member"):
        roc_auc([], [1.0])


def test_statistics_hand_computed():
    acc = np.array([[0.0, 0.5, 0.9, 1.0],  # reaches τ=0.9 at step 2
                    [0.0, 0.1, 0.2, 0.3],  # never: T+1 = 4
                    [1.0, 1.0, 1.0, 1.0]])  # already at step 0
    assert R.steps_to_threshold(acc, 0.9).tolist() == [2, 4, 0]
    # trapezoid / T: (0+.5)/2 + (.5+.9)/2 + (.9+1)/2 = 1.9 → 1.9/3
    assert R.curve_area(acc)[0] == pytest.approx(1.9 / 3)
    assert R.curve_area(acc)[2] == pytest.approx(1.0)


# ----------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def exp():
    from unlearning.experiment import Experiment
    return Experiment("digits", device="cpu", forget_class=3)


@pytest.fixture(scope="module")
def target(exp, digits_pretrained):
    from unlearning.experiment import load_model
    model, _ = load_model(digits_pretrained, exp)
    return model


def small_cfg(**kw):
    base = dict(unlearn_data_percent=0.05, num_ood_dataset=2, relearning_lr=[0.01], repeats=2, steps=6,
                mix_batch=4, batch_models=4)
    base.update(kw)
    return R.ReAConfig(**base)


# ----------------------------------------------------------------------------- attacker samples
def test_attacker_samples_equal_size_and_disjoint_from_pool(exp):
    split = exp.split
    cfg = small_cfg(unlearn_data_percent=0.1, num_ood_dataset=3, steps=75, mix_batch=14)
    n = R.attacker_size(split, cfg)
    assert n == round(0.1 * len(split.forget_train)) == 12
    seen = []
    for r in range(3):
        s = R.draw_samples(split, cfg, r)
        assert len(s.forget) == n and all(len(v) == n for v in s.ood.values())
        assert sorted(s.ood) == [7, 8, 9]
        attacker = torch.cat([s.forget, *s.ood.values()])
        assert len(torch.unique(attacker)) == len(attacker)
        assert not torch.isin(s.pool, attacker).any() and not torch.isin(s.mix, attacker).any()
        assert torch.isin(s.forget, split.forget_train).all()
        assert all(torch.isin(v, split.ood_train[k]).all() for k, v in s.ood.items())
        assert torch.isin(s.pool, split.retain_train).all() and torch.isin(s.mix.flatten(), s.pool).all()
        assert s.mix.shape == (75, 14)
        assert all(len(torch.unique(row)) == 14 for row in s.mix)  # no image twice in one mixing batch
        seen.append(s.forget.tolist())
        again = R.draw_samples(split, cfg, r)
        assert torch.equal(again.forget, s.forget) and torch.equal(again.mix, s.mix)  # seeded
    assert seen[0] != seen[1] != seen[2]  # each repetition draws its own sample
    other = R.draw_samples(split, R.ReAConfig(**{**cfg.__dict__, "seed": 1}), 0)
    assert other.forget.tolist() != seen[0]


def test_runs_use_forget_label_for_every_attacker_image(exp):
    cfg = small_cfg()
    runs = R.build_runs([R.draw_samples(exp.split, cfg, 0)], [0.01, 0.05])
    assert [r.side for r in runs] == ["forget", "ood", "ood"] * 2 and [r.lr for r in runs] == [0.01] * 3 + [0.05] * 3
    rd = R.RunData(exp.train, exp.split)
    idx = rd.train_indices(runs, cfg.steps)
    x, y = rd.train_batch(idx[:, 0])
    assert (y[:, 0] == exp.split.forget_index).all()  # OOD images relabelled to the forget output
    assert x.shape == (6, 1 + cfg.mix_batch, 1, 8, 8)
    n = len(runs[1].attack)
    assert idx[1, :, 0].tolist() == runs[1].attack[torch.arange(cfg.steps) % n].tolist()  # cycles the sample


# ----------------------------------------------------------------------------- independence of runs
def test_runs_never_share_weights_or_optimiser_state(exp, target):
    cfg = small_cfg(steps=8, relearning_lr=[0.05])
    s = R.draw_samples(exp.split, cfg, 0)
    a = R.Run(0, 0.05, "forget", -1, 0, s.forget, s.mix)
    b = R.Run(1, 0.05, "ood", 7, 0, s.ood[7], s.mix)
    rd = R.RunData(exp.train, exp.split)
    before = {k: v.clone() for k, v in target.state_dict().items()}
    for engine in (0, 3):
        # identical runs give identical curves whatever runs them before, beside or after them
        alone = R.relearn(target, [a], rd, cfg.steps, engine)
        mixed = R.relearn(target, [b, a, b, a], rd, cfg.steps, engine)
        assert np.array_equal(mixed[1], alone[0]) and np.array_equal(mixed[3], alone[0])
        assert np.array_equal(mixed[0], mixed[2])
        assert not np.array_equal(mixed[0], mixed[1])  # and the two samples do differ
    # the target itself (weights and BatchNorm statistics) is never touched
    assert all(torch.equal(before[k], v) for k, v in target.state_dict().items())
    stacked = R.StackedModels(target, 3)
    name = next(iter(stacked.params))
    stacked.params[name][1].add_(1.0)
    stacked.momentum[name][1].add_(1.0)
    assert torch.equal(stacked.params[name][0], stacked.params[name][2])
    assert torch.equal(stacked.params[name][0], dict(target.named_parameters())[name])
    assert stacked.momentum[name][0].abs().sum() == 0 and stacked.momentum[name][2].abs().sum() == 0


# ----------------------------------------------------------------------------- batched == loop
def test_batched_equals_loop(exp, target):
    cfg = small_cfg(relearning_lr=[0.01, 0.05], steps=8)
    samples = [R.draw_samples(exp.split, cfg, r) for r in range(cfg.repeats)]
    runs = R.build_runs(samples, cfg.relearning_lr)
    rd = R.RunData(exp.train, exp.split)
    s_loop, s_vmap = [], []
    loop = R.relearn(target, runs, rd, cfg.steps, 0, states=s_loop)
    vmap = R.relearn(target, runs, rd, cfg.steps, 5, states=s_vmap)  # 12 runs in chunks of 5, 5, 2
    assert np.array_equal(loop, vmap)
    for a, b in zip(s_loop, s_vmap):
        for k in a:
            if k.endswith("num_batches_tracked"):
                assert a[k].item() == b[k].item() == before_tracked(target, k) + cfg.steps
            else:
                torch.testing.assert_close(b[k], a[k], rtol=1e-4, atol=1e-5)
    # BatchNorm running statistics moved, separately per run
    key = next(k for k in s_loop[0] if k.endswith("running_mean"))
    assert not torch.allclose(s_vmap[0][key], target.state_dict()[key])
    assert not torch.allclose(s_vmap[0][key], s_vmap[1][key])


def test_stacked_weights_stay_contiguous_for_a_channels_last_target(exp, target, monkeypatch):
    """The batched engine's stacks are contiguous from a channels_last model (the memory format the CUDA speed
    setting gives), and stay so through the in-place SGD steps: vmapped BatchNorm on CUDA cannot query the
    contiguity of a channels_last stack inside vmap."""
    import copy

    cl = copy.deepcopy(target).to(memory_format=torch.channels_last)
    conv = next(p for p in cl.parameters() if p.ndim == 4 and p.shape[1] > 1 and p.shape[-1] > 1)
    assert not conv.is_contiguous()  # the case under test: channels_last weights
    made = []
    real = R.stack_targets
    monkeypatch.setattr(R, "stack_targets", lambda models, owners: made.append(real(models, owners)) or made[-1])
    cfg = small_cfg(relearning_lr=[0.01], steps=3)
    samples = [R.draw_samples(exp.split, cfg, r) for r in range(cfg.repeats)]
    rd = R.RunData(exp.train, exp.split)
    R.relearn(cl, R.build_runs(samples, cfg.relearning_lr), rd, cfg.steps, 4)
    assert made
    for st in made:  # after the steps: every stack and momentum buffer still contiguous
        for group in (st.params, st.buffers, st.momentum):
            bad = [k for k, v in group.items() if not v.is_contiguous()]
            assert not bad, bad


def before_tracked(model, key):
    return model.state_dict()[key].item()


# ----------------------------------------------------------------------------- the attack and the CLI
def test_run_rea_result_shape(exp, target):
    cfg = small_cfg(relearning_lr=[0.01, 0.05])
    res = R.run_rea(target, exp, cfg)
    assert set(res["per_lr"]) == {"0.01", "0.05"}
    for r in res["per_lr"].values():
        assert len(r["member_steps"]) == cfg.repeats and len(r["non_member_steps"]) == cfg.repeats * 2
        assert 0.0 <= r["roc_auc"] <= 1.0 and 0.5 <= r["balanced_accuracy"] <= 1.0
        # the target was never unlearned: the forget sample is right from step 0, the OOD samples are not
        assert r["member_steps"] == [0, 0] and min(r["non_member_steps"]) > 0 and r["roc_auc"] == 1.0
        assert r["rea_over_prior_balanced_accuracy"] == pytest.approx(
            r["balanced_accuracy"] / res["prior_attack"]["scores"]["balanced_accuracy"])
    assert len(res["prior_attack"]["member_rates"]) == cfg.repeats
    assert res["acc"].shape == (2 * cfg.repeats * 3, cfg.steps + 1)


def test_entry_point_writes_results(tmp_path, digits_pretrained):
    out = str(tmp_path / "out")
    argv = ["--model_path", digits_pretrained, "--out_dir", out, "--repeats", "2", "--steps", "4", "--mix_batch", "4",
            "--num_ood_dataset", "2", "--relearning_lr", "0.01", "0.05", "--quiet", "--device", "cpu"]
    res = rea_main("digits", argv=argv)
    folder = res["out_dir"]
    assert folder == os.path.join(out, "rea", "p0.1_ood2_m4_T4_tau0.9_r2_lr0.01-0.05_seed-0")
    for name in ("results.json", "curves_lr0.01.tsv", "curves_lr0.05.tsv", "relearning_curves.png"):
        assert os.path.isfile(os.path.join(folder, name)), name
    data = json.load(open(os.path.join(folder, "results.json")))
    assert data["target"]["UA"] > 0.9 and "prior_attack" in data and data["settings"]["attacker_sample_size"] == 12
    lines = open(os.path.join(folder, "curves_lr0.05.tsv")).read().splitlines()
    assert lines[0].split("\t")[:5] == ["run_id", "side", "ood_class", "repeat", "acc_0"]
    assert len(lines) == 1 + 2 * 3 and len(lines[1].split("\t")) == 4 + 5
    # other settings land in another folder; the same settings with the loop engine give the same numbers
    res2 = rea_main("digits", argv=argv + ["--attack_seed", "1", "--no_plot"])
    assert res2["out_dir"] != folder
    res3 = rea_main("digits", argv=argv + ["--no-batch", "--no_plot"])
    assert res3["out_dir"] == folder and res3["settings"]["engine"] == "loop"
    assert res3["per_lr"]["0.01"]["member_steps"] == res["per_lr"]["0.01"]["member_steps"]
    assert res3["per_lr"]["0.01"]["non_member_steps"] == res["per_lr"]["0.01"]["non_member_steps"]


@pytest.mark.parametrize("extra, message", [
    (["--unlearn_data_percent", "3"], "error: --unlearn_data_percent is a fraction of D_f in (0, 1]"),
    (["--num_ood_dataset", "4"], "error: --num_ood_dataset 4: the split has only 3 OOD class(es)"),
    (["--relearning_lr", "0.01", "-1"], "error: --relearning_lr values must be positive"),
    (["--threshold", "1.5"], "error: --threshold τ is an accuracy in (0, 1]"),
    (["--repeats", "0"], "error: --repeats must be at least 1"),
    (["--mix_batch", "-1"], "error: --mix_batch must be ≥ 0"),
])
def test_bad_arguments_give_one_clear_line(tmp_path, digits_pretrained, extra, message):
    argv = ["--model_path", digits_pretrained, "--out_dir", str(tmp_path), "--quiet", *extra]
    with pytest.raises(SystemExit) as err:
        rea_main("digits", argv=argv)
    assert str(err.value).startswith(message)


def test_ood_class_smaller_than_attacker_sample_is_an_error():
    from types import SimpleNamespace
    split = SimpleNamespace(forget_train=torch.arange(100), ood_train={7: torch.arange(100, 150), 8: torch.arange(150, 300)})
    assert R.attacker_size(split, small_cfg(unlearn_data_percent=0.5, num_ood_dataset=2)) == 50
    with pytest.raises(R.ReAError, match="OOD class 7 has 50 train images, fewer than the attacker sample size 51"):
        R.attacker_size(split, small_cfg(unlearn_data_percent=0.51, num_ood_dataset=2))


def test_missing_unlearned_run_is_a_clear_error(tmp_path):
    with pytest.raises(SystemExit) as err:
        rea_main("digits", argv=["-method", "negative_grad", "--log_root", str(tmp_path), "--quiet"])
    assert str(err.value).startswith("error: ") and "last.pt does not exist" in str(err.value)
    assert os.path.join("forget_3", "negative_grad") in str(err.value)


def test_subclass_entry_point_on_cifar_fixture(tmp_path, cifar_root):
    """Sub-class setting: the forget set is one fine class, the OOD control a sibling fine class relabelled to
    their common superclass. In the fixture fine 61 and 81 share superclass 7 (fixture map: 7·fine mod 20)."""
    from unlearning.experiment import Experiment, save_checkpoint

    exp = Experiment("cifar20", data_root=cifar_root, device="cpu", subclass=True, forget_fine=61)
    assert exp.split.forget_class == 7 and sorted(exp.split.ood_train) == [81]
    torch.manual_seed(0)
    ckpt = save_checkpoint(str(tmp_path / "m.pt"), exp.new_model("resnet8"), exp.model_meta("resnet8"))
    argv = ["--model_path", ckpt, "--data_root", cifar_root, "--forget_fine", "61", "--repeats", "2", "--steps", "3",
            "--mix_batch", "2", "--relearning_lr", "0.01", "--quiet", "--no_plot", "--device", "cpu"]
    res = rea_main("cifar20", subclass=True, argv=argv)
    r = res["per_lr"]["0.01"]
    assert res["settings"]["ood_classes"] == [81] and res["settings"]["forget_index"] == exp.split.forget_index
    assert len(r["member_steps"]) == 2 and r["non_member_ood_class"] == [81, 81]
    with pytest.raises(SystemExit, match="error: --num_ood_dataset 2: the split has only 1 OOD class"):
        rea_main("cifar20", subclass=True, argv=argv + ["--num_ood_dataset", "2"])
