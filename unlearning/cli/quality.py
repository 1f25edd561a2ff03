"""The forgetting-quality stage behind forget_quality_main_<dataset>.py: is an unlearned model distinguishable
from a population of retrained ones?

For a preset and a forget class, with K seeds s = first_seed … first_seed+K−1:
  1. pretrain model s (pretrain_model_<dataset>.py's function; a finished checkpoint is reused),
  2. retrain model s without the forget class, and for every method unlearn pretrained model s (the unlearning
     driver; a finished run with the same settings and pretrained checkpoint is reused) — the K retrained models
     are shared by every method,
  3. run the Reminiscence Attack on every model, all targets stacked in one vmapped engine, the attacker samples
     of model s drawn with attack seed ``attack_seed + s`` (retrained and unlearned model s see the same samples),
  4. per method, compare the per-model relearning statistics with the retrained population (unlearning/metrics/quality.py).

Writes ``<log_root>/<dataset>/<net>/forget_<c>/quality/K<K>_seed-<s0>_<ReA tag>_m-<methods hash>/``: results.json (every number,
the per-model statistics), table.md and distributions.png. Per-model ReA results are cached by checkpoint
fingerprint in ``quality/attacks/<ReA tag>[_rcp-<hash>]/``, shared by every K and first seed, so adding a method
or seeds (or running seed ranges side by side, then the whole range) attacks only the new models.
"""
from __future__ import annotations

import hashlib
import math
import os
import time
from typing import List, Optional

import numpy as np

import config
from ..metrics import quality as Q
from ..measured_docs import script_command, write_measured
from ..attacks import reminiscence as R
from ..attacks import rival as RV
from ..errors import exit_on_error
from .args import expected_args, finish_args, speed_flags
from .parsers import RECIPE_FLAGS, quality_parser
from ..experiment import Experiment, load_model
from ..files import read_json_object, write_json
from ..paths import forget_dir, seed_field, settings_tag
from ..run_identity import run_dir_from_args
from ..files import file_fingerprint
from ..paths import pretrained_path
from ..run_identity import fill_forget_default, recipe_of
from ..runtime import Progress
from ..tables import markdown_table
from . import pretrain as pretraining
from . import unlearn as U
from ..files import atomic_write
from ..files import atomic_write_text
from ..files import jsonable as _jsonable
from ..files import same_json
from ..methods import check_settings, get_method, merge, method_settings
from ..values import TRAINING_RECIPE_KINDS, check_table, did_you_mean
import json

REFERENCES = ("baseline", "retrain")
STAT_NAMES = list(Q.STATISTICS)
HEADLINE = "forget_steps"  # the statistic of the U-LiRA and ε columns
NO_FORGET_DATA = "ood_steps"
SHORT_NAMES = {"forget_steps": "forget steps-to-τ (mean per model)", "forget_over_ood": "forget / OOD steps-to-τ",
               "ood_steps": "OOD steps-to-τ (no forget data)"}


class StageError(ValueError):
    """Bad stage arguments (K, methods, attack settings)."""


# ----------------------------------------------------------------------------- arguments
def parser(dataset: str):
    return quality_parser(dataset)


def method_entries(dataset: str, names: Optional[List[str]]) -> List[list]:
    """[[method, para1, para2], ...] for the methods to audit (never baseline or retrain)."""
    listed = [list(m)[:3] for m in config.RUN_PRESETS.get(dataset, {}).get("mu_method_list", [])]
    by_name = {m[0]: m for m in listed}
    if names is None:
        names = [m[0] for m in listed if m[0] not in REFERENCES]
    bad = [n for n in names if n in REFERENCES]
    if bad:
        raise StageError(f"{bad[0]} is a reference, not a method to audit (retrained models are always trained)")
    for n in names:
        get_method(n)  # UnknownMethodError (a ValueError) names the choices
    if not names:
        raise StageError("no method to audit: pass --methods")
    return [by_name.get(n, [n, None, None]) for n in names]


def rea_config(args) -> R.ReAConfig:
    d = R.rea_defaults(args.dataset)
    values = R.args_or_defaults(args, ("unlearn_data_percent", "num_ood_dataset", "repeats", "steps", "mix_batch",
                                       "threshold", "batch_models"), d, args.dataset)
    try:
        values["batch_models"] = int(values["batch_models"])
    except (TypeError, ValueError):
        values["batch_models"] = 80  # a non-numeric preset value ("auto"): a chunk size that suits CPU and GPU
    lr = args.relearning_lr if args.relearning_lr is not None else list(np.atleast_1d(d.get("relearning_lr", [0.01])))[0]
    return R.ReAConfig(relearning_lr=[lr], seed=args.attack_seed, **values).validate()


