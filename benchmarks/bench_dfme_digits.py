"""DFME on digits: fidelity of the extracted copy and wall time at several query budgets.

    python benchmarks/bench_dfme_digits.py                                  # budgets 25k 50k 100k 200k 400k
    python benchmarks/bench_dfme_digits.py --budgets 50000 200000 --model_path <victim.pt>
    python benchmarks/bench_dfme_digits.py --docs docs/results/dfme_digits.md    # also as a docs page

Each budget is a fresh extraction with the config.DFME["digits"] settings (the learning-rate milestones are
fractions of that budget), one torch thread, on the CPU. The victim defaults to the pretrained ResNet-8
(pretrain it first: python pretrain_model_digits.py). Fidelity = agreement of the copy's argmax with the
victim's on the retain test set; accuracy = the copy's accuracy on the same images against the true labels.
Rows go to stdout and to <out>/bench_dfme_digits.tsv.
"""
import argparse
import os
import platform
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import torch  # noqa: E402

from unlearning.files import write_tsv  # noqa: E402
from unlearning.paths import pretrain_dir
from unlearning.measured_docs import add_docs_flag, script_command, write_measured  # noqa: E402
from unlearning.tables import markdown_table  # noqa: E402
from unlearning.cli.extraction import main as dfme_main  # noqa: E402


def run(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--budgets", type=int, nargs="+", default=[25_000, 50_000, 100_000, 200_000, 400_000])
    p.add_argument("--model_path", default=os.path.join(pretrain_dir("log_files", "digits", "resnet8", 0), "model.pt"))
    p.add_argument("--seed", "--seeds", dest="seeds", type=int, nargs="+", default=[0], help="DFME seeds (each budget "
                   "is extracted once per seed)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default=None, help="folder for the tsv (default: a temporary folder)")
    add_docs_flag(p, "docs/results/dfme_digits.md")
    p.add_argument("--extra", nargs=argparse.REMAINDER, default=[], help="further dfme_attack.py flags")
    args = p.parse_args(argv)
    if not os.path.isfile(args.model_path):
        sys.exit(f"error: no victim {args.model_path} (run python pretrain_model_digits.py)")
    torch.set_num_threads(args.threads)
    setting = (f"{platform.processor() or platform.machine()}, {os.cpu_count()} cpus, torch {torch.__version__}, "
               f"{args.threads} thread(s); victim {args.model_path}, "
               f"load average {os.getloadavg()[0]:.1f}")
    print("# " + setting)
    print(f"{'seed':>4} {'budget':>8} {'queries':>8} {'fidelity':>8} {'acc':>6} {'victim':>6} {'dfme_s':>7} {'wall_s':>7} {'q/s':>7}")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        out = args.out or tmp
        for seed, budget in [(s, b) for s in args.seeds for b in args.budgets]:
            t0 = time.perf_counter()
            res = dfme_main("digits", ["--model_path", args.model_path, "--out_dir", os.path.join(tmp, "runs"),
                                       "--query_budget", str(budget), "--dfme_seed", str(seed), "--quiet",
                                       "--device", "cpu", *args.extra])
            wall = time.perf_counter() - t0
            row = {"seed": seed, "budget": budget, "queries_used": res["queries_used"], "fidelity": res["fidelity"],
                   "student_acc": res["student_acc"], "victim_acc": res["victim"]["retain_test_acc"],
                   "dfme_seconds": res["seconds"], "wall_seconds": wall,
                   "queries_per_second": res["queries_used"] / res["seconds"]}
            rows.append(row)
            print(f"{seed:>4} {budget:>8} {row['queries_used']:>8} {row['fidelity']:>8.4f} {row['student_acc']:>6.3f} "
                  f"{row['victim_acc']:>6.3f} {row['dfme_seconds']:>7.1f} {wall:>7.1f} {row['queries_per_second']:>7.0f}",
                  flush=True)
            write_tsv(os.path.join(out, "bench_dfme_digits.tsv"), rows, list(row))
        if args.out:
            print(f"# written {os.path.join(out, 'bench_dfme_digits.tsv')}")
    if args.docs:
        table = markdown_table(
            ["DFME seed", "budget", "queries used", "fidelity", "copy accuracy", "victim accuracy", "DFME s", "wall s", "queries/s"],
            [[r["seed"], f"{r['budget']:,}", f"{r['queries_used']:,}", f"{r['fidelity']:.3f}", f"{r['student_acc']:.3f}",
              f"{r['victim_acc']:.3f}", f"{r['dfme_seconds']:.1f}", f"{r['wall_seconds']:.1f}",
              f"{r['queries_per_second']:.0f}"] for r in rows], align=["r"] * 9)
        write_measured(args.docs, "DFME on digits: fidelity of the copy against the query budget",
                       f"{setting}.\n\nEach budget is a fresh extraction. Fidelity = agreement of the copy's argmax "
                       "with the victim's on the retain test set; copy / victim accuracy = against the true labels on "
                       "the same images; DFME s = the extraction itself, wall s = with loading and evaluation.\n\n"
                       + table, command=script_command(__file__, argv))
    return rows


if __name__ == "__main__":
    run()
