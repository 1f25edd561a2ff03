"""The ReA stage: flags, the target found by its run identity, the attack, its files under <run>/rea/<tag>/.

Entry point of mia_on_mu_main_<dataset>_<fullclass|subclass>.py (and, through ``unlearning.cli.extraction``, of the
black-box scripts). The attack itself is ``unlearning.reminiscence``.
"""
from __future__ import annotations

import os
from typing import Optional, Sequence

import numpy as np
import torch
import torch.nn as nn

from ..attacks import reminiscence as R
from ..evaluation import split_accuracy
from .args import finish_args, speed_flags
from .parsers import rea_parser
from ..experiment import Experiment, load_model
from ..files import StagedOutput, write_json, write_tsv
from ..paths import fmt_param
from ..runtime import Timer
from ..files import file_fingerprint
from ..plots import plot_relearning_curves
from ..run_identity import fill_forget_default, identity, preflight
from ..errors import exit_on_error


# ----------------------------------------------------------------------------- outputs
def write_curves(path: str, runs: Sequence[R.Run], acc: np.ndarray) -> str:
    cols = ["run_id", "side", "ood_class", "repeat"] + [f"acc_{t}" for t in range(acc.shape[1])]
    rows = []
    for r, a in zip(runs, acc):
        row = {"run_id": r.run_id, "side": r.side, "ood_class": r.ood_class, "repeat": r.repeat}
        row.update({f"acc_{t}": float(v) for t, v in enumerate(a)})
        rows.append(row)
    return write_tsv(path, rows, cols)


def write_outputs(out_dir: str, result: dict, extra: dict, plot: bool = True, title: str = "",
                  subtitle: str = "") -> str:
    """results.json, curves_lr<lr>.tsv, relearning_curves.png under ``out_dir``."""
    runs, acc = result["runs"], result["acc"]
    files = {}
    for lr in result["settings"]["relearning_lr"]:
        sel = [i for i, r in enumerate(runs) if r.lr == lr]
        name = f"curves_lr{fmt_param(lr)}.tsv"
        write_curves(os.path.join(out_dir, name), [runs[i] for i in sel], acc[sel])
        files[f"curves_lr{fmt_param(lr)}"] = name
    if plot:
        plot_relearning_curves(os.path.join(out_dir, "relearning_curves.png"), result, title, subtitle)
        files["plot"] = "relearning_curves.png"
    payload = dict(extra)
    payload.update({k: v for k, v in result.items() if k not in ("runs", "acc")})
    payload["files"] = files
    return write_json(os.path.join(out_dir, "results.json"), payload)



# ----------------------------------------------------------------------------- command line
def config_from_args(args, dataset: str, subclass: bool = False) -> R.ReAConfig:
    defaults = R.rea_defaults(dataset, subclass)
    values = R.args_or_defaults(args, ("unlearn_data_percent", "num_ood_dataset", "relearning_lr", "repeats", "steps",
                                     "mix_batch", "threshold", "batch_models"), defaults, dataset)
    if args.batch_models is None and "batch_models" in defaults:
        # unless given: chosen from the GPU's free memory (the CPU keeps the preset's value)
        values["batch_models"] = "auto"
    if args.no_batch:
        values["batch_models"] = 0
    return R.ReAConfig(seed=args.attack_seed, early_stop=bool(getattr(args, "early_stop", False)), **values).validate()


def resolve_target(args, subclass: bool, blackbox: bool) -> tuple:
    """(checkpoint path, output root). Fills the preset's forget class into ``args`` first."""
    fill_forget_default(args, subclass)
    if args.model_path:
        path = args.model_path
        root = args.out_dir or os.path.dirname(os.path.abspath(path))
    elif blackbox:
        raise R.ReAError("the black-box attack needs --model_path (the extracted copy, e.g. <run>/dfme/<tag>/student.pt)")
    else:
        # the run the unlearning driver wrote: the same identity (defaults, source model) names the same folder
        ident = identity(args, subclass)
        path = ident.checkpoint("last.pt")
        root = args.out_dir or ident.run_dir
        if not os.path.isfile(path):
            raise R.ReAError(f"{path} does not exist: run the unlearning script with the same arguments first "
                           f"(or pass --model_path)")
    return path, root