# ----------------------------------------------------------------------------- models (reusing the entry points)
def _common(args) -> List[str]:
    return ["-dataset", args.dataset, "-net", args.net, "--device", args.device, "--log_root", args.log_root,
            "--data_root", args.data_root]


def ensure_pretrained(args, seed: int) -> str:
    """The pretrained checkpoint of ``seed``, pretraining it with the pretraining entry's function if missing."""

    ckpt = pretrained_path(args.log_root, args.dataset, args.net, seed)
    res = read_json_object(os.path.join(os.path.dirname(ckpt), "results.json")) or {}
    argv = _common(args) + ["-seed", str(seed), "--quiet"] + pretrain_flags(args)
    if os.path.isfile(ckpt) and res.get("status") == "done":
        wanted = pretraining.recipe_of_argv(args.dataset, argv)
        if not same_json(res.get("recipe"), wanted):
            raise StageError(f"{ckpt} was pretrained with another recipe ({res.get('recipe')}) than the audit's "
                             f"({wanted}), which its K models share: move it, give that recipe "
                             "(--pretrain_recipe), or use another --log_root")
        return ckpt
    pretraining.main(args.dataset, argv)
    return ckpt


def pretrain_flags(args) -> List[str]:
    """The pretraining flags of --pretrain_recipe (its values checked by the pretraining parser's kinds)."""
    out = []
    for key, value in (args.pretrain_recipe or {}).items():
        if key == "augment":
            out.append("--augment" if value else "--no-augment")
        else:
            out += [f"--{key}", *[str(v) for v in (value if isinstance(value, list) else [value])]]
    return out


def check_scope_settings(args, entries) -> None:
    """--pretrain_recipe and --method_settings checked before anything runs: keys known, values of their kinds, a
    method named that the audit runs (retrain or an audited one)."""
    if args.pretrain_recipe:  # the recipe keys pretraining takes as flags
        check_table("--pretrain_recipe", args.pretrain_recipe,
                    {k: TRAINING_RECIPE_KINDS[k] for k in RECIPE_FLAGS})
    names = ["retrain"] + [e[0] for e in entries]
    for name, override in (args.method_settings or {}).items():
        if name not in names:
            raise StageError(f"--method_settings names {name!r}, which the audit does not run"
                             f"{did_you_mean(name, names)}; it runs {', '.join(names)}")
        check_settings(name, merge(method_settings(args.dataset, name, recipe=recipe_of(args)),
                                   check_object(f"--method_settings {name}", override)))


def check_object(label: str, value) -> dict:
    if not isinstance(value, dict):
        raise StageError(f"{label} must be an object of settings, got {value!r}")
    return value


def unlearn_argv(args, entry, seed: int, weight_path: str) -> List[str]:
    argv = _common(args) + ["-seed", str(seed), "--forget_class", str(args.forget_class), "-method", entry[0],
                            "-weight_path", weight_path]
    if entry[1] is not None:
        argv += ["--para1", str(entry[1])]
    if entry[2] is not None:
        argv += ["--para2", str(entry[2])]
    if getattr(args, "recipe", None):
        argv += ["--recipe", args.recipe]
    if entry[0] in (args.method_settings or {}):
        argv += ["--settings", json.dumps(args.method_settings[entry[0]], sort_keys=True)]
    return argv


