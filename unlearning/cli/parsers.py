"""Every entry script's argument parser, built without torch: ``-h`` answers at once and a bad flag fails before the
heavy modules load. A top-level script parses with one of these, then imports its stage module and calls it.

Only argparse, config.py and the standard library are imported here (tests/test_entry_scripts.py checks that torch
stays out). Where a flag's default comes from a preset, the help shows the value that runs on the script's dataset;
the few names owned by heavy modules (choices, file names) are copied here and checked against their owners by the
tests.
"""
from __future__ import annotations

import argparse
import ast
import json
import os
from typing import List, Optional

import config
from ..values import TRAINING_RECIPE_KINDS, flag_type

# the recipe keys pretraining takes as flags (pretrain_parser); the rest of a recipe is the preset's
RECIPE_FLAGS = ("epochs", "lr", "batch_size", "milestones", "augment")
SEED = flag_type("seed", int)  # every seed flag: a whole number ≥ 0 (numpy's generators take no negative seed)

# copies of names owned by modules that import torch (tests/test_entry_scripts.py checks each against its owner)
FEATURE_KINDS = ("penultimate", "logits")                       # unlearning/metrics/representation.py
DEFAULT_RATIOS = tuple(round(0.1 * i, 1) for i in range(1, 11))  # unlearning/saliency.py
VICTIM_OUTPUTS = ("probs", "logits")                            # unlearning/attacks/extraction.py
VICTIM_FILE = "last.pt"                                         # unlearning/attacks/extraction.py
GENERATOR_NAMES = ("conv", "conv_small")                        # models/generator.py GENERATORS
DEFAULT_CONFIDENCE, DEFAULT_MAX_FPR = 0.95, 0.05                # unlearning/metrics/quality.py
DFME_KEYS = ("query_budget", "batch_size", "lr_student", "lr_generator", "grad_m", "grad_epsilon", "student_steps",
             "generator_steps", "milestones", "gamma", "nz", "generator", "victim_output", "eval_points")
REA_KEYS = ("unlearn_data_percent", "num_ood_dataset", "relearning_lr", "repeats", "steps", "mix_batch", "threshold",
            "batch_models")
QUALITY_REFERENCES = ("baseline", "retrain")                    # unlearning/cli/quality.py REFERENCES
_LAUNCHER = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "pipeline", "launcher.py")


def launcher_constant(name: str, path: str = _LAUNCHER):
    """A constant (``STAGES``, ``STARTUP``) of unlearning/pipeline/launcher.py, read from its source: the launcher
    imports torch, and its definition stays the one place the value is written."""
    with open(path) as fh:
        tree = ast.parse(fh.read())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == name for t in node.targets):
            return ast.literal_eval(node.value)
    raise RuntimeError(f"no {name} in {path}")


def launcher_stages(path: str = _LAUNCHER) -> List[str]:
    """``STAGES`` of the launcher (the stage names, in order)."""
    return list(launcher_constant("STAGES", path))


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """At most one "(default: …)" per flag: the value argparse holds, unless the help already says what the default
    is (a preset's value, a path made from other flags) or there is nothing to show (None: the flag is unset and
    its help says what happens then; an off switch)."""

    def _get_help_string(self, action):
        text = action.help or ""
        if ("default" in text or not action.option_strings or action.default in (None, argparse.SUPPRESS)
                or (action.default is False and action.nargs == 0)):
            return text
        return text + " (default: %(default)s)"


class RawDescriptionHelpFormatter(HelpFormatter, argparse.RawDescriptionHelpFormatter):
    """``HelpFormatter`` with the description printed as written (run.py's examples)."""


def _fmt(value) -> str:
    if isinstance(value, (list, tuple)):
        return " ".join(_fmt(v) for v in value) if value else "none"
    return f"{value:g}" if isinstance(value, float) else str(value)


def _preset(dataset: Optional[str]) -> dict:
    return config.PRESETS.get(str(dataset), {})


def rea_preset(dataset: str, subclass: bool = False) -> dict:
    """``config.REA[dataset]`` with its sub-class overrides applied where ``subclass`` (the values the attack runs
    with where a flag is not given)."""
    return config.rea_settings(dataset, subclass)


def json_object(text: str) -> dict:
    try:
        value = json.loads(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"not JSON: {err}")
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError("must be a JSON object")
    return value


