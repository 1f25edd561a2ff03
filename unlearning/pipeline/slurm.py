"""Running the sweep's steps as SLURM jobs (through submitit): one job per step, the step's commands in order.

``SlurmExecutor`` plugs into ``Launcher`` in place of the local executor: the launcher still plans, orders the
stages, limits how many steps run at once and keeps the ledger; this executor only submits, waits and cancels.
Per step it keeps ``<log_root>/launcher/slurm_jobs/<step key>.json`` (job id, submitit folder), so a rerun waits
on a job that is still queued or running instead of submitting it again, and takes the result of a job that
finished while no launcher was watching.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
from typing import Dict, List, Optional

from ..files import read_json, write_json
from .launcher import LocalExecutor, ROOT

# states in which the job may still produce a result (squeue/sacct spelling)
ACTIVE = {"PENDING", "RUNNING", "CONFIGURING", "COMPLETING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED",
          "RESIZING", "SUSPENDED", "SIGNALING", "STAGE_OUT", "STOPPED"}
GONE = "GONE"  # the controller no longer knows the job


def run_step_commands(cmds: List[List[str]], extra_env: Dict[str, str], log_path: str) -> str:
    """The job body, on the compute node: the local executor's loop. '' on success, else the error line."""
    env = dict(os.environ, **extra_env)
    return LocalExecutor().run(None, cmds, env, log_path)


def minutes(hms: str) -> int:
    """SLURM time ('[D-]HH:MM:SS', 'HH:MM', or minutes) → whole minutes, rounded up."""
    text = str(hms).strip()
    days = 0
    if "-" in text:
        d, text = text.split("-", 1)
        days = int(d)
    parts = [int(p) for p in text.split(":")]
    if len(parts) == 1:
        h, m, sec = 0, parts[0], 0
    elif len(parts) == 2:
        h, m, sec = parts[0], parts[1], 0
    elif len(parts) == 3:
        h, m, sec = parts
    else:
        raise ValueError(hms)
    return max(1, days * 1440 + h * 60 + m + (1 if sec else 0))


