"""The rival-attacks stage: PRA and retain-only relearning on an unlearning run's model, found by its run identity;
each attack writes <run>/<attack>/<tag>/results.json (and retain-only relearning its curve, curve.png).

Entry point of rival_attack_main_<dataset>.py and of run.py's "rival" stage. The algorithms are
``unlearning.attacks.rival``; CMIA, which needs populations of models, is a statistic of the quality stage.
"""
from __future__ import annotations

import os
from typing import Dict, List

import torch

import config
from ..attacks import rival as A
from ..errors import exit_on_error
from ..evaluation import split_accuracy
from ..experiment import Experiment, load_model
from ..files import StagedOutput, file_fingerprint, write_json
from ..paths import fmt_param
from ..plots import plot_retain_relearning
from ..runtime import Timer
from ..run_identity import fill_forget_default, identity, preflight
from .args import finish_args, speed_flags
from .parsers import RIVAL_FLAGS, SUBCLASS_RIVAL_ATTACKS, rival_parser


class RivalError(ValueError):
    """A rival attack that cannot run as asked (one error line)."""


def settings_from_args(args) -> Dict[str, dict]:
    """{attack: settings}: config.RIVAL's for the dataset, each given flag replacing its value."""
    values = config.rival_settings(args.dataset)
    for flag, (attack, key, _kind, _what) in RIVAL_FLAGS.items():
        if getattr(args, flag, None) is not None:
            values[attack][key] = getattr(args, flag)
    return values


def tag(attack: str, s: dict, seed: int) -> str:
    """The folder name of one attack's settings (a rerun with other settings gets its own folder)."""
    if attack == "pra":
        return f"n{s['n_samples']}_a{fmt_param(s['alpha'])}_{s['metric']}_{s['source']}_seed-{seed}"
    return (f"{s['optimizer']}_lr{fmt_param(s['lr'])}_T{s['steps']}_b{s['batch_size']}_{s['schedule']}"
            f"_e{s['eval_every']}_bn-{s['bn']}_seed-{seed}")


def target_of(args, subclass: bool = False) -> tuple:
    """(checkpoint, output root): --model_path, or the run named by the identity flags."""
    fill_forget_default(args, subclass)
    if args.model_path:
        return args.model_path, args.out_dir or os.path.dirname(os.path.abspath(args.model_path))
    ident = identity(args, subclass)
    path = ident.checkpoint("last.pt")
    if not os.path.isfile(path):
        raise RivalError(f"{path} does not exist: run the unlearning script with the same arguments first "
                         f"(or pass --model_path)")
    return path, args.out_dir or ident.run_dir


def results_paths(args, subclass: bool = False) -> List[str]:
    """results.json of every attack ``args`` asks for (what the launcher checks)."""
    _, root = target_of(args, subclass)
    values = settings_from_args(args)
    return [os.path.join(root, a, tag(a, values[a], args.attack_seed), "results.json") for a in args.attack]


def _run_one(attack: str, s: dict, model, exp, seed: int):
    if attack == "pra":
        return A.prototypical_relearning_attack(model, exp, n_samples=s["n_samples"], alpha=s["alpha"], seed=seed,
                                                source=s["source"], metric=s["metric"])
    return A.retain_relearning(model, exp, steps=s["steps"], lr=s["lr"], eval_every=s["eval_every"],
                               optimizer=s["optimizer"], schedule=s["schedule"], batch_size=s["batch_size"], seed=seed,
                               train_mode=s["bn"] == "train")


def rival_from_args(args, subclass: bool = False) -> Dict[str, dict]:
    """Every attack of ``args.attack`` on the target model; in the sub-class setting (one fine class forgotten,
    its siblings retained under the shared superclass) retain-only relearning only."""
    if subclass and set(args.attack) - set(SUBCLASS_RIVAL_ATTACKS):
        raise RivalError(f"the sub-class setting has only {', '.join(SUBCLASS_RIVAL_ATTACKS)}: PRA writes a "
                         f"prototype into the forget class's row, which is the superclass the retained siblings share")
    path, root = target_of(args, subclass)
    values = settings_from_args(args)
    out_dirs = {a: os.path.join(root, a, tag(a, values[a], args.attack_seed)) for a in args.attack}
    for a, d in out_dirs.items():
        preflight(args.device, d, stage=a)
    exp = Experiment(args.dataset, args.data_root, args.download, args.device,
                     forget_class=None if subclass else args.forget_class, subclass=subclass,
                     forget_fine=args.forget_fine if subclass else None, speed=speed_flags(args))
    forgotten = f"fine class {args.forget_fine}" if subclass else f"forget class {args.forget_class}"
    model_fp = file_fingerprint(path)  # of the bytes loaded
    model, meta = load_model(path, exp)
    method = meta.get("method") or args.method
    target = {"checkpoint": path, "method": method, "kind": meta.get("kind"),
              "UA": split_accuracy(model, exp, "forget_train"), "TA": split_accuracy(model, exp, "retain_test"),
              "forget_test_acc": split_accuracy(model, exp, "forget_test")}
    out = {}
    for a in args.attack:
        with Timer() as t:
            try:
                result = _run_one(a, values[a], model, exp, args.attack_seed)
            except FloatingPointError as err:  # the relearning diverged at this lr
                raise RivalError(f"{a}: {err} (try a smaller --relearn_lr)")
        payload = {"status": "done", "stage": a, "args": vars(args), "settings": values[a],
                   "model_fingerprint": model_fp, "target": target, "device": str(exp.device), "seconds": t.seconds,
                   "torch_threads": torch.get_num_threads(), a: result, "files": {}}
        with StagedOutput(out_dirs[a]) as stage:  # a rerun replaces the old result only once it has finished
            if a == "retain_relearn" and not args.no_plot:
                plot_retain_relearning(os.path.join(stage.dir, "curve.png"), result, args.dataset, args.net,
                                       f"{method}, retain-only relearning",
                                       f"{forgotten}; {values[a]['optimizer']} lr "
                                       f"{values[a]['lr']:g}, batch {values[a]['batch_size']}, seed {args.seed}")
                payload["files"]["plot"] = "curve.png"
            write_json(os.path.join(stage.dir, "results.json"), payload)
            stage.commit()
        if a == "pra":
            line = (f"PRA ({values[a]['n_samples']} images, α {values[a]['alpha']:g}): forget-test acc "
                    f"{result['forget_test_before']:.3f} → {result['forget_test_after']:.3f}, retain-test "
                    f"{result['retain_test_before']:.3f} → {result['retain_test_after']:.3f}")
        else:
            line = (f"retain-only relearning ({values[a]['steps']} steps, lr {values[a]['lr']:g}): forget-test acc "
                    f"{result['forget_test_initial']:.3f} → {result['forget_test_final']:.3f} (best "
                    f"{result['forget_test_initial'] + result['forget_test_max_recovered']:.3f}), retain-test "
                    f"{result['retain_test_final']:.3f}")
        if not args.quiet:
            print(f"{line} | {t.seconds:.1f}s | {out_dirs[a]}", flush=True)
        out[a] = dict(payload, out_dir=out_dirs[a])
    return out


def rival_main(dataset: str, argv=None, args=None, subclass: bool = False) -> Dict[str, dict]:
    """Entry point of rival_attack_main_<dataset>[_subclass].py: ``args`` already parsed, else parsed from
    ``argv``."""
    args = finish_args(args if args is not None else rival_parser(dataset, subclass).parse_args(argv))
    with exit_on_error("the rival attack results"):
        return rival_from_args(args, subclass)