# ----------------------------------------------------------------------------- shared flags
def base_parser(description: str, dataset: Optional[str] = None) -> argparse.ArgumentParser:
    """Flags every script shares. Paper spellings (``-net``) and double-dash aliases (``--net``) both work."""
    dataset = dataset or "digits"
    net = _preset(dataset).get("net")
    p = argparse.ArgumentParser(description=description, formatter_class=HelpFormatter)
    p.add_argument("-dataset", "--dataset", default=dataset, help="dataset registry name")
    p.add_argument("-net", "--net", default=None,
                   help=f"model registry name (default: the dataset preset's; {net} on {dataset})" if net else
                   "model registry name (default: the dataset preset's)")
    p.add_argument("-classes", "--classes", type=int, default=None,
                   help="number of classes of the dataset, checked against the registry (default: not checked)")
    p.add_argument("-seed", "--seed", type=SEED, default=0, help="seed for every random choice of the run")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:i")
    p.add_argument("--data_root", default=config.DATA_ROOT, help="folder holding the real datasets")
    p.add_argument("--download", action="store_true", help="download CIFAR if missing (user machines only)")
    p.add_argument("--log_root", default=config.LOG_ROOT, help="where runs write checkpoints and logs")
    add_speed_flags(p.add_argument_group("speed (an explicit flag wins, also on the CPU)"))
    return p


def add_speed_flags(group) -> None:
    """--amp / --channels_last / --compile / --capture, each one default line (argparse's BooleanOptionalAction adds none for
    a None default)."""
    group.add_argument("--amp", action=argparse.BooleanOptionalAction, default=None,
                       help="bf16 autocast (default: on on CUDA, off on the CPU)")
    group.add_argument("--channels_last", action=argparse.BooleanOptionalAction, default=None,
                       help="channels_last memory format (default: on on CUDA, off on the CPU)")
    group.add_argument("--compile", action=argparse.BooleanOptionalAction, default=None,
                       help="torch.compile the supervised training forward (default: off)")
    group.add_argument("--capture", action=argparse.BooleanOptionalAction, default=None,
                       help="the whole supervised training step compiled, CUDA graphs on CUDA; drops the last "
                            "partial batch (default: off)")


def add_run_identity_args(p: argparse.ArgumentParser, subclass: bool = False) -> argparse.ArgumentParser:
    """The arguments that name one unlearning run (and so its folder); shared by unlearning, attack and metrics."""
    dataset = p.get_default("dataset")
    pre = _preset(dataset)
    p.add_argument("-method", "--method", default="baseline", help="unlearning method registry name")
    if subclass:
        fine = pre.get("subclass", {}).get("forget_fine")
        p.add_argument("--forget_fine", "--forget_class", dest="forget_fine", type=int, default=None,
                       help=f"fine class to forget (default: the preset's; {fine} on {dataset})" if fine is not None
                       else "fine class to forget (default: the preset's)")
    else:
        p.add_argument("--forget_class", "-forget_class", type=int, default=None,
                       help=f"class to forget (default: the preset's; {pre['forget_class']} on {dataset})"
                       if "forget_class" in pre else "class to forget (default: the preset's)")
    p.add_argument("--para1", type=float, default=None,
                   help=f"method knob 1 (default: the method's value on {dataset}; python "
                        f"forget_full_class_strategies.py -dataset {dataset} lists them)")
    p.add_argument("--para2", type=float, default=None, help="method knob 2 (default: the method's, as --para1)")
    p.add_argument("--mask_path", default=None,
                   help="SalUn mask file (from saliency_mu/generate_mask.py; default: no mask)")
    p.add_argument("--l1", type=flag_type("nonneg"), default=0.0, help="λ of an added λ‖θ‖₁ term")
    p.add_argument("--l2", type=flag_type("nonneg"), default=0.0, help="λ of an added λ‖θ−θ₀‖² term (towards the pretrained weights)")
    p.add_argument("-weight_path", "--weight_path", default=None,
                   help="checkpoint to load: the pretrained model the run starts from (default: "
                        "<log_root>/<dataset>/<net>/pretrain/seed-0/model.pt)")
    p.add_argument("--settings", default=None, type=json_object,
                   help="JSON object merged over the method's settings (e.g. '{\"epochs\": 1}'); the run folder "
                        "name gets a hash of it (default: the method's settings as registered for the dataset)")
    p.add_argument("--recipe", default=None, metavar="FILE",
                   help='JSON file (or inline object) {"UNLEARN": {method: {...}}, "OVER_UNLEARN": {method: {...}, '
                        '"replay": {...}, "orth": {...}}} merged over config for every dataset; the run folder name '
                        'gets a hash of its content (_rcp-<hash>) (default: none)')
    return p


