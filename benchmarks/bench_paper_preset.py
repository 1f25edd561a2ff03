"""Speed of the paper-preset building blocks on whatever device is present, in one run:

(a) ResNet18 training steps/s at 32×32: the project's loop (unlearning.training.train_supervised over its Loader,
    with the device's speed options) next to a plain PyTorch reference (DataLoader over the same tensors, fp32,
    no channels_last, a .item() per step);
(b) ReA relearning model-steps/s at batch_models 8 / 40 / auto;
(c) Wfisher peak memory at N = 50 / 200 (per-sample gradients + the Woodbury inverse-Fisher product).

    python benchmarks/bench_paper_preset.py [--device auto|cpu|cuda] [--quick] [--docs docs/results/paper_preset.md]

On a CPU the sizes are fixture-sized (a few hundred images, a few ReA runs) and (c) uses resnet8 (ResNet18's
per-sample gradients at N = 200 are 8.9 GB); the table is the same.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

import torch
import torch.nn.functional as F

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from datasets import ImageData, build_split  # noqa: E402
from models import build_model  # noqa: E402
from unlearning.runtime import Speed, configure_speed, resolve_device  # noqa: E402
from unlearning.measured_docs import add_docs_flag, script_command, write_measured  # noqa: E402
from unlearning.tables import markdown_table  # noqa: E402
from unlearning.training import Loader, random_crop_flip, train_supervised  # noqa: E402

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


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="auto")
    p.add_argument("--quick", action="store_true", help="smallest sizes (a check that it runs)")
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
    setting = f"device: {name} | torch {torch.__version__} | speed options {speed}"
    print(setting)
    t0 = time.perf_counter()
    sections = []  # (heading, table): printed as they come, and the docs page

    def section(heading, table):
        sections.append((heading, table))
        print(f"\n{heading}\n{table}", flush=True)

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
    total = f"total {time.perf_counter() - t0:.0f}s"
    print(f"\n{total}")
    if args.docs:
        write_measured(args.docs, "Paper-preset building blocks: training loop, ReA batching, Wfisher memory",
                       f"{setting}; {total}. Synthetic 32×32 images. Steps/s of the last epoch (warm-up excluded); "
                       "a model-step = one relearning step of one ReA run; peak = memory above the process's "
                       "baseline.\n\n" + "\n\n".join(f"{h}\n\n{t}" for h, t in sections),
                       command=script_command(__file__, argv))


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--_wfisher":
        wfisher_child(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    else:
        main()
