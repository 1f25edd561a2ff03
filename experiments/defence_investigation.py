"""Does Over-Unlearning & Replay defeat the Reminiscence Attack on the CPU preset, and if not, why?

Runs the project's own entry points as subprocesses (unlearning.launcher: resumable, one failure does not stop
the rest), one *condition* = one explanation changed at a time against C0 (the digits `_our` recipe as configured):

    C0_epochs       config as it is: phase 1 and replay counted in epochs (an epoch of D_f is ~4 steps on digits)
    C1_steps_cifar  phase 1 and replay lengths in optimiser steps, as many as CIFAR-20 got at the paper's epochs
    C1_steps_cost   phase 1 as in C1_steps_cifar, replay 12.5% of retrain's steps (the paper's 5/40-epoch cost ratio)
    C2_reset        C0 + the forgotten output unit re-initialised before the replay
    C3_x10          C0 on digits_x10 (×10 seeded augmentation, 16×16): the same epochs are 10× the updates
    C4_suppress     C0 + after the replay, the forget unit alone pushed down on D_r (what retraining does to it)
    C5_orth_strong  C0 with a stronger orthogonal over-unlearning (`_orth` targets only)
    C6_orth_stronger  C5 pushed further (`_orth` targets only)
    C7_orth_reset   C5 + the forgotten output unit re-initialised before the replay (`_orth` targets only)
    C8_stop_ra<X>   negative_grad_our with phase 1 stopped when retain accuracy falls below X (at most C1's 180
                    steps), then C1's replay (3165 steps): the dose-response of over-unlearning (`_our` only);
                    C8_stop_ra30_r<N>: the same at X = 0.3 with a replay of N steps only
    (`_orth`, the later paper's orthogonal over-unlearning, is a target in every condition.)

For every condition and seed S (pretraining seed = unlearning seed, so seeds are different models):
pretrain (dataset, S) → unlearn each target → white-box ReA (one-sided, as the paper). The attacker's shadow
models run the same pipeline on the condition's shadow dataset (data disjoint from the target's) with their own
seeds; the calibrated ReA fits direction + threshold on the pooled shadow runs of the same method and applies it to
each target (unlearning.calibration). Then ``aggregate`` writes the table (mean ± sd over model seeds) and the
output-unit diagnostic (norm of the forget class's row and its bias vs the other rows, before / after each phase).

    OMP_NUM_THREADS=1 python experiments/defence_investigation.py --conditions C0_epochs --seeds 0 1 2
    python experiments/defence_investigation.py --aggregate_only      # tables from what is on disk

Outputs: log_files/investigation/<condition>/... (runs), log_files/investigation/launcher/ (ledger, logs),
log_files/investigation/summary/{table.md,table.csv,units.md,units.csv,rows.json}.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)
os.environ.setdefault("OMP_NUM_THREADS", "1")  # 2-thread spin-waits make runs 10× slower on a shared machine

import numpy as np  # noqa: E402

import config  # noqa: E402
from unlearning.cli.parsers import HelpFormatter  # noqa: E402
from unlearning.pipeline.launcher import Launcher, Step, unlearn_run_dir  # noqa: E402
from unlearning.paths import seed_field  # noqa: E402
from unlearning.run_identity import pretrained_path  # noqa: E402
from unlearning.tables import markdown_table  # noqa: E402
from unlearning.measured_docs import add_docs_flag, script_command, write_measured  # noqa: E402

LOG = os.path.join("log_files", "investigation")
STANDARD = ["negative_grad", "amnesiac", "badteacher", "ssd_tuning"]
SHADOW_OF = {"digits": "digits_shadow", "digits_x10": "digits_x10_shadow"}
FORGET = config.preset("digits")["forget_class"]  # every condition's dataset is a digits variant

# CIFAR-20 (paper preset): a forget superclass has ~2250 train images and D_r ~40500 at batch 64 → 36 steps per
# epoch of D_f, 633 per epoch of D_r. Phase 1 at the paper's epochs: negative_grad 5 ep. = 180 steps; amnesiac
# 3 ep. = 108; badteacher 1 ep. of D_f + 1% of D_r = 42; replay 5 ep. = 3165 steps. Digits retrain = 30 × 27 = 810
# steps, so the paper's replay/retrain ratio (5/40 epochs) is ~100 steps on digits.
_PHASE1_CIFAR_STEPS = {"negative_grad": {"steps": 180}, "amnesiac": {"steps": 108}, "badteacher": {"steps": 42},
                       "orth": {"steps": 108}}

def _stop_rule_condition(retain_acc: float, replay_steps: int) -> dict:
    """A C8 condition: negative_grad_our's phase 1 until retain accuracy < ``retain_acc`` (≤ 180 steps, checked
    every 2), then ``replay_steps`` replay steps."""
    rule = {"stop_retain_acc": retain_acc, "max_steps": 180, "check_every": 2}
    return {"dataset": "digits",
            "overrides": {"OVER_UNLEARN": {"negative_grad": rule, "replay": {"steps": replay_steps}}},
            "what": f"negative_grad_our: phase 1 until retain accuracy < {retain_acc} (≤ 180 steps), "
                    f"replay {replay_steps} steps",
            "variants": ["_our"]}


CONDITIONS = {
    "C0_epochs": {"dataset": "digits", "overrides": {},
                  "what": "digits `_our` recipe as configured (lengths in epochs)"},
    "C1_steps_cifar": {"dataset": "digits",
                       "overrides": {"OVER_UNLEARN": dict(_PHASE1_CIFAR_STEPS, replay={"steps": 3165})},
                       "what": "phase 1 and replay in optimiser steps = CIFAR-20's counts at the paper's epochs"},
    "C1_steps_cost": {"dataset": "digits",
                      "overrides": {"OVER_UNLEARN": dict(_PHASE1_CIFAR_STEPS, replay={"steps": 100})},
                      "what": "phase 1 = CIFAR-20's step counts, replay = 100 steps (12.5% of retrain, the paper's ratio)"},
    "C2_reset": {"dataset": "digits", "overrides": {"OVER_UNLEARN": {"replay": {"reset_forget_unit": "reinit"}}},
                 "what": "C0 + the forget class's output row and bias re-initialised before the replay"},
    "C4_suppress": {"dataset": "digits",
                    "overrides": {"OVER_UNLEARN": {"replay": {"suppress_forget_unit": 300, "suppress_lr": 0.5}}},
                    "what": "C0 + after the replay, 300 steps that move only the forget unit on D_r (retrain's effect "
                            "on a never-target unit)"},
    "C5_orth_strong": {"dataset": "digits",
                       "overrides": {"OVER_UNLEARN": {"orth": {"steps": 108, "lam": 10.0}}},
                       "what": "C0 with a stronger orthogonal over-unlearning (108 steps, lam 10): `_orth` only",
                       "variants": ["_orth"]},
    "C6_orth_stronger": {"dataset": "digits",
                         "overrides": {"OVER_UNLEARN": {"orth": {"steps": 216, "lam": 30.0}}},
                         "what": "C5 pushed further (216 steps, lam 30): `_orth` only",
                         "variants": ["_orth"]},
    "C7_orth_reset": {"dataset": "digits",
                      "overrides": {"OVER_UNLEARN": {"orth": {"steps": 108, "lam": 10.0},
                                                     "replay": {"reset_forget_unit": "reinit"}}},
                      "what": "C5 + the forget class's output row and bias re-initialised before the replay: "
                              "`_orth` only",
                      "variants": ["_orth"]},
    **{f"C8_stop_ra{int(x * 100)}": _stop_rule_condition(x, 3165) for x in (0.9, 0.6, 0.3)},
    # the cheapest of them that works (ra30) with shorter replays: 100 steps = the paper's 5/40-epoch cost ratio
    **{f"C8_stop_ra30_r{n}": _stop_rule_condition(0.3, n) for n in (100, 400)},
    "C3_x10": {"dataset": "digits_x10", "overrides": {},
               "what": "C0 on digits_x10 (10× the data, 16×16): the same epochs are 10× the updates"},
}


# The `_orth` settings of conditions C0–C4, pinned so that a rerun reproduces them whatever config's default is.
_ORTH_FIRST = {"steps": 40, "lam": 1.0, "lr": 0.0025}


def condition_overrides(cond: str) -> dict:
    """The condition's recipe (``--recipe``), with the recipes the conditions ran with pinned: `_orth` (C0–C4:
    _ORTH_FIRST unless given) and negative_grad's phase 1 / replay (no stopping rule unless the condition sets one,
    the condition's replay length), whatever config's digits defaults are."""
    over = json.loads(json.dumps(CONDITIONS[cond]["overrides"]))
    o = over.setdefault("OVER_UNLEARN", {})
    if "variants" not in CONDITIONS[cond]:
        o["orth"] = dict(_ORTH_FIRST, **o.get("orth", {}))
    ng = o.setdefault("negative_grad", {})
    ng.setdefault("stop_retain_acc", None)
    ng["replay"] = dict({"steps": o.get("replay", {}).get("steps")}, **ng.get("replay", {}))
    return over


def recipe_file(cond: str) -> str:
    """The condition's recipe written to <LOG>/<condition>/recipe-<sha>.json: the name carries the content's hash,
    so the launcher's step key changes with the recipe (the run folder's _rcp-<hash> does anyway)."""
    text = json.dumps(condition_overrides(cond), sort_keys=True)
    path = os.path.join(LOG, cond, f"recipe-{hashlib.sha1(text.encode()).hexdigest()[:10]}.json")
    if not os.path.isfile(path):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as fh:
            fh.write(text + "\n")
    return path


def targets_of(methods, variants=("_our", "_orth")):
    out = ["retrain"]
    for m in methods:
        out += [m] + [m + v for v in variants]
    return out


def condition_targets(cond: str, methods, variants=None) -> list:
    """The targets of a condition: retrain, each method, and the defended variants the condition is about
    (restricted to ``variants`` when given, e.g. ("_our",) to skip `_orth`)."""
    own = CONDITIONS[cond].get("variants", ("_our", "_orth"))
    return targets_of(methods, [v for v in own if variants is None or v in variants])


def is_defended(method: str) -> bool:
    """`_our` / `_orth` targets depend on the condition's recipe; retrain and the plain methods do not."""
    return method.endswith("_our") or method.endswith("_orth")