def add_quiet_flag(p, what: str = "no progress lines") -> None:
    p.add_argument("--quiet", action="store_true", help=what)


# ----------------------------------------------------------------------------- one parser per stage
def pretrain_parser(dataset: str) -> argparse.ArgumentParser:
    p = base_parser(f"Pretrain a model on {dataset} (OOD classes held out).", dataset)
    recipe = _preset(dataset).get("pretrain", {})

    def preset_value(key, what):
        return f"{what} (default: the preset's, {_fmt(recipe[key])} on {dataset})" if key in recipe else \
            f"{what} (default: the preset's)"
    kind = TRAINING_RECIPE_KINDS  # the one check of a recipe value, whatever its source
    p.add_argument("--epochs", type=flag_type(kind["epochs"], int), default=None,
                   help=preset_value("epochs", "training epochs"))
    p.add_argument("--lr", type=flag_type(kind["lr"]), default=None,
                   help=preset_value("lr", "SGD learning rate (after the warm-up)"))
    p.add_argument("--batch_size", "-b", type=flag_type(kind["batch_size"], int), default=None,
                   help=preset_value("batch_size", "batch size"))
    p.add_argument("--milestones", type=flag_type("count0", int), nargs="*", default=None,
                   help=preset_value("milestones", "epochs at which the learning rate is multiplied by 0.2"))
    p.add_argument("--l1", type=flag_type("nonneg"), default=0.0, help="λ of the sparse model's λ‖θ‖₁ term (0 = normal model)")
    p.add_argument("--augment", action=argparse.BooleanOptionalAction, default=None,
                   help=preset_value("augment", "random crop + flip"))
    p.add_argument("--out", default=None,
                   help="checkpoint path (default: <log_root>/<dataset>/<net>/pretrain/seed-<s>[_l1-<λ>]/model.pt)")
    p.add_argument("--subclass", action="store_true",
                   help="sub-class setting: every superclass trained, the preset's OOD fine classes held out")
    add_quiet_flag(p, "no progress bar")
    return p


def unlearn_parser(dataset: str, subclass: bool = False) -> argparse.ArgumentParser:
    kind = "a fine class (sub-class setting)" if subclass else "a class"
    p = base_parser(f"Unlearn {kind} of {dataset} with a registry method (python forget_full_class_strategies.py "
                    "lists them).", dataset)
    return add_run_identity_args(p, subclass=subclass)


def _rea_value(dataset: str, subclass: bool, key: str, what: str) -> str:
    d = rea_preset(dataset, subclass)
    return f"{what} (default: config.REA's, {_fmt(d[key])} on {dataset})" if key in d else \
        f"{what} (default: config.REA's)"


def rea_parser(dataset: str, subclass: bool = False, blackbox: bool = False) -> argparse.ArgumentParser:
    kind = "black-box (on an extracted copy)" if blackbox else "white-box"
    p = base_parser(f"Reminiscence Attack, {kind}, on a {'sub-class' if subclass else 'full-class'} unlearned "
                    f"{dataset} model.", dataset)
    add_run_identity_args(p, subclass=subclass)
    p.add_argument("--model_path", default=None,
                   help="checkpoint to load and attack instead of <run folder>/last.pt (e.g. a pretrained or "
                        "extracted model)" + ("" if blackbox else " (default: the run's last.pt)"))
    p.add_argument("--out_dir", default=None,
                   help="folder under which rea/<tag>/ is written (default: the run folder, or the --model_path folder)")
    v = lambda key, what: _rea_value(dataset, subclass, key, what)  # noqa: E731
    p.add_argument("--unlearn_data_percent", type=float, default=None,
                   help=v("unlearn_data_percent", "fraction p of D_f given to the attacker, in (0, 1] (0.03 = 3%%)"))
    p.add_argument("--num_ood_dataset", type=int, default=None, help=v("num_ood_dataset", "OOD classes used as non-members"))
    p.add_argument("--relearning_lr", type=float, nargs="+", default=None,
                   help=v("relearning_lr", "one or several relearning lrs"))
    p.add_argument("--repeats", type=int, default=None,
                   help=v("repeats", "repetitions (fresh attacker samples) per side"))
    p.add_argument("--steps", type=int, default=None, help=v("steps", "relearning steps T"))
    p.add_argument("--mix_batch", type=int, default=None, help=v("mix_batch", "retain samples m per relearning step"))
    p.add_argument("--threshold", type=float, default=None, help=v("threshold", "accuracy τ that counts as relearned"))
    p.add_argument("--attack_seed", type=SEED, default=0, help="seed of attacker samples and mixing batches")
    cpu = rea_preset(dataset, subclass).get("batch_models")
    p.add_argument("--batch_models", type=int, default=None,
                   help="runs trained together in one vmapped network (0 = one at a time; default: as many as fit "
                        "the GPU's free memory on CUDA, the preset's value on the CPU"
                        + (f", {cpu} on {dataset})" if cpu is not None else ")"))
    p.add_argument("--no-batch", "--no_batch", dest="no_batch", action="store_true",
                   help="one run at a time (the reference loop), same as --batch_models 0")
    p.add_argument("--early_stop", action="store_true",
                   help="stop each run at its first step reaching τ: the same steps-to-τ, no area statistic and no "
                        "curve plot (curves are NaN after the stop); its own results folder (tag suffix _stop)")
    p.add_argument("--no_plot", action="store_true", help="skip the PNG")
    add_quiet_flag(p, "no progress bar")
    return p


