"""The sweep behind run.py: builds command lines stage by stage, runs them as subprocesses (in parallel over
CPU jobs or GPUs), skips steps already done with the same arguments, isolates failures, prints a summary.

Each step's success is recorded in a ledger file (``<log_root>/launcher/steps/<stage>-<hash>.json``) written
atomically after the step's own outputs, so a sweep killed at any point restarts where it stopped.
"""
from __future__ import annotations

import hashlib
import json
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import List, Optional

from .experiment import pretrain_dir, read_json, write_json
from .saliency import default_mask_dir, mask_filename

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STAGES = ["pretrain", "masks", "unlearn", "rea", "blackbox", "distribution", "report"]


@dataclass
class Step:
    stage: str
    name: str
    cmds: List[List[str]]  # run in order; the step is done when all succeed
    deps: List[str] = field(default_factory=list)  # names of steps it needs
    status: str = "pending"
    error: str = ""
    log: str = ""
    seconds: float = 0.0

    @property
    def key(self) -> str:
        # --device is left out: the same step on another GPU is the same step
        text = json.dumps([_without_device(c) for c in self.cmds])
        return f"{self.stage}-{hashlib.sha1(text.encode()).hexdigest()[:12]}"


def _without_device(cmd):
    out, skip = [], False
    for tok in cmd:
        if skip:
            skip = False
            continue
        if tok == "--device":
            skip = True
            continue
        out.append(tok)
    return out


