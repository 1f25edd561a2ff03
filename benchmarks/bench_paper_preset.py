"""Speed of the paper-preset building blocks on whatever device is present, in one run:

(a) ResNet18 training steps/s at 32×32: the project's loop (unlearning.training.train_supervised over its Loader,
    with the device's speed options) next to a plain PyTorch reference (DataLoader over the same tensors, fp32,
    no channels_last, a .item() per step);
(b) ReA relearning model-steps/s at batch_models 8 / 40 / auto;
(c) Wfisher peak memory at N = 50 / 200 (per-sample gradients + the Woodbury inverse-Fisher product);
(d) dispatched ops per training step (``OpCounter``, a TorchDispatchMode) and steps/s of the step variants: eager,
    amp, the λ₁ penalty through autograd or as foreach ops, per-parameter or foreach/fused SGD, the captured step
    (training.CapturedStep: torch.compile; CUDA graphs on CUDA); ResNet18 32×32 batch 64 and ResNet-8 digits.

    python benchmarks/bench_paper_preset.py [--device auto|cpu|cuda] [--quick] [--docs docs/results/paper_preset.md]
    python benchmarks/bench_paper_preset.py --ops_only [--docs docs/results/op_count.md]   # (d) alone

On a CPU the sizes are fixture-sized (a few hundred images, a few ReA runs) and (c) uses resnet8 (ResNet18's
per-sample gradients at N = 200 are 8.9 GB); the table is the same.
"""
from __future__ import annotations

import argparse
import collections
import json
import os
import resource
import subprocess
import sys
import time

import torch
import torch.nn.functional as F
from torch.utils._python_dispatch import TorchDispatchMode

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from datasets import ImageData, build_split  # noqa: E402
from models import build_model  # noqa: E402
from unlearning.runtime import Speed, configure_speed, resolve_device  # noqa: E402
from unlearning.measured_docs import add_docs_flag, script_command, write_measured  # noqa: E402
from unlearning.tables import markdown_table  # noqa: E402
from unlearning.training import CapturedStep, Loader, Regulariser, random_crop_flip, sgd, train_supervised  # noqa: E402

SPEED = Speed()  # the process's speed settings, set by configure_speed in main (and in the Wfisher child)


def to_speed_layout(model):
    return SPEED.layout(model)

