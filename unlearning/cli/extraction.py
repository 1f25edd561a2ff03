"""The DFME stage (dfme_attack.py) and the black-box ReA (mia_on_mu_main_<dataset>_fullclass_blackbox.py): flags,
the victim found by its run identity, the extraction, its files under <run>/dfme/<tag>/. The extraction itself is
``unlearning.extraction``.
"""
from __future__ import annotations

import argparse
import os
import sys
from dataclasses import asdict
from typing import Optional

import torch

from models import canonical_name
from models.generator import build_generator

from ..evaluation import predict
from .args import finish_args, speed_flags
from .parsers import DFME_KEYS, blackbox_rea_parser, dataset_from_argv, dfme_parser
from ..experiment import Experiment, load_model, save_checkpoint
from ..files import StagedOutput, write_json
from ..paths import fmt_param, seed_field
from ..runtime import seed_everything
from ..attacks.extraction import BlackBoxVictim, DFMEConfig, EvalSet, VICTIM_FILE, dfme_defaults, extract
from ..files import file_fingerprint
from ..plots import plot_extraction_curve
from ..run_identity import RunIdentity, fill_forget_default, preflight, resolve
from .attack import config_from_args as rea_config_from_args
from .attack import rea_from_args, resolve_target
from ..errors import exit_on_error


def finish_dfme_args(args) -> argparse.Namespace:
    """``finish_args``, the preset's forget class, and ``config.DFME[dataset]`` for every DFME flag not given."""
    args = finish_args(args)
    fill_forget_default(args)
    defaults = dict(dfme_defaults(args.dataset))
    defaults.setdefault("victim_output", "probs")
    for key in DFME_KEYS:
        if getattr(args, key) is None:
            value = defaults[key]
            setattr(args, key, list(value) if isinstance(value, (list, tuple)) else value)
    try:
        args.student_net = canonical_name(args.student_net or args.net)
    except ValueError as err:
        sys.exit(f"error: --student_net: {err}")
    if args.dfme_seed is None:
        args.dfme_seed = args.seed
    return args


def config_from_args(args) -> DFMEConfig:
    return DFMEConfig(query_budget=args.query_budget, batch_size=args.batch_size, lr_student=args.lr_student,
                      lr_generator=args.lr_generator, grad_m=args.grad_m, grad_epsilon=args.grad_epsilon,
                      student_steps=args.student_steps, generator_steps=args.generator_steps,
                      milestones=tuple(args.milestones), gamma=args.gamma, nz=args.nz, generator=args.generator,
                      eval_points=args.eval_points, seed=args.dfme_seed).validate()


TAG_KEYS = ("batch_size", "lr_student", "lr_generator", "grad_m", "grad_epsilon", "student_steps", "generator_steps",
            "milestones", "gamma", "nz", "generator", "victim_output")  # settings that change the copy


def dfme_tag(args) -> str:
    """budget-<q>_student-<net>_seed-<s>, plus _<key>-<value> for every setting that differs from the preset's
    (config.DFME), so two extractions with different settings never share a folder."""
    tag = f"budget-{args.query_budget}_student-{canonical_name(args.student_net)}_{seed_field(args.dfme_seed)}"
    defaults = dict(dfme_defaults(args.dataset))
    defaults.setdefault("victim_output", "probs")
    for key in TAG_KEYS:
        value, default = getattr(args, key), defaults[key]
        if isinstance(default, (list, tuple)):
            value, default = [float(v) for v in value], [float(v) for v in default]
            if value != default:
                tag += f"_{key}-" + "-".join(fmt_param(v) for v in value)
        elif value != default:
            tag += f"_{key}-{fmt_param(value)}"
    return tag


def resolve_identity(args) -> None:
    """Without --model_path the victim is an unlearning run: fill the method's default para1/para2 exactly as the
    unlearning driver does, so the run folder name matches the one it wrote."""
    if not args.model_path:
        resolve(args)


def victim_path(args) -> str:
    return args.model_path or RunIdentity.of(args).checkpoint(VICTIM_FILE)