def rea_from_args(args, subclass: bool = False, blackbox: bool = False, prior_model: Optional[nn.Module] = None) -> dict:
    """Load the target named by ``args``, attack it, write <root>/rea/<tag>/."""
    cfg = config_from_args(args, args.dataset, subclass)
    path, root = resolve_target(args, subclass, blackbox)
    # black-box: root is the extracted copy's folder (<run>/dfme/<tag>), so "rea" never collides with white-box
    out_dir = os.path.join(root, "rea", cfg.tag())
    preflight(args.device, out_dir, stage="rea_blackbox" if blackbox else "rea")
    exp = Experiment(args.dataset, args.data_root, args.download, args.device, subclass=subclass,
                     forget_class=None if subclass else args.forget_class,
                     forget_fine=args.forget_fine if subclass else None, speed=speed_flags(args))
    model_fp = file_fingerprint(path)  # of the bytes loaded, before a concurrent rerun could replace them
    model, meta = load_model(path, exp)
    ua = split_accuracy(model, exp, "forget_train")
    ta = split_accuracy(model, exp, "retain_test")
    with Timer() as total:
        result = R.run_rea(model, exp, cfg, prior_model=prior_model, progress=not args.quiet)
    extra = {"status": "done", "stage": "rea_blackbox" if blackbox else "rea", "args": vars(args),
             "model_fingerprint": model_fp,
             "victim_fingerprint": (meta.get("victim") or {}).get("fingerprint") if blackbox else None,
             "target": {"checkpoint": path, "method": meta.get("method", args.method), "kind": meta.get("kind"),
                        "UA": ua, "TA": ta, "forget_test_acc": split_accuracy(model, exp, "forget_test")},
             "device": str(exp.device), "seconds": total.seconds, "torch_threads": torch.get_num_threads()}
    method = (meta.get("victim") or {}).get("method") if blackbox else None
    method = method or meta.get("method") or args.method
    title = f"{args.dataset} / {args.net}: {method}, {'black-box ReA on its DFME copy' if blackbox else 'white-box ReA'}"
    shown = os.path.relpath(path, args.log_root) if os.path.abspath(path).startswith(
        os.path.abspath(args.log_root) + os.sep) else path
    forgotten = f"fine class {args.forget_fine}" if subclass else f"class {args.forget_class}"
    title_details = (f"forget {forgotten}; target UA {ua:.2f}, TA {ta:.2f}; {cfg.repeats} repeats, T={cfg.steps}, "
                     f"τ={cfg.threshold:g} | {shown}")
    with StagedOutput(out_dir) as stage:  # a rerun replaces the old attack only once it has finished
        # early stop: curves end at τ, so no mean-curve plot
        write_outputs(stage.dir, result, extra, plot=not (args.no_plot or cfg.early_stop), title=title,
                      subtitle=title_details)
        stage.commit()
    lines = [f"ReA on {path}: UA {ua:.3f} TA {ta:.3f} | attacker sample {result['settings']['attacker_sample_size']} "
             f"images, {cfg.repeats} repeats × (1 forget + {cfg.num_ood_dataset} OOD), T={cfg.steps}, m={cfg.mix_batch}"]
    prior = result["prior_attack"]["scores"]
    for key, res in result["per_lr"].items():
        lines.append(f"  lr {key}: AUC {res['roc_auc']:.3f} | balanced acc {res['balanced_accuracy']:.3f} "
                     f"(member iff steps ≤ {res['threshold_steps']:g}) | TPR@{cfg.max_fpr:g}FPR {res['tpr_at_fpr']:.3f} "
                     f"| mean steps forget {res['mean_steps_forget']:.1f} / OOD {res['mean_steps_ood']:.1f} "
                     f"| ReA bal. acc / prior bal. acc {res['rea_over_prior_balanced_accuracy']:.2f}")
    lines.append(f"  prior attack (entropy MIA): balanced acc {prior['balanced_accuracy']:.3f}, AUC {prior['roc_auc']:.3f}")
    lines.append(f"  relearning {result['relearn_seconds']:.1f}s wall, {result['relearn_cpu_seconds']:.1f}s CPU "
                 f"({result['ms_per_model_step']:.2f} ms wall / {result['cpu_ms_per_model_step']:.2f} ms CPU per model-step, "
                 f"{result['settings']['engine']}) | total {total.seconds:.1f}s | {out_dir}")
    print("\n".join(lines))
    return dict(extra, out_dir=out_dir, per_lr=result["per_lr"], prior_attack=prior, settings=result["settings"],
                relearn_seconds=result["relearn_seconds"])


def rea_main(dataset: str, subclass: bool = False, blackbox: bool = False, argv=None, args=None) -> dict:
    """Entry point of mia_on_mu_main_<dataset>_<fullclass|subclass>.py: ``args`` already parsed, else parsed from
    ``argv``."""
    args = finish_args(args if args is not None else rea_parser(dataset, subclass, blackbox).parse_args(argv))
    with exit_on_error("the attack results"):
        return rea_from_args(args, subclass, blackbox)
