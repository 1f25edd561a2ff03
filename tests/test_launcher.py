"""run.py's sweep machinery: resume, fault isolation, kill-and-restart."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from conftest import ROOT
from unlearning.launcher import Launcher, Step


def _py(code):
    return ["python", "-c", code]


def test_failures_are_isolated_and_finished_steps_are_skipped(tmp_path, capsys):
    marker = tmp_path / "count.txt"
    ok = _py(f"open({str(marker)!r}, 'a').write('x')")
    steps = lambda: [Step("pretrain", "a", [ok]),  # noqa: E731
                     Step("unlearn", "b", [_py("import sys; sys.exit('error: boom')")], deps=["a"]),
                     Step("rea", "c", [ok + ["c"]], deps=["b"]),
                     Step("rea", "d", [ok + ["d"]], deps=["a"])]
    first = Launcher(str(tmp_path / "logs"), jobs=2)
    for s in steps():
        first.add(s)
    done = {s.name: s for s in first.run(["pretrain", "unlearn", "rea"])}
    assert [done[n].status for n in "abcd"] == ["done", "failed", "blocked", "done"]
    assert done["b"].error == "error: boom" and os.path.isfile(done["b"].log)
    assert marker.read_text() == "xx"
    summary = json.load(open(tmp_path / "logs" / "launcher" / "last_summary.json"))
    assert summary["counts"] == {"done": 2, "failed": 1, "blocked": 1}

    again = Launcher(str(tmp_path / "logs"), jobs=1)
    for s in steps():
        again.add(s)
    redo = {s.name: s.status for s in again.run(["pretrain", "unlearn", "rea"])}
    assert redo == {"a": "skipped", "b": "failed", "c": "blocked", "d": "skipped"}
    assert marker.read_text() == "xx"  # nothing finished was redone
    assert "summary" in capsys.readouterr().out


def test_step_identity_ignores_the_device_but_not_other_arguments():
    a = Step("unlearn", "x", [["python", "f.py", "-method", "retrain", "--device", "cuda:0"]])
    b = Step("unlearn", "x", [["python", "f.py", "-method", "retrain", "--device", "cpu"]])
    c = Step("unlearn", "x", [["python", "f.py", "-method", "retrain", "--para1", "0.1"]])
    assert a.key == b.key != c.key


def test_dry_run_lists_every_stage_for_each_method():
    r = subprocess.run([sys.executable, "run.py", "--dry_run", "--methods", "retrain", "amnesiac_our",
                        "--log_root", "/nonexistent-logs"], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    lines = [l.strip() for l in r.stdout.splitlines() if l.startswith("  python")]
    scripts = [l.split()[1] for l in lines]
    assert scripts.count("forget_full_class_main_digits.py") == 2
    assert scripts.count("mia_on_mu_main_digits_fullclass.py") == 2
    assert scripts[0] == "pretrain_model_digits.py" and scripts[-1] == "reproduce_tables.py"


def _ledger(log_root):
    d = os.path.join(log_root, "launcher", "steps")
    return {f: json.load(open(os.path.join(d, f))) for f in os.listdir(d)} if os.path.isdir(d) else {}


def test_killed_sweep_resumes_without_redoing_or_corrupting(tmp_path):
    log_root = str(tmp_path / "logs")
    cmd = [sys.executable, "run.py", "--stages", "pretrain", "unlearn", "--methods", "baseline", "finetune",
           "negative_grad", "--jobs", "1", "--device", "cpu", "--log_root", log_root]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + 600
    while time.time() < deadline and not any(v["stage"] == "unlearn" for v in _ledger(log_root).values()):
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)  # mid-sweep: the pretraining and one unlearning step are finished
    proc.communicate(timeout=60)
    finished = _ledger(log_root)
    assert any(v["stage"] == "pretrain" for v in finished.values())

    r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    summary = json.load(open(os.path.join(log_root, "launcher", "last_summary.json")))
    statuses = {s["name"]: s["status"] for s in summary["steps"]}
    assert statuses["pretrain seed0"] == "skipped"
    assert sum(v == "skipped" for v in statuses.values()) >= len(finished)
    assert all(v in ("done", "skipped") for k, v in statuses.items() if not k.startswith("report"))
    for dirpath, _, files in os.walk(log_root):
        assert not [f for f in files if f.endswith(".part")], dirpath  # no half-written file left
        for f in files:
            if f == "results.json":
                json.load(open(os.path.join(dirpath, f)))


def test_end_to_end_reduced_digits_sweep(tmp_path):
    """Two methods and one _our variant through run.py: pretraining, unlearning, ReA, report."""
    log_root = str(tmp_path / "logs")
    r = subprocess.run([sys.executable, "run.py", "--methods", "retrain", "negative_grad", "negative_grad_our",
                        "--stages", "pretrain", "unlearn", "rea", "report", "--repeats", "4", "--relearning_lr",
                        "0.01", "--jobs", "2", "--device", "cpu", "--log_root", log_root],
                       cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    report = open(os.path.join(log_root, "report", "report.md")).read()
    for method in ("retrain", "negative_grad", "negative_grad_our"):
        assert f"| {method} |" in report
    rea = open(os.path.join(log_root, "report", "rea.csv")).read().splitlines()
    assert rea[0].startswith("dataset,net,forget,method,params") and len(rea) == 4
    eff = {line.split(",")[3]: line for line in open(os.path.join(log_root, "report", "efficacy.csv")).read().splitlines()[1:]}
    assert set(eff) == {"retrain", "negative_grad", "negative_grad_our"}
