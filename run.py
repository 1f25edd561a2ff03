"""Paper-style launcher: edit the settings below (or override them on the command line) and run

    python run.py                       # the digits pipeline end to end, on the CPU, in minutes
    python run.py --preset cifar20 --devices 0,1
    python run.py --stages unlearn rea --methods retrain badteacher badteacher_our

Stages run in order (pretrain, masks, unlearn, rea, blackbox, distribution, quality, report), each step a subprocess of
the per-dataset scripts. A step already done with the same arguments is skipped; a failing step is recorded and
the sweep goes on. Tables land in log_files/report/.
"""
import argparse
import os
import sys

from config import LOG_ROOT, DATA_ROOT, RUN_PRESETS

# ------------------------------------------------------------------ editable settings (the digits default)
net = "resnet8"
dataset = "digits"
n_classes = 10
forget_class = 3
seed = 0
pretrain_path = None  # None: pretrain (once) into log_files/<dataset>/<net>/pretrain/seed<seed>/model.pt
mu_method_list = RUN_PRESETS["digits"]["mu_method_list"]  # [[method, para1, para2], ...]; None = method default
# ------------------------------------------------------------------


def parse_args(argv=None):
    from unlearning.pipeline.launcher import STAGES

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--preset", choices=sorted(RUN_PRESETS), default=None,
                   help="digits (default: the settings above) or a paper preset")
    p.add_argument("--stages", nargs="+", choices=STAGES, default=None, help="default: the preset's stages")
    p.add_argument("--methods", nargs="+", default=None, help="restrict mu_method_list to these method names")
    p.add_argument("--forget_classes", nargs="+", type=int, default=None)
    p.add_argument("--seeds", nargs="+", type=int, default=None)
    p.add_argument("--repeats", type=int, default=None, help="ReA repetitions per side (default: the attack preset's)")
    p.add_argument("--relearning_lr", type=float, nargs="+", default=None, help="ReA learning rate(s)")
    p.add_argument("--devices", default=None, help="comma-separated GPU ids: one job per GPU, in parallel")
    p.add_argument("--jobs", type=int, default=2, help="parallel CPU jobs (ignored with --devices)")
    p.add_argument("--device", default="auto", help="device flag passed to every step")
    sp = p.add_argument_group("speed, passed to every step (default: amp and channels_last on CUDA, off on the CPU; "
                              "an explicit flag wins, also on the CPU)")
    for flag, what in (("--amp", "bf16 autocast"), ("--channels_last", "channels_last memory format"),
                       ("--compile", "torch.compile of the supervised training forward")):
        sp.add_argument(flag, action=argparse.BooleanOptionalAction, default=None, help=what)
    p.add_argument("--log_root", default=None, help=f"default: the project's {LOG_ROOT}/, wherever run.py starts")
    p.add_argument("--data_root", default=None, help=f"default: the project's {DATA_ROOT}/")
    p.add_argument("--dry_run", action="store_true", help="print the command lines, run nothing")
    p.add_argument("--net", default=None, help="model registry name (default: the preset's)")
    p.add_argument("--download", action="store_true", help="passed to every step: fetch CIFAR if missing")
    p.add_argument("--recipe", default=None, metavar="FILE",
                   help="recipe JSON passed to every unlearning, attack and metric step (see "
                        "forget_full_class_main_<dataset>.py --recipe); the run folders carry its hash")
    p.add_argument("--smoke", action="store_true",
                   help="every stage with tiny epochs/steps/repeats (config.SMOKE), under <log_root>/smoke/: "
                        "checks a machine in minutes; its results are never used as real ones")
    c = p.add_argument_group("cluster (--launcher slurm; see docs/cluster.md)")
    c.add_argument("--launcher", choices=["local", "slurm"], default="local",
                   help="local: subprocesses here; slurm: one SLURM job per step (needs submitit)")
    c.add_argument("--partition", default=None, help="SLURM partition (default: the cluster's default)")
    c.add_argument("--gpus_per_job", type=int, default=0, help="GPUs per SLURM job")
    c.add_argument("--cpus_per_job", type=int, default=1, help="CPUs per SLURM job")
    c.add_argument("--time", default="04:00:00", help="time limit per SLURM job, HH:MM:SS")
    c.add_argument("--max_parallel", type=int, default=16, help="SLURM jobs of one stage queued or running at once")
    c.add_argument("--slurm_folder", default=None,
                   help="submitit's job folders (default <log_root>/launcher/slurm; must be on shared storage)")
    return p.parse_args(argv)


