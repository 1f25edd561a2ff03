"""run.py --launcher slurm against a real single-node SLURM on localhost (started here, stopped at the end).

Skipped, with the reason, where slurm-wlm/munge/submitit are not installed or the daemons cannot start.
"""
import csv
import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest

from conftest import ROOT
from slurm_cluster import LocalSlurm, Unavailable

pytestmark = pytest.mark.cluster
from unlearning.pipeline.launcher import Launcher, Step

SWEEP = ["--methods", "baseline", "negative_grad", "--stages", "pretrain", "unlearn", "rea", "report",
         "--repeats", "2", "--relearning_lr", "0.01", "--device", "cpu"]
TIMINGS = {"RTE s", "RTE % of retrain", "ReA s"}  # wall-clock columns: differ from run to run


@pytest.fixture(scope="module")
def slurm(tmp_path_factory):
    try:
        import submitit  # noqa: F401
    except ImportError:
        pytest.skip("submitit is not installed (pip install -r requirements-slurm.txt)")
    # short path: munge's socket path must fit in a sockaddr_un
    cluster = LocalSlurm(str(tmp_path_factory.mktemp("slurm")))
    try:
        cluster.start()
    except Unavailable as e:
        pytest.skip(f"no local SLURM: {e}")
    saved = {k: os.environ.get(k) for k in cluster.env}
    os.environ.update(cluster.env)
    yield cluster
    cluster.stop()
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


def _env():
    return dict(os.environ, OMP_NUM_THREADS="1")  # the same threads in both launchers: same float sums


def _run_py(log_root, *extra):
    return [sys.executable, "run.py", *SWEEP, "--log_root", log_root, *extra]


def _ledger(log_root):
    d = os.path.join(log_root, "launcher", "steps")
    return {f[:-5]: json.load(open(os.path.join(d, f))) for f in os.listdir(d)} if os.path.isdir(d) else {}


def _records(log_root):
    d = os.path.join(log_root, "launcher", "slurm_jobs")
    return {f[:-5]: json.load(open(os.path.join(d, f))) for f in os.listdir(d)} if os.path.isdir(d) else {}


def _wait_for(cond, what, timeout=600):
    end = time.time() + timeout
    while time.time() < end:
        got = cond()
        if got:
            return got
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def _live_record(log_root, stage):
    """A step of ``stage`` whose job is submitted and not finished (recorded, not in the ledger)."""
    done = _ledger(log_root)
    live = [k for k in _records(log_root) if k.startswith(stage + "-") and k not in done]
    return live[0] if live else None


def _job_state(job_id):
    r = subprocess.run(["squeue", "-h", "-t", "all", "-o", "%T", "-j", job_id], capture_output=True, text=True)
    return r.stdout.strip()


def _all_jobs():
    r = subprocess.run(["squeue", "-h", "-t", "all", "-o", "%i %j %T"], capture_output=True, text=True)
    return [l.split() for l in r.stdout.splitlines()]


def _tables(log_root):
    out = {}
    for name in ("efficacy.csv", "rea.csv"):
        rows = list(csv.DictReader(open(os.path.join(log_root, "report", name))))
        out[name] = [{k: v for k, v in row.items() if k not in TIMINGS} for row in rows]
    return out


def test_failed_job_records_its_error_line_and_log(slurm, tmp_path):
    from unlearning.pipeline.slurm import SlurmExecutor

    launcher = Launcher(str(tmp_path / "logs"), jobs=2, executor=SlurmExecutor(str(tmp_path / "logs"), poll_s=1))
    launcher.add(Step("pretrain", "ok", [["python", "-c", "print('fine')"]]))
    launcher.add(Step("pretrain", "bad", [["python", "-c", "import sys; sys.exit('error: boom')"]]))
    launcher.add(Step("unlearn", "after-bad", [["python", "-c", "print(1)"]], deps=["bad"]))
    steps = {s.name: s for s in launcher.run(["pretrain", "unlearn"])}
    assert [steps[n].status for n in ("ok", "bad", "after-bad")] == ["done", "failed", "blocked"]
    assert steps["bad"].error.startswith("error: boom [SLURM job ")
    assert "error: boom" in open(steps["bad"].log).read()
    assert open(steps["ok"].log).read().splitlines()[-1] == "fine"  # the job wrote the step's own log


def test_sweep_through_slurm_equals_local_and_resumes_after_kill_and_cancel(slurm, tmp_path):
    local, remote = str(tmp_path / "local"), str(tmp_path / "slurm")
    r = subprocess.run(_run_py(local, "--jobs", "2"), cwd=ROOT, env=_env(), capture_output=True, text=True,
                       timeout=900)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]

    cmd = _run_py(remote, "--launcher", "slurm", "--max_parallel", "1")
    # 1) the launcher dies (SIGKILL) while an unlearning job runs: the job goes on in SLURM
    first = subprocess.Popen(cmd, cwd=ROOT, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    orphan = _wait_for(lambda: _live_record(remote, "unlearn"), "an unlearning job")
    orphan_id = _records(remote)[orphan]["job_id"]
    first.kill()
    first.communicate()
    assert _job_state(orphan_id) in ("PENDING", "RUNNING", "COMPLETING", "COMPLETED")

    # 2) rerun: waits on that job instead of submitting it again; then Ctrl-C during the attack stage
    second = subprocess.Popen(cmd, cwd=ROOT, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    victim = _wait_for(lambda: _live_record(remote, "rea"), "an attack job")
    victim_id = _records(remote)[victim]["job_id"]
    before_cancel = _ledger(remote)
    second.send_signal(signal.SIGINT)
    out2, _ = second.communicate(timeout=120)
    assert second.returncode == 130, out2
    assert f"cancelled 1 SLURM job(s) of this sweep: {victim_id}" in out2
    assert _wait_for(lambda: _job_state(victim_id) == "CANCELLED", "the cancelled job", 30)
    # the orphan was waited on (or collected, had it finished) and recorded, never submitted again
    assert re.search(rf"(waiting on|collected) unlearn .*: SLURM job {orphan_id}\b", out2), out2
    assert orphan in before_cancel

    # 3) rerun to the end: nothing finished before is redone, the report equals the local launcher's
    start = time.time()
    r = subprocess.run(cmd, cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    summary = json.load(open(os.path.join(remote, "launcher", "last_summary.json")))
    status = {s["name"]: s["status"] for s in summary["steps"]}
    by_key = {v["name"]: k for k, v in _ledger(remote).items()}
    for key, entry in before_cancel.items():
        assert status[entry["name"]] == "skipped", (entry["name"], status)
    assert status[_records(remote)[victim]["name"]] == "done"
    assert set(by_key) == set(status)
    jobs = [j for j in _all_jobs() if j[1] in _ledger(remote)]  # this sweep's jobs (named by step key)
    assert [j[1] for j in jobs if j[2] == "CANCELLED"] == [victim]
    assert sorted(j[1] for j in jobs if j[2] == "COMPLETED") == sorted(_ledger(remote))  # one job per step
    print(f"\nrerun after cancel: {time.time() - start:.0f}s; jobs:\n" + "\n".join(" ".join(j) for j in jobs))
    assert _tables(remote) == _tables(local)


def test_time_limits_round_up_to_whole_minutes():
    from unlearning.pipeline.slurm import minutes

    assert [minutes(t) for t in ("04:00:00", "1-00:30:00", "00:00:30", "00:10:01", "90", "1:30")] == \
        [240, 1470, 1, 11, 90, 90]
    with pytest.raises(ValueError):
        minutes("four hours")
