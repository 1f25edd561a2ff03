"""The reliability cases of a hostile but fair user, on digits, each classified by a check written for it.

    python benchmarks/reliability_cases.py                 # all cases (about 15 minutes on 2 busy cores)
    python benchmarks/reliability_cases.py --cases 7 8 27  # some of them
    python benchmarks/reliability_cases.py --keep          # keep the temporary folders (their path is printed)

Every case runs the real scripts as subprocesses in temporary folders, with tiny settings. Outcomes:
    clear        the input is refused with a short error (no traceback), nothing finished is touched
    fine         the right thing happens (a resumed sweep, a warning naming a skipped file, ...)
    traceback    a Python traceback reaches the user
    silent-wrong a wrong result is written or reported without a word
    data-loss    a finished result is destroyed
Prints one line per case, then the counts. Exit status 1 when any case is traceback, silent-wrong or data-loss.
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import pickle
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
PY = sys.executable
F = "forget_full_class_main_digits.py"
REA = "mia_on_mu_main_digits_fullclass.py"
TINY_REA = ["--repeats", "2", "--steps", "10", "--no_plot", "--quiet"]
OUTCOMES = ["clear", "fine", "traceback", "silent-wrong", "data-loss"]
NO_DAC = ["setpriv", "--inh-caps=-all", "--bounding-set=-dac_override,-dac_read_search", "--"]


# ----------------------------------------------------------------------------- running and judging
def run(args, cwd=ROOT, env=None, timeout=600, prefix=()):
    cmd = list(prefix) + [PY if a == "python" else a for a in args]
    e = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1", **(env or {}))
    try:
        return subprocess.run(cmd, cwd=cwd, env=e, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as err:
        return subprocess.CompletedProcess(cmd, -9, err.stdout or "", (err.stderr or "") + "\n[timed out]")


def refused(r) -> str:
    """'clear' when the command failed with a short error, 'traceback' when one shows, '' when it succeeded."""
    text = (r.stdout or "") + (r.stderr or "")
    if "Traceback (most recent call last)" in text:
        return "traceback"
    if r.returncode != 0:
        lines = [line for line in (r.stderr or r.stdout or "").splitlines() if line.strip()]
        # a short message, or argparse's usage block ending in its one "error:" line
        return "clear" if lines and (len(lines) <= 6 or ": error: " in lines[-1] or lines[-1].startswith("error:")) \
            else "traceback"
    return ""


def worst(outcomes):
    """The worst of several sub-case outcomes."""
    order = ["data-loss", "silent-wrong", "traceback", "clear", "fine"]
    return min(outcomes, key=order.index)


def last_line(r) -> str:
    lines = [line for line in ((r.stderr or "") + (r.stdout or "")).splitlines() if line.strip()]
    return lines[-1][:140] if lines else ""


def fingerprints(folder):
    from unlearning.files import file_fingerprint
    return {name: file_fingerprint(os.path.join(folder, name)) for name in ("last.pt", "log.tsv", "results.json")}


def status_of(folder):
    try:
        return json.load(open(os.path.join(folder, "results.json"))).get("status")
    except (OSError, ValueError, AttributeError):
        return None


def lock_info(log_root):
    try:
        return json.loads(open(os.path.join(log_root, "launcher", "lock")).read() or "{}")
    except (OSError, ValueError):
        return {}


def wait_for(cond, timeout=600, every=0.1):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if cond():
            return True
        time.sleep(every)
    return False


def summary_of(log_root):
    try:
        return {s["name"]: s for s in json.load(open(os.path.join(log_root, "launcher", "last_summary.json")))["steps"]}
    except (OSError, ValueError, KeyError):
        return {}


# ----------------------------------------------------------------------------- fixtures
class World:
    """Temporary folders: a tiny pretrained model and finished runs (``L``), and a run.py sweep (``R``)."""

    def __init__(self, keep: bool):
        self.tmp = tempfile.mkdtemp(prefix="reliability-")
        self.keep = keep
        self.L = os.path.join(self.tmp, "logs")
        self._sweep = None

    def path(self, *parts):
        return os.path.join(self.tmp, *parts)

    def pretrained(self, seed=0):
        model = os.path.join(self.L, "digits", "resnet8", "pretrain", f"seed-{seed}", "model.pt")
        if not os.path.isfile(model):
            r = run(["python", "pretrain_model_digits.py", "--epochs", "2", "-seed", str(seed), "--log_root", self.L,
                     "--quiet", "--device", "cpu"])
            assert r.returncode == 0, r.stderr
        return model

    def finished(self, method="baseline", extra=(), log_root=None):
        """The run folder of a finished F run (made once)."""
        log_root = log_root or self.L
        weight = self.pretrained()
        args = ["python", F, "-method", method, *extra, "--log_root", log_root, "--device", "cpu", "-weight_path", weight]
        r = run(args)
        assert r.returncode == 0, r.stderr
        return r.stdout.strip().split("→ ")[-1].strip()

    def sweep(self):
        """A run.py log folder after pretraining, one unlearning, its attack and the report."""
        if self._sweep is None:
            self._sweep = self.path("sweep")
            r = run(["python", "run.py", *R_TINY, "--stages", "pretrain", "unlearn", "rea", "report",
                     "--log_root", self._sweep], timeout=1200)
            assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
        return self._sweep

    def close(self):
        if self.keep:
            print(f"folders kept in {self.tmp}")
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)


R_TINY = ["--methods", "baseline", "--repeats", "2", "--jobs", "1", "--device", "cpu"]


# ----------------------------------------------------------------------------- the cases
CASES = {}


def case(n, title):
    def deco(fn):
        CASES[n] = (title, fn)
        return fn
    return deco


@case(1, "missing data folder (cifar20 / imagenet64 pretraining, cifar20 unlearning)")
def c1(w):
    rs = [run(["python", s, "--data_root", "/nonexistent", "--log_root", w.path("c1"), "--device", "cpu"])
          for s in ("pretrain_model_cifar20.py", "pretrain_model_imagenet64.py", "forget_full_class_main_cifar20.py")]
    return worst([refused(r) or "silent-wrong" for r in rs]), last_line(rs[0])


@case(2, "--download with no network")
def c2(w):
    env = {"http_proxy": "http://127.0.0.1:9", "https_proxy": "http://127.0.0.1:9", "HTTPS_PROXY": "http://127.0.0.1:9",
           "HTTP_PROXY": "http://127.0.0.1:9"}
    r = run(["python", "pretrain_model_cifar20.py", "--download", "--data_root", w.path("c2data"), "--log_root",
             w.path("c2"), "--device", "cpu"], env=env, timeout=300)
    return refused(r) or "silent-wrong", last_line(r)


def _f(w, *flags, log_root=None):
    return run(["python", F, *flags, "--log_root", log_root or w.path("f"), "--device", "cpu", "-weight_path",
                w.pretrained()])


@case(3, "F -method retrain --forget_class 8 / 99 / -1")
def c3(w):
    rs = [_f(w, "-method", "retrain", "--forget_class", c) for c in ("8", "99", "-1")]
    return worst([refused(r) or "silent-wrong" for r in rs]), last_line(rs[1])


@case(4, "F --forget_class abc / 3.5 / ''")
def c4(w):
    rs = [_f(w, "--forget_class", c) for c in ("abc", "3.5", "")]
    return worst([refused(r) or "silent-wrong" for r in rs]), last_line(rs[0])


@case(5, "F -method foo / ssd_tunning / retrain_our / SSD_TUNING")
def c5(w):
    outs, lines = [], []
    for m in ("foo", "ssd_tunning", "retrain_our", "SSD_TUNING"):
        r = _f(w, "-method", m)
        outs.append(refused(r) or ("fine" if m == "SSD_TUNING" else "silent-wrong"))
        lines.append(last_line(r))
    return worst(outs), lines[1]


@case(6, "F -method finetune --para1 abc")
def c6(w):
    r = _f(w, "-method", "finetune", "--para1", "abc")
    return refused(r) or "silent-wrong", last_line(r)


@case(7, "F -method finetune --para2 inf")
def c7(w):
    r = _f(w, "-method", "finetune", "--para2", "inf")
    return refused(r) or "silent-wrong", last_line(r)


@case(8, "F -method finetune --para2 -1 / 0.5 (epochs)")
def c8(w):
    rs = [_f(w, "-method", "finetune", "--para2", v) for v in ("-1", "0.5")]
    return worst([refused(r) or "silent-wrong" for r in rs]), last_line(rs[0])


@case(9, "F -method finetune --para1 -0.1")
def c9(w):
    r = _f(w, "-method", "finetune", "--para1", "-0.1")
    return refused(r) or "silent-wrong", last_line(r)


@case(10, "F -net ResNet18 -weight_path <resnet8 model.pt>")
def c10(w):
    r = _f(w, "-net", "ResNet18")
    return refused(r) or "silent-wrong", last_line(r)


def _bad_files(w):
    model = w.pretrained()
    blob = open(model, "rb").read()
    files = {"truncated": blob[: len(blob) // 2], "text": b"this is not a checkpoint\n", "empty": b""}
    paths = {}
    for name, data in files.items():
        paths[name] = w.path("bad", f"{name}.pt")
        os.makedirs(os.path.dirname(paths[name]), exist_ok=True)
        open(paths[name], "wb").write(data)
    return paths


@case(11, "truncated / text / empty checkpoint for every script that loads one")
def c11(w):
    outs, lines = [], []
    for path in _bad_files(w).values():
        for args in (["python", F, "-weight_path", path],
                     ["python", REA, "--model_path", path, *TINY_REA],
                     ["python", "distribution_metric.py", "--model_path", path],
                     ["python", "dfme_attack.py", "--model_path", path],
                     ["python", "saliency_mu/generate_mask.py", "-weight_path", path]):
            r = run(args + ["--log_root", w.path("c11"), "--device", "cpu"])
            outs.append(refused(r) or "silent-wrong")
            lines.append(last_line(r))
    return worst(outs), lines[0]


@case(12, "a pickle whose __reduce__ runs a command, raw and through torch.save")
def c12(w):
    import torch
    marker = w.path("c12-owned")

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))
    raw, saved = w.path("c12-raw.pt"), w.path("c12-saved.pt")
    with open(raw, "wb") as fh:
        pickle.dump(Evil(), fh)
    torch.save({"state_dict": Evil(), "meta": {}}, saved)
    outs = []
    for path in (raw, saved):
        r = run(["python", F, "-weight_path", path, "--log_root", w.path("c12"), "--device", "cpu"])
        outs.append(refused(r) or "silent-wrong")
    if os.path.exists(marker):
        return "silent-wrong", "the pickle's command ran"
    return worst(outs), last_line(r)


@case(13, "--mask_path to a text file, a model checkpoint, a missing file")
def c13(w):
    text = _bad_files(w)["text"]
    rs = [_f(w, "-method", "finetune", "--mask_path", p) for p in (text, w.pretrained(), w.path("no-mask.pt"))]
    return worst([refused(r) or "silent-wrong" for r in rs]), last_line(rs[1])


@case(14, "F -method baseline -weight_path typo.pt on a finished run")
def c14(w):
    run_dir = w.finished()
    before = fingerprints(run_dir)
    r = run(["python", F, "-method", "baseline", "-weight_path", w.path("typo.pt"), "--log_root", w.L, "--device", "cpu"])
    after = fingerprints(run_dir)
    if after != before or status_of(run_dir) != "done":
        return "data-loss", f"finished run changed: {[k for k in before if before[k] != after[k]]}"
    return refused(r) or "silent-wrong", last_line(r)


def _rea_result(w):
    run_dir = w.finished()
    r = run(["python", REA, "-method", "baseline", "--log_root", w.L, "--device", "cpu", "-weight_path",
             w.pretrained(), *TINY_REA])
    assert r.returncode == 0, r.stderr
    return glob.glob(os.path.join(run_dir, "rea", "*", "results.json"))[0]


def _report(log_root):
    return run(["python", "reproduce_tables.py", "--log_root", log_root, "--quiet"])


def _judge_report(r, path):
    """A report that names the skipped file in one warning line is fine; a traceback or silence is not."""
    if "Traceback" in r.stdout + r.stderr:
        return "traceback"
    if r.returncode != 0:
        return refused(r)
    return "fine" if any(path in line and "warning" in line for line in r.stderr.splitlines()) else "silent-wrong"


@case(15, "empty rea results.json, then T and R")
def c15(w):
    path = _rea_result(w)
    keep = open(path).read()
    open(path, "w").write("")
    out_t = _judge_report(_report(w.L), path)
    open(path, "w").write(keep)
    # through run.py: the attack step with an empty results file is run again
    log_root = w.sweep()
    rea = glob.glob(os.path.join(log_root, "**", "rea", "*", "results.json"), recursive=True)[0]
    open(rea, "w").write("")
    r = run(["python", "run.py", *R_TINY, "--stages", "unlearn", "rea", "report", "--log_root", log_root], timeout=900)
    steps = summary_of(log_root)
    redone = any(n.startswith("rea") and s["status"] == "done" for n, s in steps.items())
    out_r = "traceback" if "Traceback" in r.stdout + r.stderr else ("fine" if r.returncode == 0 and redone
                                                                     and status_of(os.path.dirname(rea)) == "done"
                                                                     else "silent-wrong")
    return worst([out_t, out_r]), f"T: {out_t}, R: {out_r} (attack step {'redone' if redone else 'not redone'})"


@case(16, "truncated unlearning results.json, then T")
def c16(w):
    run_dir = w.finished(log_root=w.path("c16"))
    path = os.path.join(run_dir, "results.json")
    text = open(path).read()
    open(path, "w").write(text[: len(text) // 2])
    return _judge_report(_report(w.path("c16")), path), ""


@case(17, "results.json containing null or [], then T")
def c17(w):
    outs = []
    for content in ("null", "[]"):
        run_dir = w.finished(log_root=w.path("c17"))
        path = os.path.join(run_dir, "results.json")
        open(path, "w").write(content)
        outs.append(_judge_report(_report(w.path("c17")), path))
    return worst(outs), ""


def _ledger_case(w, content: bytes):
    log_root = w.sweep()
    ledgers = glob.glob(os.path.join(log_root, "launcher", "steps", "unlearn-*.json"))
    for p in ledgers:
        open(p, "wb").write(content)
    r = run(["python", "run.py", *R_TINY, "--stages", "unlearn", "--log_root", log_root])
    if "Traceback" in r.stdout + r.stderr:
        return "traceback", last_line(r)
    steps = summary_of(log_root)

    def redone_or_adopted(path):  # run again, or its outputs checked and adopted (docs/launcher.md)
        try:
            return json.load(open(path)).get("status") == "done"
        except (OSError, ValueError):
            return False
    named = all(f"warning: skipped {p}" in r.stderr for p in ledgers)  # each malformed file, by name
    ok = (r.returncode == 0 and named and all(redone_or_adopted(p) for p in ledgers)
          and all(s["status"] in ("done", "skipped") for n, s in steps.items() if n.startswith("unlearn")))
    adopted = sum("adopted" in json.load(open(p)) for p in ledgers if redone_or_adopted(p))
    return ("fine" if ok else "silent-wrong"), f"{len(ledgers)} ledger file(s) named in a warning: {named}; " \
        f"{adopted} step(s) adopted, the rest run again"


@case(18, "ledger file empty or binary garbage")
def c18(w):
    a, b = _ledger_case(w, b""), _ledger_case(w, b"\x00\xffgarbage")
    return worst([a[0], b[0]]), b[1]


@case(19, "ledger file containing []")
def c19(w):
    return _ledger_case(w, b"[]")


def _sweep_with_running_unlearn(w, method, log_root=None):
    """run.py started in its own process group, returned once a step of the unlearning stage runs."""
    log_root = log_root or w.sweep()
    proc = subprocess.Popen([PY, "run.py", "--methods", method, "--repeats", "2", "--jobs", "1", "--device", "cpu",
                             "--stages", "unlearn", "--log_root", log_root], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True,
                            env=dict(os.environ, OMP_NUM_THREADS="1"))
    wait_for(lambda: lock_info(log_root).get("children") or proc.poll() is not None, timeout=300)
    return proc, log_root


def _interrupt(w, method, sig, group):
    proc, log_root = _sweep_with_running_unlearn(w, method)
    if proc.poll() is not None:
        return "fine", "the step finished before it could be interrupted"
    time.sleep(1.5)
    (os.killpg if group else os.kill)(proc.pid, sig)
    out, _ = proc.communicate(timeout=300)
    wait_for(lambda: not [c for c in lock_info(log_root).get("children", []) if _alive(c)], timeout=300)
    if "Traceback" in out:
        return "traceback", out.strip().splitlines()[-1]
    again = run(["python", "run.py", "--methods", method, "--repeats", "2", "--jobs", "1", "--device", "cpu",
                 "--stages", "unlearn", "--log_root", log_root])
    steps = summary_of(log_root)
    ok = again.returncode == 0 and all(s["status"] in ("done", "skipped") for s in steps.values())
    return ("fine" if ok else "silent-wrong"), (out.strip().splitlines() or [""])[-1][:140]


def _alive(pid):
    try:
        os.kill(int(pid), 0)
        return True
    except (OSError, ValueError):
        return False


@case(20, "Ctrl-C (SIGINT to the process group) during unlearning")
def c20(w):
    return _interrupt(w, "finetune", signal.SIGINT, group=True)


@case(21, "SIGINT to run.py alone")
def c21(w):
    return _interrupt(w, "negative_grad", signal.SIGINT, group=False)


@case(22, "SIGTERM to run.py")
def c22(w):
    return _interrupt(w, "amnesiac", signal.SIGTERM, group=False)


@case(23, "SIGKILL to run.py alone, immediate rerun")
def c23(w):
    proc, log_root = _sweep_with_running_unlearn(w, "badteacher")
    if proc.poll() is not None:
        return "fine", "the step finished before it could be killed"
    child = lock_info(log_root)["children"][0]
    proc.kill()
    proc.communicate()
    again = run(["python", "run.py", "--methods", "badteacher", "--jobs", "1", "--device", "cpu", "--stages",
                 "unlearn", "--log_root", log_root])
    alive = _alive(child)
    wait_for(lambda: not _alive(child), timeout=600)
    if "Traceback" in again.stdout + again.stderr:
        return "traceback", last_line(again)
    if again.returncode != 0 and "still running" in again.stderr:
        return refused(again), last_line(again)  # refused while the orphan ran: no duplicate
    if alive and again.returncode == 0:
        return "silent-wrong", "the rerun started the step while the orphan still ran it"
    return "fine" if again.returncode == 0 else refused(again), last_line(again)


@case(24, "SIGKILL to the whole group during the attack stage")
def c24(w):
    log_root = w.path("c24")
    shutil.copytree(w.sweep(), log_root)
    for p in glob.glob(os.path.join(log_root, "**", "rea"), recursive=True):
        shutil.rmtree(p)
    cmd = [PY, "run.py", *R_TINY, "--stages", "unlearn", "rea", "report", "--log_root", log_root]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True, env=dict(os.environ, OMP_NUM_THREADS="1"))
    wait_for(lambda: lock_info(log_root).get("children") and glob.glob(os.path.join(log_root, "launcher", "logs", "rea-*"))
             or proc.poll() is not None, timeout=600)
    time.sleep(2)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    r = run(["python", *cmd[1:]], timeout=900)
    parts = glob.glob(os.path.join(log_root, "**", "*.part"), recursive=True)
    steps = summary_of(log_root)
    ok = r.returncode == 0 and all(s["status"] in ("done", "skipped") for s in steps.values())
    return ("fine" if ok and not parts else "silent-wrong"), f"{len(parts)} temporary files left"


@case(25, "SIGKILL to one child (like an out-of-memory kill)")
def c25(w):
    proc, log_root = _sweep_with_running_unlearn(w, "ssd_tuning")
    if proc.poll() is not None:
        return "fine", "the step finished before it could be killed"
    try:
        os.kill(lock_info(log_root)["children"][0], signal.SIGKILL)
    except (ProcessLookupError, IndexError):
        proc.communicate(timeout=300)
        return "fine", "the step finished before it could be killed"
    out, _ = proc.communicate(timeout=300)
    if "Traceback" in out:
        return "traceback", ""
    return ("clear" if "killed by signal SIGKILL" in out else "silent-wrong"), \
        next((line.strip() for line in out.splitlines() if "FAILED" in line), "")[:140]


@case(56, "SIGKILL to the start-up server while a step runs (an out-of-memory kill of it)")
def c56(w):
    proc, log_root = _sweep_with_running_unlearn(w, "ssd_tuning")
    server = lock_info(log_root).get("server")
    if proc.poll() is not None or not server:
        proc.communicate(timeout=300)
        return "fine", "the step finished before the server could be killed"
    step = lock_info(log_root)["children"][0]
    os.kill(server, signal.SIGKILL)
    out, _ = proc.communicate(timeout=300)
    if "Traceback" in out:
        return "traceback", ""
    said = "start-up server (unlearning/pipeline/zygote.py) was killed by signal SIGKILL" in out
    gone = wait_for(lambda: not _running(step), timeout=30)
    again = run(["python", "run.py", "--methods", "ssd_tuning", "--repeats", "2", "--jobs", "1", "--device", "cpu",
                 "--stages", "unlearn", "--log_root", log_root])
    redone = again.returncode == 0 and all(s["status"] == "done" for s in summary_of(log_root).values())
    return ("clear" if said and gone and redone else "silent-wrong"), \
        f"said: {said}, its step stopped: {bool(gone)}, rerun done: {redone}"


def _running(pid) -> bool:
    """Alive and not a zombie waiting for its new parent."""
    try:
        return open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return False


@case(26, "Ctrl-C while re-running a finished F")
def c26(w):
    run_dir = w.finished("finetune", log_root=w.path("c26"))
    before = fingerprints(run_dir)
    start = time.time()
    proc = subprocess.Popen([PY, F, "-method", "finetune", "--log_root", w.path("c26"), "--device", "cpu",
                             "-weight_path", w.pretrained()], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=dict(os.environ, OMP_NUM_THREADS="1"))
    # interrupt once the rerun has loaded its model (start-up done, unlearning under way)
    wait_for(lambda: proc.poll() is not None or os.path.getmtime(os.path.join(run_dir, "results.json")) > start
             or not os.path.exists(os.path.join(run_dir, "last.pt")), timeout=120)
    time.sleep(1)
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=300)
    after = fingerprints(run_dir)
    if after != before and status_of(run_dir) == "done":
        # replaced, not lost, if the new folder is one complete result: its results.json names its own last.pt
        from unlearning.files import file_fingerprint
        with open(os.path.join(run_dir, "results.json")) as fh:
            recorded = json.load(fh).get("model_fingerprint")
        if recorded and recorded == file_fingerprint(os.path.join(run_dir, "last.pt")):
            return "fine", "the rerun finished before the interrupt: replaced whole by its successful result"
    if after != before or status_of(run_dir) != "done":
        return "data-loss", f"finished run changed: {[k for k in before if before[k] != after[k]]}"
    return "fine", (out.strip().splitlines() or [""])[-1][:140]


@case(27, "delete the pretrained model.pt, then R")
def c27(w):
    log_root = w.path("c27")
    shutil.copytree(w.sweep(), log_root)
    os.remove(glob.glob(os.path.join(log_root, "digits", "resnet8", "pretrain", "seed-0", "model.pt"))[0])
    r = run(["python", "run.py", *R_TINY, "--stages", "pretrain", "unlearn", "--log_root", log_root], timeout=1200)
    steps = summary_of(log_root)
    ok = r.returncode == 0 and steps.get("pretrain seed-0", {}).get("status") == "done"
    return ("fine" if ok else "silent-wrong"), f"pretraining {steps.get('pretrain seed-0', {}).get('status')}"


@case(28, "two R at once in one folder")
def c28(w):
    shutil.copytree(w.sweep(), w.path("c28"))
    # retrain: a step that outlasts the second sweep's start-up (a forked step of a fast method can end first)
    proc, log_root = _sweep_with_running_unlearn(w, "retrain", log_root=w.path("c28"))
    if proc.poll() is not None:
        return "silent-wrong", "the first sweep ended early: " + proc.stdout.read()[-200:]
    second = run(["python", "run.py", "--methods", "retrain", "--jobs", "1", "--device", "cpu", "--stages", "unlearn",
                  "--log_root", log_root])
    os.killpg(proc.pid, signal.SIGTERM)
    proc.communicate(timeout=300)
    if second.returncode == 0:
        return "silent-wrong", "the second sweep ran the same steps"
    out = refused(second)
    return out if f"pid {proc.pid}" in second.stderr or out != "clear" else "silent-wrong", last_line(second)


@case(29, "unwritable log root: F rerun, new F, pretraining, T, R")
def c29(w):
    log_root = w.path("c29")
    run_dir = w.finished(log_root=log_root)
    before = fingerprints(run_dir)
    for dirpath, dirs, files in os.walk(log_root):
        os.chmod(dirpath, 0o555)
    try:
        rs = [run(a, prefix=NO_DAC) for a in (
            ["python", F, "-method", "baseline", "--log_root", log_root, "--device", "cpu", "-weight_path", w.pretrained()],
            ["python", F, "-method", "finetune", "--log_root", log_root, "--device", "cpu", "-weight_path", w.pretrained()],
            ["python", "pretrain_model_digits.py", "--epochs", "1", "--log_root", log_root, "--quiet", "--device", "cpu"],
            ["python", "reproduce_tables.py", "--log_root", log_root, "--quiet"],
            ["python", "run.py", *R_TINY, "--stages", "unlearn", "report", "--log_root", log_root])]
    finally:
        for dirpath, dirs, files in os.walk(log_root):
            os.chmod(dirpath, 0o755)
    if fingerprints(run_dir) != before:
        return "data-loss", ""
    outs = [refused(r) or "silent-wrong" for r in rs]
    names = ["F rerun", "new F", "pretraining", "T", "R"]
    return worst(outs), "; ".join(f"{n}: {o}" for n, o in zip(names, outs))


@case(30, "log root with spaces and non-ASCII characters")
def c30(w):
    log_root = w.path("dossier à espaces é")
    run_dir = w.finished(log_root=log_root)
    r = _report(log_root)
    return ("fine" if status_of(run_dir) == "done" and r.returncode == 0 else refused(r) or "silent-wrong"), ""


@case(31, "3,778-character path / one 300-character folder name")
def c31(w):
    long_root = w.path(*(["d" * 200] * 18))
    wide_root = w.path("x" * 300)
    outs = []
    for log_root in (long_root, wide_root):
        r = run(["python", F, "-method", "baseline", "--log_root", log_root, "--device", "cpu", "-weight_path",
                 w.pretrained()])
        outs.append("fine" if r.returncode == 0 else refused(r))
    return worst(outs), f"long: {outs[0]}, 300-char name: {outs[1]}"


@case(32, "F negative_grad --para1 1000 / 1e30, finetune --para1 nan")
def c32(w):
    rs = [_f(w, "-method", "negative_grad", "--para1", "1000"), _f(w, "-method", "negative_grad", "--para1", "1e30"),
          _f(w, "-method", "finetune", "--para1", "nan")]
    return worst([refused(r) or "silent-wrong" for r in rs]), last_line(rs[0])


@case(33, "F FisherForgetting --para1 1e30 (finite weights, NaN outputs)")
def c33(w):
    r = _f(w, "-method", "FisherForgetting", "--para1", "1e30")
    out = refused(r) or "silent-wrong"
    if out == "clear" and "diverged" not in r.stderr:
        out = "silent-wrong" if "NaN" in r.stderr and "sklearn" in r.stderr.lower() else out
    return out, last_line(r)


@case(34, "R --preset cifar20 / cifar100 / imagenet64 --dry_run with no data")
def c34(w):
    outs, lines = [], []
    for preset in ("cifar20", "cifar100", "imagenet64"):
        r = run(["python", "run.py", "--preset", preset, "--dry_run", "--data_root", w.path("nodata"),
                 "--log_root", w.path("c34")])
        said = refused(r) or ("clear" if any(k in r.stdout + r.stderr for k in ("no data", "not found", "missing",
                                                                                   "does not exist")) else "")
        outs.append(said or "silent-wrong")
        lines.append(last_line(r))
    return worst(outs), lines[0]


@case(35, "R --preset cifar20 with no data")
def c35(w):
    r = run(["python", "run.py", "--preset", "cifar20", "--methods", "baseline", "--stages", "pretrain", "unlearn",
             "--device", "cpu", "--data_root", w.path("nodata"), "--log_root", w.path("c35")], timeout=900)
    if "Traceback" in r.stdout + r.stderr:
        return "traceback", ""
    steps = summary_of(w.path("c35"))
    checked = "not found" in r.stderr and "nothing run" in r.stderr  # refused before the first step
    ok = r.returncode != 0 and (checked or any(s["status"] == "blocked" for s in steps.values()))
    line = next((l for l in r.stderr.splitlines() if l.startswith("error:")), "") if checked else \
        next((l for l in r.stdout.splitlines() if "failed:" in l), "")
    return ("clear" if ok else "silent-wrong"), line[:140]


@case(36, "T with an empty or missing log folder")
def c36(w):
    os.makedirs(w.path("c36"), exist_ok=True)
    a, b = _report(w.path("c36")), _report(w.path("c36-missing"))
    outs = ["fine" if a.returncode == 0 and "Traceback" not in a.stderr else refused(a), refused(b) or "silent-wrong"]
    return worst(outs), last_line(b)


@case(37, "unknown flag; R --seeds x")
def c37(w):
    rs = [run(["python", F, "--frobnicate"]), run(["python", "run.py", "--seeds", "x"])]
    return worst([refused(r) or "silent-wrong" for r in rs]), last_line(rs[1])


@case(38, "F --device cuda on a CPU machine over a finished run")
def c38(w):
    import torch
    if torch.cuda.is_available():
        return "fine", "this machine has CUDA: not applicable"
    run_dir = w.finished()
    before = fingerprints(run_dir)
    r = run(["python", F, "-method", "baseline", "--log_root", w.L, "--device", "cuda", "-weight_path", w.pretrained()])
    if fingerprints(run_dir) != before or status_of(run_dir) != "done":
        return "data-loss", ""
    return refused(r) or "silent-wrong", last_line(r)


@case(39, "F --device tpu")
def c39(w):
    r = run(["python", F, "-method", "baseline", "--log_root", w.path("c39"), "--device", "tpu", "-weight_path",
             w.pretrained()])
    return refused(r) or "silent-wrong", last_line(r)


@case(40, "R --jobs 0 / -1")
def c40(w):
    rs = [run(["python", "run.py", "--jobs", j, "--dry_run", "--log_root", w.path("c40")]) for j in ("0", "-1")]
    return worst([("fine" if r.returncode == 0 else refused(r)) for r in rs]), ""


@case(41, "R --methods ssd_tunning, --forget_classes 8 99")
def c41(w):
    rs = [run(["python", "run.py", "--methods", "ssd_tunning", "--dry_run", "--log_root", w.path("c41")]),
          run(["python", "run.py", "--forget_classes", "8", "99", "--dry_run", "--log_root", w.path("c41")])]
    outs = [refused(r) or "silent-wrong" for r in rs]
    return worst(outs), last_line(rs[0])


@case(42, "R started from another directory (relative --log_root), then from the project")
def c42(w):
    elsewhere = w.path("c42cwd")
    os.makedirs(elsewhere, exist_ok=True)
    shutil.copytree(w.sweep(), os.path.join(elsewhere, "logs"))
    r = run(["python", os.path.join(ROOT, "run.py"), *R_TINY, "--stages", "pretrain", "unlearn", "--log_root", "logs"],
            cwd=elsewhere)
    steps = summary_of(os.path.join(elsewhere, "logs"))
    skipped = r.returncode == 0 and steps and all(s["status"] == "skipped" for s in steps.values())
    stray = os.path.isdir(os.path.join(elsewhere, "log_files"))
    return ("fine" if skipped and not stray else "silent-wrong"), \
        f"{sum(s['status'] == 'skipped' for s in steps.values())}/{len(steps)} steps skipped"


@case(43, "R again with a method added")
def c43(w):
    log_root = w.path("c43")
    shutil.copytree(w.sweep(), log_root)
    r = run(["python", "run.py", "--methods", "baseline", "negative_grad", "--jobs", "1", "--device", "cpu", "--stages",
             "pretrain", "unlearn", "report", "--log_root", log_root], timeout=900)
    report = open(os.path.join(log_root, "report", "report.md")).read() if r.returncode == 0 else ""
    return ("fine" if "| negative_grad |" in report else "silent-wrong"), \
        f"report step {summary_of(log_root).get('report', {}).get('status')}"


@case(44, "F again with a different -weight_path")
def c44(w):
    log_root = w.path("c44")
    run_dir = w.finished(log_root=log_root)
    r = run(["python", REA, "-method", "baseline", "--log_root", log_root, "--device", "cpu", "-weight_path",
             w.pretrained(), *TINY_REA])
    assert r.returncode == 0, r.stderr
    other = w.pretrained(seed=1)
    r = run(["python", F, "-method", "baseline", "--log_root", log_root, "--device", "cpu", "-weight_path", other])
    new_dir = r.stdout.strip().split("→ ")[-1].strip()
    if r.returncode != 0:
        return refused(r), last_line(r)
    rep = run(["python", "reproduce_tables.py", "--log_root", log_root])
    if new_dir != run_dir:
        return "fine", "the new model has its own run folder"
    stale = "stale" in rep.stderr
    return ("fine" if stale else "silent-wrong"), "same folder; the old attack result is " + \
        ("marked stale" if stale else "reported next to the new model")


@case(45, "--recipe '{bad' / '{\"UNLEARN\":5}'")
def c45(w):
    rs = [run(["python", F, "-method", "finetune", "--log_root", w.path("c45"), "--device", "cpu", "-weight_path",
               w.pretrained(), "--recipe", v]) for v in ("{bad", '{"UNLEARN":5}')]
    return worst([refused(r) or "silent-wrong" for r in rs]), last_line(rs[1])


@case(46, "pretrain_model_digits.py --lr 1e8")
def c46(w):
    model = w.pretrained()
    from unlearning.files import file_fingerprint
    before = file_fingerprint(model)
    r = run(["python", "pretrain_model_digits.py", "--epochs", "2", "--lr", "1e8", "--log_root", w.L, "--quiet",
             "--device", "cpu"])
    if file_fingerprint(model) != before:
        return "data-loss", "the old model was replaced"
    return refused(r) or "silent-wrong", last_line(r)


# ----------------------------------------------------------------------------- values through side doors
def _no_run_written(log_root):
    return not any("results.json" in files for _, _, files in os.walk(log_root))


@case(47, "F --settings '{\"batch_size\": 0}' / '{\"epochs\": -1}' / '{\"epoch\": 3}' (misspelt key)")
def c47(w):
    outs, lines = [], []
    for i, v in enumerate(('{"batch_size": 0}', '{"epochs": -1}', '{"epoch": 3}', '{"momentum": "high"}')):
        log_root = w.path(f"c47_{i}")
        r = _f(w, "-method", "negative_grad", "--settings", v, log_root=log_root)
        outs.append((refused(r) or "silent-wrong") if _no_run_written(log_root) else "silent-wrong")
        lines.append(last_line(r))
    return worst(outs), lines[2]


@case(48, "F --recipe: a misspelt method, epochs −1, a replay lr of 0, an _our name in OVER_UNLEARN")
def c48(w):
    outs, lines = [], []
    for i, v in enumerate(('{"UNLEARN": {"negative_gradd": {"epochs": 1}}}', '{"UNLEARN": {"negative_grad": {"epochs": -1}}}',
                           '{"OVER_UNLEARN": {"replay": {"lr": 0}}}', '{"OVER_UNLEARN": {"negative_grad_our": {"epochs": 1}}}')):
        log_root = w.path(f"c48_{i}")
        r = _f(w, "-method", "negative_grad_our" if "OVER" in v else "negative_grad", "--recipe", v, log_root=log_root)
        outs.append((refused(r) or "silent-wrong") if _no_run_written(log_root) else "silent-wrong")
        lines.append(last_line(r))
    return worst(outs), lines[0]


@case(49, "F --l1 -1 / --l2 -1 / --l2 nan")
def c49(w):
    rs = [_f(w, "-method", "negative_grad", flag, v, log_root=w.path(f"c49_{i}"))
          for i, (flag, v) in enumerate((("--l1", "-1"), ("--l2", "-1"), ("--l2", "nan")))]
    return worst([refused(r) or "silent-wrong" for r in rs]), last_line(rs[1])


@case(50, "F --device cpu:1 / cuda:7 (no such device)")
def c50(w):
    rs = [run(["python", F, "-method", "baseline", "--log_root", w.path("c50"), "--device", d, "-weight_path",
               w.pretrained()]) for d in ("cpu:1", "cuda:7")]
    bad_text = any("truncated" in last_line(r) for r in rs)
    return ("silent-wrong" if bad_text else worst([refused(r) or "silent-wrong" for r in rs])), last_line(rs[0])


@case(51, "distribution_metric.py --out_dir <a finished unlearning run folder>")
def c51(w):
    run_dir = w.finished(log_root=w.path("c51"))
    before = fingerprints(run_dir)
    r = run(["python", "distribution_metric.py", "-dataset", "digits", "--model_path", os.path.join(run_dir, "last.pt"),
             "--out_dir", run_dir, "--device", "cpu"])
    if fingerprints(run_dir) != before:
        return "data-loss", "the run's results.json was replaced"
    return refused(r) or "silent-wrong", last_line(r)


@case(52, "reproduce_tables.py: a smoke sweep and a real run in one log root; a string where a number belongs")
def c52(w):
    from unlearning.files import write_json
    log_root = w.path("c52")
    real = w.finished(log_root=log_root)
    smoke = w.finished(log_root=os.path.join(log_root, "smoke"))
    broken = os.path.join(os.path.dirname(real), "p1-none_p2-none_mask-none_seed-9")
    res = json.load(open(os.path.join(real, "results.json")))
    res["metrics"]["TA"] = "high"
    res["args"]["seed"] = 9
    write_json(os.path.join(broken, "results.json"), res)
    r = run(["python", "reproduce_tables.py", "--log_root", log_root])
    if "Traceback" in r.stderr:
        return "traceback", last_line(r)
    md = open(os.path.join(log_root, "report", "report.md")).read()
    eff = [line for line in md.splitlines() if line.startswith("| digits") and "baseline" in line]
    named = broken in r.stderr
    ok = len(eff) == 1 and "| 1 |" in eff[0] and named and smoke not in md
    return ("fine" if ok else "silent-wrong"), f"{len(eff)} baseline row(s); malformed file named: {named}"


@case(53, "a seed sweep on each seed's own pretrained model: one report row over both seeds")
def c53(w):
    log_root = w.path("c53")
    for seed in (0, 1):
        pre = os.path.join(log_root, "digits", "resnet8", "pretrain", f"seed-{seed}", "model.pt")
        os.makedirs(os.path.dirname(pre), exist_ok=True)
        shutil.copy(w.pretrained(seed), pre)
        r = run(["python", F, "-method", "baseline", "-seed", str(seed), "--log_root", log_root, "--device", "cpu"])
        if r.returncode != 0:
            return refused(r) or "traceback", last_line(r)
    src = [n for n in os.listdir(os.path.join(log_root, "digits", "resnet8", "forget_3", "baseline")) if "_src-" in n]
    r = run(["python", "reproduce_tables.py", "--log_root", log_root, "--quiet"])
    if r.returncode != 0:
        return refused(r) or "traceback", last_line(r)
    md = open(os.path.join(log_root, "report", "report.md")).read()
    eff = [line for line in md.splitlines() if line.startswith("| digits") and "baseline" in line]
    ok = not src and len(eff) == 1 and "| 2 |" in eff[0]
    return ("fine" if ok else "silent-wrong"), f"{len(eff)} baseline row(s), _src- folders {src}"


@case(54, "rerun of a finished F with the same seed and settings: its attack results survive")
def c54(w):
    log_root = w.path("c54")
    run_dir = w.finished(log_root=log_root)
    tag = os.path.join(run_dir, "rea", "tag")
    os.makedirs(tag)
    with open(os.path.join(tag, "results.json"), "w") as fh:
        fh.write('{"stage": "rea", "status": "done"}')
    from unlearning.files import file_fingerprint
    kept_files = (os.path.join(run_dir, "last.pt"), os.path.join(tag, "results.json"))
    before = [file_fingerprint(f) for f in kept_files]
    w.finished(log_root=log_root)  # results.json and log.tsv are rewritten (new timings); the model and rea/ stay
    after = [file_fingerprint(f) for f in kept_files]
    kept = after == before and None not in after
    return ("fine" if kept else "data-loss"), "last.pt and rea/ unchanged" if kept else f"{before} → {after}"


@case(55, "the quality audit over a run made with an absolute -weight_path, audited with a relative log root")
def c55(w):
    from unlearning.cli.args import finish_args
    from unlearning.cli.quality import ensure_unlearned, parser
    log_root = w.path("c55")
    pre = os.path.join(log_root, "digits", "resnet8", "pretrain", "seed-0", "model.pt")
    os.makedirs(os.path.dirname(pre))
    shutil.copy(w.pretrained(), pre)
    r = run(["python", F, "-method", "baseline", "--log_root", log_root, "--device", "cpu", "-weight_path",
             os.path.abspath(pre)])
    if r.returncode != 0:
        return refused(r) or "traceback", last_line(r)
    here = os.getcwd()
    os.chdir(w.tmp)
    try:
        args = finish_args(parser("digits").parse_args(["--log_root", "c55", "--device", "cpu", "--forget_class", "3"]))
        got = ensure_unlearned(args, ["baseline", None, None], 0, os.path.relpath(pre, w.tmp))
    finally:
        os.chdir(here)
    return ("fine" if got.get("reused") else "silent-wrong"), f"reused: {got.get('reused')}"


@case(57, "pretraining recipe values out of range: flags, and a retrain run's \"pretrain\" setting")
def c57(w):
    log_root = w.path("c57")
    rs = [run(["python", "pretrain_model_digits.py", *flags, "--log_root", log_root, "--device", "cpu", "--quiet"])
          for flags in (["--epochs", "0"], ["--batch_size", "0"], ["--lr", "0"], ["--milestones", "-3"])]
    rs += [_f(w, "-method", "retrain", "--settings", json.dumps(v), log_root=log_root)
           for v in ({"pretrain": {"epochs": 0}}, {"pretrain": {"batch_size": 0}}, {"pretrain": {"epoch": 2}})]
    outs = [refused(r) or "silent-wrong" for r in rs]
    if os.path.isdir(os.path.join(log_root, "digits")):  # something was trained or written before the refusal
        outs.append("silent-wrong")
    return worst(outs), last_line(rs[-1])


@case(58, "quality audit: --confidence 2, --max_fpr 2, a bad --pretrain_recipe or --method_settings")
def c58(w):
    log_root = w.path("c58")
    base = ["python", "forget_quality_main_digits.py", "-K", "2", "--methods", "finetune", "--log_root", log_root,
            "--device", "cpu", "--quiet"]
    rs = [run([*base, *flags]) for flags in (
        ["--confidence", "2"], ["--max_fpr", "2"], ["--pretrain_recipe", '{"epochs": 0}'],
        ["--pretrain_recipe", '{"warmup_epochs": 1}'], ["--method_settings", '{"retrian": {}}'],
        ["--method_settings", '{"finetune": {"epochs": -1}}'])]
    outs = [refused(r) or "silent-wrong" for r in rs]
    if os.path.isdir(os.path.join(log_root, "digits")):  # refused only after training models
        outs.append("silent-wrong")
    return worst(outs), last_line(rs[-1])


@case(59, "a negative seed: pretraining, F, T's --attack_seed, DFME's --dfme_seed, the audit's --first_seed, R")
def c59(w):
    log_root = w.path("c59")
    rs = [run(["python", *cmd, "--log_root", log_root, "--device", "cpu"]) for cmd in (
        ["pretrain_model_digits.py", "-seed", "-1", "--quiet"], [F, "-method", "baseline", "-seed", "-1"],
        ["mia_on_mu_main_digits_fullclass.py", "-method", "baseline", "--attack_seed", "-1"],
        ["dfme_attack.py", "-method", "baseline", "--dfme_seed", "-1"],
        ["forget_quality_main_digits.py", "--methods", "finetune", "--first_seed", "-1"],
        ["run.py", "-seed", "-1", "--dry_run"])]
    outs = [refused(r) or "silent-wrong" for r in rs]
    if os.path.isdir(os.path.join(log_root, "digits")):
        outs.append("silent-wrong")
    return worst(outs), last_line(rs[0])


# ----------------------------------------------------------------------------- main
def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cases", type=int, nargs="+", default=None, help="case numbers (default: all)")
    p.add_argument("--keep", action="store_true", help="keep the temporary folders")
    args = p.parse_args(argv)
    chosen = args.cases or sorted(CASES)
    unknown = [n for n in chosen if n not in CASES]
    if unknown:
        raise SystemExit(f"error: no case {unknown[0]} (cases 1–{max(CASES)})")
    w = World(args.keep)
    results = {}
    try:
        for n in chosen:
            title, fn = CASES[n]
            start = time.time()
            try:
                outcome, detail = fn(w)
            except Exception as err:  # the check itself broke: say so, count it as the worst
                outcome, detail = "traceback", f"check failed: {type(err).__name__}: {str(err)[:200]}"
            results[n] = outcome
            print(f"{n:3d}  {outcome:12s} {time.time() - start:6.1f}s  {title}" + (f"  | {detail}" if detail else ""),
                  flush=True)
    finally:
        w.close()
    counts = Counter(results.values())
    print("\n" + ", ".join(f"{counts.get(o, 0)} {o}" for o in OUTCOMES) + f"  ({len(results)} cases)")
    return 1 if any(counts.get(o) for o in ("traceback", "silent-wrong", "data-loss")) else 0


if __name__ == "__main__":
    raise SystemExit(main())