def ensure_unlearned(args, entry, seed: int, weight_path: str) -> dict:
    """Run folder, checkpoint and metrics of one (method, seed), reusing a finished run with the same settings
    and the same pretrained model by content (its fingerprint, whatever the path's spelling); the unlearning
    driver does the work."""

    argv = unlearn_argv(args, entry, seed, weight_path)
    uargs = finish_args(U.parser(args.dataset).parse_args(argv))
    _, settings = U.resolve(uargs)
    run_dir = run_dir_from_args(uargs)
    res_path, ckpt = os.path.join(run_dir, "results.json"), os.path.join(run_dir, "last.pt")
    old = read_json_object(res_path) if not args.rerun and os.path.isfile(ckpt) else None
    if old is not None:
        # the source model by content (a sweep may have spelled its path otherwise: relative, absolute); resolve
        # has fingerprinted it already
        same = (old.get("status") == "done" and old.get("source_fingerprint") is not None
                and old.get("source_fingerprint") == uargs.source_fingerprint
                and same_settings(old.get("settings"), settings) and isinstance(old.get("metrics", {}), dict))
        if same:
            return {"run_dir": run_dir, "checkpoint": ckpt, "metrics": old.get("metrics", {}), "reused": True}
    try:
        res = U.main(args.dataset, argv=argv)
    except SystemExit as err:  # the driver exits with one line on a bad run: record it, go on with the others
        return {"run_dir": run_dir, "checkpoint": None, "error": str(err.code), "reused": False}
    return {"run_dir": run_dir, "checkpoint": ckpt, "metrics": res.get("metrics", {}), "reused": False,
            "seconds": res.get("metrics", {}).get("RTE")}


def same_settings(saved: Optional[dict], current: dict) -> bool:
    """A saved run's settings equal the current ones; keys starting with '_' are what the run logged into them."""

    def clean(d):
        return {k: v for k, v in json.loads(json.dumps(_jsonable(d or {}))).items() if not str(k).startswith("_")}
    return saved is not None and clean(saved) == clean(current)


# ----------------------------------------------------------------------------- the attack on every model
def attack_models(targets: List[dict], exp, cfg: R.ReAConfig, cache_dir: str, rerun: bool, quiet: bool) -> float:
    """Fill ``target["rea"]`` for every target: cached by checkpoint fingerprint, the rest attacked together."""
    todo = []
    for t in targets:
        t["fingerprint"] = file_fingerprint(t["checkpoint"])
        t["cache"] = os.path.join(cache_dir, t["population"], f"{seed_field(t['seed'])}.json")
        cached = None if rerun else read_json_object(t["cache"])
        if cached is not None and cached.get("fingerprint") == t["fingerprint"] and isinstance(cached.get("rea"), dict):
            t["rea"] = cached["rea"]
            continue
        todo.append(t)
    if not todo:
        return 0.0
    models, runs_per_model = [], []
    for t in todo:
        model, _ = load_model(t["checkpoint"], exp)
        models.append(model)
        cfg_t = R.ReAConfig(**{**cfg.__dict__, "seed": cfg.seed + t["seed"]})
        samples = [R.draw_samples(exp.split, cfg_t, r) for r in range(cfg.repeats)]
        runs_per_model.append(R.build_runs(samples, cfg.relearning_lr))
    n = R.attacker_size(exp.split, cfg)
    bar = Progress(sum(len(r) for r in runs_per_model), f"[quality] ReA on {len(models)} models (stacked): runs",
                   enabled=not quiet)
    start = time.perf_counter()
    counts = R.relearn_many(models, runs_per_model, R.RunData(exp.train, exp.split), int(cfg.steps),
                            int(cfg.batch_models), bar.update)
    seconds = time.perf_counter() - start
    bar.close()
    for t, c, runs in zip(todo, counts, runs_per_model):
        res = R.score_lr(c / float(n), runs, cfg)
        t["rea"] = {"attack_seed": cfg.seed + t["seed"], "member_steps": res["member_steps"],
                    "non_member_steps": res["non_member_steps"], "balanced_accuracy": res["balanced_accuracy"],
                    "roc_auc": res["roc_auc"], "tpr_at_fpr": res["tpr_at_fpr"]}
        write_json(t["cache"], {"fingerprint": t["fingerprint"], "checkpoint": t["checkpoint"], "rea": t["rea"],
                                "settings": cfg.__dict__})
    return seconds


def cmia_features(targets: List[dict], exp) -> None:
    """``target["cmia"]``: the CMIA feature vectors (the probabilities over the retained classes on forget-test
    images) of every target model."""
    for t in targets:
        model, _ = load_model(t["checkpoint"], exp)
        t["cmia"] = RV.cmia_model_features(model, exp, "forget_test")


def cmia_numbers(unlearned: List[dict], retrained: List[dict], seed: int) -> Optional[dict]:
    """CMIA (``attacks.rival.cmia_score``) of one population against the retrained one, on held-out models; None
    where a side has fewer than 2 models."""
    if len(unlearned) < 2 or len(retrained) < 2:
        return None
    return RV.cmia_score([m["cmia"] for m in unlearned], [m["cmia"] for m in retrained], seed=seed)


