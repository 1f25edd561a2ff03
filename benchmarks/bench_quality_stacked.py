"""ReA on several targets of one network: one target at a time vs all targets stacked in one vmapped engine.

    python benchmarks/bench_quality_stacked.py                       # 4 digits ResNet-8s, CPU, 1 thread
    python benchmarks/bench_quality_stacked.py --models 16 --stacked_chunk 640 --device cuda
    python benchmarks/bench_quality_stacked.py --docs docs/results/quality_stacked.md     # also as a docs page

The targets are freshly initialised networks of different seeds (the cost of a relearning step does not depend
on the weights) unless --model_paths names checkpoints. Each target gets its own attacker samples (attack seed =
its index), as in the quality stage. "One at a time" attacks each target with the batched engine of a single
target (its runs ``--chunk`` at a time, the preset's batch size); "stacked" trains the runs of every target
together, ``--stacked_chunk`` at a time. Prints seconds per target for both and whether the correct counts are
equal (on CUDA pass --exact for that comparison: TF32 rounding depends on the batch).
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
from unlearning.measured_docs import add_docs_flag, script_command, write_measured  # noqa: E402
from unlearning.tables import markdown_table  # noqa: E402


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def main(argv=None):
    d = config.REA["digits"]
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", default="digits")
    p.add_argument("--models", type=int, default=4, help="number of targets")
    p.add_argument("--model_paths", nargs="*", default=None, help="checkpoints instead of fresh networks")
    p.add_argument("--repeats", type=int, default=d["repeats"])
    p.add_argument("--steps", type=int, default=25, help="T (the preset's 75 takes 3× longer; per-step cost is flat)")
    p.add_argument("--relearning_lr", type=float, default=0.01)
    p.add_argument("--chunk", type=int, default=d["batch_models"], help="runs per vmap, one target at a time")
    p.add_argument("--stacked_chunk", type=int, default=None, help="runs per vmap, stacked (default: all runs)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--exact", action="store_true",
                   help="CUDA: no TF32 and deterministic cuDNN, so that the two engines' curves can be compared "
                        "(with TF32 the batch composition changes the rounding, and argmax ties flip)")
    add_docs_flag(p, "docs/results/quality_stacked.md")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.exact:
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.deterministic = True

    exp = Experiment(args.dataset, device=args.device, forget_class=config.preset(args.dataset)["forget_class"])
    if args.model_paths:
        models = [load_model(path, exp)[0] for path in args.model_paths]
    else:
        models = []
        for i in range(args.models):
            torch.manual_seed(i)
            models.append(exp.new_model(config.preset(args.dataset)["net"]))
    cfg = R.ReAConfig(unlearn_data_percent=d["unlearn_data_percent"], num_ood_dataset=d["num_ood_dataset"],
                      relearning_lr=[args.relearning_lr], repeats=args.repeats, steps=args.steps,
                      mix_batch=d["mix_batch"]).validate()
    runs = []
    for i in range(len(models)):
        c = R.ReAConfig(**{**cfg.__dict__, "seed": i})
        runs.append(R.build_runs([R.draw_samples(exp.split, c, r) for r in range(c.repeats)], c.relearning_lr))
    rd = R.RunData(exp.train, exp.split)
    total = sum(len(r) for r in runs)
    stacked_chunk = args.stacked_chunk or total
    load = os.getloadavg()[0]
    print(f"{len(models)} targets × {len(runs[0])} runs × {cfg.steps} steps (attacker sample {len(runs[0][0].attack)}, "
          f"m={cfg.mix_batch}) on {exp.device}, {args.threads} thread(s), load average {load:.1f}")
    R.relearn_many(models[:2], [r[:2] for r in runs[:2]], rd, 2, 4)  # library warm-up outside the timings
    R.relearn(models[0], runs[0][:2], rd, 2, 2)

    _sync(exp.device)
    t = time.perf_counter()
    alone = [R.relearn(m, r, rd, cfg.steps, args.chunk) for m, r in zip(models, runs)]
    _sync(exp.device)
    one = time.perf_counter() - t

    t = time.perf_counter()
    stacked = R.relearn_many(models, runs, rd, cfg.steps, stacked_chunk)
    _sync(exp.device)
    many = time.perf_counter() - t

    differ = sum(int((a != b).any(1).sum()) for a, b in zip(alone, stacked))
    n = len(models)
    print(f"  one at a time (×{args.chunk} per vmap): {one:7.2f} s = {one / n:6.2f} s per target")
    print(f"  stacked       (×{stacked_chunk} per vmap): {many:7.2f} s = {many / n:6.2f} s per target "
          f"| {one / many:4.2f}× faster | curves equal: {differ == 0} ({differ} of {total} runs differ)")
    if args.docs:
        where = (torch.cuda.get_device_name(exp.device) if exp.device.type == "cuda"
                 else f"CPU ({args.threads} thread(s), load average {load:.1f})")
        if exp.device.type == "cuda":
            where += ", exact (no TF32)" if args.exact else ", TF32 on"
        table = markdown_table(
            ["device", "targets × runs, T", "one at a time", "stacked", "curves equal"],
            [[where, f"{n} × {len(runs[0])}, chunk {args.chunk} vs {stacked_chunk}, T = {cfg.steps}",
              f"{one / n:.2f} s per target", f"{many / n:.2f} s per target ({one / many:.2f}×)",
              f"{differ == 0} ({differ} of {total} runs differ)"]])
        write_measured(args.docs, "Stacked ReA over several targets vs one target at a time",
                       f"{args.dataset}, attacker sample {len(runs[0][0].attack)}, m = {cfg.mix_batch}. One at a "
                       "time = each target's runs in its own vmapped engine; stacked = the runs of every target in "
                       "one engine; curves equal = the same correct counts at every step.\n\n" + table,
                       command=script_command(__file__, argv))
    return {"one_at_a_time_s_per_model": one / n, "stacked_s_per_model": many / n, "runs_differing": differ}


if __name__ == "__main__":
    main()