MEAN, STD = (0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def synthetic(n, classes, size=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % classes
    x = torch.randint(0, 256, (n, 3, size, size), generator=g, dtype=torch.uint8)
    return ImageData(x=x, y=y, fine=y.clone(), mean=MEAN, std=STD)


# ----------------------------------------------------------------------------- (a) training loop
def bench_training(device, n, batch, epochs):
    data = synthetic(n, 15).to(device)
    idx = torch.arange(n, device=device)
    recipe = {"epochs": epochs, "lr": 0.05, "milestones": [], "warmup_epochs": 1, "momentum": 0.9,
              "weight_decay": 5e-4}
    torch.manual_seed(0)
    model = to_speed_layout(build_model("ResNet18", 15, 3, 32).to(device))
    loader = Loader(data, idx, data.y, batch, shuffle=True, seed=0, augment=True, drop_last=True)
    out = train_supervised(model, loader, recipe, lambda m: 0.5, progress=False)
    hist = out["history"]
    t_last = hist[-1]["seconds"] - hist[-2]["seconds"]  # the last epoch: warm-up (cudnn autotune, compile) excluded
    project = len(loader) / t_last

    # plain reference: DataLoader over the same (CPU) tensors, fp32, default memory format, .item() per step
    from torch.utils.data import DataLoader, TensorDataset
    cpu = synthetic(n, 15)
    dl = DataLoader(TensorDataset(cpu.x, cpu.y), batch_size=batch, shuffle=True, drop_last=True,
                    pin_memory=device.type == "cuda")
    torch.manual_seed(0)
    ref = build_model("ResNet18", 15, 3, 32).to(device)
    opt = torch.optim.SGD(ref.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)
    mean = torch.tensor(MEAN, device=device).view(1, 3, 1, 1)
    std = torch.tensor(STD, device=device).view(1, 3, 1, 1)
    gen = torch.Generator().manual_seed(0)
    amp_state = torch.is_autocast_enabled("cuda") if device.type == "cuda" else False
    if device.type == "cuda":
        torch.set_autocast_enabled("cuda", False)  # the reference is fp32
    for epoch in range(epochs):
        sync(device)
        start = time.perf_counter()
        for xb, yb in dl:
            xb = (xb.to(device, non_blocking=True).float() / 255 - mean) / std
            xb = random_crop_flip(xb, gen, pad=4)
            loss = F.cross_entropy(ref(xb), yb.to(device, non_blocking=True))
            opt.zero_grad()
            loss.backward()
            opt.step()
            loss.item()
        sync(device)
        t_ref = time.perf_counter() - start
    if device.type == "cuda":
        torch.set_autocast_enabled("cuda", amp_state)
    return project, len(dl) / t_ref


# ----------------------------------------------------------------------------- (b) ReA relearning
def bench_rea(device, repeats, steps):
    from unlearning.attacks.reminiscence import ReAConfig, RunData, auto_batch_models, build_runs, draw_samples, relearn

    classes = 20
    train, test = synthetic(200 * classes, classes), synthetic(20 * classes, classes, seed=1)
    split = build_split("cifar20", train, test, classes, [15, 16, 17, 18, 19], forget_class=4)  # on the CPU
    train, test = train.to(device), test.to(device)
    cfg = ReAConfig(unlearn_data_percent=0.03, num_ood_dataset=5, repeats=repeats, steps=steps, mix_batch=14)
    torch.manual_seed(0)
    model = to_speed_layout(build_model("ResNet18", split.num_outputs, 3, 32).to(device))
    runs = build_runs([draw_samples(split, cfg, r) for r in range(repeats)], [0.01])
    rd = RunData(train, split)
    auto = auto_batch_models(model, rd, len(runs), cfg) if device.type == "cuda" else 8
    rows = []
    for label, b in (("8", 8), ("40", 40), (f"auto={auto}", auto)):
        relearn(model, runs[:min(b, len(runs))], rd, 1, b)  # warm-up: vmap tracing, kernels
        sync(device)
        start = time.perf_counter()
        relearn(model, runs, rd, steps, b)
        sync(device)
        rows.append((label, len(runs) * steps / (time.perf_counter() - start)))
    return rows, len(runs)


# ----------------------------------------------------------------------------- (c) Wfisher memory
def wfisher_child(device_name, net, n):
    """One measurement in a fresh process (so the CPU's peak RSS belongs to it)."""
    from unlearning.per_sample import num_trainable, per_sample_grads
    from unlearning.methods.classic import woodfisher_inverse_apply

    global SPEED
    device = torch.device(device_name)
    SPEED = configure_speed(device)
    torch.manual_seed(0)
    model = to_speed_layout(build_model(net, 15, 3, 32).to(device))
    x = torch.randn(n, 3, 32, 32, device=device)
    y = torch.arange(n, device=device) % 15
    d = num_trainable(model)
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
    G = per_sample_grads(model, x, y, 64)
    v = torch.randn(d, device=device)
    woodfisher_inverse_apply(G, v, 1.0)
    sync(device)
    if device.type == "cuda":
        peak = (torch.cuda.max_memory_allocated(device) - base) / 2**30
    else:
        peak = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss0) / 2**20  # KiB → GiB
    print(json.dumps({"d": d, "G_gib": n * d * 4 / 2**30, "peak_gib": peak}))


def bench_wfisher(device, net, ns):
    rows = []
    for n in ns:
        r = subprocess.run([sys.executable, __file__, "--_wfisher", device.type, net, str(n)], capture_output=True,
                           text=True, cwd=ROOT)
        if r.returncode != 0:
            rows.append((n, None, r.stderr.strip().splitlines()[-1][:120] if r.stderr.strip() else "failed"))
        else:
            rows.append((n, json.loads(r.stdout.strip().splitlines()[-1]), ""))
    return rows


# ----------------------------------------------------------------------------- (d) ops per training step
class OpCounter(TorchDispatchMode):
    """Counts the aten ops dispatched while it is active (``with OpCounter() as c: ...``; ``c.total``, ``c.counts``
    by op name): the ops that reach the dispatcher from Python and autograd, each once (the ops a kernel calls inside
    itself, such as a CPU foreach op's per-tensor loop, are not redispatched to it). torch.compile'd code runs
    eagerly while a dispatch mode is active, so a compiled step is counted by ``profiled_ops`` instead."""

    def __init__(self):
        super().__init__()
        self.counts = collections.Counter()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.counts[str(func.overloadpacket)] += 1
        return func(*args, **(kwargs or {}))

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def profiled_ops(fn) -> int:
    """The number of outermost aten calls of ``fn()`` in the torch profiler's trace (an aten op called from inside
    another is not counted; a composite op such as conv2d counts once). Unlike ``OpCounter`` it sees the aten calls
    left in compiled code (extern kernels, input copies), which is what a captured step still dispatches."""
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        fn()
    n = 0
    for event in prof.events():
        if not event.name.startswith("aten::"):
            continue
        parent = event.cpu_parent
        while parent is not None and not parent.name.startswith("aten::"):
            parent = parent.cpu_parent
        n += parent is None
    return n


def _autograd_l1(model, lam):
    """The λ₁ penalty through autograd, per parameter tensor (the reference the foreach form replaces)."""
    return lam * sum(p.abs().sum() for p in model.parameters())


def step_variants(device, net, classes, channels, size, batch, lam=5e-4):
    """(name, make) pairs; make() builds a fresh model and returns (step, model) with step(x, y, lr) one
    training step. A variant's step is the project's step with one setting changed."""
    def fresh():
        torch.manual_seed(0)
        return build_model(net, classes, channels, size).to(device)

    def plain_sgd(model):
        return torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)

    def eager(opt_of, l1=0.0, autograd_l1=False, amp=False):
        def make():
            model = fresh()
            opt, reg = opt_of(model), Regulariser(model, l1=0.0 if autograd_l1 else l1)

            def step(x, y, lr):
                for group in opt.param_groups:
                    group["lr"] = lr
                with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
                    loss = F.cross_entropy(model(x), y)
                if autograd_l1:
                    loss = loss + _autograd_l1(model, l1)
                reg.step(opt, loss)
            return step, model
        return make

    def project_sgd(model):
        return sgd(model.parameters(), 0.05, 0.9, 5e-4, device)

    def captured(l1):
        def make():
            model = fresh()
            opt = project_sgd(model)
            return CapturedStep(model, opt, Regulariser(model, l1=l1)), model
        return make

    return [("eager, per-parameter SGD", eager(plain_sgd)),
            ("amp (bf16 autocast), per-parameter SGD", eager(plain_sgd, amp=True)),
            ("λ₁ through autograd, per-parameter SGD", eager(plain_sgd, lam, autograd_l1=True)),
            ("λ₁ as foreach ops, per-parameter SGD", eager(plain_sgd, lam)),
            (f"{'fused' if device.type == 'cuda' else 'foreach'} SGD (the project's)", eager(project_sgd)),
            ("λ₁ foreach + project SGD (sparse pretraining's step)", eager(project_sgd, lam)),
            (f"captured ({'CUDA graphs' if device.type == 'cuda' else 'torch.compile'})", captured(0.0)),
            ("captured, λ₁", captured(lam))]


