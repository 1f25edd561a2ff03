"""Paper-style launcher for the representation distribution metrics: edit the list below and run

    python run-distribution-metric.py                 # every entry, penultimate features and logits
    python run-distribution-metric.py --dry_run       # print the command lines only

Each entry shells out to distribution_metric.py, which finds the unlearned model by the same identity arguments as
the unlearning run (log_files/<dataset>/<net>/forget_<c>/<method>/<p1,p2,mask,seed>/last.pt) and writes
<run_dir>/distribution[_logits]/results.json + tsne.png + overlap_map.png. The entry "pretrained" analyses the
pretrained checkpoint itself (via --model_path). A table of all entries is printed at the end.
"""
import argparse
import json
import os
import subprocess
import sys

from unlearning.cli.parsers import RawDescriptionHelpFormatter


# ------------------------------------------------------------------ editable settings
dataset = "digits"
net = "resnet8"
forget_class = 3
seed = 0
log_root = "log_files"
pretrain_path = None  # None: log_files/<dataset>/<net>/pretrain/seed<seed>/model.pt
recipe = None  # the --recipe file the unlearning runs were launched with (None: none)
features_list = ["penultimate", "logits"]
max_points = 2000
# [method, para1, para2]; None = the method's default (as the unlearning run was launched)
mu_method_list = [
    ["pretrained", None, None],
    ["retrain", None, None],
    ["badteacher", None, None], ["badteacher_our", None, None],
    ["ssd_tuning", None, None], ["ssd_tuning_our", None, None],
    ["negative_grad", None, None], ["negative_grad_our", None, None],
    ["amnesiac", None, None], ["amnesiac_our", None, None],
]
# ------------------------------------------------------------------


def command(entry, features):
    from unlearning.paths import forget_dir, pretrained_path, seed_field  # after parsing: -h answers before torch loads

    method, p1, p2 = entry
    cmd = [sys.executable, "distribution_metric.py", "-dataset", dataset, "-net", net, "-seed", str(seed),
           "--forget_class", str(forget_class), "--log_root", log_root, "--features", features,
           "--max_points", str(max_points)]
    if method == "pretrained":
        path = pretrain_path or pretrained_path(log_root, dataset, net, seed)
        suffix = "" if features == "penultimate" else f"_{features}"
        out = os.path.join(forget_dir(log_root, dataset, net, forget_class), "pretrained", seed_field(seed),
                           f"distribution{suffix}")
        return cmd + ["--model_path", path, "--out_dir", out]
    cmd += ["-method", method]
    if recipe:
        cmd += ["--recipe", recipe]
    if pretrain_path:  # the runs of that source model (a run's folder names a non-default source model)
        cmd += ["-weight_path", pretrain_path]
    if p1 is not None:
        cmd += ["--para1", str(p1)]
    if p2 is not None:
        cmd += ["--para2", str(p2)]
    return cmd


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=RawDescriptionHelpFormatter)
    p.add_argument("--dry_run", action="store_true", help="print the command lines, run nothing")
    args = p.parse_args()
    root = os.path.dirname(os.path.abspath(__file__))
    rows, failed = [], 0
    for entry in mu_method_list:
        for features in features_list:
            cmd = command(entry, features)
            print("$ " + " ".join(cmd[1:]), flush=True)
            if args.dry_run:
                continue
            proc = subprocess.run(cmd, cwd=root, capture_output=True, text=True)
            if proc.returncode:
                failed += 1
                print("  FAILED: " + (proc.stderr.strip().splitlines() or [f"exit code {proc.returncode}"])[-1])
                continue
            last = proc.stdout.strip().splitlines()[-1]
            print("  " + last, flush=True)
            with open(os.path.join(root, last.rsplit("→ ", 1)[1].strip(), "results.json")) as fh:
                res = json.load(fh)
            rows.append([entry[0], features, f"{res['variance']:.1f}", f"{res['silhouette']:.3f}",
                         f"{res['overlap']:.3f}", f"{res['multiclass_overlap']:.3f}"])
    if rows:
        from unlearning.tables import markdown_table

        head = ["method", "features", "variance", "silhouette", "overlap", "multi-class overlap"]
        print("\n" + markdown_table(head, rows))
    if not args.dry_run:
        print(f"\n{len(rows)} ok, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