def dfme_dir(args) -> str:
    """<out_dir | the --model_path checkpoint's folder | the run folder>/dfme/<tag>: one copy per target (method,
    parameters, seed) and per extraction (budget, student, DFME seed), so no target overwrites another's copy."""
    if args.out_dir:
        base = args.out_dir
    elif args.model_path:
        base = os.path.dirname(os.path.abspath(args.model_path))
    else:
        base = RunIdentity.of(args).run_dir
    return os.path.join(base, "dfme", dfme_tag(args))


def student_path(args) -> str:
    return os.path.join(dfme_dir(args), "student.pt")


def run_dfme(args) -> dict:
    """Load the victim, wrap it, extract, save ``<dfme_dir>/student.pt`` + log.tsv + curve.png + results.json."""
    cfg = config_from_args(args)
    resolve_identity(args)
    out = dfme_dir(args)
    preflight(args.device, out, stage="dfme")
    seed_everything(cfg.seed)
    exp = Experiment(args.dataset, args.data_root, args.download, args.device, forget_class=args.forget_class,
                     speed=speed_flags(args))
    split = exp.split
    vpath = victim_path(args)
    victim_fp = file_fingerprint(vpath)
    victim, vmeta = load_model(vpath, exp)

    # The experimenter's reference for *reporting* fidelity, computed before the victim disappears behind the wrapper.
    idx = split.retain_test
    x_eval = exp.test.normalize(exp.test.x[idx.to(exp.device)])
    labels = split.targets(exp.test.y[idx.to(exp.device)])
    victim_labels = predict(victim, exp.test, idx).argmax(1)
    extra = {}
    ood_idx = torch.cat([split.ood_test[k] for k in sorted(split.ood_test)]) if split.ood_test else idx[:0]
    for name, sel in (("forget", split.forget_test), ("ood", ood_idx)):
        if len(sel):  # how the copy treats the images ReA relearns (agreement with the victim only)
            extra[name] = (exp.test.normalize(exp.test.x[sel.to(exp.device)]), predict(victim, exp.test, sel).argmax(1))
    eval_set = EvalSet(x_eval, labels, victim_labels, extra)
    victim_test_acc = (victim_labels == labels).float().mean().item()

    box = BlackBoxVictim(victim, cfg.query_budget, output=args.victim_output,
                         input_shape=(exp.info.in_channels, exp.info.image_size, exp.info.image_size))
    del victim  # from here on the attack sees only the box

    torch.manual_seed(cfg.seed)
    student = exp.new_model(args.student_net)
    gen_model = build_generator(cfg.generator, cfg.nz, exp.info.in_channels, exp.info.image_size,
                                exp.train.mean, exp.train.std).to(exp.device)
    print(f"DFME: victim {vpath} ({vmeta.get('arch')}, retain-test acc {victim_test_acc:.4f}) → student "
          f"{args.student_net}, budget {cfg.query_budget} queries ({cfg.queries_per_iteration}/iteration) → {out}")
    # the copy's folder is replaced whole once the extraction has finished (the black-box ReA of an older copy,
    # under it, goes with it)
    with StagedOutput(out) as stage:
        return _extract_into(stage, args, cfg, exp, split, box, student, gen_model, eval_set, vpath, vmeta,
                             victim_fp, victim_test_acc)


