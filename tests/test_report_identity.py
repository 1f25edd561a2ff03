"""The report averages only runs that are the same experiment but for the seed, shows what tells the others apart,
and never mixes smoke results into the real report."""
import json
import os

from unlearning.files import write_json
from unlearning.report import build_report, settings_hash

PER_LR = {"0.01": {"lr": 0.01, "roc_auc": 0.9, "balanced_accuracy": 0.8, "tpr_at_fpr": 0.5,
                   "mean_steps_forget": 5, "mean_steps_ood": 40}}


def _run(root, method, seed, ta, tags="", settings=None, source="aaaa", rea_auc=None):
    d = os.path.join(root, "digits", "resnet8", "forget_3", method, f"p1-0.1_p2-0.95_mask-none_seed-{seed}{tags}")
    write_json(os.path.join(d, "results.json"), {
        "status": "done", "stage": "unlearn", "method": method, "settings": settings or {"epochs": 2, "_log": seed},
        "source_fingerprint": source,
        "args": {"dataset": "digits", "net": "resnet8", "forget_class": 3, "method": method, "seed": seed,
                 "para1": 0.1, "para2": 0.95},
        "metrics": {"TA": ta, "UA": 0.0, "RA": 1.0, "MIA": 0.5, "RTE": 1.0}})
    if rea_auc is not None:
        write_json(os.path.join(d, "rea", "tag", "results.json"),
                   {"per_lr": {"0.01": dict(PER_LR["0.01"], roc_auc=rea_auc)}})
    return d


def _rows(rep, method):
    return [r for r in rep["tables"]["efficacy"] if r["method"] == method]


def test_seeds_of_one_experiment_are_averaged(tmp_path):
    root = str(tmp_path)
    _run(root, "negative_grad", 0, 0.90)  # the "_log" entry differs per seed: what a run recorded, not its identity
    _run(root, "negative_grad", 1, 0.80)
    rows = _rows(build_report(root), "negative_grad")
    assert len(rows) == 1 and rows[0]["seeds"] == 2 and rows[0]["TA % (retain test)"] == "85.0 ± 7.1"


def test_another_settings_override_recipe_or_source_model_is_another_row(tmp_path):
    root = str(tmp_path)
    _run(root, "negative_grad", 0, 0.90)
    _run(root, "negative_grad", 1, 0.50, tags="_set-1a2b3c4d", settings={"epochs": 1})
    _run(root, "negative_grad", 2, 0.40, tags="_rcp-99aa88bb", settings={"epochs": 3})
    _run(root, "negative_grad", 3, 0.30, tags="_src-0f0f0f0f", source="0f0f0f0f")
    rep = build_report(root)
    rows = _rows(rep, "negative_grad")
    assert sorted(r["TA % (retain test)"] for r in rows) == ["30.0", "40.0", "50.0", "90.0"]
    params = {r["TA % (retain test)"]: r for r in rows}
    md = open(os.path.join(root, "report", "report.md")).read()
    for tag in ("set-1a2b3c4d", "rcp-99aa88bb", "src-0f0f0f0f"):
        assert tag in md
    assert all(r["seeds"] == 1 for r in params.values())


def test_runs_whose_resolved_settings_differ_are_not_averaged_and_say_so(tmp_path):
    """Same folder name (a config entry changed between the runs), different recorded settings."""
    root = str(tmp_path)
    _run(root, "negative_grad", 0, 0.90, settings={"epochs": 2}, rea_auc=0.9)
    _run(root, "negative_grad", 1, 0.50, settings={"epochs": 5}, rea_auc=0.5)
    rep = build_report(root)
    rows = _rows(rep, "negative_grad")
    assert len(rows) == 2 and all(r["seeds"] == 1 for r in rows)
    assert len(rep["tables"]["rea"]) == 2  # the attack rows follow their run's identity
    md = open(os.path.join(root, "report", "report.md")).read()
    for s in ({"epochs": 2}, {"epochs": 5}):
        assert f"settings {settings_hash(s)}" in md


def test_smoke_results_stay_out_of_the_real_report(tmp_path):
    root = str(tmp_path)
    _run(root, "negative_grad", 0, 0.90, rea_auc=0.9)
    _run(os.path.join(root, "smoke"), "negative_grad", 1, 0.10, rea_auc=0.5)
    rep = build_report(root)
    assert [r["TA % (retain test)"] for r in rep["tables"]["efficacy"]] == ["90.0"]
    assert [r["ROC AUC"] if "ROC AUC" in r else None for r in rep["tables"]["rea"]] != []
    assert len(rep["tables"]["rea"]) == 1
    md = open(os.path.join(root, "report", "report.md")).read()
    assert "SMOKE" not in md and "are left out" in md
    smoke = build_report(os.path.join(root, "smoke"))
    assert [r["TA % (retain test)"] for r in smoke["tables"]["efficacy"]] == ["10.0"]
    assert open(os.path.join(root, "smoke", "report", "report.md")).read().startswith("# SMOKE report")


def test_malformed_content_is_skipped_with_a_warning_naming_the_file(tmp_path):
    """A string or null where a number belongs, an object that is a list: each file is left out, named once."""
    root = str(tmp_path)
    good = _run(root, "negative_grad", 0, 0.90)
    bad = [_run(root, "retrain", 0, "abc"), _run(root, "finetune", 0, float("nan")), _run(root, "amnesiac", 0, 0.9)]
    res = os.path.join(bad[2], "results.json")
    content = json.load(open(res))
    content["args"]["seed"] = "zero"
    write_json(res, content)
    nan = os.path.join(bad[1], "results.json")  # a writer that let NaN through (json.dump's default)
    content = json.load(open(nan))
    content["metrics"]["TA"] = float("nan")
    with open(nan, "w") as fh:
        json.dump(content, fh)
    for name, per_lr in (("t", {"0.01": {"lr": 0.01, "roc_auc": "high"}}), ("u", None), ("v", {"0.01": None})):
        write_json(os.path.join(good, "rea", name, "results.json"), {"per_lr": per_lr})
    warned = []
    rep = build_report(root, warn=warned.append)
    assert [r["method"] for r in rep["tables"]["efficacy"]] == ["negative_grad"] and rep["tables"]["rea"] == []
    skipped = [w for w in warned if w.startswith("warning: skipped")]
    for path in [os.path.join(b, "results.json") for b in bad] + [
            os.path.join(good, "rea", n, "results.json") for n in "tuv"]:
        assert sum(path + ":" in w for w in skipped) == 1, (path, warned)