def identity_argv(cond: str, dataset: str, method: str, seed: int) -> list:
    """The identity flags of one target: its unlearning, its ReA and the aggregation name the run with them."""
    weight = pretrained_path(os.path.join(LOG, "common"), dataset, config.preset(dataset)["net"], seed)
    argv = ["-dataset", dataset, "-method", method, "-seed", str(seed), "-weight_path", weight,
            "--log_root", _root_for(cond, method)]
    return argv + (["--recipe", recipe_file(cond)] if is_defended(method) else [])  # shared runs: no recipe


def _root_for(cond: str, method: str) -> str:
    """Retrain and the plain methods do not depend on the `_our` recipe: one copy per dataset, shared."""
    return os.path.join(LOG, cond if is_defended(method) else "common")


def plan(launcher: Launcher, cond: str, seeds, shadow_seeds, methods, lr: float, repeats: int, x10_methods=None,
         shadow_repeats=None, variants=None, skip=()):
    spec = CONDITIONS[cond]
    ds = spec["dataset"]
    env = ["env", "OMP_NUM_THREADS=1"]
    names = {s.name for s in launcher.steps}
    if ds == "digits_x10" and x10_methods is not None:
        methods = x10_methods
    for dataset, seed_list, reps in ((ds, seeds, repeats), (SHADOW_OF[ds], shadow_seeds, shadow_repeats or repeats)):
        common = os.path.join(LOG, "common")
        for seed in seed_list:
            pre = f"pretrain {dataset} {seed_field(seed)}"
            if pre not in names:
                launcher.add(Step("pretrain", pre, [[*env, "python", "pretrain_model_digits.py",
                                                     "-dataset", dataset, "-seed", str(seed), "--log_root", common,
                                                     "--device", "cpu", "--quiet"]]))
                names.add(pre)
            for method in condition_targets(cond, methods, variants):
                if method in skip:
                    continue
                shared = not is_defended(method)
                tag = f"{'' if shared else cond + ' '}{dataset} {method} {seed_field(seed)}"
                ident = identity_argv(cond, dataset, method, seed) + ["--device", "cpu"]
                unl = f"unlearn {tag}"
                if unl in names:
                    continue
                names.update({unl, f"rea {tag}"})
                launcher.add(Step("unlearn", unl, [env + ["python", "forget_full_class_main_digits.py", *ident]],
                                  deps=[pre]))
                launcher.add(Step("rea", f"rea {tag}", [env + ["python", "mia_on_mu_main_digits_fullclass.py", *ident,
                                                              "--relearning_lr", str(lr), "--repeats", str(reps),
                                                              "--quiet", "--no_plot"]], deps=[unl]))