RIVAL_ATTACKS = ("pra", "retain_relearn")
# flag -> (attack, setting, type, help)
RIVAL_FLAGS = {
    "pra_samples": ("pra", "n_samples", "count", "forget images the PRA attacker holds"),
    "pra_alpha": ("pra", "alpha", "weight", "PRA blend weight α of the prototype in the forget row"),
    "pra_metric": ("pra", "metric", ("cosine", "l2"), "PRA prototype classifier"),
    "pra_source": ("pra", "source", ("forget_train", "forget_test"), "where the PRA attacker's images come from"),
    "relearn_steps": ("retain_relearn", "steps", "count", "retain-only relearning optimiser steps"),
    "relearn_lr": ("retain_relearn", "lr", "lr", "retain-only relearning learning rate"),
    "relearn_optimizer": ("retain_relearn", "optimizer", ("adam", "sgd"), "retain-only relearning optimiser"),
    "relearn_schedule": ("retain_relearn", "schedule", ("cosine", "none"), "retain-only relearning lr schedule"),
    "relearn_batch_size": ("retain_relearn", "batch_size", "count", "retain-only relearning batch size"),
    "relearn_eval_every": ("retain_relearn", "eval_every", "count", "steps between forget-accuracy evaluations"),
    "relearn_bn": ("retain_relearn", "bn", ("train", "eval"),
                   "BatchNorm during relearning: train (its statistics adapt to D_r, the reference's) or eval (frozen)"),
}


SUBCLASS_RIVAL_ATTACKS = ("retain_relearn",)  # PRA writes a prototype into the forget class's row: in the sub-class
# setting that row is the superclass the retained siblings share, so there is no forget-only row to write


def rival_parser(dataset: str, subclass: bool = False) -> argparse.ArgumentParser:
    if subclass:
        p = base_parser(f"Retain-only relearning on an unlearned {dataset} sub-class model (one fine class forgotten, "
                        "its siblings retained under the same superclass): fine-tune on the retain data only and "
                        "watch the forgotten fine class come back. Writes <run folder>/retain_relearn/<tag>/"
                        "results.json.", dataset)
    else:
        p = base_parser(f"Rival attacks on an unlearned {dataset} model: the Prototypical Relearning Attack (pra) "
                        "and retain-only relearning (retain_relearn). Each writes <run folder>/<attack>/<tag>/"
                        "results.json.", dataset)
    add_run_identity_args(p, subclass)
    attacks = SUBCLASS_RIVAL_ATTACKS if subclass else RIVAL_ATTACKS
    p.add_argument("-attack", "--attack", nargs="+", choices=attacks, default=list(attacks),
                   help="attacks to run (default: " + ("both" if len(attacks) > 1 else attacks[0]) + ")")
    p.add_argument("--model_path", default=None,
                   help="checkpoint to attack instead of <run folder>/last.pt (then --out_dir or its folder holds "
                        "<attack>/<tag>/)")
    p.add_argument("--out_dir", default=None, help="folder under which <attack>/<tag>/ is written (default: the run folder)")
    p.add_argument("--attack_seed", type=SEED, default=0,
                   help="seed of the attacker's images (PRA) and of the relearning batches")
    values = config.rival_settings(dataset)
    g = p.add_argument_group("attack settings (default: config.RIVAL, the paper's values with the dataset's "
                             "differences)")
    for flag, (attack, key, kind, what) in RIVAL_FLAGS.items():
        shown = f"{what} (default: {_fmt(values[attack][key])} on {dataset})"
        if isinstance(kind, tuple):
            g.add_argument(f"--{flag}", choices=kind, default=None, help=shown)
        else:
            g.add_argument(f"--{flag}", type=flag_type(kind, int if kind.startswith("count") else float),
                           default=None, help=shown)
    p.add_argument("--no_plot", action="store_true", help="skip the relearning curve PNG")
    add_quiet_flag(p)
    return p


