"""Paper-style launcher: the whole sweep of a preset, stage by stage, each step a subprocess of the per-dataset
scripts.

    python run.py                       # the digits pipeline end to end, on the CPU, in minutes
    python run.py --preset cifar20 --devices 0,1
    python run.py --stages unlearn rea --methods retrain badteacher badteacher_our
    python run.py -net resnet8 --dry_run   # print the plan (inputs checked), run nothing

Stages run in order (pretrain, masks, unlearn, rea, blackbox, rival, distribution, quality, report). A step already done
with the same arguments is skipped; a failing step is recorded and the sweep goes on. Tables land in
log_files/report/. The paper's single-dash flags (-dataset -net -classes -method -seed -weight_path) are aliases of
the double-dash ones.
"""
import argparse
import os
import sys

from config import DATA_ROOT, LOG_ROOT, REA, RUN_PRESETS
from unlearning.cli.parsers import SEED, RawDescriptionHelpFormatter, add_speed_flags, launcher_constant, launcher_stages
from unlearning.values import flag_type

# ------------------------------------------------------------------ the digits sweep (edit here; flags override)
net = "resnet8"
dataset = "digits"
n_classes = 10
forget_class = 3
seed = 0
pretrain_path = None  # None: pretrain (once) into log_files/<dataset>/<net>/pretrain/seed<seed>/model.pt
mu_method_list = RUN_PRESETS["digits"]["mu_method_list"]  # [[method, para1, para2], ...]; None = method default
# ------------------------------------------------------------------


def _words(values) -> str:
    return " ".join(str(v) for v in values)


