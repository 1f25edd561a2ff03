"""The report's ReA columns beyond ReA's own rows (held-out balanced accuracy, AUC interval, retrain-controlled
prior), runs that did not forget reported apart, and a row that names a recipe other than today's default."""
import os

from unlearning.files import write_json
from unlearning.methods import check_settings, method_settings
from unlearning.report import build_report
from unlearning.scoring import heldout_balanced_accuracy, roc_auc_ci


def _run(root, method, seed, ua=0.0, settings=None, tag=""):
    d = os.path.join(root, "digits", "resnet8", "forget_3", method, f"p1-none_p2-none_mask-none_seed-{seed}{tag}")
    res = {"status": "done", "stage": "unlearn", "method": method,
           "args": {"dataset": "digits", "net": "resnet8", "forget_class": 3, "method": method, "seed": seed},
           "metrics": {"TA": 0.9, "UA": ua, "RA": 1.0, "MIA": 0.5, "RTE": 1.0}}
    if settings is not None:
        res["settings"] = settings
    write_json(os.path.join(d, "results.json"), res)
    return d


def _rea(run_dir, member, non_member, prior_auc):
    per_lr = {"0.01": {"lr": 0.01, "roc_auc": 0.5, "balanced_accuracy": 0.5, "tpr_at_fpr": 0.0,
                       "mean_steps_forget": 1.0, "mean_steps_ood": 1.0, "rea_over_prior_balanced_accuracy": 1.0,
                       "member_steps": member, "non_member_steps": non_member}}
    write_json(os.path.join(run_dir, "rea", "tag", "results.json"),
               {"per_lr": per_lr, "prior_attack": {"scores": {"balanced_accuracy": 0.8, "roc_auc": prior_auc}}})


def test_rea_table_has_heldout_balanced_accuracy_auc_interval_and_controlled_prior(tmp_path):
    root = str(tmp_path)
    m, n = [2, 10, 3, 11], [12, 4, 13, 5]  # steps: fewer = member; held out by position (scoring's folds)
    for seed, prior in ((0, 0.80), (1, 0.70)):
        _rea(_run(root, "retrain", seed), m, n, prior)
    _rea(_run(root, "badteacher", 0), [1, 2, 3], [10, 11, 12], 0.95)
    _rea(_run(root, "badteacher", 1), [1, 2, 3], [10, 11, 12], 0.90)
    rows = {r["method"]: r for r in build_report(root)["tables"]["rea"]}
    bt, rt = rows["badteacher"], rows["retrain"]
    assert "ReA / prior" not in bt  # the uncontrolled ratio is gone from the table
    # prior AUC minus retrain's of the same seed: 0.95 − 0.80, 0.90 − 0.70 -> 0.15, 0.20
    assert bt["prior AUC − retrain's (same seed)"] == "0.175 ± 0.035"
    assert rt["prior AUC − retrain's (same seed)"] == "0.000 ± 0.000"
    assert bt["AUC 95% CI high"] == "1.000 ± 0.000"
    lo = roc_auc_ci([1, 2, 3], [10, 11, 12], higher_is_member=False)[0]
    assert bt["AUC 95% CI low"] == f"{lo:.3f} ± 0.000" and lo < 1.0
    held = heldout_balanced_accuracy(m, n, higher_is_member=False)
    assert rt["ReA bal. acc % (held out)"] == f"{100 * held:.1f} ± 0.0"
    # negated steps reverse the decision of test_scoring's case: held out it is not the in-sample 50.0
    assert rt["ReA bal. acc %"] == "50.0 ± 0.0" and held != 0.5
    md = open(os.path.join(root, "report", "report.md")).read()
    assert "ReA bal. acc % (held out)" in md and "prior AUC − retrain's (same seed)" in md


def test_runs_that_did_not_forget_are_a_row_of_their_own(tmp_path):
    root = str(tmp_path)
    for seed, ua in ((0, 0.0), (1, 0.02), (2, 0.91)):
        _rea(_run(root, "ssd_tuning", seed, ua=ua), [1, 2], [5, 6], 0.9)
    _run(root, "baseline", 0, ua=1.0)  # baseline never forgets: not flagged
    rep = build_report(root)
    eff = {(r["method"], r["outcome"]): r for r in rep["tables"]["efficacy"]}
    assert eff[("ssd_tuning", "")]["seeds"] == 2 and eff[("ssd_tuning", "")]["d_f (UA %)"] == "1.0 ± 1.4"
    assert eff[("ssd_tuning", "not forgotten")]["seeds"] == 1
    assert eff[("ssd_tuning", "not forgotten")]["d_f (UA %)"] == "91.0"
    assert eff[("baseline", "")]["seeds"] == 1
    assert sorted(r["outcome"] for r in rep["tables"]["rea"]) == ["", "not forgotten"]
    md = rep["markdown"]
    assert "| ssd_tuning (not forgotten) |" in md and "| baseline (not forgotten)" not in md
    assert 'Rows "(not forgotten)": runs whose forget-train accuracy UA stayed above 0.5' in md