# ----------------------------------------------------------------------------- aggregation
def _run_dir(cond, dataset, method, seed):
    """The run folder the unlearning driver wrote for the target's identity (None when it has none yet)."""
    try:
        d = unlearn_run_dir(dataset, identity_argv(cond, dataset, method, seed))
    except (ValueError, SystemExit):  # the pretrained model is missing: nothing was run
        return None
    return d if os.path.isfile(os.path.join(d, "results.json")) else None


def _rea_result(run_dir, lr_key, repeats):
    """The ReA results.json of a run at one lr with ``repeats`` repetitions (None: the most repetitions on disk)."""
    rea = os.path.join(run_dir, "rea")
    if not os.path.isdir(rea):
        return None
    tags = [t for t in os.listdir(rea) if f"_lr{lr_key}_" in t]
    if repeats is None:
        tags.sort(key=lambda t: -int(t.split("_r")[1].split("_")[0]))
    for tag in tags:
        if repeats is None or f"_r{repeats}_lr{lr_key}_" in tag:
            p = os.path.join(rea, tag, "results.json")
            if os.path.isfile(p):
                with open(p) as fh:
                    return json.load(fh)
    return None


def _read(path):
    with open(path) as fh:
        return json.load(fh)


def unit_stats(state: dict, f: int) -> dict:
    """Output-unit diagnostic of one checkpoint: the forget row's ‖w‖ and bias vs the other rows."""
    import torch
    w, b = state["fc.weight"].float(), state["fc.bias"].float()
    others = [i for i in range(w.shape[0]) if i != f]
    norms = w.norm(dim=1)
    return {"w_norm_f": float(norms[f]), "w_norm_others": float(norms[others].mean()),
            "bias_f": float(b[f]), "bias_others": float(b[others].mean()),
            "bias_rank_f": int((b > b[f]).sum().item()),  # 0 = the largest bias, num_outputs−1 = the smallest
            "cos_f_to_others": float(torch.nn.functional.cosine_similarity(w[f][None], w[others]).mean())}