def add_dfme_args(p: argparse.ArgumentParser, dataset: str, target_args: bool = True) -> argparse.ArgumentParser:
    """DFME flags. Unset ones take ``config.DFME[dataset]`` (``finish_dfme_args`` fills them once the dataset name
    is checked); the help shows those values. ``target_args``: also --model_path/--out_dir/--quiet (left out where
    the host parser, e.g. the black-box ReA's, defines them with its own meaning)."""
    d = config.DFME.get(str(dataset), {})

    def v(key, what):
        return f"{what} (default: config.DFME's, {_fmt(d[key])} on {dataset})" if key in d else \
            f"{what} (default: config.DFME's)"
    g = p.add_argument_group("DFME (data-free model extraction)")
    g.add_argument("--query_budget", type=int, default=None, help=v("query_budget", "queries (images) the attacker may send"))
    g.add_argument("--batch_size", "-b", type=int, default=None, help=v("batch_size", "generator batch per step"))
    g.add_argument("--student_net", default=None, help="model registry name of the copy (default: the -net value)")
    g.add_argument("--lr_student", type=float, default=None, help=v("lr_student", "SGD learning rate of the student"))
    g.add_argument("--lr_generator", type=float, default=None,
                   help=v("lr_generator", "Adam learning rate of the generator"))
    g.add_argument("--grad_m", type=int, default=None, help=v("grad_m", "random directions per forward-difference estimate"))
    g.add_argument("--grad_epsilon", type=float, default=None, help=v("grad_epsilon", "forward-difference step ε"))
    g.add_argument("--student_steps", type=int, default=None, help=v("student_steps", "student updates per iteration"))
    g.add_argument("--generator_steps", type=int, default=None,
                   help=v("generator_steps", "generator updates per iteration"))
    g.add_argument("--milestones", type=float, nargs="*", default=None,
                   help=v("milestones", "fractions of the budget at which both learning rates are multiplied by --gamma"))
    g.add_argument("--gamma", type=float, default=None, help=v("gamma", "learning-rate decay at each milestone"))
    g.add_argument("--nz", type=int, default=None, help=v("nz", "generator noise size"))
    g.add_argument("--generator", default=None,
                   help=v("generator", f"generator registry name ({', '.join(GENERATOR_NAMES)})"))
    g.add_argument("--victim_output", choices=VICTIM_OUTPUTS, default=None, help=v("victim_output", "what the black box returns"))
    g.add_argument("--eval_points", type=int, default=None, help=v("eval_points", "evaluations logged over the run"))
    g.add_argument("--dfme_seed", type=SEED, default=None, help="seed of the extraction (default: the -seed value)")
    if target_args:
        g.add_argument("--model_path", "--victim_path", dest="model_path", default=None,
                       help=f"checkpoint to load as the victim (default: <unlearning run folder>/{VICTIM_FILE}, named "
                            "by the identity arguments)")
        g.add_argument("--out_dir", default=None,
                       help="folder under which dfme/<tag>/ is written (default: the run folder, or the --model_path "
                            "checkpoint's folder)")
        add_quiet_flag(g, "no progress lines")
    return p


def dataset_from_argv(argv=None, default: str = "digits") -> str:
    """The -dataset value before full parsing: it picks the preset whose values the parser shows."""
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("-dataset", "--dataset", default=default)
    return pre.parse_known_args(argv)[0].dataset


def dfme_parser(dataset: str) -> argparse.ArgumentParser:
    p = base_parser(f"Black-box model extraction (DFME) of a {dataset} victim.", dataset)
    add_run_identity_args(p)
    return add_dfme_args(p, dataset)