# ----------------------------------------------------------------------------- numbers per method
def population_numbers(ret: List[dict], unl: List[dict], max_fpr: float, confidence: float) -> dict:
    """U-LiRA and ε of every statistic, plus the per-model ReA balanced accuracy, for one pair of populations."""
    out = {"statistics": {}}
    for name in STAT_NAMES:
        r = [m["stats"][name] for m in ret]
        u = [m["stats"][name] for m in unl]
        if not all(math.isfinite(v) for v in r + u):
            out["statistics"][name] = {"error": "non-finite statistic (a model predicts the forget output on OOD images)"}
            continue
        out["statistics"][name] = Q.compare(r, u, max_fpr, confidence)
    ba = [m["rea"]["balanced_accuracy"] for m in unl]
    out["rea_balanced_accuracy"] = {"mean": float(np.mean(ba)), "sd": float(np.std(ba, ddof=1)) if len(ba) > 1 else 0.0,
                                    "per_model": ba}
    return out


def _fmt_pm(d):
    return f"{d['mean']:.3f} ± {d['sd']:.3f}"


def _fmt_ci(ci) -> str:
    return f"[{ci[0]:.2f}, {ci[1]:.2f}]" if isinstance(ci, (list, tuple)) and len(ci) == 2 else "—"


def table_rows(results: dict) -> List[dict]:
    rows = []
    for name, block in results["methods"].items():
        if "numbers" not in block:
            rows.append({"method": name, "models": 0, "note": block.get("error", "failed")})
            continue
        num = block["numbers"]
        head, nofd = num["statistics"][HEADLINE], num["statistics"].get(NO_FORGET_DATA, {})
        norm = num["statistics"].get("forget_over_ood", {})
        e0 = head["epsilon"]["0"] if "epsilon" in head else None
        rows.append({
            "method": name, "models": len(block["models"]),
            "ReA bal. acc.": _fmt_pm(num["rea_balanced_accuracy"]),
            "U-LiRA AUC": f"{head['ulira']['auc']:.3f}" if "ulira" in head else "—",
            "U-LiRA AUC 95% CI": _fmt_ci(head.get("ulira", {}).get("auc_ci")),
            f"TPR@{results['settings']['max_fpr']:g}FPR": f"{head['ulira']['tpr_at_fpr']:.3f}" if "ulira" in head else "—",
            "ε (δ=0) [CI]": Q.fmt_epsilon(e0) if e0 else "—",
            "ε lower bound": f"{e0['lower_bound']:.2f}" if e0 else "—",
            "ε (δ=0), threshold held out [CI]": Q.fmt_epsilon(e0["heldout"]) if e0 and e0.get("heldout") else "—",
            "no-forget-data AUC": f"{nofd['ulira']['auc']:.3f}" if "ulira" in nofd else "—",
            "OOD-normalised AUC": f"{norm['ulira']['auc']:.3f}" if "ulira" in norm else "—",
            "CMIA AUC (held-out models)": f"{block['cmia']['auc']:.3f}" if block.get("cmia") else "—",
        })
        if block.get("errors"):
            rows[-1]["note"] = f"{len(block['errors'])} seed(s) failed"
    return rows


def to_markdown(rows: List[dict], results: dict) -> str:
    s = results["settings"]
    res = results["resolution"]
    cols = [c for c in rows[0]] if rows else []
    for r in rows:
        cols += [c for c in r if c not in cols]
    lines = [f"Forgetting quality, {s['dataset']} {s['net']} forget class {s['forget_class']}: K = {s['K']} "
             f"retrained vs K unlearned models per method (seeds {s['seeds'][0]}–{s['seeds'][-1]}), statistic "
             f"'{HEADLINE}' (mean ReA steps-to-τ of the forget samples); ε at δ = 0 with its "
             f"{100 * s['confidence']:g}% Clopper–Pearson interval, at the in-sample best threshold and at a threshold "
             f"chosen on the even-indexed models and measured on the odd-indexed ones (n/a: one rate 0 there). With K = {s['K']}: the largest finite ε estimate "
             f"is {res['max_finite_epsilon']:.2f}, the largest certifiable lower bound {res['max_certifiable_epsilon']:.2f} "
             f"(≥ {res['min_models_to_certify']} models per population are needed to certify any ε > 0); TPR at "
             f"{s['max_fpr']:g} FPR with {s['K']} retrained models means TPR at FPR "
             f"{math.floor(s['max_fpr'] * s['K']) / s['K']:.3g}.", "",
             markdown_table(cols, [[r.get(c, "—") for c in cols] for r in rows])]
    return "\n".join(lines) + "\n"


