"""Forgetting quality: ε and its bounds, U-LiRA scores, stacked ReA over several targets, the stage end to end."""
from __future__ import annotations

import copy
import math
import os
import shutil
import re

import numpy as np
import pytest
import torch
from scipy import stats

from unlearning.metrics import quality as Q
from unlearning.attacks import reminiscence as R

torch.set_num_threads(1)
ALPHA = 0.025  # each rate bounded one-sided at 97.5%: both together at ≥ 95%


# ----------------------------------------------------------------------------- ε and its bounds
# Retrained [10, 11, 12, 13] vs unlearned [1, 2, 3, 11.5]: the retrained median is larger, so "retrained iff
# x > t". Thresholds at the midpoints; only two have both rates non-zero:
#   t = 10.5: FP = 1 (11.5), FN = 1 (10): FPR = FNR = ¼ → ε = log(¾ / ¼) = log 3
#   t = 11.25: FPR ¼, FNR ½ → max(log(¾/½), log(½/¼)) = log 2
# CI at t = 10.5: upper end from the lower bounds of 1/4: Beta(1, 4) quantile 1 − (1−α)^(1/4) → log((1−l)/l);
# lower end from the upper bounds u of 1/4 (u > ½ with 4 models): log((1−u)/u) < 0 → 0.
RET, UNL = [10, 11, 12, 13], [1, 2, 3, 11.5]


def test_epsilon_hand_computed():
    e = Q.epsilon(RET, UNL, delta=0.0, confidence=0.95)
    assert e["positive"] == "retrained" and e["threshold"] == 10.5
    assert e["epsilon"] == pytest.approx(math.log(3)) and e["fpr"] == e["fnr"] == 0.25
    low = 1 - (1 - ALPHA) ** 0.25
    assert e["ci"][1] == pytest.approx(math.log((1 - low) / low))
    assert e["ci"][0] == 0.0 and e["lower_bound"] == 0.0
    by_t = {r["threshold"]: r for r in e["thresholds"]}
    assert by_t[11.25]["epsilon"] == pytest.approx(math.log(2))
    assert math.isnan(by_t[6.5]["epsilon"])  # FNR = 0 but FPR = ¼: discarded, as in the challenge
    # δ lowers every ε: log((¾ − δ)/¼)
    assert Q.epsilon(RET, UNL, delta=0.05)["epsilon"] == pytest.approx(math.log(0.7 / 0.25))
    # the direction follows the medians: swapping the populations gives the same ε
    assert Q.epsilon(UNL, RET)["epsilon"] == pytest.approx(math.log(3))


def test_epsilon_heldout_hand_computed():
    # selection half (even positions): retrained 10, 12 vs unlearned 1, 3 -> retrained positive, the only
    # threshold with a point estimate is 6.5 (perfect separation, ε = ∞). Evaluation half (odd positions):
    # retrained 11, 13 vs unlearned 2, 11.5 at t = 6.5: FP = 1 (11.5) of 2, FN = 0 of 2 -> one rate 0: no point
    # estimate; interval from the Clopper–Pearson bounds of 1/2 and 0/2: upper rate bounds √(1−α) and 1 − √α give
    # a lower end 0, the lower bound 0 of FNR an upper end ∞. In-sample on all four the estimate was log 3.
    e = Q.epsilon_heldout(RET, UNL, delta=0.0, confidence=0.95)
    assert e["threshold"] == 6.5 and e["positive"] == "retrained"
    assert e["fpr"] == 0.5 and e["fnr"] == 0.0 and math.isnan(e["epsilon"])
    assert e["ci"][0] == 0.0 and math.isinf(e["ci"][1])
    assert e["n_retrained"] == e["n_unlearned"] == 2
    assert Q.fmt_epsilon(e) == "n/a [0.00, ∞]"
    # well separated everywhere: the evaluation half is separated too (ε = ∞); its lower end is what 4 models
    # per side certify (≤ resolution's bound for 4)
    ret, unl = list(range(10, 18)), list(range(8))
    h = Q.epsilon_heldout(ret, unl)
    assert math.isinf(h["epsilon"]) and h["fpr"] == h["fnr"] == 0.0
    assert h["ci"][0] == pytest.approx(Q.resolution(4, 4)["max_certifiable_epsilon"])
    assert h["ci"][0] < Q.epsilon(ret, unl)["ci"][0]  # half the models certify less than all of them, in-sample
    assert "heldout" in Q.compare(ret, unl)["epsilon"]["0"]
    with pytest.raises(Q.QualityError, match="at least 2 models"):
        Q.epsilon_heldout([1], [2, 3])