_EXP_CACHE, _FUNC_CACHE = {}, {}


def functional_stats(ds: str, path: str, k: int = 5) -> dict:
    """What the forget unit does on data, and whether the forget class is still its own cluster:
    margin_* = mean (forget logit − largest other logit) on forget-train / OOD-train images (ReA's starting point);
    knn_* = mean fraction of the k nearest neighbours (cosine, penultimate features) of a forget image among
    forget ∪ retain-train images that are forget images, and the same for each OOD class among OOD-k ∪ retain
    (a never-seen class's natural clustering: the reference)."""
    if path in _FUNC_CACHE:
        return _FUNC_CACHE[path]
    import torch
    from unlearning.evaluation import predict
    from unlearning.experiment import Experiment, load_model
    if ds not in _EXP_CACHE:
        _EXP_CACHE[ds] = Experiment(ds, device="cpu", forget_class=FORGET)
    exp = _EXP_CACHE[ds]
    sp, data, f = exp.split, exp.train, exp.split.forget_index
    model, _ = load_model(path, exp)
    gen = torch.Generator().manual_seed(0)
    retain = sp.retain_train[torch.randperm(len(sp.retain_train), generator=gen)[:600]]

    def margin(idx):
        z = predict(model, data, idx)
        other = torch.cat([z[:, :f], z[:, f + 1:]], 1).max(1).values
        return float((z[:, f] - other).mean())

    def knn(idx):
        idx = idx[torch.randperm(len(idx), generator=gen)[:150]]
        h = torch.nn.functional.normalize(predict(model, data, torch.cat([idx, retain]), features=True), dim=1)
        sim = h[:len(idx)] @ h.T
        sim[torch.arange(len(idx)), torch.arange(len(idx))] = -2  # not its own neighbour
        nn_ = sim.topk(k, dim=1).indices
        return float((nn_ < len(idx)).float().mean())

    ood = torch.cat([v for v in sp.ood_train.values()])
    out = {"margin_forget": margin(sp.forget_train), "margin_ood": margin(ood),
           "knn_forget": knn(sp.forget_train), "knn_ood": float(np.mean([knn(v) for v in sp.ood_train.values()]))}
    _FUNC_CACHE[path] = out
    return out


