"""ReA relearning of one target: the batched engines against a one-thread sgemm reference, side by side.

    python benchmarks/bench_rea_batched.py                     # digits default: 80 runs × 75 steps, chunks of 40
    python benchmarks/bench_rea_batched.py --model_path CKPT --steps 25 --loop
    python benchmarks/bench_rea_batched.py --docs docs/results/rea_batched.md

Same runs (attacker samples, mixing batches, learning rates) for every engine, one process, ``--threads`` torch
threads (1 by default). Rows: ``vmap_grad`` (every copy's gradient by vmap(grad(loss)); the default), ``vmap_sum``
(one vmapped forward, one reverse pass of the summed losses), the default engine with early stop at τ and, with
``--loop``, the one-at-a-time reference loop. A model-step is one relearning step of one run plus the accuracy
evaluation after it; its FLOPs (convolutions and matrix products, counted by torch.utils.flop_counter on one
copy: forward + backward of 1 + m images, forward of the attacker sample) done as 512×512 sgemms on the same
threads give the reference time; the sgemm rate is measured again right before every engine, so each ratio
compares two timings taken under the same load. Times are this process's CPU time (wall time swings with other
processes on a shared machine). Every row checks its correct counts against the first engine's: equal at every
step (early stop: equal up to each run's stop, and equal steps-to-τ).
"""
import argparse
import copy
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

import config  # noqa: E402
from unlearning.attacks import reminiscence as R  # noqa: E402
from unlearning.experiment import Experiment, load_model  # noqa: E402
from unlearning.measured_docs import add_docs_flag, script_command, write_measured  # noqa: E402
from unlearning.paths import pretrain_dir  # noqa: E402
from unlearning.tables import markdown_table  # noqa: E402

SGEMM_N = 512


def model_step_flops(model, rd, run) -> int:
    """FLOPs of one model-step of one copy: forward + backward on step 0's 1 + m images, forward on the sample."""
    net = copy.deepcopy(model)
    x, y = rd.train_batch(rd.train_indices([run], 1)[:, 0])
    x_eval = rd.eval_batch([run])[0]
    with FlopCounterMode(display=False) as fc:
        net.train()
        F.cross_entropy(net(x[0]), y[0]).backward()
        net.eval()
        with torch.no_grad():
            net(x_eval)
    return int(fc.get_total_flops())


def sgemm_gflops(seconds: float = 1.0) -> float:
    """GFLOP/s of 512×512 float32 matrix products on this process's threads (CPU time, ``seconds`` of it)."""
    a, b = torch.randn(SGEMM_N, SGEMM_N), torch.randn(SGEMM_N, SGEMM_N)
    torch.mm(a, b)
    n, c = 0, time.process_time()
    while time.process_time() - c < seconds:
        torch.mm(a, b)
        n += 1
    return 2 * SGEMM_N ** 3 * n / (time.process_time() - c) / 1e9