def parse_args(argv=None):
    """run.py's flags; built without torch (the launcher's stage names are read from its source)."""
    digits = RUN_PRESETS["digits"]
    p = argparse.ArgumentParser(description=__doc__, formatter_class=RawDescriptionHelpFormatter)
    p.add_argument("--preset", "-dataset", "--dataset", dest="preset", choices=sorted(RUN_PRESETS), default=None,
                   metavar="PRESET", help=f"the sweep to run: {', '.join(sorted(RUN_PRESETS))} (config.RUN_PRESETS) "
                                          f"(default: digits, "
                        f"{net} on {dataset}, forget class {forget_class}, seed {seed})")
    stages = launcher_stages()
    p.add_argument("--stages", nargs="+", choices=stages, default=None, metavar="STAGE",
                   help=f"stages to run ({', '.join(stages)}), in that order (default: the preset's; on digits: "
                        f"{_words(digits['stages'])})")
    p.add_argument("--methods", "-method", dest="methods", nargs="+", default=None, metavar="METHOD",
                   help="restrict the preset's mu_method_list to these method names; a name not in it runs with "
                        f"its defaults (default: every entry; on digits: {_words(m[0] for m in mu_method_list)})")
    p.add_argument("--forget_classes", "-forget_class", dest="forget_classes", nargs="+", type=flag_type("count0", int),
                   default=None, metavar="CLASS", help=f"classes to forget (default: the preset's; {forget_class} on digits)")
    p.add_argument("--seeds", "-seed", dest="seeds", nargs="+", type=SEED, default=None, metavar="SEED",
                   help=f"model seeds (default: the preset's; {seed} on digits)")
    p.add_argument("--repeats", type=flag_type("count", int), default=None,
                   help="ReA repetitions per side (default: the attack preset's, config.REA)")
    p.add_argument("--relearning_lr", type=flag_type("lr"), nargs="+", default=None,
                   help="ReA learning rate(s) (default: the preset's relearning_lrs, else config.REA's; on digits: "
                        f"{_words(digits['relearning_lrs'] or REA['digits']['relearning_lr'])})")
    p.add_argument("--early_stop", action="store_true",
                   help="ReA runs (white and black box) stop at their first step reaching τ: the same steps-to-τ and "
                        "the same tables, no area statistic, no relearning-curve figures; their own folders (_stop)")
    p.add_argument("--devices", default=None,
                   help="comma-separated GPU ids: one job per GPU, in parallel (default: none, CPU jobs)")
    p.add_argument("--jobs", type=flag_type("count", int), default=2, help="parallel CPU jobs (ignored with --devices)")
    p.add_argument("--device", default="auto", help="device flag passed to every step")
    p.add_argument("--startup", choices=launcher_constant("STARTUP"), default="once",
                   help="once: one server process imports torch and the package, every CPU step is a child forked "
                        "from it (own process, own log, same argv; docs/launcher.md); per_step: every step starts a "
                        "new interpreter (always so with --devices)")
    add_speed_flags(p.add_argument_group("speed, passed to every step (an explicit flag wins, also on the CPU)"))
    p.add_argument("--log_root", default=None, help=f"default: the project's {LOG_ROOT}/, wherever run.py starts")
    p.add_argument("--data_root", default=None, help=f"default: the project's {DATA_ROOT}/")
    p.add_argument("--dry_run", action="store_true", help="check the inputs, print the command lines, run nothing")
    p.add_argument("--net", "-net", dest="net", default=None,
                   help=f"model registry name (default: the preset's; {net} on digits)")
    p.add_argument("--classes", "-classes", dest="classes", type=flag_type("count", int), default=None,
                   help=f"number of classes of the dataset, checked before anything runs (default: the preset's; "
                        f"{n_classes} on digits)")
    p.add_argument("--weight_path", "-weight_path", dest="weight_path", default=None,
                   help="pretrained checkpoint every step starts from (default: the preset's, else pretrain once "
                        "into <log_root>/<dataset>/<net>/pretrain/seed-<s>/model.pt)")
    p.add_argument("--download", action="store_true", help="passed to every step: fetch CIFAR if missing")
    p.add_argument("--recipe", default=None, metavar="FILE",
                   help="recipe JSON passed to every unlearning, attack and metric step (see "
                        "forget_full_class_main_<dataset>.py --recipe); the run folders carry its hash (default: none)")
    p.add_argument("--smoke", action="store_true",
                   help="every stage with tiny epochs/steps/repeats (config.SMOKE), under <log_root>/smoke/: "
                        "checks a machine in minutes; its results are never used as real ones")
    c = p.add_argument_group("cluster (--launcher slurm; see docs/cluster.md)")
    c.add_argument("--launcher", choices=["local", "slurm"], default="local",
                   help="local: subprocesses here; slurm: one SLURM job per step (needs submitit)")
    c.add_argument("--partition", default=None, help="SLURM partition (default: the cluster's default)")
    c.add_argument("--gpus_per_job", type=flag_type("count0", int), default=0, help="GPUs per SLURM job")
    c.add_argument("--cpus_per_job", type=flag_type("count", int), default=1, help="CPUs per SLURM job")
    c.add_argument("--time", default="04:00:00", help="time limit per SLURM job, HH:MM:SS")
    c.add_argument("--max_parallel", type=flag_type("count", int), default=16, help="SLURM jobs of one stage queued or running at once")
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
             stages=args.stages or s["stages"], download=args.download, early_stop=args.early_stop,
             speed=[f"--{'' if on else 'no-'}{name}" for name in ("amp", "channels_last", "compile")
                    for on in [getattr(args, name)] if on is not None])
    if args.net:
        s["net"] = args.net
    if args.classes is not None:
        s["n_classes"] = args.classes
    if args.weight_path:
        s["pretrain_path"] = os.path.abspath(args.weight_path)
    if args.recipe:
        s["recipe"] = os.path.abspath(args.recipe)
    if args.smoke:
        import copy

        from config import SMOKE
        s.update(smoke=copy.deepcopy(SMOKE), log_root=os.path.join(args.log_root, "smoke"))
        if not args.stages:  # every stage run.py has, the black box on a few methods
            s["stages"] = list(launcher_stages())
            s["blackbox_methods"] = s.get("blackbox_methods") or list(SMOKE["blackbox_methods"])
        if "masks" in s["stages"] and not any(len(m) > 3 and m[3] is not None for m in methods):
            s["methods"] = methods + [list(SMOKE["masked_entry"])]  # the masks stage has a mask to make
        if not args.relearning_lr and not s.get("relearning_lrs"):
            from unlearning.attacks.reminiscence import rea_defaults
            s["relearning_lrs"] = rea_defaults(s["dataset"], bool(s.get("subclass")))["relearning_lr"][:1]
    if args.forget_classes:
        s["forget_classes"] = args.forget_classes
    if args.seeds:
        s["seeds"] = args.seeds
    if args.repeats is not None:
        s["repeats"] = args.repeats
    if args.relearning_lr:
        s["relearning_lrs"] = args.relearning_lr
    return s


def main(argv=None):
    args = parse_args(argv)  # before torch loads: -h and a bad flag answer at once
    from unlearning.pipeline.launcher import Launcher, plan_sweep
    from unlearning.pipeline.sweep_checks import check_sweep

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
        launcher = Launcher(s["log_root"], jobs=args.jobs, devices=devices, dry_run=args.dry_run,
                            startup=args.startup)
    launcher = plan_sweep(s, launcher)
    steps = launcher.run(s["stages"])
    return 1 if any(st.status in ("failed", "blocked") for st in steps) else 0


if __name__ == "__main__":
    raise SystemExit(main())