class SlurmExecutor:
    def __init__(self, log_root: str, partition: Optional[str] = None, gpus_per_job: int = 0,
                 time_limit: str = "04:00:00", cpus_per_job: int = 1, folder: Optional[str] = None,
                 python: str = sys.executable, poll_s: float = 5.0):
        try:
            import submitit
        except ImportError:
            raise SystemExit("error: --launcher slurm needs submitit: pip install -r requirements-slurm.txt")
        if not shutil.which("sbatch"):
            raise SystemExit("error: --launcher slurm needs the SLURM client commands (sbatch not found on PATH)")
        try:
            timeout_min = minutes(time_limit)
        except ValueError:
            raise SystemExit(f"error: --time {time_limit!r} is not a SLURM time (HH:MM:SS)")
        self.submitit = submitit
        self.folder = os.path.abspath(folder or os.path.join(log_root, "launcher", "slurm"))
        self.records_dir = os.path.join(log_root, "launcher", "slurm_jobs")
        self.cpus = max(1, int(cpus_per_job))
        self.poll_s = poll_s
        self._ex = submitit.SlurmExecutor(folder=os.path.join(self.folder, "%j"), python=python)
        params = dict(time=timeout_min, cpus_per_task=self.cpus, ntasks_per_node=1, nodes=1,
                      # the job imports this package: make it importable wherever sbatch starts the job
                      setup=[f"export PYTHONPATH={ROOT}${{PYTHONPATH:+:$PYTHONPATH}}"])
        if partition:
            params["partition"] = partition
        if gpus_per_job:
            params["gpus_per_node"] = int(gpus_per_job)
        self._ex.update_parameters(**params)
        self._lock = threading.Lock()
        self._jobs: Dict[str, str] = {}  # job id → step key, for every job this sweep waits on
        self._cancelled = False
        self._states: Dict[str, str] = {}
        self._states_at = 0.0

    # ------------------------------------------------------------------ the executor interface
    def run(self, step, cmds: List[List[str]], env: dict, log_path: str) -> str:
        """Submit (or re-attach to) the step's job, wait for it; '' on success, else the error line."""
        key = os.path.splitext(os.path.basename(log_path))[0]  # the launcher's ledger key names the step's log
        record_path = os.path.join(self.records_dir, key + ".json")
        log_path = os.path.abspath(log_path)  # the job may start in another directory
        job = self._attach(step, record_path)
        if isinstance(job, str):  # finished while nobody watched
            return job
        if job is None:
            extra = {"PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", str(self.cpus))}
            with self._lock:
                if self._cancelled:
                    return "cancelled"
                self._ex.update_parameters(job_name=key)
                try:
                    job = self._ex.submit(run_step_commands, cmds, extra, log_path)
                except Exception as e:  # sbatch refused (bad partition, time limit, …): the step fails, not the sweep
                    lines = [l for l in str(e).splitlines() if l.strip()]
                    return "sbatch failed: " + (lines[-1] if lines else type(e).__name__)[:300]
                self._jobs[job.job_id] = key
                write_json(record_path, {"job_id": job.job_id, "folder": str(job.paths.folder), "name": step.name,
                                         "log": log_path, "submitted": time.strftime("%Y-%m-%d %H:%M:%S")})
            print(f"  submitted {step.name}: SLURM job {job.job_id}", flush=True)
        try:
            error = self._wait(job)
        finally:
            with self._lock:
                self._jobs.pop(job.job_id, None)  # finished (or given up): nothing left to cancel
        if error:
            error += f" [SLURM job {job.job_id}, {job.paths.stdout}]"
        return error

    def cancel(self) -> None:
        """scancel every job this sweep waits on that may still run."""
        with self._lock:
            self._cancelled = True
            ids = sorted(self._jobs, key=int)
        states = self._query(ids) or {}
        live = [j for j in ids if states.get(j, "PENDING") in ACTIVE]  # unknown: cancel to be safe
        if live:
            subprocess.run(["scancel", *live], capture_output=True)
            print(f"cancelled {len(live)} SLURM job(s) of this sweep: {' '.join(live)}", file=sys.stderr, flush=True)

    # ------------------------------------------------------------------ internals
    def _job(self, job_id: str, folder: str):
        return self.submitit.SlurmJob(folder=folder, job_id=job_id)

    def _attach(self, step, record_path):
        """The job recorded for this step: still live → its handle; finished with a result → that outcome
        (a string); otherwise None (submit afresh)."""
        if not os.path.isfile(record_path):
            return None
        try:
            rec = read_json(record_path)
            job = self._job(str(rec["job_id"]), rec["folder"])
        except (ValueError, OSError, KeyError):
            return None
        state = (self._query([job.job_id]) or {job.job_id: "PENDING"}).get(job.job_id, GONE)  # no answer: wait
        if state in ACTIVE:
            with self._lock:
                if self._cancelled:
                    return "cancelled"
                self._jobs[job.job_id] = os.path.splitext(os.path.basename(record_path))[0]
            print(f"  waiting on {step.name}: SLURM job {job.job_id} ({state}), submitted earlier", flush=True)
            return job
        if job.paths.result_pickle.exists():
            outcome = self._outcome(job)
            if not outcome:
                print(f"  collected {step.name}: SLURM job {job.job_id} finished earlier", flush=True)
                return ""
        return None

    def _outcome(self, job) -> str:
        try:
            result = job.result()
        except Exception as e:  # the job body raised: submitit re-raises it here
            lines = [l for l in str(e).splitlines() if l.strip()]
            return (lines[-1] if lines else type(e).__name__)[:300]
        return result if isinstance(result, str) else f"unexpected job result {result!r}"

    def _wait(self, job) -> str:
        ended_since = None
        while True:
            if self._cancelled:
                return "cancelled"
            if job.paths.result_pickle.exists():
                return self._outcome(job)
            state = self._states_now().get(job.job_id, GONE)
            if state in ACTIVE:
                ended_since = None
            elif ended_since is None:
                ended_since = time.time()
            # a little grace: shared filesystems lag, a preempted job passes through PREEMPTED before requeueing
            elif time.time() - ended_since > max(3 * self.poll_s, 30):
                return f"SLURM job ended {state.lower() if state != GONE else 'out of sight of squeue/sacct'} " \
                       f"without a result (timeout, node failure or cancelled: rerun to redo it)"
            time.sleep(1.0)

    def _states_now(self) -> Dict[str, str]:
        """States of every job of this sweep, refreshed at most every poll_s (one squeue for all)."""
        with self._lock:
            if time.time() - self._states_at >= self.poll_s:
                states = self._query(list(self._jobs))
                if states is not None:  # the controller did not answer: keep the last known states
                    self._states = states
                self._states_at = time.time()
            return dict(self._states)

    @staticmethod
    def _query(ids: List[str]) -> Optional[Dict[str, str]]:
        """job id → state via squeue (which keeps finished jobs for a while), then sacct for the rest; a job
        neither knows is left out. None when squeue itself could not answer."""
        states: Dict[str, str] = {}
        if not ids:
            return states
        try:
            r = subprocess.run(["squeue", "-h", "-t", "all", "-o", "%i %T", "-j", ",".join(ids)],
                               capture_output=True, text=True, timeout=60)
        except (OSError, subprocess.TimeoutExpired):
            return None
        if r.returncode != 0 and "invalid job id" not in r.stderr.lower():
            return None
        for line in r.stdout.splitlines():
            parts = line.split()
            if len(parts) >= 2 and parts[0] in ids:
                states[parts[0]] = parts[1]
        missing = [i for i in ids if i not in states]
        if missing and shutil.which("sacct"):
            try:
                out = subprocess.run(["sacct", "-n", "-X", "-P", "-o", "JobID,State", "-j", ",".join(missing)],
                                     capture_output=True, text=True, timeout=60).stdout
            except (OSError, subprocess.TimeoutExpired):
                out = ""
            for line in out.splitlines():
                job_id, _, state = line.partition("|")
                if job_id in missing and state:
                    states[job_id] = state.split()[0].rstrip("+")  # "CANCELLED by 0"
        return states