def main(argv=None):
    d = config.REA["digits"]
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", default="digits")
    p.add_argument("--model_path", default=os.path.join(pretrain_dir(config.LOG_ROOT, "digits", "resnet8"), "model.pt"))
    p.add_argument("--repeats", type=int, default=d["repeats"])
    p.add_argument("--steps", type=int, default=d["steps"], help="T (default: the preset's)")
    p.add_argument("--relearning_lr", type=float, nargs="+", default=d["relearning_lr"])
    p.add_argument("--chunk", type=int, default=d["batch_models"], help="runs per vmapped network (the preset's)")
    p.add_argument("--loop", action="store_true", help="add the one-at-a-time loop (slow)")
    p.add_argument("--threads", type=int, default=1)
    add_docs_flag(p, "docs/results/rea_batched.md")
    args = p.parse_args(argv)
    if args.threads < 1 or args.chunk < 1 or args.steps < 1:
        p.error("--threads, --chunk and --steps must be at least 1")
    torch.set_num_threads(args.threads)

    exp = Experiment(args.dataset, device="cpu", forget_class=config.preset(args.dataset)["forget_class"])
    model, _ = load_model(args.model_path, exp)
    cfg = R.ReAConfig(unlearn_data_percent=d["unlearn_data_percent"], num_ood_dataset=d["num_ood_dataset"],
                      relearning_lr=args.relearning_lr, repeats=args.repeats, steps=args.steps,
                      mix_batch=d["mix_batch"], threshold=d["threshold"]).validate()
    samples = [R.draw_samples(exp.split, cfg, r) for r in range(cfg.repeats)]
    runs = R.build_runs(samples, cfg.relearning_lr)
    rd = R.RunData(exp.train, exp.split)
    n = len(runs[0].attack)
    stop = R.threshold_count(cfg.threshold, n)
    n_steps = len(runs) * cfg.steps
    flops = model_step_flops(model, rd, runs[0])
    setting = (f"{args.model_path}: {len(runs)} runs × {cfg.steps} steps = {n_steps} model-steps, chunks of "
               f"{args.chunk} (attacker sample {n}, m={cfg.mix_batch}, τ={cfg.threshold:g}: {stop} of {n} correct), "
               f"{args.threads} thread(s), load average {os.getloadavg()[0]:.1f}; "
               f"{flops / 1e6:.1f} MFLOP per model-step (torch.utils.flop_counter: convolutions and matrix products)")
    print(setting)
    for engine in R.ENGINES:  # library warm-up outside the timings
        R.relearn(model, runs[:2], rd, 2, 2, engine=engine)

    rows = [(e, dict(batch_models=args.chunk, engine=e)) for e in R.ENGINES]  # the default (vmap_grad) first
    rows.append((f"{R.DEFAULT_ENGINE} + early stop at τ", dict(batch_models=args.chunk, engine=R.DEFAULT_ENGINE,
                                                               stop_count=stop)))
    if args.loop:
        rows.append(("loop", dict(batch_models=0)))
    body, ref, ref_steps, timings = [], None, None, {}
    for name, kw in rows:
        gflops = sgemm_gflops()
        ref_ms = 1000 * flops / (gflops * 1e9)
        t, c = time.perf_counter(), time.process_time()
        counts = R.relearn(model, runs, rd, cfg.steps, progress=None, **kw)
        sec, cpu = time.perf_counter() - t, time.process_time() - c
        ms = 1000 * cpu / n_steps
        steps_tau = R.steps_to_threshold(np.where(counts == R.STOPPED, -1, counts) / float(n), cfg.threshold)
        trained = int((counts[:, 1:] != R.STOPPED).sum())
        if ref is None:
            ref, ref_steps, equal = counts, steps_tau, "(reference)"
        else:
            measured = counts != R.STOPPED
            same = np.array_equal(counts[measured], ref[measured]) and np.array_equal(steps_tau, ref_steps)
            equal = f"{same} ({int((steps_tau != ref_steps).sum())} of {len(runs)} steps-to-τ differ)"
        timings[name] = cpu
        print(f"  {name:28s} CPU {cpu:6.1f} s (wall {sec:6.1f} s) = {ms:5.2f} ms per model-step | sgemm "
              f"{gflops:5.1f} GFLOP/s → reference {ref_ms:.2f} ms, ratio {ms / ref_ms:4.1f}× | {trained} model-steps "
              f"trained | counts equal: {equal}", flush=True)
        body.append([name, f"{cpu:.1f}", f"{sec:.1f}", f"{ms:.2f}", f"{gflops:.0f}", f"{ref_ms:.2f}",
                     f"{ms / ref_ms:.1f}×", str(trained), f"{1000 * cpu / max(trained, 1):.2f}", equal])
    if args.docs:
        table = markdown_table(["engine", "CPU s per target", "wall s", "ms per model-step (CPU)",
                                "sgemm GFLOP/s", "sgemm reference ms", "ratio to the reference",
                                "model-steps trained", "ms per trained model-step (CPU)",
                                "counts equal to the first row's"], body)
        write_measured(args.docs, "ReA relearning engines against a one-thread sgemm reference",
                       f"{setting}.\n\nA model-step is one relearning step of one run plus the accuracy evaluation "
                       "after it; ms per model-step = this process's CPU time of the whole target / "
                       f"{n_steps} nominal model-steps (early stop trains fewer: column 'model-steps trained'; the CPU time / "
                       "those is the next column, higher where the last runs of a chunk train in narrow stacks). "
                       "The sgemm reference is the time 512×512 float32 matrix products take for the same FLOPs, "
                       "measured right before the row; ratio = the engine's time / the reference's. Counts equal = "
                       "the same correct counts at every measured step and the same steps-to-τ as the first "
                       "row.\n\n" + table, command=script_command(__file__, argv))
    return timings


if __name__ == "__main__":
    main()
