"""ReA relearning runs of one target: vmapped batches of several sizes vs the one-at-a-time loop, side by side.

    python benchmarks/bench_rea_batched.py                    # digits preset settings, pretrained model
    python benchmarks/bench_rea_batched.py --model_path CKPT --steps 75 --chunks 20 40 80 160
    python benchmarks/bench_rea_batched.py --steps 25 --chunks 20 40 --docs docs/results/rea_batched.md

Same runs (attacker samples, mixing batches, learning rates) for every engine; prints wall time, ms per
model-step (one relearning step + the accuracy evaluation after it, of one run; wall and this process's CPU time,
which is less sensitive to other processes on a shared machine) and whether the accuracy curves of
every batched engine equal the loop's (correct counts; float differences can flip a prediction only late in a
chaotic run).
"""
import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import torch  # noqa: E402

import config  # noqa: E402
from unlearning.attacks import reminiscence as R  # noqa: E402
from unlearning.experiment import Experiment, load_model  # noqa: E402
from unlearning.paths import pretrain_dir
from unlearning.measured_docs import add_docs_flag, script_command, write_measured  # noqa: E402
from unlearning.tables import markdown_table  # noqa: E402


def main(argv=None):
    d = config.REA["digits"]
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", default="digits")
    p.add_argument("--model_path", default=os.path.join(pretrain_dir(config.LOG_ROOT, "digits", "resnet8"), "model.pt"))
    p.add_argument("--repeats", type=int, default=d["repeats"])
    p.add_argument("--steps", type=int, default=25, help="T (the preset's 75 takes 3× longer; per-step cost is flat)")
    p.add_argument("--relearning_lr", type=float, nargs="+", default=[0.01])
    p.add_argument("--chunks", type=int, nargs="+", default=[20, 40, 80], help="batch sizes to time (runs per vmap)")
    p.add_argument("--no_loop", action="store_true", help="skip the loop (slow)")
    p.add_argument("--threads", type=int, default=1)
    add_docs_flag(p, "docs/results/rea_batched.md")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)

    exp = Experiment(args.dataset, device="cpu", forget_class=config.preset(args.dataset)["forget_class"])
    model, _ = load_model(args.model_path, exp)
    cfg = R.ReAConfig(unlearn_data_percent=d["unlearn_data_percent"], num_ood_dataset=d["num_ood_dataset"],
                      relearning_lr=args.relearning_lr, repeats=args.repeats, steps=args.steps,
                      mix_batch=d["mix_batch"]).validate()
    samples = [R.draw_samples(exp.split, cfg, r) for r in range(cfg.repeats)]
    runs = R.build_runs(samples, cfg.relearning_lr)
    rd = R.RunData(exp.train, exp.split)
    n_steps = len(runs) * cfg.steps
    setting = (f"{args.model_path}: {len(runs)} runs × {cfg.steps} steps = {n_steps} model-steps "
               f"(attacker sample {len(runs[0].attack)}, m={cfg.mix_batch}), {args.threads} thread(s), "
               f"load average {os.getloadavg()[0]:.1f}")
    print(setting)
    R.relearn(model, runs[:2], rd, 2, 2)  # library warm-up outside the timings
    results, seconds, body = {}, {}, []
    engines = ([0] if not args.no_loop else []) + list(args.chunks)
    for chunk in engines:
        t, c = time.perf_counter(), time.process_time()
        counts = R.relearn(model, runs, rd, cfg.steps, chunk)
        sec, cpu = time.perf_counter() - t, time.process_time() - c
        results[chunk], seconds[chunk] = counts, sec
        name = "loop" if chunk == 0 else f"vmap ×{chunk}"
        same, speed, equal = "", "—", "—"
        if 0 in results and chunk:
            diff = results[0] != counts
            speed = f"{seconds[0] / sec:.1f}×"
            equal = f"{not diff.any()} ({diff.any(1).sum()} of {len(runs)} runs differ)"
            same = f"| {seconds[0] / sec:4.1f}× the loop's speed | curves equal the loop's: {equal}"
        print(f"  {name:10s} wall {sec:6.1f} s = {1000 * sec / n_steps:6.2f} ms per model-step "
              f"(CPU {1000 * cpu / n_steps:5.2f} ms) {same}")
        body.append([name, f"{sec:.1f}", f"{1000 * sec / n_steps:.2f}", f"{1000 * cpu / n_steps:.2f}", speed, equal])
    if args.docs:
        table = markdown_table(["engine", "wall s", "ms per model-step (wall)", "ms per model-step (CPU)",
                                "speed vs the loop (wall)", "curves equal the loop's"], body)
        write_measured(args.docs, "ReA relearning: vmapped batches vs the one-at-a-time loop",
                       f"{setting}.\n\nA model-step is one relearning step of one run plus the accuracy evaluation "
                       "after it; CPU = this process's CPU time (less sensitive to other processes than wall time); "
                       "curves equal = the same correct counts at every step as the loop.\n\n" + table,
                       command=script_command(__file__, argv))
    return seconds


if __name__ == "__main__":
    main()