def plot(path: str, results: dict) -> str:
    """distributions.png: ``quality_figure``, written atomically."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt


    fig = quality_figure(results)
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight", pad_inches=0.15))
    plt.close(fig)
    return path


def quality_figure(results: dict):
    """Per statistic, one dot per model for the retrained population and each method (mean as a bar); the steps
    panels in steps to τ, with the T+1 ceiling (a sample that never reached τ) marked."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    s = results["settings"]
    ceiling = int(s["rea"]["steps"]) + 1  # steps-to-τ of a sample that never reached τ
    units = {"forget_steps": "steps to τ (mean per model)", "ood_steps": "steps to τ (mean per model)",
             "forget_over_ood": "ratio of steps to τ (forget / OOD)"}
    pops = [("retrain", results["retrained"]["models"])] + [
        (name, b["models"]) for name, b in results["methods"].items() if b.get("models")]
    fig, axes = plt.subplots(1, len(STAT_NAMES), figsize=(max(4.2, 0.55 * len(pops) + 2) * len(STAT_NAMES), 4.0),
                             squeeze=False)
    rng = np.random.default_rng(0)
    for ax, stat in zip(axes[0], STAT_NAMES):
        for j, (name, models) in enumerate(pops):
            v = np.array([m["stats"][stat] for m in models], dtype=float)
            ax.scatter(j + rng.uniform(-0.15, 0.15, v.size), v, s=14, alpha=0.75,
                       color="tab:gray" if j == 0 else f"C{j % 10}")
            if v.size and np.isfinite(v).any():
                ax.hlines(np.nanmean(v), j - 0.3, j + 0.3, color="k", lw=1)
        ax.set_xticks(range(len(pops)))
        ax.set_xticklabels([p[0] for p in pops], rotation=45, ha="right", fontsize=7)
        ax.set_title(SHORT_NAMES[stat], fontsize=8)
        ax.set_ylabel(units.get(stat, stat), fontsize=8)
        ax.tick_params(axis="y", labelsize=7)
        ax.grid(axis="y", alpha=0.3)
        if stat in ("forget_steps", "ood_steps"):
            ax.axhline(ceiling, color="tab:red", lw=0.8, ls="--")
            ax.text(0.02, ceiling, f"T+1 = {ceiling}: never reached τ", transform=ax.get_yaxis_transform(),
                    color="tab:red", fontsize=7, va="bottom")
            ax.set_ylim(bottom=0, top=ceiling * 1.08)
    fig.suptitle(f"{s['dataset']} / {s['net']}, forget class {s['forget_class']}: per-model ReA statistics, "
                 f"K = {s['K']} models per population (bar: mean)", fontsize=9)
    fig.tight_layout()
    return fig


# ----------------------------------------------------------------------------- the stage
def _quality_path(args, *parts: str) -> str:
    """<forget folder>/quality/<parts>, the last part ending in _set-<hash> when --pretrain_recipe or
    --method_settings is given and _rcp-<recipe hash> when a recipe is given: models trained otherwise are
    another audit (and another attack cache)."""
    rcp = settings_tag(recipe_of(args))
    changes = {k: getattr(args, k) for k in ("pretrain_recipe", "method_settings") if getattr(args, k, None)}
    st = settings_tag(changes)
    *folders, leaf = parts
    return os.path.join(forget_dir(args.log_root, args.dataset, args.net, args.forget_class), "quality", *folders,
                        leaf + (f"_set-{st}" if st else "") + (f"_rcp-{rcp}" if rcp else ""))


def scope_tag(entries) -> str:
    """Short content hash of the audited methods and their knobs: an audit of other methods is another audit (it
    never replaces this one)."""
    return hashlib.sha1(json.dumps([list(e) for e in entries], sort_keys=True).encode()).hexdigest()[:8]


