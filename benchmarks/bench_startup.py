"""run.py with start-up per step vs start-up once (and ReA's early stop), side by side in one run: wall time,
per-stage process seconds and whether the sweeps wrote the same tables.

    python benchmarks/bench_startup.py                       # the digits default, both ways, in temporary folders
    python benchmarks/bench_startup.py --arms per_step once once_early_stop --docs docs/results/startup.md

Each round runs every arm (``python run.py --startup per_step``, ``--startup once``, ``--startup once
--early_stop``) once, in an order that rotates between rounds so a drift of the machine's load favours none, into
fresh log folders, with the same other flags (``--extra``). Per stage: the sum of the seconds of the steps run, from the sweep's summary (``launcher/last_summary.json``; a step's seconds run
from its first command's start to its outputs checked, so they include the interpreter's start-up when there is
one). The sweeps' tables are compared: the report's CSV files, byte for byte after the timing columns are dropped.
"""
import argparse
import csv
import glob
import io
import json
import os
import statistics
import subprocess
import sys
import shutil
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from unlearning.cli.parsers import HelpFormatter, launcher_constant  # noqa: E402
from unlearning.measured_docs import add_docs_flag, write_measured  # noqa: E402
from unlearning.tables import markdown_table  # noqa: E402

STAGES = launcher_constant("STAGES")
TIMING_COLUMNS = ("s", "seconds", "time", "RTE")  # report columns that measure time, not results


def stage_seconds(summary: dict) -> dict:
    """Stage → (steps, summed seconds) of the steps a sweep ran, from its summary (launcher/last_summary.json)."""
    out = {}
    for step in summary.get("steps", []):
        if step.get("status") == "done":
            n, s = out.get(step["stage"], (0, 0.0))
            out[step["stage"]] = (n + 1, s + float(step.get("seconds") or 0.0))
    return out


def _timing(name: str) -> bool:
    words = name.replace("(", " ").replace(")", " ").split()
    return any(w in TIMING_COLUMNS for w in words) or name.endswith(" s")


def tables(log_root: str) -> dict:
    """Report CSV name → its rows without timing columns (what must not depend on how steps start)."""
    out = {}
    for path in sorted(glob.glob(os.path.join(log_root, "report", "*.csv"))):
        rows = list(csv.reader(io.StringIO(open(path).read())))
        if not rows:
            continue
        keep = [i for i, name in enumerate(rows[0]) if not _timing(name)]
        rows = [r for r in rows if not (r and "time (s)" in r[0])]  # the attack matrix's cost-in-seconds row
        out[os.path.basename(path)] = [[r[i] for i in keep if i < len(r)] for r in rows]
    return out


ARMS = {"per_step": ["--startup", "per_step"], "once": ["--startup", "once"],
        "once_early_stop": ["--startup", "once", "--early_stop"]}


def run_sweep(arm: str, log_root: str, extra) -> dict:
    cmd = [sys.executable, "run.py", *ARMS[arm], "--log_root", log_root, *extra]
    t0 = time.perf_counter()
    r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if r.returncode != 0:
        raise SystemExit(f"error: {' '.join(cmd)} exited {r.returncode}: {(r.stderr or r.stdout)[-800:]}")
    summary = json.load(open(os.path.join(log_root, "launcher", "last_summary.json")))
    return {"wall": wall, "stages": stage_seconds(summary), "tables": tables(log_root),
            "steps": sum(summary["counts"].values()), "done": summary["counts"].get("done", 0)}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=HelpFormatter)
    p.add_argument("--rounds", type=int, default=1, help="rounds; each runs every arm once, in rotating order")
    p.add_argument("--arms", nargs="+", choices=sorted(ARMS), default=["per_step", "once"],
                   help="the sweeps compared; the first is the reference of the ratios and of the tables")
    p.add_argument("--extra", nargs=argparse.REMAINDER, default=[], help="further run.py flags, for every arm")
    p.add_argument("--keep", default=None, help="keep the sweeps' log folders under this folder (default: removed)")
    add_docs_flag(p, "docs/results/startup.md")
    args = p.parse_args(argv)
    if args.rounds < 1:
        raise SystemExit("error: --rounds must be at least 1")
    base = args.keep or tempfile.mkdtemp(prefix="bench_startup_")
    arms = list(dict.fromkeys(args.arms))
    runs = {a: [] for a in arms}
    for r in range(args.rounds):
        order = arms[r % len(arms):] + arms[:r % len(arms)]
        for arm in order:
            res = run_sweep(arm, os.path.join(base, f"r{r}_{arm}"), args.extra)
            runs[arm].append(res)
            print(f"round {r + 1}/{args.rounds} {arm:15s}: {res['wall']:.1f} s wall, {res['done']} steps done",
                  flush=True)
    ref = arms[0]
    same = {a: all(x["tables"] == y["tables"] for x, y in zip(runs[ref], runs[a])) for a in arms[1:]}
    med = {a: statistics.median(x["wall"] for x in v) for a, v in runs.items()}
    rows = []
    for stage in STAGES + ["total"]:
        if stage == "total":
            secs = {a: statistics.median(sum(c[1] for c in x["stages"].values()) for x in v) for a, v in runs.items()}
            n = sum(c[0] for c in runs[ref][0]["stages"].values())
            label = "all steps"
        else:
            cells = {a: [x["stages"].get(stage) for x in v] for a, v in runs.items()}
            if not any(c for a in arms for c in cells[a]):
                continue
            n = next(c[0] for a in arms for c in cells[a] if c)
            secs = {a: statistics.median(c[1] for c in cells[a] if c) if any(cells[a]) else 0.0 for a in arms}
            label = stage
        rows.append([label, n] + [f"{secs[a]:.1f}" for a in arms]
                    + [f"{secs[ref] / secs[a]:.2f}×" if secs[a] else "—" for a in arms[1:]])
    rows.append(["**run.py wall (s)**", runs[ref][0]["steps"]] + [f"**{med[a]:.1f}**" for a in arms]
                + [f"**{med[ref] / med[a]:.2f}×**" for a in arms[1:]])
    table = markdown_table(["stage", "steps"] + [f"{a}: process s" for a in arms]
                           + [f"{ref} / {a}" for a in arms[1:]], rows)
    n_tables = len(runs[ref][0]["tables"])
    verdicts = [f"{a}: the {n_tables} report tables (CSV, timing columns and rows left out) are "
                + ("identical to " if same[a] else "**not identical** to ") + f"{ref}'s in every round"
                for a in arms[1:]]
    body = (f"{table}\n\nMedians over {args.rounds} round(s). Per stage: the steps' summed seconds from the "
            f"sweep's summary (a step's seconds include an interpreter's start-up when it has one; parallel steps "
            f"overlap, so stages add up to more than the wall time). {'; '.join(verdicts)}.\n")
    print("\n" + body)
    if args.docs:
        write_measured(args.docs, "run.py start-up once vs per step (digits default)", body)
    if not args.keep:
        shutil.rmtree(base, ignore_errors=True)
    return 0 if all(same.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
