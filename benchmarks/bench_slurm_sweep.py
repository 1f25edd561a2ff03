"""The reduced digits sweep through a real single-node SLURM on localhost vs the local launcher.

    python benchmarks/bench_slurm_sweep.py [--out /tmp/slurm_bench] [--max_parallel 2]

Needs root, slurm-wlm, munge and submitit (see docs/cluster.md). Starts the daemons, runs
(1) the sweep with the local launcher, (2) the same sweep through --launcher slurm, timed, then prints `sacct -c`
(the job completion log: the test cluster runs no accounting database) and whether the report tables are equal
apart from wall-clock columns, and (3) a kill-and-rerun: a fresh SLURM sweep interrupted with SIGINT during the
unlearning stage, then rerun to the end, listing each step's status in the rerun. Stops the daemons at the end.
"""
import argparse
import csv
import json
import os
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests"))

from slurm_cluster import LocalSlurm  # noqa: E402

SWEEP = ["--methods", "baseline", "negative_grad", "--stages", "pretrain", "unlearn", "rea", "report",
         "--repeats", "2", "--relearning_lr", "0.01", "--device", "cpu"]
TIMINGS = {"RTE s", "RTE % of retrain", "ReA s"}


def tables(log_root):
    out = {}
    for name in ("efficacy.csv", "rea.csv"):
        rows = list(csv.DictReader(open(os.path.join(log_root, "report", name))))
        out[name] = [{k: v for k, v in row.items() if k not in TIMINGS} for row in rows]
    return out


def sweep(log_root, *extra):
    cmd = [sys.executable, "run.py", *SWEEP, "--log_root", log_root, *extra]
    start = time.time()
    r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    print(r.stdout[-2500:], r.stderr[-1500:], sep="", flush=True)
    if r.returncode != 0:
        raise SystemExit(f"sweep failed ({r.returncode})")
    return time.time() - start


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default="/tmp/slurm_bench")
    p.add_argument("--max_parallel", type=int, default=2)
    args = p.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.makedirs(args.out, exist_ok=True)
    cluster = LocalSlurm(os.path.join(args.out, "cluster"))
    t = time.time()
    cluster.start()
    os.environ.update(cluster.env)
    print(f"cluster up in {time.time() - t:.1f}s ({cluster.conf})", flush=True)
    try:
        local, remote, killed = (os.path.join(args.out, n) for n in ("local", "slurm", "killed"))
        print("== local launcher (--jobs 2)", flush=True)
        t_local = sweep(local, "--jobs", "2")
        print(f"== slurm launcher (--max_parallel {args.max_parallel})", flush=True)
        t_slurm = sweep(remote, "--launcher", "slurm", "--max_parallel", str(args.max_parallel))
        print(f"wall time: local {t_local:.0f}s, slurm {t_slurm:.0f}s")
        print("== sacct -c (job completion log)")
        print(subprocess.run(["sacct", "-c", "-o", "JobID,JobName%24,Partition,NodeList,State,Start,End"],
                             capture_output=True, text=True).stdout, flush=True)
        same = tables(local) == tables(remote)
        print(f"report tables equal (timing columns aside): {same}")
        for name, rows in tables(remote).items():
            print(name, json.dumps(rows, ensure_ascii=False))

        print("== kill and rerun through slurm", flush=True)
        cmd = [sys.executable, "run.py", *SWEEP, "--log_root", killed, "--launcher", "slurm", "--max_parallel",
               str(args.max_parallel)]
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        steps = os.path.join(killed, "launcher", "steps")
        while not (os.path.isdir(steps) and any(f.startswith("unlearn-") for f in os.listdir(steps))):
            time.sleep(0.5)
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate()
        done_before = sorted(json.load(open(os.path.join(steps, f)))["name"] for f in os.listdir(steps))
        print(out[-1500:] + f"exit code {proc.returncode}; in the ledger: {done_before}", flush=True)
        t_rerun = sweep(killed, "--launcher", "slurm", "--max_parallel", str(args.max_parallel))
        summary = json.load(open(os.path.join(killed, "launcher", "last_summary.json")))
        status = {s["name"]: s["status"] for s in summary["steps"]}
        print(f"rerun {t_rerun:.0f}s; statuses: {json.dumps(status)}")
        redone = [n for n in done_before if status[n] != "skipped"]
        print(f"done before the kill and redone: {redone or 'none'}; "
              f"report equal to the local one: {tables(killed) == tables(local)}")
        print(subprocess.run(["squeue", "-t", "all", "-o", "%i %j %T"], capture_output=True, text=True).stdout)
    finally:
        cluster.stop()


if __name__ == "__main__":
    main()