def out_dir_for(args, cfg: R.ReAConfig, entries) -> str:
    """<forget folder>/quality/K<K>_seed-<s0>_<ReA tag>_m-<methods hash>[_rcp-<recipe hash>]"""
    return _quality_path(args, f"K{args.K}_{seed_field(args.first_seed)}_{cfg.tag()}_m-{scope_tag(entries)}")


def attack_cache_dir(args, cfg: R.ReAConfig) -> str:
    """<forget folder>/quality/attacks/<ReA tag>[_rcp-<recipe hash>]: one model's attack does not depend on K."""
    return _quality_path(args, "attacks", cfg.tag())


def resolve_scope(args) -> tuple:
    """Fill the forget class and first seed into ``args``; (method entries, ReA config, output folder)."""
    fill_forget_default(args)
    if args.first_seed is None:
        args.first_seed = args.seed
    entries, cfg = method_entries(args.dataset, args.methods), rea_config(args)
    check_scope_settings(args, entries)
    return entries, cfg, out_dir_for(args, cfg, entries)


# the arguments that change the stage's numbers but not its folder name (K, seeds, ReA settings and methods name it)
COMPUTE_KEYS = ("confidence", "max_fpr", "recipe")


def computed_settings(dataset: str, argv) -> dict:
    """``expected_args`` of ``COMPUTE_KEYS`` for a quality command line."""
    return expected_args(parser(dataset), argv, COMPUTE_KEYS)


def results_path(dataset: str, argv) -> str:
    """The results.json the stage writes for the command-line arguments ``argv`` (the launcher's declared output)."""
    return os.path.join(resolve_scope(finish_args(parser(dataset).parse_known_args(argv)[0]))[2], "results.json")