def ood_normalised(result: dict, lr_key: str) -> dict:
    """Steps-to-τ divided by the median of the same model's OOD (known non-member) runs, leave-one-out for the OOD
    runs themselves: a scale-free statistic, so a threshold fitted on shadow models (smaller data, other speeds)
    can transfer. The attacker can compute it: the OOD runs are its own reference data relabelled."""
    p = result["per_lr"][lr_key]
    m, n = np.asarray(p["member_steps"], float), np.asarray(p["non_member_steps"], float)
    ref = np.median(n)
    n_norm = [n[i] / np.median(np.delete(n, i)) for i in range(len(n))]
    return {"per_lr": {lr_key: {"member_steps": (m / ref).tolist(), "non_member_steps": n_norm}}}


def aggregate(conds, seeds, shadow_seeds, methods, lr, repeats, x10_methods=None, out=None, variants=None):
    import torch  # noqa: F401  (checkpoint reading)
    from unlearning.attacks.calibration import calibrated_attack
    from unlearning.experiment import load_checkpoint
    from unlearning.paths import fmt_param

    lr_key = fmt_param(float(lr))
    out = out or os.path.join(LOG, "summary")
    rows, units = [], []
    for cond in conds:
        ds = CONDITIONS[cond]["dataset"]
        ms = x10_methods if (ds == "digits_x10" and x10_methods is not None) else methods
        pre_ta = {}  # seed → test accuracy of the pretrained model (ΔTA compares the same seeds)
        for seed in seeds:
            p = pretrained_path(os.path.join(LOG, "common"), ds, config.preset(ds)["net"], seed)
            if os.path.isfile(p):
                pre_ta[seed] = _pretrained_ta(ds, p)
        for method in condition_targets(cond, ms, variants):
            shadows = []
            for s in shadow_seeds:
                d = _run_dir(cond, SHADOW_OF[ds], method, s)
                r = _rea_result(d, lr_key, None) if d else None  # shadows: whatever repetitions were run
                if r:
                    shadows.append(r)
            per_seed = []
            for seed in seeds:
                d = _run_dir(cond, ds, method, seed)
                if d is None:
                    continue
                res = _read(os.path.join(d, "results.json"))
                if res.get("status") != "done":
                    continue
                rea = _rea_result(d, lr_key, repeats)
                row = {"TA": res["metrics"]["TA"], "UA": res["metrics"]["UA"], "RTE": res["metrics"]["RTE"],
                       "seed": seed}
                if rea:
                    one = rea["per_lr"][lr_key]
                    row.update(auc=one["roc_auc"], ba=one["balanced_accuracy"],
                               auc_area=one["area_scores"]["roc_auc"],
                               steps_f=one["mean_steps_forget"], steps_ood=one["mean_steps_ood"])
                    if shadows:
                        cal = calibrated_attack(shadows, rea, lr_key, "steps")
                        cal_area = calibrated_attack(shadows, rea, lr_key, "area")
                        cal_norm = calibrated_attack([ood_normalised(x, lr_key) for x in shadows],
                                                     ood_normalised(rea, lr_key), lr_key, "steps")
                        row.update(cal_ba_norm=cal_norm["balanced_accuracy"], cal_auc_norm=cal_norm["roc_auc"])
                        row.update(cal_auc=cal["roc_auc"], cal_ba=cal["balanced_accuracy"],
                                   cal_dir="faster" if not cal["rule"]["higher_is_member"] else "slower",
                                   cal_ba_area=cal_area["balanced_accuracy"], cal_auc_area=cal_area["roc_auc"])
                per_seed.append(row)
                # output-unit diagnostic: pretrained → after phase 1 (mid.pt) → final (last.pt)
                f = 3  # digits forget class 3 = output index 3 (classes 0–6 trained)
                stages = [("pretrained", res["pretrained"])] + ([("after phase 1", os.path.join(d, "mid.pt"))]
                                                               if os.path.isfile(os.path.join(d, "mid.pt")) else [])
                stages.append(("final", os.path.join(d, "last.pt")))
                for stage, path in stages:
                    if os.path.isfile(path):
                        state, _ = load_checkpoint(path)
                        units.append(dict(condition=cond, target=method, seed=seed, stage=stage,
                                          **unit_stats(state, f), **functional_stats(ds, path)))
            if per_seed:
                rows.append(_summarise(cond, method, per_seed, len(shadows),
                                       [pre_ta[r["seed"]] for r in per_seed if r["seed"] in pre_ta]))
    os.makedirs(out, exist_ok=True)
    _write_tables(rows, units, out, lr, repeats)
    return rows, units


