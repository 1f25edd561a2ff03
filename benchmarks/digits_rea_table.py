"""The white-box ReA table on the digits preset, every registry method; rerunnable, skips finished steps.

    python benchmarks/digits_rea_table.py                       # every registry method, lrs and repeats of config.REA
    python benchmarks/digits_rea_table.py --methods retrain negative_grad negative_grad_our --repeats 40
    python benchmarks/digits_rea_table.py --docs docs/results/digits_rea.md   # also as a docs page

For each target (baseline, retrain, every method and its ``_our`` variant): pretrain if needed, unlearn with
``forget_full_class_main_digits.py -method X`` (skipped when the run folder already holds a finished
results.json and last.pt), attack with ``mia_on_mu_main_digits_fullclass.py`` (skipped when its rea/<tag>/
results.json exists), then print one row per target and learning rate:
target | lr | UA | TA | ReA AUC | balanced acc | TPR@5%FPR | mean steps forget / OOD | prior-attack balanced acc,
and the ReA wall time per target. The table is also written to <log_root>/digits/resnet8/rea_table.md.
"""
import argparse
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import config  # noqa: E402
from unlearning.cli.args import finish_args  # noqa: E402
from unlearning.files import atomic_write_text, read_json
from unlearning.paths import pretrain_dir
from unlearning.run_identity import run_dir_from_args
from unlearning.measured_docs import add_docs_flag, script_command, write_measured  # noqa: E402
from unlearning.attacks.reminiscence import ReAConfig  # noqa: E402
from unlearning.tables import markdown_table  # noqa: E402


def sh(cmd, env):
    print("$", " ".join(cmd), flush=True)
    done = subprocess.run(cmd, cwd=ROOT, env=env)
    return done.returncode == 0


def run_dir_of(method, seed, log_root):
    from unlearning.cli.unlearn import parser, resolve
    args = finish_args(parser("digits").parse_args(["-method", method, "-seed", str(seed), "--log_root", log_root]))
    resolve(args)
    return run_dir_from_args(args)


def git_head():
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                               capture_output=True, text=True).stdout.strip()
        return out.stdout.strip() + (" (+ uncommitted changes)" if dirty else "")
    except OSError:
        return "unknown"


def wall_time(res):
    cpu = res.get("relearn_cpu_seconds")
    return f"{res['relearn_seconds']:.0f}" + (f" ({cpu:.0f})" if cpu is not None else "")


def finished(path):
    try:
        return read_json(path).get("status") == "done"
    except (OSError, ValueError):
        return False


def main(argv=None):
    d = config.REA["digits"]
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--methods", nargs="+", default=None, help="default: baseline, retrain, every method and _our")
    p.add_argument("--relearning_lr", type=float, nargs="+", default=d["relearning_lr"])
    p.add_argument("--repeats", type=int, default=d["repeats"])
    p.add_argument("--seed", type=int, default=0, help="seed of the unlearning runs (the attack seed is 0)")
    p.add_argument("--log_root", default=config.LOG_ROOT)
    p.add_argument("--force_rea", action="store_true", help="attack again even if results exist")
    p.add_argument("--force_unlearn", action="store_true",
                   help="unlearn again with the current code even if the run folder is finished (then attack again)")
    add_docs_flag(p, "docs/results/digits_rea.md")
    args = p.parse_args(argv)
    from unlearning.methods import get_method, method_names
    # default: the references, every plain method and its _our variant (other wrappers only when named)
    methods = args.methods or [m for m in method_names() if get_method(m).base is None or m.endswith("_our")]
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    common = ["-seed", str(args.seed), "--log_root", args.log_root]
    for l1 in (0.0, 5e-4):  # the normal and the sparse (Wfisher) pretrained models
        ckpt = os.path.join(pretrain_dir(args.log_root, "digits", "resnet8", args.seed, l1), "model.pt")
        if not os.path.isfile(ckpt):
            sh([sys.executable, "pretrain_model_digits.py", *common, "--quiet"] + (["--l1", str(l1)] if l1 else []), env)
    cfg = ReAConfig(**{k: d[k] for k in ("unlearn_data_percent", "num_ood_dataset", "steps", "mix_batch", "threshold")},
                    relearning_lr=args.relearning_lr, repeats=args.repeats, seed=0)
    rows, failed = [], []
    for method in methods:
        run_dir = run_dir_of(method, args.seed, args.log_root)
        ident = ["-method", method, *common]
        last = os.path.join(run_dir, "last.pt")
        if args.force_unlearn or not (finished(os.path.join(run_dir, "results.json")) and os.path.isfile(last)):
            if not sh([sys.executable, "forget_full_class_main_digits.py", *ident], env):
                failed.append(f"{method}: unlearning failed")
                continue
        rea_json = os.path.join(run_dir, "rea", cfg.tag(), "results.json")
        # a checkpoint rewritten after the attack (another run with the same identity) makes the attack stale
        stale = finished(rea_json) and os.path.getmtime(last) > os.path.getmtime(rea_json)
        if args.force_rea or stale or not finished(rea_json):
            lrs = [str(lr) for lr in args.relearning_lr]
            if not sh([sys.executable, "mia_on_mu_main_digits_fullclass.py", *ident, "--relearning_lr", *lrs,
                       "--repeats", str(args.repeats), "--quiet"], env):
                failed.append(f"{method}: ReA failed")
                continue
        rows.append((method, read_json(rea_json)))
    lines = [f"Digits, ResNet-8, forget class 3, unlearning seed {args.seed}, attack seed 0; ReA: {cfg.repeats} repeats × "
             f"(1 forget + {cfg.num_ood_dataset} OOD) samples of {rows[0][1]['settings']['attacker_sample_size'] if rows else '?'}"
             f" images, m={cfg.mix_batch}, T={cfg.steps}, τ={cfg.threshold}; steps-to-τ scores (member iff fewer steps). "
             f"{time.strftime('%Y-%m-%d %H:%M')}, code at {git_head()}", ""]
    head = ["target", "lr", "UA", "TA", "ReA AUC", "balanced acc", "TPR@5%FPR", "mean steps forget / OOD",
            "prior-attack balanced acc", "ReA wall s (CPU s)"]
    body = []
    for method, res in rows:
        t = res["target"]
        prior = res["prior_attack"]["scores"]["balanced_accuracy"]
        for key, r in res["per_lr"].items():
            body.append([method, key, f"{t['UA']:.3f}", f"{t['TA']:.3f}", f"{r['roc_auc']:.3f}",
                         f"{r['balanced_accuracy']:.3f}", f"{r['tpr_at_fpr']:.3f}",
                         f"{r['mean_steps_forget']:.1f} / {r['mean_steps_ood']:.1f}", f"{prior:.3f}", wall_time(res)])
    lines.append(markdown_table(head, body))
    lines += ["", "ReA wall s = relearning of all runs of the target (every lr together), one process, 1 thread; CPU s = "
              "that process's CPU time (less sensitive to the other processes of a shared machine); "
              f"the machine's load average when the table was printed: {os.getloadavg()[0]:.1f}."]
    if failed:
        lines += ["", "Not in the table: " + "; ".join(failed)]
    text = "\n".join(lines) + "\n"
    print(text)
    atomic_write_text(os.path.join(args.log_root, "digits", "resnet8", "rea_table.md"), text)
    if args.docs:
        write_measured(args.docs, "White-box ReA on digits, every method", text, command=script_command(__file__, argv))
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