def run_stage(args, argv=None) -> dict:
    if args.K < 2:
        raise StageError(f"-K must be at least 2 (leave-one-out fits need two models per population), got {args.K}")
    entries, cfg, out_dir = resolve_scope(args)
    seeds = list(range(args.first_seed, args.first_seed + args.K))
    t0 = time.perf_counter()
    timings = {}

    def log(msg):
        if not args.quiet:
            print(msg, flush=True)

    # every model of the stage: K pretrained, K retrained, K per method (finished ones are reused at once)
    models_bar = Progress(len(seeds) * (2 + len(entries)), "[quality] models", enabled=not args.quiet)
    start = time.perf_counter()
    pretrained = {}
    for s in seeds:
        pretrained[s] = ensure_pretrained(args, s)
        models_bar.update(note=f"pretrained seed {s}")
    timings["pretrain"] = time.perf_counter() - start
    log(f"[quality] {len(seeds)} pretrained models ({timings['pretrain']:.0f}s)")

    def population(entry) -> tuple:
        models, errors = [], []
        for s in seeds:
            r = ensure_unlearned(args, entry, s, pretrained[s])
            models_bar.update(note=f"{entry[0]} seed {s}")
            if r.get("checkpoint") is None:
                errors.append(f"seed {s}: {r['error']}")
                continue
            models.append({"population": entry[0], "seed": s, "checkpoint": r["checkpoint"], "run_dir": r["run_dir"],
                           "UA": r["metrics"].get("UA"), "TA": r["metrics"].get("TA"), "reused": r["reused"]})
        return models, errors

    start = time.perf_counter()
    retrained, errors = population(["retrain", None, None])
    if errors:
        raise StageError(f"retraining failed ({errors[0]}): no reference population")
    timings["retrain"] = time.perf_counter() - start
    log(f"[quality] {len(retrained)} retrained models ({timings['retrain']:.0f}s)")
    methods = {}
    start = time.perf_counter()
    for entry in entries:
        models, errors = population(entry)
        methods[entry[0]] = {"entry": entry, "models": models, "errors": errors}
        log(f"[quality] {entry[0]}: {len(models)} unlearned models" + (f", {len(errors)} failed" if errors else ""))
    timings["unlearn"] = time.perf_counter() - start
    models_bar.close()

    exp = Experiment(args.dataset, args.data_root, args.download, args.device, forget_class=args.forget_class,
                     speed=speed_flags(args))
    targets = retrained + [m for b in methods.values() for m in b["models"]]
    timings["rea"] = attack_models(targets, exp, cfg, attack_cache_dir(args, cfg), args.rerun, args.quiet)
    for t in targets:
        t["stats"] = Q.per_model_statistics(t["rea"]["member_steps"], t["rea"]["non_member_steps"])
        for key in ("fingerprint", "cache"):
            t.pop(key, None)
    log(f"[quality] ReA on {len(targets)} models ({timings['rea']:.0f}s for the ones not cached)")
    start = time.perf_counter()
    cmia_features(targets, exp)
    timings["cmia"] = time.perf_counter() - start

    for name, block in methods.items():
        if len(block["models"]) < 2:
            block["error"] = "fewer than 2 unlearned models: " + "; ".join(block["errors"])
            continue
        if block["errors"]:
            block["error"] = f"{len(block['errors'])} seed(s) failed, computed on the rest: " + "; ".join(block["errors"])
        block["numbers"] = population_numbers(retrained, block["models"], args.max_fpr, args.confidence)
        block["cmia"] = cmia_numbers(block["models"], retrained, args.attack_seed)
    half = len(retrained) // 2
    control = control_cmia = None
    if half >= 2:  # retrained against retrained: what "indistinguishable" looks like at this K
        control = population_numbers(retrained[:half], retrained[half:2 * half], args.max_fpr, args.confidence)
        control_cmia = cmia_numbers(retrained[:half], retrained[half:2 * half], args.attack_seed)
    for t in targets:
        t.pop("cmia", None)  # the vectors: not part of results.json

    ba = [m["rea"]["balanced_accuracy"] for m in retrained]
    timings["total"] = time.perf_counter() - t0
    results = {
        "status": "done", "stage": "quality",
        "settings": {"dataset": args.dataset, "net": args.net, "forget_class": args.forget_class, "K": args.K,
                     "seeds": seeds, "attack_seeds": [args.attack_seed + s for s in seeds], "rea": cfg.__dict__,
                     "rea_tag": cfg.tag(), "confidence": args.confidence, "max_fpr": args.max_fpr,
                     "headline_statistic": HEADLINE, "no_forget_data_statistic": NO_FORGET_DATA,
                     "statistics": Q.STATISTICS, "device": str(exp.device)},
        "args": vars(args),
        "resolution": Q.resolution(args.K, args.K, 0.0, args.confidence),
        "resolution_challenge_delta": Q.resolution(args.K, args.K, Q.CHALLENGE_DELTA, args.confidence),
        "retrained": {"models": retrained, "rea_balanced_accuracy": {
            "mean": float(np.mean(ba)), "sd": float(np.std(ba, ddof=1)) if len(ba) > 1 else 0.0, "per_model": ba}},
        "retrained_split_halves": control,
        "retrained_cmia": control_cmia,
        "methods": methods,
        "seconds": timings,
    }
    rows = [{"method": "retrain", "models": len(retrained), "ReA bal. acc.": _fmt_pm(results["retrained"]["rea_balanced_accuracy"])}]
    if control:
        ctrl = {"retrain (half vs half)": {"models": retrained[half:2 * half], "numbers": control,
                                           "cmia": control_cmia}}
        rows += table_rows({"methods": ctrl, "settings": results["settings"]})
    rows += table_rows(results)
    results["table"] = rows
    md = to_markdown(rows, results)
    atomic_write_text(os.path.join(out_dir, "table.md"), md)
    files = {"table": "table.md"}
    if not args.no_plot:
        plot(os.path.join(out_dir, "distributions.png"), results)
        files["plot"] = "distributions.png"
    results["files"] = files
    write_json(os.path.join(out_dir, "results.json"), results)
    log(md)
    log(f"[quality] {timings['total']:.0f}s in all → {out_dir}")
    if getattr(args, "docs", None):
        write_measured(args.docs, f"Forgetting quality on {args.dataset}, forget class {args.forget_class}, "
                       f"K = {args.K}", md + f"\nWall time of this command: {timings['total']:.0f} s (finished runs and cached "
                       "attacks are reused, so a rerun is fast).\n",
                       command=script_command(f"forget_quality_main_{args.dataset}.py", argv))
    results["out_dir"] = out_dir
    return results


def main(dataset: str, argv=None) -> dict:
    """Entry point of forget_quality_main_<dataset>.py."""
    args = finish_args(parser(dataset).parse_args(argv))
    with exit_on_error("the quality results"):  # StageError, ReAError, QualityError, CheckpointError: ValueErrors
        return run_stage(args, argv)