def test_ulira_auc_has_an_interval():
    s = Q.roc_summary([3, 4, 5], [0, 1, 2])
    assert s["auc"] == 1.0 and s["auc_ci"][1] == 1.0 and 0.0 < s["auc_ci"][0] < 1.0


def test_clopper_pearson_bounds_are_the_binomial_quantiles():
    lo, hi = Q.clopper_pearson(1, 4, ALPHA)
    assert stats.binom.cdf(1, 4, hi) == pytest.approx(ALPHA)  # P(X ≤ 1 | p = hi) = α
    assert stats.binom.sf(0, 4, lo) == pytest.approx(ALPHA)  # P(X ≥ 1 | p = lo) = α
    assert Q.clopper_pearson(0, 6, ALPHA) == (0.0, pytest.approx(1 - ALPHA ** (1 / 6)))
    assert Q.clopper_pearson(6, 6, ALPHA) == (pytest.approx(ALPHA ** (1 / 6)), 1.0)


def test_perfect_separation_and_what_k_can_resolve():
    # 6 vs 6 perfectly separated: point estimate ∞; certified ε ≥ log((1−h)/h), h = 1 − α^(1/6) (0 of 6 observed)
    h = 1 - ALPHA ** (1 / 6)
    e = Q.epsilon(range(10, 16), range(6))
    assert math.isinf(e["epsilon"]) and e["perfect_separation"] and e["positive"] == "retrained"
    assert e["lower_bound"] == pytest.approx(math.log((1 - h) / h)) == pytest.approx(0.1633, abs=1e-4)
    assert e["ci"][0] == pytest.approx(e["lower_bound"]) and math.isinf(e["ci"][1])
    # 5 models cannot certify anything even when perfectly separated: h = 1 − α^(1/5) > ½
    assert Q.epsilon(range(10, 15), range(5))["lower_bound"] == 0.0
    r16 = Q.resolution(16, 16)
    h16 = 1 - ALPHA ** (1 / 16)
    assert r16["max_finite_epsilon"] == pytest.approx(math.log(15))  # rates of 1/16 each
    assert r16["max_certifiable_epsilon"] == pytest.approx(math.log((1 - h16) / h16)) == pytest.approx(1.350, abs=1e-3)
    assert r16["min_models_to_certify"] == 6 and Q.resolution(4, 4)["max_certifiable_epsilon"] == 0.0
    assert r16["delta_resolvable"] and not Q.resolution(16, 16, Q.CHALLENGE_DELTA)["delta_resolvable"]
    # identical populations: no threshold has both rates non-zero except those giving ε = 0
    assert Q.epsilon([1, 2, 3], [1, 2, 3])["epsilon"] == pytest.approx(0.0, abs=1e-12)


# ----------------------------------------------------------------------------- U-LiRA
def test_ulira_scores_hand_computed():
    # retrained [0, 2, 4], unlearned [10, 12, 14]. Model r0 = 0: fits without it: retrained [2, 4] → N(3, √2),
    # unlearned N(12, 2). log N(0; 12, 2) − log N(0; 3, √2) = −log 2 − 18 + log √2 + 9/4 = −½ log 2 − 15.75.
    u = Q.ulira([0, 2, 4], [10, 12, 14])
    assert u["retrained_scores"][0] == pytest.approx(-0.5 * math.log(2) - 15.75)
    # r1 = 2: retrained [0, 4] → N(2, 2√2): log N(2; 12, 2) − log N(2; 2, 2√2) = −log 2 − 12.5 + log(2√2)
    assert u["retrained_scores"][1] == pytest.approx(0.5 * math.log(2) - 12.5)
    # symmetric construction: the unlearned scores mirror the retrained ones
    assert u["unlearned_scores"] == pytest.approx([-s for s in reversed(u["retrained_scores"])])
    assert u["auc"] == 1.0 and u["tpr_at_fpr"] == 1.0