def test_a_recipe_other_than_todays_default_is_named_in_its_row(tmp_path):
    root = str(tmp_path)
    default = check_settings("negative_grad_our", method_settings("digits", "negative_grad_our"))
    other = dict(default, stop_retain_acc=None, epochs=5)
    other["replay"] = dict(default["replay"], steps=None)
    _run(root, "negative_grad_our", 0, settings=default)
    _run(root, "negative_grad_our", 0, settings=dict(other, _log={"x": 1}), tag="_set-abcdef12")
    rep = build_report(root)
    rows = rep["tables"]["efficacy"]
    assert len(rows) == 2
    table = rep["markdown"].split("## Representation")[0]
    labels = [" ".join(c.strip() for c in line.split("|")[4:6]) for line in table.splitlines()
              if "| negative_grad_our |" in line]
    assert len(labels) == 2 and len(set(labels)) == 2, labels
    named = [lab for lab in labels if "not today's default" in lab]
    assert len(named) == 1 and "(not today's default: replay, stop_retain_acc)" in named[0]  # epochs 5 = default
    assert "recipe" not in next(lab for lab in labels if lab not in named)  # today's default names no recipe
    # the attack matrix's column labels say it too
    matrix_head = next(line for line in rep["markdown"].splitlines() if line.startswith("| attack |"))
    assert matrix_head.count("negative_grad_our") == 2 and "not today's default" in matrix_head


def test_population_audit_cell_shows_the_auc_interval(tmp_path):
    root = str(tmp_path)
    _run(root, "badteacher", 0)
    q = os.path.join(root, "digits", "resnet8", "forget_3", "quality", "K3_tag", "results.json")
    write_json(q, {"stage": "quality", "status": "done", "retrained": {},
                   "settings": {"dataset": "digits", "net": "resnet8", "forget_class": 3, "K": 3,
                                "headline_statistic": "forget_steps"},
                   "methods": {"badteacher": {"numbers": {"statistics": {"forget_steps": {
                       "ulira": {"auc": 1.0, "auc_ci": [0.501, 1.0]}}}}}}})
    md = build_report(root)["markdown"]
    line = next(row for row in md.splitlines() if row.startswith("| population audit"))
    assert "1.000 (K=3, 95% CI 0.50–1.00)" in line


def test_an_audit_cell_joins_the_column_of_the_runs_its_models_are(tmp_path):
    """By run folder, not by method name: an audit of the sweep's default runs lands in their column; an audit whose
    models were trained with other settings lands in the column of those runs, never in the default one."""
    root = str(tmp_path)
    other = dict(check_settings("badteacher", method_settings("digits", "badteacher")), epochs=5)
    default = [_run(root, "badteacher", s) for s in (0, 1)]
    changed = [_run(root, "badteacher", s, settings=other, tag="_set-abcdef12") for s in (0, 1)]
    for seed in (0, 1):
        _rea(default[seed], [1, 2, 3], [10, 11, 12], 0.9)
        _rea(changed[seed], [1, 2, 3], [10, 11, 12], 0.9)

    def audit(tag, runs, auc):
        write_json(os.path.join(root, "digits", "resnet8", "forget_3", "quality", tag, "results.json"), {
            "stage": "quality", "status": "done", "retrained": {},
            "settings": {"dataset": "digits", "net": "resnet8", "forget_class": 3, "K": 2,
                         "headline_statistic": "forget_steps"},
            "methods": {"badteacher": {"models": [{"run_dir": os.path.join("/elsewhere", os.path.relpath(r, root))}
                                                  for r in runs],
                                       "numbers": {"statistics": {"forget_steps": {"ulira": {"auc": auc}}}}}}})
    audit("K2_a", default, 0.25)
    audit("K2_b", changed, 0.75)
    audit("K2_c", [default[0], changed[1]], 0.5)  # a population of two identities: a column of its own
    md = build_report(root)["markdown"]
    head = next(line for line in md.splitlines() if line.startswith("| attack |"))
    columns = [c.strip() for c in head.split("|")[2:-1]]
    cells = {}
    for line in md.splitlines():
        if line.startswith("| population audit"):
            values = [c.strip() for c in line.split("|")[2:-1]]
            cells[line.split("|")[1].strip()] = {c: v for c, v in zip(columns, values) if v != "—"}
    assert len(cells) == 3 and len(columns) == 3, (columns, cells)
    by_auc = {next(iter(v.values())).split()[0]: next(iter(v)) for v in cells.values()}
    assert set(by_auc) == {"0.250", "0.750", "0.500"}
    assert "recipe" not in by_auc["0.250"] and "not today's default" in by_auc["0.750"]
    assert "audit q-" in by_auc["0.500"]
