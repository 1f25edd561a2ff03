"""The digits comparison of the recent class-wise methods, their `_our`, and PRU against the Reminiscence Attack.

For every model seed: pretrain → unlearn (retrain, each method, each method's `_our`) → white-box ReA (one-sided);
the attacker's shadow models (digits_shadow, their own seeds) run the same targets, and the calibrated ReA fits its
rule on them (unlearning.calibration). The pipeline is experiments/defence_investigation.py's (same launcher, same
folders under log_files/investigation/, retrain and plain methods shared with its conditions in common/); this
script adds one condition, the digits config as it is with `_our` as the only defended variant, and a table with
RTE as a share of retrain's and CPU seconds per method.

    OMP_NUM_THREADS=1 python experiments/recent_methods_table.py --seeds 0 1 2 3 4     # resumable
    python experiments/recent_methods_table.py --aggregate_only

Output: log_files/investigation/summary_recent/recent_table.md (+ the investigation's own tables there).
"""
from __future__ import annotations

import argparse
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402

import defence_investigation as di  # noqa: E402
from unlearning.cli.parsers import HelpFormatter  # noqa: E402
from unlearning.pipeline.launcher import Launcher  # noqa: E402
from unlearning.tables import markdown_table  # noqa: E402
from unlearning.measured_docs import add_docs_flag, script_command, write_measured  # noqa: E402

CONDITION = "R_recent"
RECENT = ["boundary_shrink", "boundary_expanding", "delete", "sfr_on", "pru", "weight_dist_reg"]
di.CONDITIONS.setdefault(CONDITION, {"dataset": "digits", "overrides": {}, "variants": ["_our"],
                                     "what": "digits config as it is; recent methods with their `_our`"})


def _cpu_seconds(method, seed):
    d = di._run_dir(CONDITION, "digits", method, seed)
    if d is None:
        return None
    res = di._read(os.path.join(d, "results.json"))
    return res.get("rte_cpu") if res.get("status") == "done" else None


def table(rows, seeds) -> str:
    """One line per target: TA, UA, RTE (CPU) as % of retrain's on the same seed, CPU seconds, one-sided and
    calibrated ReA (mean ± sd over model seeds)."""
    pm = di._pm
    retrain_cpu = {s: _cpu_seconds("retrain", s) for s in seeds}
    head = ["target", "TA", "UA", "RTE, % of retrain (CPU)", "CPU s", "ReA AUC, one-sided", "ReA bal. acc, one-sided",
            "calibrated AUC", "calibrated bal. acc", "model seeds (shadow)"]
    body = []
    for r in rows:
        cpu = {s: _cpu_seconds(r["target"], s) for s in seeds}
        share = [100 * cpu[s] / retrain_cpu[s] for s in seeds if cpu[s] is not None and retrain_cpu.get(s)]
        secs = [c for c in cpu.values() if c is not None]
        fmt = (lambda v, d: "—" if not v else f"{np.mean(v):.{d}f} ± {np.std(v):.{d}f}")
        body.append([r['target'], pm(r['TA'], 3), pm(r['UA'], 3), fmt(share, 1), fmt(secs, 1), pm(r['auc']),
                     pm(r['ba']), pm(r['cal_auc']), pm(r['cal_ba']),
                     f"{r['auc'][2] if r['auc'] else 0} ({r['shadow_seeds']})"])
    return markdown_table(head, body)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=HelpFormatter)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4], help="target model seeds")
    p.add_argument("--shadow_seeds", type=int, nargs="+", default=[100, 101, 102], help="the attacker's shadow seeds")
    p.add_argument("--methods", nargs="+", default=RECENT, help="methods (each with its _our)")
    p.add_argument("--lr", type=float, default=0.01, help="relearning lr of the ReA")
    p.add_argument("--repeats", type=int, default=20)
    p.add_argument("--jobs", type=int, default=1)
    p.add_argument("--stages", nargs="+", default=["pretrain", "unlearn", "rea"])
    p.add_argument("--aggregate_only", action="store_true")
    add_docs_flag(p, "docs/results/recent_methods.md")
    args = p.parse_args(argv)
    os.chdir(ROOT)
    if not args.aggregate_only:
        launcher = Launcher(di.LOG, jobs=args.jobs)
        di.plan(launcher, CONDITION, args.seeds, args.shadow_seeds, args.methods, args.lr, args.repeats)
        launcher.run(args.stages)
    out = os.path.join(di.LOG, "summary_recent")
    rows, _ = di.aggregate([CONDITION], args.seeds, args.shadow_seeds, args.methods, args.lr, args.repeats, out=out)
    text = table(rows, args.seeds)
    from unlearning.files import atomic_write_text, write_json
    atomic_write_text(os.path.join(out, "recent_table.md"),
                      f"ReA at relearning lr {args.lr}, {args.repeats} repeats; mean ± sd over model seeds.\n\n"
                      + text + "\n")
    write_json(os.path.join(out, "recent_rows.json"), {"rows": rows})
    if args.docs:
        write_measured(args.docs, "Recent class-wise methods and rival defences against the ReA (digits)",
                       f"ReA at relearning lr {args.lr}, {args.repeats} repeats; mean ± sd over model seeds.\n\n"
                       + text, command=script_command(__file__, argv))
    print(text)


if __name__ == "__main__":
    main()