def test_ulira_on_two_known_gaussians():
    # N(0, 1) vs N(1, 1), equal variances: the likelihood ratio is monotone in x, so the AUC is Φ(1/√2) = 0.760
    rng = np.random.default_rng(0)
    r, u = rng.normal(0, 1, 400), rng.normal(1, 1, 400)
    res = Q.ulira(r, u)
    assert res["auc"] == pytest.approx(stats.norm.cdf(1 / math.sqrt(2)), abs=0.03)
    # the likelihood ratio adapts to either direction of the shift: swapping the populations changes nothing
    assert Q.ulira(u, r)["auc"] == pytest.approx(res["auc"], abs=1e-9)
    # the ROC summary has an explicit direction: positives (unlearned) are the higher scores
    assert Q.roc_summary([3, 4], [1, 2])["auc"] == 1.0 and Q.roc_summary([1, 2], [3, 4])["auc"] == 0.0
    assert Q.roc_summary([3, 1.5], [1, 2])["tpr_at_fpr"] == 0.5  # FPR 0 allows only the 3
    # a singleton fit (2 models per population) takes the pooled spread, a constant population the floor
    two = Q.ulira([1.0, 3.0], [5.0, 7.0])
    assert two["fits"][0]["sd_ret"] == pytest.approx(math.sqrt(2)) and two["auc"] == 1.0
    const = Q.ulira([76.0, 76.0, 76.0], [20.0, 30.0, 40.0])
    assert all(math.isfinite(s) for s in const["retrained_scores"] + const["unlearned_scores"])
    assert const["auc"] == 1.0


def test_per_model_statistics():
    s = Q.per_model_statistics([2, 4], [10, 10, 10, 30])
    assert s == {"forget_steps": 3.0, "ood_steps": 15.0, "forget_over_ood": 0.2}


# ----------------------------------------------------------------------------- stacked ReA over several targets
@pytest.fixture(scope="module")
def exp():
    from unlearning.experiment import Experiment
    return Experiment("digits", device="cpu", forget_class=3)


def _targets(exp, path):
    from unlearning.experiment import load_model
    a, _ = load_model(path, exp)
    b = copy.deepcopy(a)
    with torch.no_grad():
        gen = torch.Generator().manual_seed(1)
        for p in b.parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=gen))
        for k, v in b.named_buffers():
            if k.endswith("running_mean"):
                v.add_(0.1)
    torch.manual_seed(3)
    c = exp.new_model("resnet8")  # an untrained network of the same shape
    return [a, b, c]


def test_stacked_targets_equal_one_at_a_time(exp, digits_pretrained):
    models = _targets(exp, digits_pretrained)
    cfg = R.ReAConfig(unlearn_data_percent=0.05, num_ood_dataset=2, relearning_lr=[0.05], repeats=2, steps=8,
                      mix_batch=4)
    rd = R.RunData(exp.train, exp.split)
    runs = []
    for seed in range(3):  # each target its own attack seed, as in the stage
        c = R.ReAConfig(**{**cfg.__dict__, "seed": seed})
        runs.append(R.build_runs([R.draw_samples(exp.split, c, r) for r in range(c.repeats)], c.relearning_lr))
    before = [{k: v.clone() for k, v in m.state_dict().items()} for m in models]
    alone = [R.relearn(m, r, rd, cfg.steps, 0) for m, r in zip(models, runs)]
    assert not np.array_equal(alone[0], alone[1])  # the targets do differ
    s_many = []
    stacked = R.relearn_many(models, runs, rd, cfg.steps, 4, states=s_many)  # chunks of 4 straddle the targets
    for a, b in zip(alone, stacked):
        assert np.array_equal(a, b)
        n = len(runs[0][0].attack)
        assert R.steps_to_threshold(a / n, 0.9).tolist() == R.steps_to_threshold(b / n, 0.9).tolist()
    # final weights of a run in the stack = that run relearned alone from its own target
    s_alone = []
    R.relearn(models[1], runs[1][:1], rd, cfg.steps, 0, states=s_alone)
    i = len(runs[0])  # the first run of target 1
    for k, v in s_alone[0].items():
        if not k.endswith("num_batches_tracked"):
            torch.testing.assert_close(s_many[i][k], v, rtol=1e-4, atol=1e-5)
    assert np.array_equal(R.relearn_many(models[1:2], runs[1:2], rd, cfg.steps, 0)[0], alone[1])  # chunk 0: the loop
    for m, b in zip(models, before):  # targets untouched
        assert all(torch.equal(b[k], v) for k, v in m.state_dict().items())


def test_stacking_rejects_different_networks(exp):
    a = exp.new_model("resnet8")
    b = torch.nn.Linear(3, 2)
    with pytest.raises(R.ReAError, match="only models of one network"):
        R.relearn_many([a, b], [[], []], R.RunData(exp.train, exp.split), 2, 4)


