"""run.py's sweep machinery: resume, fault isolation, kill-and-restart."""
import glob
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time

import pytest

from conftest import ROOT
from unlearning.pipeline.launcher import Launcher, Step


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


@pytest.mark.slow
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


# a reduced digits sweep: two methods and one _our variant through pretraining, unlearning, ReA and the report
SWEEP = ["--methods", "retrain", "negative_grad", "negative_grad_our", "--stages", "pretrain", "unlearn", "rea",
         "report", "--repeats", "4", "--relearning_lr", "0.01", "--jobs", "2", "--device", "cpu"]
TIMING_COLUMNS = {"RTE s", "RTE % of retrain", "ReA s"}


def _sweep(log_root):
    return [sys.executable, "run.py", *SWEEP, "--log_root", log_root]


def _report_numbers(log_root):
    """Every table of the report without its wall-time columns."""
    out = {}
    for name in ("efficacy", "rea"):
        rows = [line.split(",") for line in open(os.path.join(log_root, "report", f"{name}.csv")).read().splitlines()]
        keep = [i for i, col in enumerate(rows[0]) if col not in TIMING_COLUMNS]
        out[name] = [[row[i] for i in keep] for row in rows]
    return out


@pytest.fixture(scope="module")
def uninterrupted_sweep(tmp_path_factory):
    log_root = str(tmp_path_factory.mktemp("uninterrupted"))
    r = subprocess.run(_sweep(log_root), cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    return log_root


def _inside_stage(log_root, stage):
    """A step of ``stage`` is running: its log exists and the sweep's lock lists a live child."""
    logs = os.path.join(log_root, "launcher", "logs")
    try:
        children = json.loads(open(os.path.join(log_root, "launcher", "lock")).read() or "{}").get("children", [])
        running = [pid for pid in children if _alive(pid)]
        return bool(running) and any(f.startswith(stage + "-") for f in os.listdir(logs))
    except (OSError, ValueError):
        return False


def _alive(pid):
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True


@pytest.mark.slow
def test_sweep_killed_inside_two_stages_resumes_to_the_same_report(tmp_path, uninterrupted_sweep):
    """SIGKILL to run.py's whole process group inside the unlearning stage, then inside the attack stage; the
    third start finishes the sweep, skipping what was finished, and its report has the uninterrupted run's numbers.
    (The sweep is the uninterrupted one without retrain, starting from its pretrained model and ledger record.)"""
    log_root = str(tmp_path / "logs")
    pretrain = os.path.join("digits", "resnet8", "pretrain")
    shutil.copytree(os.path.join(uninterrupted_sweep, pretrain), os.path.join(log_root, pretrain))
    os.makedirs(os.path.join(log_root, "launcher", "steps"))
    for record in glob.glob(os.path.join(uninterrupted_sweep, "launcher", "steps", "pretrain-*.json")):
        shutil.copy(record, os.path.join(log_root, "launcher", "steps"))
    cmd = _sweep(log_root)
    cmd.remove("retrain")
    rng = random.Random()
    for stage in ("unlearn", "rea"):
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                start_new_session=True)
        deadline = time.time() + 600
        while time.time() < deadline and not _inside_stage(log_root, stage) and proc.poll() is None:
            time.sleep(0.1)
        assert proc.poll() is None, f"the sweep ended before its {stage} stage"
        time.sleep(rng.uniform(0, 2))  # somewhere inside the stage
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    finished = _ledger(log_root)

    r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    summary = json.load(open(os.path.join(log_root, "launcher", "last_summary.json")))
    statuses = {s["name"]: s["status"] for s in summary["steps"]}
    assert statuses["pretrain seed-0"] == "skipped"
    assert sum(v == "skipped" for v in statuses.values()) >= len(finished)  # nothing finished was redone
    assert all(v in ("done", "skipped") for v in statuses.values())
    for dirpath, _, files in os.walk(log_root):
        for f in files:
            if f == "results.json":
                json.load(open(os.path.join(dirpath, f)))
    resumed, reference = _report_numbers(log_root), _report_numbers(uninterrupted_sweep)
    for table in ("efficacy", "rea"):
        method = resumed[table][0].index("method")
        expected = [reference[table][0]] + [row for row in reference[table][1:] if row[method] != "retrain"]
        assert resumed[table] == expected and len(expected) == 3


@pytest.mark.slow
def test_end_to_end_reduced_digits_sweep(uninterrupted_sweep):
    """Two methods and one _our variant through run.py: pretraining, unlearning, ReA, report."""
    log_root = uninterrupted_sweep
    report = open(os.path.join(log_root, "report", "report.md")).read()
    for method in ("retrain", "negative_grad", "negative_grad_our"):
        assert f"| {method} |" in report
    rea = open(os.path.join(log_root, "report", "rea.csv")).read().splitlines()
    assert rea[0].startswith("dataset,net,forget,method,params") and len(rea) == 4
    eff = {line.split(",")[3]: line for line in open(os.path.join(log_root, "report", "efficacy.csv")).read().splitlines()[1:]}
    assert set(eff) == {"retrain", "negative_grad", "negative_grad_our"}