def blackbox_rea_parser(dataset: str) -> argparse.ArgumentParser:
    p = rea_parser(dataset, blackbox=True)
    add_dfme_args(p, dataset, target_args=False)
    g = p.add_argument_group("black-box target")
    g.add_argument("--victim_path", default=None,
                   help=f"checkpoint to load as the victim when no copy exists (default: <run folder>/{VICTIM_FILE})")
    g.add_argument("--reextract", action="store_true", help="extract again even if the copy exists")
    return p


def distribution_parser() -> argparse.ArgumentParser:
    p = base_parser("Representation distribution metrics (t-SNE variance, silhouette, KDE overlap) of an "
                    "unlearned model, found by its identity arguments, or of any checkpoint (--model_path).")
    add_run_identity_args(p)
    p.add_argument("--forget_fine", type=int, default=None,
                   help="sub-class setting: the fine class forgotten (default with --subclass: the preset's)")
    p.add_argument("--subclass", action="store_true", help="a sub-class run (forget_subclass_main_<dataset>.py)")
    p.add_argument("--features", choices=FEATURE_KINDS, default="penultimate",
                   help="penultimate layer (model.features) or logits (what the paper plotted)")
    p.add_argument("--max_points", type=int, default=2000, help="seeded subsample of D_r ∪ D_f for t-SNE")
    p.add_argument("--perplexity", type=flag_type("positive"), default=30.0, help="t-SNE perplexity")
    p.add_argument("--grid_size", type=int, default=128, help="KDE grid is grid_size × grid_size")
    p.add_argument("--tsne_threads", type=int, default=1,
                   help="OpenMP threads of t-SNE (0 = all cores; 1 = bit-reproducible and robust on a busy machine)")
    p.add_argument("--paper", action="store_true",
                   help="the paper's input: logits of every point of D_r ∪ D_f (no subsample), t-SNE seed 42 "
                        "(the paper's overlap units are reported in every run)")
    p.add_argument("--checkpoint", default="last.pt", help="file inside the run folder to analyse")
    p.add_argument("--model_path", default=None,
                   help="checkpoint to load and analyse instead of the run's (e.g. the pretrained model)")
    p.add_argument("--out_dir", default=None,
                   help="default: <run_dir>/distribution[_<checkpoint stem unless last>][_logits], or "
                        "<model dir>/distribution_forget<c>[_logits] with --model_path")
    add_quiet_flag(p, "no t-SNE progress lines")
    return p


def masks_parser() -> argparse.ArgumentParser:
    p = base_parser("SalUn saliency masks: rank |∇ forget loss| over all weights; one mask file per ratio.")
    pre = _preset(p.get_default("dataset"))
    p.add_argument("--forget_class", "-forget_class", type=int, default=None,
                   help=f"class to forget (default: the preset's; {pre.get('forget_class')} on digits)")
    p.add_argument("-weight_path", "--weight_path", "--model_path", dest="weight_path", default=None,
                   help="checkpoint to load: the model whose saliency is ranked (default: "
                        "<log_root>/<dataset>/<net>/pretrain/seed-0/model.pt)")
    p.add_argument("--ratios", type=float, nargs="+", default=list(DEFAULT_RATIOS), help="fractions of weights kept")
    p.add_argument("--batch_size", type=int, default=256, help="batch size of the gradient accumulation")
    p.add_argument("--out_dir", default=None, help="default: <log_root>/<dataset>/<net>/masks/forget_<c>/seed-<s>")
    return p