# ----------------------------------------------------------------------------- the stage end to end
@pytest.mark.slow
def test_stage_end_to_end_on_digits(tmp_path, monkeypatch):
    import config
    from unlearning.files import read_json
    from unlearning.cli.quality import main

    monkeypatch.setitem(config.PRESETS["digits"], "pretrain",
                        dict(config.PRESETS["digits"]["pretrain"], epochs=1, milestones=[]))
    log_root = str(tmp_path / "logs")
    argv = ["-K", "2", "--methods", "negative_grad", "--repeats", "2", "--steps", "5", "--mix_batch", "2",
            "--unlearn_data_percent", "0.05", "--num_ood_dataset", "2", "--batch_models", "6", "--log_root", log_root,
            "--device", "cpu", "--quiet"]
    res = main("digits", argv)
    out = res["out_dir"]
    assert out.startswith(os.path.join(log_root, "digits", "resnet8", "forget_3", "quality", "K2_seed-0_"))
    for name in ("results.json", "table.md", "distributions.png"):
        assert os.path.isfile(os.path.join(out, name))
    saved = read_json(os.path.join(out, "results.json"))
    ret = saved["retrained"]["models"]
    unl = saved["methods"]["negative_grad"]["models"]
    assert [m["seed"] for m in ret] == [m["seed"] for m in unl] == [0, 1]
    # seed s runs on pretrained model s, the default source of a seed-s run: no _src- tag, one identity but the seed
    assert all(re.search(rf"_mask-none_seed-{m['seed']}$", m["run_dir"]) for m in ret + unl)
    assert [m["run_dir"].rsplit("_seed-", 1)[0] for m in unl] == [unl[0]["run_dir"].rsplit("_seed-", 1)[0]] * 2
    # the same attacker samples per seed: attack seed = seed for both populations
    assert [m["rea"]["attack_seed"] for m in ret] == [m["rea"]["attack_seed"] for m in unl] == [0, 1]
    for m in ret + unl:
        assert len(m["rea"]["member_steps"]) == 2 and len(m["rea"]["non_member_steps"]) == 4
        assert m["stats"]["forget_steps"] == pytest.approx(np.mean(m["rea"]["member_steps"]))
    stat = saved["methods"]["negative_grad"]["numbers"]["statistics"]["forget_steps"]
    assert stat["retrained"] == [m["stats"]["forget_steps"] for m in ret]
    assert set(stat["epsilon"]) == {"0", "1e-05"} and 0.0 <= stat["ulira"]["auc"] <= 1.0
    assert saved["resolution"]["max_certifiable_epsilon"] == 0.0  # 2 models certify nothing
    table = open(os.path.join(out, "table.md")).read()
    assert "| negative_grad |" in table and "U-LiRA AUC" in table and "no-forget-data AUC" in table
    # CMIA on held-out models: one of the two models of each population fitted, the other scored
    cmia = saved["methods"]["negative_grad"]["cmia"]
    assert cmia["n_fit_models"] == [1, 1] and cmia["n_test_models"] == [1, 1] and 0.0 <= cmia["auc"] <= 1.0
    assert "CMIA AUC (held-out models)" in table and all("cmia" not in m for m in ret + unl)
    # a second run reuses every model and every attack, and gives the same numbers
    again = main("digits", argv)
    assert all(m["reused"] for m in again["retrained"]["models"] + again["methods"]["negative_grad"]["models"])
    assert again["seconds"]["rea"] == 0.0
    assert again["table"] == saved["table"]
    # another seed range shares the attack cache: seed 1's attacks are read, only seed 2's models are attacked
    cache = os.path.join(log_root, "digits", "resnet8", "forget_3", "quality", "attacks")
    seed1 = [os.path.join(d, "seed-1.json") for d, _, files in os.walk(cache) if "seed-1.json" in files]
    assert len(seed1) == 2  # retrain and negative_grad
    stamps = [os.stat(f).st_mtime_ns for f in seed1]
    shifted = main("digits", argv + ["--first_seed", "1"])
    assert shifted["out_dir"].startswith(os.path.join(log_root, "digits", "resnet8", "forget_3", "quality",
                                                      "K2_seed-1_"))
    assert [os.stat(f).st_mtime_ns for f in seed1] == stamps
    by_seed = {m["seed"]: m["rea"] for m in shifted["retrained"]["models"]}
    assert sorted(by_seed) == [1, 2] and by_seed[1] == ret[1]["rea"]
    # the report picks the table up
    from unlearning.report import build_report
    rep = build_report(log_root)
    assert "Forgetting quality" in rep["markdown"] and "| negative_grad |" in rep["markdown"]