def settings_from(args) -> dict:
    from unlearning.pipeline.launcher import resolve_root

    if args.preset and args.preset != "digits":
        s = dict(RUN_PRESETS[args.preset])
    else:
        s = dict(RUN_PRESETS["digits"], net=net, dataset=dataset, n_classes=n_classes, forget_classes=[forget_class],
                 seeds=[seed], pretrain_path=pretrain_path, mu_method_list=mu_method_list)
    methods = [list(m) for m in s["mu_method_list"]]
    if args.methods:
        unknown = set(args.methods) - {m[0] for m in methods}
        methods = [m for m in methods if m[0] in args.methods] + [[m, None, None] for m in args.methods if m in unknown]
    # absolute paths: the steps run in the project folder, the ledger keys name paths relative to the log root
    args.log_root, args.data_root = resolve_root(args.log_root, LOG_ROOT), resolve_root(args.data_root, DATA_ROOT)
    s.update(methods=methods, log_root=args.log_root, data_root=args.data_root, device=args.device,
             stages=args.stages or s["stages"], download=args.download,
             speed=[f"--{'' if on else 'no-'}{name}" for name in ("amp", "channels_last", "compile")
                    for on in [getattr(args, name)] if on is not None])
    if args.net:
        s["net"] = args.net
    if args.recipe:
        s["recipe"] = os.path.abspath(args.recipe)
    if args.smoke:
        import copy

        from config import SMOKE
        s.update(smoke=copy.deepcopy(SMOKE), log_root=os.path.join(args.log_root, "smoke"))
        if not args.relearning_lr and not s.get("relearning_lrs"):
            from unlearning.attacks.reminiscence import rea_defaults
            s["relearning_lrs"] = rea_defaults(s["dataset"], bool(s.get("subclass")))["relearning_lr"][:1]
    if args.forget_classes:
        s["forget_classes"] = args.forget_classes
    if args.seeds:
        s["seeds"] = args.seeds
    if args.repeats:
        s["repeats"] = args.repeats
    if args.relearning_lr:
        s["relearning_lrs"] = args.relearning_lr
    return s


def main(argv=None):
    from unlearning.pipeline.launcher import Launcher, plan_sweep

    from unlearning.pipeline.sweep_checks import check_sweep

    args = parse_args(argv)
    s = settings_from(args)
    devices = [d.strip() for d in args.devices.split(",")] if args.devices else None
    problems = check_sweep(s, devices)
    if s.get("recipe"):
        from unlearning.methods import load_recipe
        try:
            load_recipe(s["recipe"])
        except ValueError as err:
            problems.append(str(err))
    if problems:
        for line in problems:
            print(f"error: {line}", file=sys.stderr)
        print(f"nothing run ({len(problems)} problem(s))", file=sys.stderr)
        return 2
    if args.launcher == "slurm" and not args.dry_run:
        from unlearning.pipeline.slurm import SlurmExecutor

        executor = SlurmExecutor(s["log_root"], partition=args.partition, gpus_per_job=args.gpus_per_job,
                                 cpus_per_job=args.cpus_per_job, time_limit=args.time, folder=args.slurm_folder)
        launcher = Launcher(s["log_root"], jobs=args.max_parallel, dry_run=args.dry_run, executor=executor)
    else:
        launcher = Launcher(s["log_root"], jobs=args.jobs, devices=devices, dry_run=args.dry_run)
    launcher = plan_sweep(s, launcher)
    steps = launcher.run(s["stages"])
    return 1 if any(st.status in ("failed", "blocked") for st in steps) else 0


if __name__ == "__main__":
    raise SystemExit(main())
