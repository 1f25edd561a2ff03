"""The unlearning driver behind forget_full_class_main_<dataset>.py and forget_subclass_main_cifar20.py.

Parse the paper's arguments, fill the defaults (forget class, para1/para2 from config.UNLEARN / OVER_UNLEARN, the
pretrained checkpoint), load the pretrained model (metadata checked), run the method, evaluate and write
the run folder ``run_dir_from_args(args)``:
    last.pt        the unlearned model (mid.pt: after phase 1 of an ``_our`` method)
    log.tsv        d_t d_f d_r mia time  (the paper's columns with the paper's definitions: d_t = accuracy on the
                   full test set incl. the forget class, mia = MIA_paper; d_f = UA, d_r = RA, time = RTE)
    results.json   status, metrics, phases with their timings and metrics, checkpoints, all arguments
                   source_fingerprint (the -weight_path model), mask_fingerprint (the --mask_path file) and
                   model_fingerprint (last.pt)
RTE is the wall time of the unlearning itself (both phases for ``_our``), evaluation and file writing excluded;
``rte_cpu`` (and each phase's ``cpu_seconds``) is the process CPU time of the same span.
"""
from __future__ import annotations

import copy
import os
import shutil
import sys
import time

import torch

from ..evaluation import efficacy_metrics, predict
from ..errors import CheckpointError, exit_on_error
from .args import finish_args, speed_flags
from .parsers import unlearn_parser
from ..experiment import Experiment, load_checkpoint, load_model, save_checkpoint
from ..files import StagedOutput, finished_result, write_json, write_tsv
from ..run_identity import run_dir_from_args
from ..runtime import seed_everything
from ..files import file_fingerprint
from ..methods.replay import PHASE1
from ..run_identity import RunIdentity, preflight, recipe_of
from ..run_identity import resolve as resolve_run
from ..methods import Context
from ..errors import Diverged
from ..training import Regulariser, check_finite_model
from ..per_sample import per_sample_grads
from ..saliency import load_mask

LOG_COLUMNS = ["d_t", "d_f", "d_r", "mia", "time"]


def parser(dataset: str, subclass: bool = False):
    return unlearn_parser(dataset, subclass)


def resolve(args, subclass: bool = False):
    """Fill every default in ``args`` and check the run's inputs; returns (method entry, settings). See
    ``unlearning.run_identity.resolve``."""
    return resolve_run(args, subclass)


def check_finite_outputs(model, exp) -> None:
    """Finite weights can still give NaN/inf outputs (a huge noise scale): that is a divergence too."""
    for which in ("retain_test", "forget_test", "forget_train"):
        idx = getattr(exp.split, which)
        data = exp.test if which.endswith("_test") else exp.train
        if len(idx) and not torch.isfinite(predict(model, data, idx)).all():
            raise Diverged(f"outputs on {which} became NaN/inf")


def _evaluate(model, exp, seed) -> dict:
    check_finite_model(model)
    check_finite_outputs(model, exp)
    return efficacy_metrics(model, exp, seed)


def _record_failure(stage: StagedOutput, results: dict, err: Exception) -> None:
    """A failed or diverged rerun never replaces a finished run; otherwise its status is the folder's record."""
    err.run_dir = stage.final_dir
    err.kept_finished = finished_result(stage.final_dir)
    if not err.kept_finished:
        write_json(stage.path("results.json"), results)
        stage.commit()


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
        per_sample_grads(scratch, x[:2], torch.zeros(2, dtype=torch.long, device=x.device))


def _sync(device) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


