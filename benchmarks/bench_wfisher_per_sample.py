"""Wfisher's per-sample gradients: torch.func (vmap, chunked) vs the batch-size-1 loop, timed side by side.

Uses the digits retain samples and the pretrained digits ResNet-8 (a random one if it is missing), then a wider
network to show where vectorising stops paying on a CPU. Also times the Woodbury recursion on the result.

    python benchmarks/bench_wfisher_per_sample.py [--threads 1] [--device cpu] [--n 64 256 728]
        [--docs docs/results/wfisher_per_sample.md]
"""
from __future__ import annotations

import argparse
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import torch  # noqa: E402

from unlearning.experiment import Experiment, load_model  # noqa: E402
from unlearning.run_identity import default_weight_path
from unlearning.measured_docs import add_docs_flag, script_command, write_measured  # noqa: E402
from unlearning.tables import markdown_table  # noqa: E402
from unlearning.per_sample import per_sample_grads, per_sample_grads_loop, warm_up  # noqa: E402
from unlearning.methods.classic import woodfisher_inverse_apply  # noqa: E402


def timed(fn, repeats):
    best = float("inf")
    for _ in range(repeats):
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        start = time.perf_counter()
        out = fn()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - start)
    return best, out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--device", default="cpu")
    p.add_argument("--n", type=int, nargs="+", default=[64, 256, 728], help="numbers of retain samples")
    p.add_argument("--chunk", type=int, default=64)
    p.add_argument("--repeats", type=int, default=3, help="best of")
    add_docs_flag(p, "docs/results/wfisher_per_sample.md")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    exp = Experiment("digits", device=args.device, forget_class=3)
    weights = default_weight_path(argparse.Namespace(log_root="log_files", dataset="digits", net="resnet8"))
    if os.path.exists(os.path.join(ROOT, weights)):
        model, _ = load_model(os.path.join(ROOT, weights), exp, net="resnet8")
        origin = weights
    else:
        model, origin = exp.new_model("resnet8"), "random init (pretrain first for the real model)"
    idx = exp.split.retain_train
    x_all = exp.train.normalize(exp.train.x[idx.to(exp.device)])
    y_all = exp.split.targets(exp.train.y[idx.to(exp.device)])
    warm_up(exp.device)
    setting = (f"device {exp.device}, {torch.get_num_threads()} thread(s), torch {torch.__version__}, "
               f"chunk {args.chunk}, best of {args.repeats}")
    print(setting)
    print(f"{'model':<26} {'params':>8} {'N':>5} {'loop s':>8} {'vmap s':>8} {'speed-up':>8} {'max |Δ|':>9} "
          f"{'rows>1e-4':>9} {'max |g|':>8} {'Woodbury s':>10}")
    cases = [("digits ResNet-8 8x8", model, x_all, y_all)]
    torch.manual_seed(0)  # the same initial ResNet-20 in every run
    wide = exp.new_model("resnet20")  # 3× deeper: the loop's per-call overhead matters less
    cases.append(("digits ResNet-20 8x8 (init)", wide, x_all, y_all))
    body = []
    for name, net, x, y in cases:
        n_params = sum(q.numel() for q in net.parameters())
        for n in args.n:
            n = min(n, len(x))
            t_loop, g_loop = timed(lambda: per_sample_grads_loop(net, x[:n], y[:n]), args.repeats)
            t_vec, g_vec = timed(lambda: per_sample_grads(net, x[:n], y[:n], args.chunk), args.repeats)
            v = g_vec.mean(0)
            diff = (g_vec - g_loop).abs().max(1).values
            off = int((diff > 1e-4).sum())  # samples on a non-differentiable point (a tie) may take another subgradient
            t_wb, _ = timed(lambda: woodfisher_inverse_apply(g_vec, v, 1.0), 1)
            print(f"{name:<26} {n_params:>8} {n:>5} {t_loop:>8.3f} {t_vec:>8.3f} {t_loop / t_vec:>7.2f}x "
                  f"{diff.max().item():>9.2e} {off:>9} {g_loop.abs().max().item():>8.2e} {t_wb:>10.3f}")
            body.append([name, n_params, n, f"{t_loop:.3f}", f"{t_vec:.3f}", f"{t_loop / t_vec:.2f}×",
                         f"{diff.max().item():.2e}", off, f"{g_loop.abs().max().item():.2e}", f"{t_wb:.3f}"])
    print(f"(model weights: {origin})")
    if args.docs:
        table = markdown_table(["model", "params", "N", "loop s", "vmap s", "speed-up", "max abs Δ", "rows > 1e-4",
                                "max abs g", "Woodbury s"], body, align=[None] + ["r"] * 9)
        write_measured(args.docs, "Wfisher's per-sample gradients: vmap vs the per-sample loop",
                       f"{setting}; model weights: {origin}.\n\nN retain samples; loop / vmap s = best wall time of "
                       "the batch-size-1 loop and of the chunked torch.func gradients; max abs Δ = largest difference "
                       "between the two, rows > 1e-4 = samples where they differ by more than 1e-4 (a sample on a "
                       "non-differentiable point, an exact tie, can take another subgradient in each; float64 agrees "
                       "with one of them), max abs g = largest gradient entry, for scale; Woodbury s = the inverse-Fisher "
                       "product on the gradients.\n\n" + table, command=script_command(__file__, argv))


if __name__ == "__main__":
    main()