def quality_parser(dataset: str) -> argparse.ArgumentParser:
    p = base_parser(f"Forgetting quality on {dataset}: K retrained vs K unlearned models per method, told apart by "
                    f"their relearning speed (U-LiRA, challenge-style ε).", dataset)
    pre, rea = _preset(dataset), rea_preset(dataset)
    listed = [m[0] for m in config.RUN_PRESETS.get(dataset, {}).get("mu_method_list", [])
              if m[0] not in QUALITY_REFERENCES]
    p.add_argument("--forget_class", "-forget_class", type=int, default=None,
                   help=f"class to forget (default: the preset's; {pre.get('forget_class')} on {dataset})")
    p.add_argument("-K", "--K", dest="K", type=int, default=16, help="models per population (seeds)")
    p.add_argument("--first_seed", type=SEED, default=None,
                   help="seeds first_seed … first_seed+K−1 (default: the -seed value)")
    p.add_argument("-methods", "--methods", nargs="+", default=None,
                   help="unlearning methods; para1/para2 come from the run preset's mu_method_list, else the method "
                        "defaults (default: that list without baseline/retrain" +
                        (f": {' '.join(listed)})" if listed else ")"))
    lrs = rea.get("relearning_lr")
    p.add_argument("--relearning_lr", type=float, default=None,
                   help="one ReA learning rate (default: config.REA's first" +
                        (f", {_fmt(list(lrs)[0])} on {dataset})" if lrs else ")"))
    for name, kind, text in (("unlearn_data_percent", float, "fraction p of D_f given to the attacker"),
                             ("num_ood_dataset", int, "OOD classes used"), ("repeats", int, "repetitions per model"),
                             ("steps", int, "relearning steps T"), ("mix_batch", int, "retain samples m per step"),
                             ("threshold", float, "accuracy τ"),
                             ("batch_models", int, "runs per vmapped network, across targets (0 = one at a time)")):
        p.add_argument(f"--{name}", type=kind, default=None, help=_rea_value(dataset, False, name, text))
    p.add_argument("--attack_seed", type=SEED, default=0, help="model s is attacked with attack seed attack_seed + s")
    p.add_argument("--confidence", type=flag_type("open_fraction"), default=DEFAULT_CONFIDENCE,
                   help="of the Clopper–Pearson bounds")
    p.add_argument("--max_fpr", type=flag_type("weight"), default=DEFAULT_MAX_FPR, help="FPR of the TPR column")
    p.add_argument("--recipe", default=None, metavar="FILE",
                   help="recipe JSON passed to every unlearning run (see the unlearning scripts' --recipe); the "
                        "stage's folder name gets its hash (default: none)")
    p.add_argument("--pretrain_recipe", type=json_object, default=None, metavar="JSON",
                   help="changes to the preset's pretraining recipe for the K pretrained models, keys among "
                        f"{', '.join(RECIPE_FLAGS)} (e.g. '{{\"epochs\": 5}}'); a finished "
                        "pretrained model of another recipe is refused; the folder name gets a hash (default: none)")
    p.add_argument("--method_settings", type=json_object, default=None, metavar="JSON",
                   help="the --settings of each method's unlearning runs, retrain included, by method name (e.g. "
                        "'{\"retrain\": {\"pretrain\": {\"epochs\": 5}}}'); the folder name gets a hash "
                        "(default: none)")
    p.add_argument("--rerun", action="store_true", help="redo unlearning runs and attacks even when finished")
    p.add_argument("--docs", default=None, metavar="PATH",
                   help="also write the table as a docs page (e.g. docs/results/quality_digits.md), headed by this "
                        "command, the date and the machine (default: none)")
    p.add_argument("--no_plot", action="store_true", help="skip distributions.png")
    add_quiet_flag(p, "no progress lines and no table on stdout")
    return p


def methods_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        description="Every unlearning method of the registry with what --para1/--para2 mean and the values that "
                    "run on a dataset; --write-docs / --write-snapshot regenerate the files made from the registry.",
        formatter_class=HelpFormatter)
    p.add_argument("-dataset", "--dataset", default="digits", help="whose values to show")
    p.add_argument("--markdown", action="store_true", help="print the methods table of the docs (Markdown)")
    p.add_argument("--write-docs", action="store_true",
                   help="write the methods table into docs/unlearning.md")
    p.add_argument("--write-snapshot", action="store_true",
                   help="write every preset's resolved settings into tests/snapshots/method_settings.json")
    return p


def report_parser() -> argparse.ArgumentParser:
    """reproduce_tables.py's flags (the same as ``unlearning.report.main``'s; tests/test_entry_scripts.py compares
    the two)."""
    p = argparse.ArgumentParser(description="Rebuild the paper-style tables and figures from log_files/.",
                                formatter_class=HelpFormatter)
    p.add_argument("--log_root", default=None, help="default: the project's log_files/")
    p.add_argument("--out_dir", default=None, help="default: <log_root>/report")
    p.add_argument("--quiet", action="store_true", help="do not print the tables")
    p.add_argument("--docs", default=None, metavar="PATH",
                   help="also write the attack matrix of every group as a docs page (e.g. "
                        "docs/results/matrix_digits.md), headed by this command, the date and the machine "
                        "(default: none)")
    return p
