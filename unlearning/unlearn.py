"""The unlearning driver behind forget_full_class_main_<dataset>.py and forget_subclass_main_cifar20.py.

Parse the paper's arguments, fill the defaults (forget class, para1/para2 from config.UNLEARN / OVER_UNLEARN, the
pretrained checkpoint), load the pretrained model (metadata checked), run the method, evaluate (SPEC §5) and write
the run folder ``run_dir_from_args(args)``:
    last.pt        the unlearned model (mid.pt: after phase 1 of an ``_our`` method)
    log.tsv        d_t d_f d_r mia time  (the paper's columns with the paper's definitions: d_t = accuracy on the
                   full test set incl. the forget class, mia = MIA_paper; d_f = UA, d_r = RA, time = RTE)
    results.json   status, metrics, phases with their timings and metrics, checkpoints, all arguments
RTE is the wall time of the unlearning itself (both phases for ``_our``), evaluation and file writing excluded;
``rte_cpu`` (and each phase's ``cpu_seconds``) is the process CPU time of the same span.
"""
from __future__ import annotations

import copy
import os
import sys
import time

import torch

import config
from .evaluation import efficacy_metrics
from .experiment import (CheckpointError, Experiment, add_run_identity_args, base_parser, default_weight_path,
                         finish_args, load_model, pretrain_dir, run_dir_from_args, save_checkpoint, seed_everything,
                         write_json, write_tsv)
from .over_unlearning import PHASE1
from .strategies import Context, UnknownMethodError, get_method, method_settings
from .training import Diverged, Regulariser, check_finite_model

LOG_COLUMNS = ["d_t", "d_f", "d_r", "mia", "time"]


def parser(dataset: str, subclass: bool = False):
    kind = "a fine class (sub-class setting)" if subclass else "a class"
    p = base_parser(f"Unlearn {kind} of {dataset} with a registry method (python forget_full_class_strategies.py "
                    "lists them).", dataset)
    return add_run_identity_args(p, subclass=subclass)


def resolve(args, subclass: bool = False):
    """Fill every default in ``args`` (so the run folder names the real values); returns (method entry, settings).

    Raises ValueError (UnknownMethodError included) for bad input.
    """
    entry = get_method(args.method)
    pre = config.preset(args.dataset)
    if subclass:
        if args.forget_fine is None:
            args.forget_fine = pre.get("subclass", {}).get("forget_fine")
        if args.forget_fine is None:
            raise ValueError(f"{args.dataset} has no sub-class preset: pass --forget_class <fine class>")
    elif args.forget_class is None:
        args.forget_class = pre["forget_class"]
    settings = method_settings(args.dataset, args.method)
    if args.para1 is None:
        args.para1 = settings.get("para1")
    if args.para2 is None:
        args.para2 = settings.get("para2")
    settings["para1"], settings["para2"] = args.para1, args.para2
    if not entry.approximate and (args.l1 or args.l2 or args.mask_path):
        raise ValueError(f"{entry.name} takes no --l1/--l2/--mask_path (it is a reference, not an approximate method)")
    if not entry.gradient and (args.l1 or args.l2):
        raise ValueError(f"{entry.name} makes no gradient updates: --l1/--l2 apply to gradient-based methods and to "
                         f"the replay of {entry.name}_our")
    if args.weight_path is None:
        l1 = settings.get("pretrain_l1")
        args.weight_path = (os.path.join(pretrain_dir(args.log_root, args.dataset, args.net, 0, l1), "model.pt")
                            if l1 else default_weight_path(args))
    return entry, settings


def _remove_stale(out_dir):
    """A rerun must not leave an earlier run's checkpoints next to a failed or diverged result."""
    for name in ("last.pt", "mid.pt", "log.tsv"):
        path = os.path.join(out_dir, name)
        if os.path.exists(path):
            os.remove(path)


def _library_warm_up(device, per_sample: bool, model=None, exp=None) -> None:
    """Pay torch's one-off lazy initialisation before the timer starts: the first optimizer imports torch._dynamo
    (seconds on a CPU), the first torch.func call more, the first passes of a network set up its kernels.
    RTE measures the method, not the library's start-up. Nothing here touches the run's model or random state."""
    torch.optim.SGD([torch.zeros(1, device=device, requires_grad=True)], lr=0.1)
    if model is None:
        return
    scratch = copy.deepcopy(model).train()
    x = exp.train.normalize(exp.train.x[exp.split.retain_train[:8].to(exp.train.x.device)])
    scratch(x).sum().backward()
    with torch.no_grad():
        scratch.eval()(x)
    if per_sample:  # the first vmap over a network traces its batching rules (~0.4 s for ResNet-8 on this CPU)
        from .per_sample import per_sample_grads
        per_sample_grads(scratch, x[:2], torch.zeros(2, dtype=torch.long, device=x.device))