def unlearn(args, subclass: bool = False) -> dict:
    """Run one method; returns the results dict (also written to results.json). Diverged propagates.

    Everything is built in a staging folder beside the run folder and swapped in at the end (StagedOutput): a
    rerun that fails or is interrupted leaves a finished run as it was; one that succeeds replaces the whole
    folder, so attack and metric results of the old model go with it, unless the rerun reproduced the old model
    exactly (``same_weights``): then its checkpoint file and the results computed on it stay.
    """
    entry, settings = resolve(args, subclass)
    ident = RunIdentity.of(args, settings)
    out_dir = ident.run_dir
    preflight(args.device, out_dir, stage="unlearn")
    seed_everything(args.seed)
    exp = Experiment(args.dataset, args.data_root, args.download, args.device,
                     forget_class=None if subclass else args.forget_class, subclass=subclass,
                     forget_fine=args.forget_fine if subclass else None, speed=speed_flags(args))
    if isinstance(settings.get("pretrain"), dict):  # retrain's recipe (e.g. fewer epochs for a smoke run)
        exp.preset = dict(exp.preset, pretrain=dict(exp.preset["pretrain"], **settings["pretrain"]))
    teacher, _ = load_model(args.weight_path, exp, net=args.net)
    model = copy.deepcopy(teacher)
    teacher.eval().requires_grad_(False)
    mask = None
    if args.mask_path:
        mask = load_mask(args.mask_path, model)
    split = exp.split
    meta = exp.model_meta(args.net, kind="unlearn", forget_class=split.forget_class, forget_fine=split.forget_fine,
                          method=args.method, para1=args.para1, para2=args.para2, seed=args.seed, l1=args.l1,
                          l2=args.l2, mask_path=args.mask_path, pretrained=args.weight_path,
                          source_fingerprint=ident.source_fingerprint)
    with StagedOutput(out_dir) as stage:
        return _unlearn_into(stage, args, entry, settings, exp, model, teacher, mask, meta, ident)


def _unlearn_into(stage, args, entry, settings, exp, model, teacher, mask, meta, ident) -> dict:
    checkpoints, phases = {}, []
    results = {"status": "running", "error": None, "stage": "unlearn", "method": args.method, "args": vars(args),
               "settings": settings, "metrics": None, "phases": phases, "checkpoints": checkpoints,
               "pretrained": args.weight_path, "source_fingerprint": ident.source_fingerprint,
               "mask_fingerprint": ident.mask_fingerprint,
               "model_fingerprint": None, "device": str(exp.device), "split": exp.split.summary()}

    # CPU seconds of the process next to the wall seconds: on a shared machine wall time swings with other jobs'
    # load, CPU time of a one-thread run much less. A phase's CPU time runs from the end of the previous on_phase.
    cpu_mark = [0.0]

    wall_mark = [0.0]

    def on_phase(name, m, seconds):
        cpu = time.process_time() - cpu_mark[0]
        if exp.device.type == "cuda":  # the phase's queued GPU work belongs to its time
            _sync(exp.device)
            seconds = time.perf_counter() - wall_mark[0]
        ctx.reg.flush()
        metrics = _evaluate(m, exp, args.seed)
        if name == PHASE1:
            save_checkpoint(stage.path("mid.pt"), m, dict(meta, phase=name))
            checkpoints["mid"] = stage.final("mid.pt")
        phases.append({"name": name, "seconds": seconds, "cpu_seconds": cpu, "metrics": metrics})
        cpu_mark[0] = time.process_time()
        wall_mark[0] = time.perf_counter()

    _library_warm_up(exp.device, entry.per_sample, model, exp)
    ctx = Context(model=model, teacher=teacher, exp=exp, net=args.net, reg=Regulariser(model, args.l1, args.l2, mask),
                  seed=args.seed, settings=settings, mask=mask, on_phase=on_phase, recipe=recipe_of(args))
    try:
        cpu_mark[0] = time.process_time()
        _sync(exp.device)
        start = wall_mark[0] = time.perf_counter()
        model = entry.fn(ctx, args.para1, args.para2)
        _sync(exp.device)  # RTE: queued GPU work is part of the method's time
        seconds = time.perf_counter() - start
        cpu = time.process_time() - cpu_mark[0]
        ctx.reg.flush()
        if phases:  # a multi-phase method was evaluated phase by phase; only check its final model
            check_finite_model(model)
            check_finite_outputs(model, exp)
        else:
            final_metrics = _evaluate(model, exp, args.seed)
    except Diverged as err:
        results.update(status="diverged", error=str(err))
        _record_failure(stage, results, err)
        raise
    except Exception as err:
        results.update(status="failed", error=f"{type(err).__name__}: {err}")
        _record_failure(stage, results, err)
        raise
    if not phases:  # a one-phase method: its time is the whole call
        phases.append({"name": "unlearn", "seconds": seconds, "cpu_seconds": cpu, "metrics": final_metrics})
    rte = sum(p["seconds"] for p in phases)
    metrics = dict(phases[-1]["metrics"], RTE=rte)
    # a rerun that reproduced the finished run's model bit for bit (same seed, same settings) keeps its checkpoint
    # file, so the attacks and metrics computed on it (rea/, pra/, distribution/, ...) still name this model and stay
    reproduced = same_weights(stage.final("last.pt"), model)
    if reproduced:
        shutil.copy2(stage.final("last.pt"), stage.path("last.pt"))
    else:
        save_checkpoint(stage.path("last.pt"), model, meta)
    checkpoints["last"] = stage.final("last.pt")
    write_tsv(stage.path("log.tsv"),
              [{"d_t": metrics["d_t"], "d_f": metrics["UA"], "d_r": metrics["RA"], "mia": metrics["MIA_paper"],
                "time": rte}],
              LOG_COLUMNS)
    results.update(status="done", metrics=metrics, rte_cpu=sum(p["cpu_seconds"] for p in phases),
                   model_fingerprint=file_fingerprint(stage.path("last.pt")))
    write_json(stage.path("results.json"), results)
    stage.commit(keep_old_folders=reproduced)
    if reproduced:
        print(f"the rerun reproduced the finished model exactly: {stage.final('last.pt')} and the results computed "
              f"on it are kept")
    return results