def bench_ops(device, net, classes, channels, size, batch, steps, skip=()):
    """Rows (variant, OpCounter ops per step, profiler's outermost aten calls per step, steps/s): a fixed batch,
    warm-up steps (one; two for a captured step: compilation, then the optimiser's lazy state), then one step
    counted each way and ``steps`` timed ones. ``skip``: variants left out (names containing one of them)."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(batch, channels, size, size, generator=g).to(device)
    y = (torch.arange(batch) % classes).to(device)
    rows = []
    for name, make in step_variants(device, net, classes, channels, size, batch):
        if any(k in name for k in skip):
            continue
        step, model = make()
        model.train()
        for _ in range(2 if name.startswith("captured") else 1):  # eager: the momentum buffers exist after one
            step(x, y, 0.05)
        sync(device)
        with OpCounter() as counter:
            step(x, y, 0.05)
        sync(device)
        calls = profiled_ops(lambda: step(x, y, 0.05))
        sync(device)
        start = time.perf_counter()
        for _ in range(steps):
            step(x, y, 0.05)
        sync(device)
        counted = "— (runs eagerly under it)" if name.startswith("captured") else str(counter.total)
        rows.append([name, counted, str(calls), f"{steps / (time.perf_counter() - start):.2f}"])
        print(f"  {net}: {' | '.join(rows[-1])}", file=sys.stderr, flush=True)
    return rows


OPS_STEPS_CPU, OPS_STEPS_CUDA = 3, 50  # timed steps per variant in (d)


def op_sections(device, quick, section):
    cuda = device.type == "cuda"
    steps = OPS_STEPS_CUDA if cuda else OPS_STEPS_CPU
    # On the CPU ResNet18 runs at batch 16 without the captured rows (a batch-64 step takes ~20 s on 2 shared cores,
    # inductor's C++ compilation of ResNet18 several minutes); the op counts do not depend on the batch size.
    r18_batch, r18_skip = (64, ()) if cuda else (16, ("captured",))
    cases = [("ResNet18", 15, 3, 32, r18_batch, f"ResNet18, 32×32, batch {r18_batch}", r18_skip),
             ("resnet8", 7, 1, 8, 32, "ResNet-8, digits (8×8, 1 channel), batch 32", ())]
    if quick and not cuda:  # a check that it runs: the small net, no compilation
        cases = [(*case[:-1], ("captured",)) for case in cases[1:]]
    for net, classes, channels, size, batch, label, skip in cases:
        rows = bench_ops(device, net, classes, channels, size, batch, steps, skip)
        section(f"(d) dispatched ops per training step, {label} (λ₁ = 5e-4)",
                markdown_table(["step", "ops / step (OpCounter)", "outermost aten calls / step (profiler)", "steps/s"],
                               rows))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="auto")
    p.add_argument("--quick", action="store_true", help="smallest sizes (a check that it runs)")
    p.add_argument("--ops_only", action="store_true", help="only (d), the ops per training step")
    add_docs_flag(p, "docs/results/paper_preset.md")
    args = p.parse_args(argv)
    global SPEED
    device = resolve_device(args.device)
    speed = SPEED = configure_speed(device)
    cuda = device.type == "cuda"
    if cuda:
        n_train, epochs, repeats, steps, wf_net = 20_000, 2, 40, 10, "ResNet18"
    else:
        n_train, epochs, repeats, steps, wf_net = 256, 2, 3, 2, "resnet8"
    if args.quick:
        n_train, repeats, steps = min(n_train, 256), min(repeats, 3), min(steps, 2)
    name = torch.cuda.get_device_name(device) if cuda else f"CPU ({torch.get_num_threads()} threads)"
    load = f" | load average {os.getloadavg()[0]:.1f} at the start" if hasattr(os, "getloadavg") else ""
    setting = f"device: {name} | torch {torch.__version__} | speed options {speed}{load}"
    print(setting)
    t0 = time.perf_counter()
    sections = []  # (heading, table): printed as they come, and the docs page

    def section(heading, table):
        sections.append((heading, table))
        print(f"\n{heading}\n{table}", flush=True)

    if args.ops_only:
        op_sections(device, args.quick, section)
    else:
        run_all(device, speed, cuda, n_train, epochs, repeats, steps, wf_net, args.quick, section)
    total = f"total {time.perf_counter() - t0:.0f}s"
    print(f"\n{total}")
    if args.docs:
        title = ("Dispatched ops per training step" if args.ops_only
                 else "Paper-preset building blocks: training loop, ReA batching, Wfisher memory, ops per step")
        ops = (f"(d): one training step after one warm-up step (two for a captured step) on a fixed batch "
               f"(synthetic), counted by OpCounter "
               f"(a TorchDispatchMode: the aten ops reaching the dispatcher; compiled code runs eagerly under it) and "
               f"by the profiler (outermost aten calls, composite ops once); steps/s of that step, {OPS_STEPS_CPU} "
               f"steps on the CPU, {OPS_STEPS_CUDA} on CUDA. The captured rows are training.CapturedStep: "
               f"torch.compile (inductor) on the CPU, CUDA graphs on CUDA.")
        intro = ops if args.ops_only else (
            "Synthetic 32×32 images. (a): steps/s of the last epoch (warm-up excluded); (b): a model-step = one "
            "relearning step of one ReA run; (c): peak = memory above the process's baseline. " + ops)
        write_measured(args.docs, title, f"{setting}; {total}. {intro}\n\n"
                       + "\n\n".join(f"{h}\n\n{t}" for h, t in sections),
                       command=script_command(__file__, argv))


def run_all(device, speed, cuda, n_train, epochs, repeats, steps, wf_net, quick, section):
    proj, ref = bench_training(device, n_train, 64, epochs)
    section(f"(a) ResNet18 training, 32×32, batch 64, random crop + flip, {n_train} images, last of {epochs} epochs",
            markdown_table(["loop", "steps/s"], [
                [f"project (train_supervised, {'bf16 + channels_last' if speed.amp else 'fp32'})", f"{proj:.2f}"],
                ["plain PyTorch reference (DataLoader, fp32)", f"{ref:.2f}"],
                ["ratio project / reference", f"{proj / ref:.2f}"]]))
    rows, n_runs = bench_rea(device, repeats, steps)
    section(f"(b) ReA relearning, ResNet18, {n_runs} runs × {steps} steps (1 attacker + 14 retain images per step)",
            markdown_table(["batch_models", "model-steps/s"], [[label, f"{rate:.1f}"] for label, rate in rows]))
    wf = [[n, "—", "—", err] if res is None else [n, res["d"], f"{res['G_gib']:.2f}", f"{res['peak_gib']:.2f}"]
          for n, res, err in bench_wfisher(device, wf_net, (50, 200))]
    section(f"(c) Wfisher memory, {wf_net}: per-sample gradients G (N × d, float32) + F⁻¹v",
            markdown_table(["N", "d", "G GiB", f"peak {'GPU' if cuda else 'RSS increase'} GiB"], wf))
    op_sections(device, quick, section)


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--_wfisher":
        wfisher_child(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    else:
        main()