def _extract_into(stage, args, cfg, exp, split, box, student, gen_model, eval_set, vpath, vmeta, victim_fp,
                  victim_test_acc) -> dict:
    result = extract(box, student, gen_model, cfg, eval_set, progress=not args.quiet,
                     log_path=stage.path("log.tsv"))
    summ = result["summary"]
    victim_id = {"path": os.path.abspath(vpath), "arch": vmeta.get("arch"), "kind": vmeta.get("kind"),
                 "method": vmeta.get("method"), "para1": vmeta.get("para1"), "para2": vmeta.get("para2"),
                 "seed": vmeta.get("seed"), "run_dir": None if args.model_path else RunIdentity.of(args).run_dir,
                 "retain_test_acc": victim_test_acc, "fingerprint": victim_fp}
    meta = exp.model_meta(args.student_net, kind="dfme", seed=cfg.seed, forget_class=split.forget_class,
                          class_to_index={str(k): v for k, v in split.class_to_index.items()}, victim=victim_id,
                          query_budget=cfg.query_budget, queries_used=summ["queries_used"], victim_output=args.victim_output,
                          dfme=asdict(cfg), student_acc=summ["student_acc"],
                          **{k: v for k, v in summ.items() if k.startswith("fidelity")})
    save_checkpoint(stage.path("student.pt"), student, meta)
    ckpt = stage.final("student.pt")
    method = vmeta.get("method") or os.path.basename(vpath)
    plot_extraction_curve(
        stage.path("curve.png"), result["history"], f"{args.dataset} / {args.net}: DFME copy of {method}",
        f"victim {vmeta.get('arch')} (retain test acc {victim_test_acc:.3f}) → student {args.student_net}; "
        f"{summ['queries_used']:,} of {cfg.query_budget:,} queries; final fidelity {summ['fidelity']:.3f}")
    results = {"status": "done", "stage": "dfme", "args": vars(args), "checkpoint": ckpt, "victim": victim_id,
               "model_fingerprint": victim_fp, "student_fingerprint": file_fingerprint(stage.path("student.pt")),
               "config": asdict(cfg), **summ, "history": result["history"], "device": str(exp.device)}
    write_json(stage.path("results.json"), results)
    stage.commit()
    others = "".join(f" ({k[9:]} {v:.3f})" for k, v in summ.items() if k.startswith("fidelity_"))
    print(f"fidelity {summ['fidelity']:.4f}{others} | student acc {summ['student_acc']:.4f} (victim {victim_test_acc:.4f}) | "
          f"{summ['queries_used']} queries | {summ['seconds']:.1f}s | {ckpt}")
    return results


def main(dataset: Optional[str] = None, argv=None, args=None) -> dict:
    """Entry point of dfme_attack.py: ``args`` already parsed, else parsed from ``argv`` (``dataset`` None: the
    -dataset value there). Unset DFME flags take the dataset's config.DFME values once its name is checked."""
    if args is None:
        args = dfme_parser(dataset or dataset_from_argv(argv)).parse_args(argv)
    args = finish_dfme_args(args)
    with exit_on_error("the extracted copy", diverged=lambda err: f"DFME diverged: {err}"):
        return run_dfme(args)


# ----------------------------------------------------------------------------- black-box ReA
def victim_args(args) -> argparse.Namespace:
    """The extraction's arguments for a black-box attack without --model_path: the victim from --victim_path (or
    the run folder), the identity resolved; the attack's own arguments take the resolved identity too (it names
    the ReA outputs)."""
    dargs = argparse.Namespace(**vars(args))
    dargs.model_path, dargs.out_dir = args.victim_path, None
    resolve_identity(dargs)
    for key in ("para1", "para2", "weight_path"):
        setattr(args, key, getattr(dargs, key))
    return dargs


def blackbox_results_path(dataset: str, argv) -> str:
    """results.json of the black-box attack run with ``argv``: <dfme folder of the copy>/rea/<tag>/results.json."""
    args = finish_dfme_args(blackbox_rea_parser(dataset).parse_known_args(argv)[0])
    if args.model_path is None:
        args.model_path = student_path(victim_args(args))
    root = resolve_target(args, False, True)[1]
    return os.path.join(root, "rea", rea_config_from_args(args, args.dataset).tag(), "results.json")


def blackbox_rea_main(dataset: str, argv=None, args=None) -> dict:
    """mia_on_mu_main_<dataset>_fullclass_blackbox.py: find (or make) the extracted copy, then run the white-box
    attack of ``unlearning.reminiscence`` on it, unchanged.

    The copy is ``--model_path`` if given; otherwise ``<run folder | --victim_path folder>/dfme/<tag>/student.pt``
    for the DFME flags given, extracted first when missing (or with ``--reextract``).
    """
    args = finish_dfme_args(args if args is not None else blackbox_rea_parser(dataset).parse_args(argv))
    with exit_on_error("the black-box results", diverged=lambda err: f"DFME diverged: {err}"):
        rea_config_from_args(args, args.dataset)  # bad attack flags fail before a long extraction
        if args.model_path is None:
            dargs = victim_args(args)
            copy_path = student_path(dargs)
            if args.reextract or not os.path.isfile(copy_path):
                run_dfme(dargs)
            else:
                print(f"using the extracted copy {copy_path}")
            args.model_path = copy_path
        return rea_from_args(args, blackbox=True)
