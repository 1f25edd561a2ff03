"""Efficacy table on the digits preset: TA / UA / RA / MIA / RTE for every method and every `_our` variant.

Runs the project's own entry point (forget_full_class_main_digits.py) once per method, each in its own process,
then reads the run folders' results.json. Retrain runs first and again last, and every `_our` RTE is compared with
the mean of those two retrain RTEs, measured in the same run (wall time, and CPU time: robust to a shared machine). Pretrains the normal and the sparse (--l1 5e-4) model first if they are missing or stale.

    python benchmarks/digits_efficacy_table.py [--methods m1 m2 ...] [--seed 0] [--log_root log_files] [--in_process]
        [--docs docs/results/digits_efficacy.md]
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import config  # noqa: E402
from unlearning.cli.args import finish_args  # noqa: E402
from unlearning.files import atomic_write_text, read_json, write_json
from unlearning.paths import pretrain_dir
from unlearning.methods import METHODS  # noqa: E402
from unlearning.methods.registry import our_names
from unlearning.cli.unlearn import parser as unlearn_parser, resolve  # noqa: E402
from unlearning.run_identity import run_dir_from_args  # noqa: E402
from unlearning.tables import markdown_table  # noqa: E402
from unlearning.measured_docs import add_docs_flag, script_command, write_measured  # noqa: E402

SPARSE_L1 = 5e-4


def ensure_pretrained(log_root, env):
    """(Re)pretrain the digits models whose checkpoint is missing or was made with another epoch count."""
    epochs = config.PRESETS["digits"]["pretrain"]["epochs"]
    for l1 in (0.0, SPARSE_L1):
        folder = pretrain_dir(log_root, "digits", "resnet8", 0, l1)
        res = os.path.join(folder, "results.json")
        if os.path.exists(os.path.join(folder, "model.pt")) and os.path.exists(res) and \
                read_json(res).get("recipe", {}).get("epochs") == epochs:
            continue
        cmd = [sys.executable, "pretrain_model_digits.py", "--quiet", "--log_root", log_root] + (["--l1", str(l1)] if l1 else [])
        print("+", " ".join(cmd), flush=True)
        subprocess.run(cmd, cwd=ROOT, env=env, check=True)


def run_method(method, seed, log_root, device, env, in_process=False):
    argv = ["-method", method, "-seed", str(seed), "--log_root", log_root, "--device", device]
    if in_process:  # the entry point's own main(), without a fresh interpreter per method
        from unlearning.cli.unlearn import main as unlearn_main
        try:
            unlearn_main("digits", argv=argv)
            proc = subprocess.CompletedProcess(argv, 0, "", "")
        except SystemExit as err:
            proc = subprocess.CompletedProcess(argv, 1, "", str(err))
    else:
        proc = subprocess.run([sys.executable, "forget_full_class_main_digits.py"] + argv, cwd=ROOT, env=env,
                              capture_output=True, text=True)
    args = finish_args(unlearn_parser("digits").parse_args(argv))
    resolve(args)
    path = os.path.join(run_dir_from_args(args), "results.json")
    res = read_json(path) if os.path.exists(path) else {"status": "missing", "error": proc.stderr.strip()[-300:]}
    if proc.returncode != 0 or res.get("status") != "done":
        print(f"{method}: exit {proc.returncode}, status {res.get('status')}: {res.get('error') or proc.stderr[-300:]}",
              flush=True)
    elif proc.stdout.strip():
        print(proc.stdout.strip().splitlines()[-1], flush=True)
    return res, path


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--methods", nargs="*", default=None, help="default: every method and every `_our` variant")
    p.add_argument("-seed", "--seed", type=int, default=0)
    p.add_argument("--log_root", default=config.LOG_ROOT)
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=1, help="torch threads per run (OMP_NUM_THREADS)")
    p.add_argument("--in_process", action="store_true",
                   help="call the entry point's main() in this process (faster; default: one process per method)")
    p.add_argument("--out", default=None, help="markdown table (default: <log_root>/digits/resnet8/efficacy_table.md)")
    add_docs_flag(p, "docs/results/digits_efficacy.md")
    args = p.parse_args(argv)
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), PYTHONPATH=ROOT)
    if args.in_process:
        import torch
        torch.set_num_threads(args.threads)
    ensure_pretrained(args.log_root, env)
    methods = args.methods or list(METHODS) + our_names()
    methods = [m for m in methods if m != "retrain"]
    start = time.perf_counter()
    # retrain first and again last: the RTE reference is their mean, so a load that drifts during the run (a shared
    # machine) biases no method; both figures are printed
    rows = {"retrain": run_method("retrain", args.seed, args.log_root, args.device, env, args.in_process)}
    for m in methods:
        rows[m] = run_method(m, args.seed, args.log_root, args.device, env, args.in_process)
    rows["retrain (again, last)"] = run_method("retrain", args.seed, args.log_root, args.device, env, args.in_process)
    total = time.perf_counter() - start

    refs = [rows[k][0] for k in ("retrain", "retrain (again, last)") if rows[k][0].get("status") == "done"]
    ref_rte = sum(r["metrics"]["RTE"] for r in refs) / max(len(refs), 1)
    ref_cpu = sum(r.get("rte_cpu", float("nan")) for r in refs) / max(len(refs), 1)
    ref_ta = refs[0]["metrics"]["TA"] if refs else float("nan")
    mode = "in process" if args.in_process else "one process per method"
    lines = [f"digits, resnet8, forget class {config.PRESETS['digits']['forget_class']}, seed {args.seed}, "
             f"device {args.device}, {args.threads} thread(s), {mode}. Retrain RTE (same run): "
             + ", ".join(f"{r['metrics']['RTE']:.2f} s wall / {r.get('rte_cpu', float('nan')):.2f} s CPU" for r in refs)
             + f" (first, last); reference = their mean, {ref_rte:.2f} s wall / {ref_cpu:.2f} s CPU", ""]
    head = ["method", "TA", "UA", "RA", "MIA", "RTE wall (s)", "% of retrain", "RTE CPU (s)", "% of retrain",
            "`_our` checks: UA≤5%, ΔTA≤5, wall≤15% (CPU≤15%)"]
    body, failures = [], []
    for m, (res, _) in rows.items():
        met = res.get("metrics")
        if res.get("status") != "done" or not met:
            body.append([m, res.get('status'), "", "", "", "", "", "", "", res.get('error')])
            failures.append(m)
            continue
        pct = 100 * met["RTE"] / ref_rte
        cpu = res.get("rte_cpu", float("nan"))
        pct_cpu = 100 * cpu / ref_cpu
        check = ""
        if m.endswith("_our"):
            ok = [met["UA"] <= 0.05, abs(met["TA"] - ref_ta) <= 0.05, pct <= 15.0]
            check = " ".join("ok" if c else "FAIL" for c in ok) + f" ({'ok' if pct_cpu <= 15.0 else 'FAIL'})"
            if not all(ok):
                failures.append(m)
        body.append([m, f"{met['TA']:.3f}", f"{met['UA']:.3f}", f"{met['RA']:.3f}", f"{met['MIA']:.3f}",
                     f"{met['RTE']:.2f}", f"{pct:.1f}", f"{cpu:.2f}", f"{pct_cpu:.1f}", check])
    lines += [markdown_table(head, body), "",
              f"{len(rows)} runs in {total:.0f} s wall; failing: {', '.join(failures) or 'none'}"]
    text = "\n".join(lines) + "\n"
    print("\n" + text)
    out = args.out or os.path.join(args.log_root, "digits", "resnet8", "efficacy_table.md")
    atomic_write_text(out, text)
    if args.docs:
        write_measured(args.docs, "Unlearning efficacy on digits, every method and `_our` variant",
                       "TA / UA / RA = accuracy on the retain test set / the forget training set / the retain training "
                       "set; MIA = fraction of the forget set called member by the entropy attack; RTE = wall (and "
                       "process CPU) seconds of the unlearning, and its share of the mean of the two retrain runs.\n\n"
                       + text, command=script_command(__file__, argv))
    write_json(os.path.splitext(out)[0] + ".json",
               {m: {"status": r.get("status"), "metrics": r.get("metrics"), "rte_cpu": r.get("rte_cpu"), "results": path} for m, (r, path) in rows.items()})
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