_PRE_CACHE = {}


def _pretrained_ta(ds, path):
    if path not in _PRE_CACHE:
        from unlearning.evaluation import split_accuracy
        from unlearning.experiment import Experiment, load_model
        exp = Experiment(ds, device="cpu", forget_class=FORGET)
        model, _ = load_model(path, exp)
        _PRE_CACHE[path] = split_accuracy(model, exp, "retain_test")
    return _PRE_CACHE[path]


def _summarise(cond, method, per_seed, n_shadow, pre_ta):
    keys = ["TA", "UA", "RTE", "auc", "ba", "auc_area", "cal_auc", "cal_ba", "cal_ba_area", "cal_auc_area",
            "cal_ba_norm", "cal_auc_norm",
            "steps_f", "steps_ood"]
    row = {"condition": cond, "target": method, "seeds": len(per_seed), "shadow_seeds": n_shadow,
           "TA_pretrained": float(np.mean(pre_ta)) if pre_ta else None,
           "cal_direction": ",".join(sorted({r["cal_dir"] for r in per_seed if "cal_dir" in r}))}
    for k in keys:
        vals = [r[k] for r in per_seed if r.get(k) is not None]
        row[k] = (float(np.mean(vals)), float(np.std(vals)), len(vals)) if vals else None
    return row


def _pm(v, digits=2):
    return "—" if v is None else f"{v[0]:.{digits}f} ± {v[1]:.{digits}f}"


def compact_table(rows) -> str:
    """README's table: retrain and the plain methods do not depend on the `_our` recipe, so their rows (identical
    in every condition on the same dataset) appear once, as "all <dataset> conditions"."""
    head = ["condition", "target", "TA", "ΔTA (pt)", "UA", "ReA AUC, one-sided", "ReA bal. acc, one-sided",
            "calibrated AUC", "calibrated bal. acc", "calibrated bal. acc, OOD-normalised", "steps forget / OOD",
            "model seeds"]
    body, seen = [], set()
    for r in rows:
        ds = CONDITIONS[r["condition"]]["dataset"]
        shared = not is_defended(r["target"])
        if shared and (ds, r["target"]) in seen:
            continue
        seen.add((ds, r["target"]))
        cond = f"all {ds} conditions" if shared and ds == "digits" else r["condition"]
        dta = "—" if (r["TA"] is None or r["TA_pretrained"] is None) else f"{100 * (r['TA'][0] - r['TA_pretrained']):+.1f}"
        steps = "—" if r["steps_f"] is None else f"{r['steps_f'][0]:.0f} / {r['steps_ood'][0]:.0f}"
        body.append([cond, r['target'], _pm(r['TA'], 3), dta, _pm(r['UA'], 3), _pm(r['auc']), _pm(r['ba']),
                     _pm(r['cal_auc']), _pm(r['cal_ba']), _pm(r['cal_ba_norm']), steps,
                     r['auc'][2] if r['auc'] else 0])
    return markdown_table(head, body)