def same_weights(path: str, model) -> bool:
    """``path`` is a readable checkpoint whose state dict equals ``model``'s exactly (names, shapes, values)."""
    if not os.path.isfile(path):
        return False
    try:
        state, _ = load_checkpoint(path)
    except CheckpointError:
        return False
    now = model.state_dict()
    return state.keys() == now.keys() and all(
        state[k].shape == now[k].shape and state[k].dtype == now[k].dtype
        and torch.equal(state[k], now[k].detach().cpu()) for k in now)


def main(dataset: str, subclass: bool = False, argv=None, args=None) -> dict:
    """Entry point of forget_full_class_main_<dataset>.py: ``args`` already parsed (by the script, before torch
    loads), else parsed from ``argv``."""
    args = finish_args(args if args is not None else parser(dataset, subclass).parse_args(argv))
    try:
        with exit_on_error("the run", diverged=lambda err: f"{args.method} diverged ({err}); " + _where(err, "diverged"),
                           detail=lambda err: f"; {_where(err, 'failed')}" if hasattr(err, "kept_finished") else ""):
            results = unlearn(args, subclass)
    except KeyboardInterrupt:
        print("interrupted: nothing written (a finished run of these arguments is kept as it was)", file=sys.stderr)
        raise SystemExit(130)
    m = results["metrics"]
    # the two MIA numbers by what their non-members are (docs/unlearning.md); log.tsv's mia is the paper's
    print(f"{args.method}: TA (retain test) {m['TA']:.4f}, d_t (full test) {m['d_t']:.4f} | UA {m['UA']:.4f} | "
          f"RA {m['RA']:.4f} | MIA vs retain test {m['MIA']:.4f}, MIA vs full test (paper's, log.tsv) "
          f"{m['MIA_paper']:.4f} | RTE {m['RTE']:.2f}s → {run_dir_from_args(args)}")
    return results


def _where(err, status: str) -> str:
    run_dir = getattr(err, "run_dir", None)
    if run_dir is None:
        return "nothing written"
    if getattr(err, "kept_finished", False):
        return f"the finished run in {run_dir} is kept unchanged"
    return f"status '{status}' in {run_dir}/results.json"