def test_stage_bad_arguments_give_one_line(tmp_path):
    from unlearning.cli.quality import main
    for argv, msg in ((["-K", "1"], "at least 2"), (["--methods", "retrain"], "reference"),
                      (["--methods", "nosuch"], "nosuch")):
        with pytest.raises(SystemExit) as err:
            main("digits", argv + ["--log_root", str(tmp_path), "--device", "cpu"])
        assert msg in str(err.value.code) and str(err.value.code).startswith("error:")


@pytest.mark.slow
def test_run_py_plans_one_quality_step_per_forget_class():
    import subprocess
    import sys

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    r = subprocess.run([sys.executable, "run.py", "--dry_run", "--stages", "quality", "--methods", "retrain",
                        "negative_grad", "negative_grad_our", "--forget_classes", "3", "4", "--log_root", "/nonexistent"],
                       cwd=root, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    lines = [l.split() for l in r.stdout.splitlines() if l.startswith("  python")]
    assert [l[1] for l in lines] == ["forget_quality_main_digits.py"] * 2
    for line, fc in zip(lines, ("3", "4")):
        assert line[line.index("--forget_class") + 1] == fc
        i = line.index("--methods")
        assert line[i + 1:i + 3] == ["negative_grad", "negative_grad_our"] and "retrain" not in line


def test_saved_settings_compare_without_what_the_run_logged():
    from unlearning.cli.quality import same_settings
    cur = {"para1": 0.01, "replay": {"steps": 400}, "milestones": (1, 2)}
    assert same_settings({"para1": 0.01, "replay": {"steps": 400}, "milestones": [1, 2], "_log": {"phase1": "steps"}}, cur)
    assert not same_settings({"para1": 0.02, "replay": {"steps": 400}, "milestones": [1, 2]}, cur)
    assert not same_settings(None, cur)


def test_a_finished_run_is_reused_whatever_the_spelling_of_its_source_path(tmp_path, digits_pretrained, monkeypatch):
    """The audit reuses a sweep's unlearning run by the source model's content: a sweep that spelled the
    pretrained path absolutely and an audit that spells it relatively name the same model, so the run (and the
    attack results under it) is not redone."""
    from unlearning.cli.args import finish_args
    from unlearning.cli.quality import ensure_unlearned, parser
    from unlearning.cli.unlearn import main as unlearn_main
    from unlearning.paths import pretrained_path

    monkeypatch.chdir(tmp_path)
    rel = pretrained_path("logs", "digits", "resnet8", 0)
    os.makedirs(os.path.dirname(rel))
    shutil.copy(digits_pretrained, rel)
    res = unlearn_main("digits", argv=["-method", "negative_grad", "--log_root", str(tmp_path / "logs"),
                                       "-weight_path", os.path.abspath(rel), "--device", "cpu"])
    run_dir = os.path.dirname(res["checkpoints"]["last"])
    os.makedirs(os.path.join(run_dir, "rea", "tag"))
    args = finish_args(parser("digits").parse_args(["--log_root", "logs", "--device", "cpu", "--forget_class", "3"]))
    got = ensure_unlearned(args, ["negative_grad", None, None], 0, rel)
    assert got["reused"] and os.path.realpath(got["run_dir"]) == os.path.realpath(run_dir)
    assert os.path.isdir(os.path.join(run_dir, "rea", "tag"))


def test_quality_table_shows_the_auc_interval_and_the_heldout_epsilon():
    from unlearning.cli.quality import table_rows

    num = {"statistics": {"forget_steps": Q.compare(list(range(10, 16)), list(range(1, 7)))},
           "rea_balanced_accuracy": {"mean": 0.9, "sd": 0.1}}
    row = table_rows({"methods": {"bt": {"numbers": num, "models": [0] * 6}}, "settings": {"max_fpr": 0.05}})[0]
    assert row["U-LiRA AUC"] == "1.000" and row["U-LiRA AUC 95% CI"].endswith(", 1.00]")
    assert row["U-LiRA AUC 95% CI"] != "[1.00, 1.00]"  # perfect separation of 6 + 6 models is not a point
    # in-sample: all 6 + 6 models certify 0.16; held out: 3 + 3 certify nothing (resolution of 3 per side)
    assert row["ε (δ=0) [CI]"] == "∞ [0.16, ∞]" and row["ε (δ=0), threshold held out [CI]"] == "∞ [0.00, ∞]"