def _write_tables(rows, units, out, lr, repeats):
    from unlearning.files import atomic_write_text, write_json
    head = ["condition", "target", "TA", "UA", "ΔTA vs pretrained", "ReA AUC (one-sided)", "ReA bal. acc (one-sided)",
            "calibrated AUC", "calibrated bal. acc", "calibrated bal. acc, OOD-normalised", "calibrated rule",
            "mean steps forget / OOD", "seeds: ReA/unlearned (shadow)"]
    body = []
    csv = ["condition,target,seeds,shadow_seeds,TA,TA_sd,UA,UA_sd,dTA,auc,auc_sd,ba,ba_sd,cal_auc,cal_auc_sd,cal_ba,"
           "cal_ba_sd,cal_ba_area,cal_auc_area,auc_area,steps_forget,steps_ood,RTE,cal_ba_norm,cal_ba_norm_sd,"
           "cal_auc_norm"]
    for r in rows:
        dta = None if (r["TA"] is None or r["TA_pretrained"] is None) else r["TA"][0] - r["TA_pretrained"]
        steps = "—" if r["steps_f"] is None else f"{r['steps_f'][0]:.0f} / {r['steps_ood'][0]:.0f}"
        body.append([r['condition'], r['target'], _pm(r['TA'], 3), _pm(r['UA'], 3),
                     '—' if dta is None else f'{100 * dta:+.1f} pt', _pm(r['auc']), _pm(r['ba']),
                     _pm(r['cal_auc']), _pm(r['cal_ba']), _pm(r['cal_ba_norm']), r['cal_direction'] or '—',
                     steps,
                     f"{r['auc'][2] if r['auc'] else 0}/{r['seeds']} ({r['shadow_seeds']})"])

        def g(k, i=0):
            return "" if r[k] is None else f"{r[k][i]:.4f}"
        csv.append(",".join([r["condition"], r["target"], str(r["seeds"]), str(r["shadow_seeds"]), g("TA"),
                             g("TA", 1), g("UA"), g("UA", 1), "" if dta is None else f"{dta:.4f}", g("auc"),
                             g("auc", 1), g("ba"), g("ba", 1), g("cal_auc"), g("cal_auc", 1), g("cal_ba"),
                             g("cal_ba", 1), g("cal_ba_area"), g("cal_auc_area"), g("auc_area"), g("steps_f"),
                             g("steps_ood"), g("RTE"), g("cal_ba_norm"), g("cal_ba_norm", 1), g("cal_auc_norm")]))
    lines = [f"ReA at relearning lr {lr}, {repeats} repeats × (1 forget + 3 OOD), T = 75, τ = 0.9, "
             "statistic steps-to-τ; mean ± sd over model seeds.", "", markdown_table(head, body)]
    atomic_write_text(os.path.join(out, "table.md"), "\n".join(lines) + "\n")
    atomic_write_text(os.path.join(out, "table_compact.md"), compact_table(rows) + "\n")
    atomic_write_text(os.path.join(out, "table.csv"), "\n".join(csv) + "\n")
    # output units: mean over seeds per (condition, target, stage)
    groups = {}
    for u in units:
        groups.setdefault((u["condition"], u["target"], u["stage"]), []).append(u)
    keys = ("w_norm_f", "w_norm_others", "bias_f", "bias_others", "bias_rank_f", "cos_f_to_others",
            "margin_forget", "margin_ood", "knn_forget", "knn_ood")
    uhead = ["condition", "target", "stage", "‖w_f‖", "mean ‖w_other‖", "b_f", "mean b_other",
             "rank of b_f (0 = largest)", "cos(w_f, w_other)", "margin forget imgs", "margin OOD imgs",
             "kNN purity forget", "kNN purity OOD"]
    ul = []
    ucsv = ["condition,target,stage," + ",".join(keys) + ",n"]
    for (c, t, s), us in groups.items():
        m = {k: float(np.mean([u[k] for u in us])) for k in keys}
        ul.append([c, t, s, f"{m['w_norm_f']:.2f}", f"{m['w_norm_others']:.2f}", f"{m['bias_f']:+.3f}",
                   f"{m['bias_others']:+.3f}", f"{m['bias_rank_f']:.1f}", f"{m['cos_f_to_others']:+.2f}",
                   f"{m['margin_forget']:+.2f}", f"{m['margin_ood']:+.2f}", f"{m['knn_forget']:.2f}", f"{m['knn_ood']:.2f}"])
        ucsv.append(",".join([c, t, s] + [f"{m[k]:.4f}" for k in keys] + [str(len(us))]))
    atomic_write_text(os.path.join(out, "units.md"), markdown_table(uhead, ul) + "\n")
    atomic_write_text(os.path.join(out, "units.csv"), "\n".join(ucsv) + "\n")
    write_json(os.path.join(out, "rows.json"), {"rows": rows, "units": units})
    print("\n".join(lines))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=HelpFormatter)
    p.add_argument("--conditions", nargs="+", default=["C0_epochs"], choices=list(CONDITIONS))
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="target model seeds (pretrain = unlearn)")
    p.add_argument("--shadow_seeds", type=int, nargs="*", default=[100, 101, 102],
                   help="the attacker's shadow seeds (none: one-sided ReA only)")
    p.add_argument("--methods", nargs="*", default=STANDARD,
                   help="standard methods (each with the --variants); none: retrain only")
    p.add_argument("--variants", nargs="*", default=["_our", "_orth"], choices=["_our", "_orth"],
                   help="defended variants run and tabled (none: the plain methods only)")
    p.add_argument("--skip", nargs="*", default=[], help="targets not run (still tabled when on disk), e.g. retrain")
    p.add_argument("--x10_methods", nargs="+", default=None, help="fewer methods for the digits_x10 condition")
    p.add_argument("--lr", type=float, default=0.01, help="relearning lr of the ReA")
    p.add_argument("--repeats", type=int, default=20)
    p.add_argument("--shadow_repeats", type=int, default=None, help="ReA repetitions on shadow models (default: --repeats)")
    p.add_argument("--jobs", type=int, default=1)
    p.add_argument("--stages", nargs="+", default=["pretrain", "unlearn", "rea"])
    p.add_argument("--aggregate_only", action="store_true")
    p.add_argument("--aggregate_conditions", nargs="+", default=None,
                   help="conditions in the table (default: every condition with runs on disk)")
    p.add_argument("--out", default=None,
                   help="folder of the tables (default: log_files/investigation/summary, and summary_lr<lr> for an "
                        "lr other than 0.01)")
    add_docs_flag(p, "docs/results/defence_C0.md")
    args = p.parse_args(argv)
    os.chdir(ROOT)
    if not args.aggregate_only:
        launcher = Launcher(LOG, jobs=args.jobs)
        for cond in args.conditions:
            plan(launcher, cond, args.seeds, args.shadow_seeds, args.methods, args.lr, args.repeats, args.x10_methods,
                 args.shadow_repeats, args.variants, args.skip)
        launcher.run(args.stages)
    conds = args.aggregate_conditions or [c for c in CONDITIONS if os.path.isdir(os.path.join(LOG, c))]
    out = args.out or os.path.join(LOG, "summary" if args.lr == 0.01 else f"summary_lr{args.lr:g}")
    aggregate(conds, args.seeds, args.shadow_seeds, args.methods, args.lr, args.repeats, args.x10_methods, out,
              args.variants)
    if args.docs:
        with open(os.path.join(out, "table.md")) as fh:
            write_measured(args.docs, f"Defence investigation on digits: {', '.join(conds)}", fh.read(),
                           command=script_command(__file__, argv))


if __name__ == "__main__":
    main()