def unlearn(args, subclass: bool = False) -> dict:
    """Run one method; returns the results dict (also written to results.json). Diverged propagates."""
    entry, settings = resolve(args, subclass)
    out_dir = run_dir_from_args(args)
    _remove_stale(out_dir)
    seed_everything(args.seed)
    exp = Experiment(args.dataset, args.data_root, args.download, args.device,
                     forget_class=None if subclass else args.forget_class, subclass=subclass,
                     forget_fine=args.forget_fine if subclass else None)
    teacher, _ = load_model(args.weight_path, exp, net=args.net)
    model = copy.deepcopy(teacher)
    teacher.eval().requires_grad_(False)
    mask = None
    if args.mask_path:
        from .saliency import load_mask
        mask = load_mask(args.mask_path, model)
    split = exp.split
    meta = exp.model_meta(args.net, kind="unlearn", forget_class=split.forget_class, forget_fine=split.forget_fine,
                          method=args.method, para1=args.para1, para2=args.para2, seed=args.seed, l1=args.l1,
                          l2=args.l2, mask_path=args.mask_path, pretrained=args.weight_path)
    checkpoints, phases = {}, []
    results = {"status": "running", "error": None, "stage": "unlearn", "method": args.method, "args": vars(args),
               "settings": settings, "metrics": None, "phases": phases, "checkpoints": checkpoints,
               "pretrained": args.weight_path, "device": str(exp.device), "split": split.summary()}

    # CPU seconds of the process next to the wall seconds: on a shared machine wall time swings with other jobs'
    # load, CPU time of a one-thread run much less. A phase's CPU time runs from the end of the previous on_phase.
    cpu_mark = [0.0]

    def on_phase(name, m, seconds):
        cpu = time.process_time() - cpu_mark[0]
        check_finite_model(m)
        if name == PHASE1:
            checkpoints["mid"] = save_checkpoint(os.path.join(out_dir, "mid.pt"), m, dict(meta, phase=name))
        phases.append({"name": name, "seconds": seconds, "cpu_seconds": cpu,
                       "metrics": efficacy_metrics(m, exp, args.seed)})
        cpu_mark[0] = time.process_time()

    _library_warm_up(exp.device, entry.per_sample, model, exp)
    ctx = Context(model=model, teacher=teacher, exp=exp, net=args.net, reg=Regulariser(model, args.l1, args.l2, mask),
                  seed=args.seed, settings=settings, mask=mask, on_phase=on_phase)
    try:
        cpu_mark[0] = time.process_time()
        start = time.perf_counter()
        model = entry.fn(ctx, args.para1, args.para2)
        seconds = time.perf_counter() - start
        cpu = time.process_time() - cpu_mark[0]
        check_finite_model(model)
    except Diverged as err:
        results.update(status="diverged", error=str(err))
        write_json(os.path.join(out_dir, "results.json"), results)
        raise
    except Exception as err:
        results.update(status="failed", error=f"{type(err).__name__}: {err}")
        write_json(os.path.join(out_dir, "results.json"), results)
        raise
    if not phases:  # a one-phase method: its time is the whole call
        phases.append({"name": "unlearn", "seconds": seconds, "cpu_seconds": cpu,
                       "metrics": efficacy_metrics(model, exp, args.seed)})
    rte = sum(p["seconds"] for p in phases)
    metrics = dict(phases[-1]["metrics"], RTE=rte)
    checkpoints["last"] = save_checkpoint(os.path.join(out_dir, "last.pt"), model, meta)
    write_tsv(os.path.join(out_dir, "log.tsv"),
              [{"d_t": metrics["d_t"], "d_f": metrics["UA"], "d_r": metrics["RA"], "mia": metrics["MIA_paper"],
                "time": rte}],
              LOG_COLUMNS)
    results.update(status="done", metrics=metrics, rte_cpu=sum(p["cpu_seconds"] for p in phases))
    write_json(os.path.join(out_dir, "results.json"), results)
    return results


def main(dataset: str, subclass: bool = False, argv=None) -> dict:
    args = finish_args(parser(dataset, subclass).parse_args(argv))
    try:
        results = unlearn(args, subclass)
    except UnknownMethodError as err:
        sys.exit(f"error: {err}")
    except Diverged as err:
        sys.exit(f"error: {args.method} diverged ({err}); status 'diverged' in {run_dir_from_args(args)}/results.json")
    except (CheckpointError, FileNotFoundError, ValueError) as err:
        sys.exit(f"error: {err}")
    m = results["metrics"]
    print(f"{args.method}: TA {m['TA']:.4f} (d_t {m['d_t']:.4f}) | UA {m['UA']:.4f} | RA {m['RA']:.4f} | "
          f"MIA {m['MIA']:.4f} (paper's {m['MIA_paper']:.4f}) | "
          f"RTE {m['RTE']:.2f}s → {run_dir_from_args(args)}")
    return results