class Launcher:
    def __init__(self, log_root: str, jobs: int = 1, devices: Optional[List[str]] = None, dry_run: bool = False,
                 python: str = sys.executable):
        self.log_root = log_root
        self.ledger_dir = os.path.join(log_root, "launcher", "steps")
        self.logs_dir = os.path.join(log_root, "launcher", "logs")
        self.devices = devices or []
        self.jobs = max(1, len(self.devices) if self.devices else int(jobs))
        self.dry_run = dry_run
        self.python = python
        self.steps: List[Step] = []
        self._free_devices = list(self.devices)
        self._lock = threading.Lock()
        self._children = set()
        self._stopping = False

    def add(self, step: Step) -> Step:
        self.steps.append(step)
        return step

    # ------------------------------------------------------------------ bookkeeping
    def _ledger(self, step):
        return os.path.join(self.ledger_dir, step.key + ".json")

    def _done_before(self, step) -> bool:
        path = self._ledger(step)
        if not os.path.isfile(path):
            return False
        try:
            return read_json(path).get("status") == "done"
        except (ValueError, OSError):
            return False

    # ------------------------------------------------------------------ execution
    def _device_for_job(self):
        with self._lock:
            return self._free_devices.pop(0) if self._free_devices else None

    def _release(self, dev):
        if dev is not None:
            with self._lock:
                self._free_devices.append(dev)

    def _run_step(self, step: Step) -> None:
        if self._stopping:
            step.status, step.error = "failed", "interrupted"
            return
        dev = self._device_for_job()
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        if "OMP_NUM_THREADS" not in os.environ:
            # parallel jobs share the cores: oversubscribed torch threads spin-wait and run many times slower
            env["OMP_NUM_THREADS"] = str(max(1, (os.cpu_count() or 1) // self.jobs))
        if dev is not None:
            env["CUDA_VISIBLE_DEVICES"] = dev
        os.makedirs(self.logs_dir, exist_ok=True)
        step.log = os.path.join(self.logs_dir, step.key + ".log")
        start = time.perf_counter()
        try:
            with open(step.log, "w") as log:
                for cmd in step.cmds:
                    cmd = [self.python if c == "python" else c for c in cmd]
                    if dev is not None:
                        cmd = _without_device(cmd) + ["--device", "cuda"]
                    log.write("$ " + " ".join(shlex.quote(c) for c in cmd) + "\n")
                    log.flush()
                    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env=env)
                    with self._lock:
                        self._children.add(proc)
                    rc = proc.wait()
                    with self._lock:
                        self._children.discard(proc)
                    if rc != 0:
                        step.status = "failed"
                        step.error = _last_error_line(step.log) or f"exit code {rc}"
                        return
            step.status = "done"
            step.seconds = time.perf_counter() - start
            write_json(self._ledger(step), {"status": "done", "stage": step.stage, "name": step.name,
                                            "cmds": step.cmds, "seconds": step.seconds, "log": step.log,
                                            "finished": time.strftime("%Y-%m-%d %H:%M:%S")})
        finally:
            step.seconds = time.perf_counter() - start
            self._release(dev)

    def _terminate_children(self, signum, frame):
        self._stopping = True
        with self._lock:
            for proc in list(self._children):
                proc.terminate()
        raise KeyboardInterrupt

    def run(self, stages: List[str]) -> List[Step]:
        """Run the steps of ``stages`` in stage order; within a stage, up to ``jobs`` at once."""
        signal.signal(signal.SIGTERM, self._terminate_children)
        self.steps = [s for s in self.steps if s.stage in stages]
        by_name = {s.name: s for s in self.steps}
        total_start = time.perf_counter()
        try:
            for stage in [s for s in STAGES if s in stages]:
                todo = []
                for step in (s for s in self.steps if s.stage == stage):
                    failed = [d for d in step.deps if d in by_name and by_name[d].status in ("failed", "blocked")]
                    if failed:
                        step.status, step.error = "blocked", f"needs {failed[0]}, which did not finish"
                    elif self._done_before(step):
                        step.status = "skipped"
                    elif self.dry_run:
                        step.status = "planned"
                        for cmd in step.cmds:
                            print("  " + " ".join(shlex.quote(c) for c in cmd))
                    else:
                        todo.append(step)
                if not todo:
                    continue
                print(f"[{stage}] {len(todo)} step(s), {self.jobs} at a time", flush=True)
                with ThreadPoolExecutor(self.jobs) as pool:
                    for step, _ in zip(todo, pool.map(self._run_step, todo)):
                        mark = {"done": "ok", "failed": "FAILED"}.get(step.status, step.status)
                        print(f"  {mark:6s} {step.name} ({step.seconds:.1f}s)"
                              + (f" — {step.error}" if step.status == "failed" else ""), flush=True)
        except KeyboardInterrupt:
            print("interrupted: finished steps are kept; run again to resume", file=sys.stderr)
            raise SystemExit(130)
        finally:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
        self.summary(time.perf_counter() - total_start)
        return self.steps

    def summary(self, seconds: float) -> dict:
        counts = {}
        for s in self.steps:
            counts[s.status] = counts.get(s.status, 0) + 1
        print(f"\nsummary ({seconds:.0f}s): " + ", ".join(f"{v} {k}" for k, v in sorted(counts.items())))
        for s in self.steps:
            if s.status in ("failed", "blocked"):
                print(f"  {s.status}: {s.name}: {s.error}" + (f"  [log: {s.log}]" if s.log else ""))
        out = {"seconds": seconds, "counts": counts,
               "steps": [{"stage": s.stage, "name": s.name, "status": s.status, "error": s.error, "log": s.log,
                          "seconds": s.seconds} for s in self.steps]}
        write_json(os.path.join(self.log_root, "launcher", "last_summary.json"), out)
        return out


def _last_error_line(log_path: str) -> str:
    try:
        lines = [l.strip() for l in open(log_path, errors="replace").read().splitlines() if l.strip()]
    except OSError:
        return ""
    for line in reversed(lines):
        if line.startswith("error:") or "Error" in line.split(":")[0]:
            return line[:300]
    return lines[-1][:300] if lines else ""


# ----------------------------------------------------------------------------- composing a sweep
def _flag_args(method_entry):
    """[method, para1, para2(, mask_ratio)] → method flags (None = the method's default)."""
    method, p1, p2 = method_entry[:3]
    args = ["-method", str(method)]
    if p1 is not None:
        args += ["--para1", str(p1)]
    if p2 is not None:
        args += ["--para2", str(p2)]
    return args


def _smoke_unlearn_settings(smoke: dict, method: str) -> dict:
    """--settings of one method in a smoke sweep: the common tiny settings and the method's own extras."""
    base = str(method)
    for suffix in ("_our", "_orth"):
        if base.endswith(suffix):
            base = base[:-len(suffix)]
    return dict(smoke.get("unlearn", {}), **smoke.get("methods", {}).get(base, {}))


def _flags(values: dict) -> List[str]:
    out = []
    for key, value in values.items():
        out += [f"--{key}", *([str(v) for v in value] if isinstance(value, (list, tuple)) else [str(value)])]
    return out


def plan_sweep(s: dict, launcher: Launcher) -> Launcher:
    """Add every step of the sweep described by settings ``s`` (see run.py) to ``launcher``.

    ``s["subclass"]``: the CIFAR-20 sub-class setting (forget_classes are fine classes, sub-class scripts and
    pretraining). ``s["smoke"]``: config.SMOKE-style tiny settings passed to every step.
    """
    ds, net, log_root = s["dataset"], s["net"], s["log_root"]
    sub = bool(s.get("subclass"))
    smoke = s.get("smoke") or {}
    common = ["-dataset", ds, "-net", net, "--device", s["device"], "--log_root", log_root, "--data_root", s["data_root"]]
    if s.get("n_classes"):
        common += ["-classes", str(s["n_classes"])]
    if s.get("download"):
        common += ["--download"]
    pre_flags = (["--subclass"] if sub else []) + _flags(smoke.get("pretrain", {}))
    unlearn_script = f"forget_subclass_main_{ds}.py" if sub else f"forget_full_class_main_{ds}.py"
    rea_script = f"mia_on_mu_main_{ds}_{'subclass' if sub else 'fullclass'}.py"
    forget_flag = "--forget_fine" if sub else "--forget_class"
    for seed in s["seeds"]:
        pre_weight = s.get("pretrain_path") or os.path.join(
            pretrain_dir(log_root, ds, net, seed, subclass=sub), "model.pt")
        sparse_weight = os.path.join(pretrain_dir(log_root, ds, net, seed, s.get("sparse_l1") or 0.0, subclass=sub),
                                     "model.pt")
        pre = f"pretrain seed{seed}"
        if not s.get("pretrain_path"):
            launcher.add(Step("pretrain", pre, [["python", f"pretrain_model_{ds}.py", *common, "-seed", str(seed),
                                                 "--quiet", *pre_flags]]))
        sparse = None
        if s.get("sparse_l1") and any(str(m[0]).startswith("Wfisher") for m in s["methods"]):
            sparse = f"pretrain sparse seed{seed}"
            launcher.add(Step("pretrain", sparse, [["python", f"pretrain_model_{ds}.py", *common, "-seed", str(seed),
                                                    "--l1", str(s["sparse_l1"]), "--quiet", *pre_flags]]))
        for fc in s["forget_classes"]:
            ident_base = [*common, "-seed", str(seed), forget_flag, str(fc)]
            mask_step = None
            if any(len(m) > 3 and m[3] is not None for m in s["methods"]):  # SalUn masks for masked entries
                mask_step = f"masks seed{seed} forget{fc}"
                launcher.add(Step("masks", mask_step, [["python", "saliency_mu/generate_mask.py", *ident_base,
                                                        "-weight_path", pre_weight]], deps=[pre]))
            for entry in s["methods"]:
                wfisher = bool(sparse) and str(entry[0]).startswith("Wfisher")  # Wfisher runs on the sparse model
                ident = ident_base + _flag_args(entry) + ["-weight_path", sparse_weight if wfisher else pre_weight]
                if smoke:
                    ident += ["--settings", json.dumps(_smoke_unlearn_settings(smoke, entry[0]), sort_keys=True)]
                tag = f"{entry[0]}({entry[1]},{entry[2]}{', mask ' + str(entry[3]) if len(entry) > 3 else ''})" \
                      f" seed{seed} forget{'fine' if sub else ''}{fc}"
                unl = f"unlearn {tag}"
                deps = [sparse if wfisher else pre]
                if len(entry) > 3 and entry[3] is not None:
                    mask_file = os.path.join(default_mask_dir(log_root, ds, net, fc, seed), mask_filename(entry[3]))
                    ident += ["--mask_path", mask_file]
                    deps.append(mask_step)
                launcher.add(Step("unlearn", unl, [["python", unlearn_script, *ident]], deps=deps))
                attack = ["--relearning_lr", *[str(lr) for lr in s["relearning_lrs"]]] if s.get("relearning_lrs") else []
                if s.get("repeats"):
                    attack += ["--repeats", str(s["repeats"])]
                rea_smoke = dict(smoke.get("rea", {}))
                if s.get("repeats"):
                    rea_smoke.pop("repeats", None)
                attack += _flags(rea_smoke)
                launcher.add(Step("rea", f"rea {tag}", [["python", rea_script, *ident, *attack]], deps=[unl]))
                # black box: the listed methods, or every method when the stage is asked for and none is listed
                if "blackbox" in s["stages"] and not sub and entry[0] in (s.get("blackbox_methods") or [entry[0]]):
                    launcher.add(Step("blackbox", f"blackbox {tag}", [
                        ["python", "dfme_attack.py", *ident, *_flags(smoke.get("blackbox", {}))],
                        ["python", f"mia_on_mu_main_{ds}_fullclass_blackbox.py", *ident, *attack]], deps=[unl]))
                dist = ["python", "distribution_metric.py", *ident, *_flags(smoke.get("distribution", {}))]
                launcher.add(Step("distribution", f"distribution {tag}", [dist + (["--subclass"] if sub else [])],
                                  deps=[unl]))
    launcher.add(Step("report", "report", [["python", "reproduce_tables.py", "--log_root", log_root]]))
    return launcher
