"""A throw-away single-node SLURM on localhost (munged + slurmctld + slurmd in the foreground), for tests and
benchmarks. Installs nothing: it needs ``munged``, ``slurmctld`` and ``slurmd`` on PATH and root.

    cluster = LocalSlurm(tmpdir); cluster.start()   # raises Unavailable with the reason if it cannot
    ... SLURM_CONF=cluster.conf ...
    cluster.stop()

Own munge socket and free ports, so it does not clash with a munged or SLURM already on the machine.
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time

PATH_EXTRA = ["/usr/sbin", "/sbin"]


class Unavailable(RuntimeError):
    pass


def _which(name):
    return shutil.which(name, path=os.pathsep.join([os.environ.get("PATH", "")] + PATH_EXTRA))


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _munge_key():
    for path in ("/etc/munge/munge.key",):
        if os.path.isfile(path):
            return path
    return None


class LocalSlurm:
    def __init__(self, folder: str, partition: str = "debug"):
        self.dir = os.path.abspath(folder)
        self.partition = partition
        self.conf = os.path.join(self.dir, "slurm.conf")
        self.env = {}
        self._procs = []

    def start(self, timeout: float = 60.0) -> "LocalSlurm":
        tools = {n: _which(n) for n in ("munged", "slurmctld", "slurmd", "sbatch", "squeue", "scancel", "sinfo")}
        missing = [n for n, p in tools.items() if not p]
        if missing:
            raise Unavailable(f"not installed: {' '.join(missing)} (apt-get install slurm-wlm munge)")
        if os.geteuid() != 0:
            raise Unavailable("slurmd must run as root")
        key = _munge_key()
        if not key:
            raise Unavailable("no munge key at /etc/munge/munge.key")
        os.makedirs(self.dir, exist_ok=True)
        for sub in ("state", "spool", "munge"):
            os.makedirs(os.path.join(self.dir, sub), exist_ok=True)
        os.chmod(os.path.join(self.dir, "munge"), 0o700)
        sock = os.path.join(self.dir, "munge", "munge.socket")
        host = socket.gethostname().split(".")[0]
        cpus = os.cpu_count() or 1
        ctl_port, d_port = _free_port(), _free_port()
        d = self.dir
        with open(self.conf, "w") as f:
            f.write(f"""ClusterName=testcluster
SlurmctldHost={host}(127.0.0.1)
SlurmctldPort={ctl_port}
SlurmdPort={d_port}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={sock}
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc={d}/jobcomp.txt
StateSaveLocation={d}/state
SlurmdSpoolDir={d}/spool
SlurmctldPidFile={d}/slurmctld.pid
SlurmdPidFile={d}/slurmd.pid
SlurmctldLogFile={d}/slurmctld.log
SlurmdLogFile={d}/slurmd.log
ReturnToService=2
MinJobAge=3600
SchedulerType=sched/backfill
NodeName={host} NodeAddr=127.0.0.1 CPUs={cpus} State=UNKNOWN
PartitionName={self.partition} Nodes={host} Default=YES MaxTime=INFINITE State=UP OverSubscribe=NO
""")
        self.env = {"SLURM_CONF": self.conf}
        env = dict(os.environ, **self.env)
        try:
            self._spawn([tools["munged"], "-F", "--force", f"--socket={sock}", f"--key-file={key}",
                         f"--pid-file={d}/munge/munged.pid", f"--log-file={d}/munge/munged.log",
                         f"--seed-file={d}/munge/munged.seed"], env)
            self._wait(lambda: os.path.exists(sock), 10, "munged did not start")
            self._spawn([tools["slurmctld"], "-D", "-i", "-f", self.conf], env)
            self._spawn([tools["slurmd"], "-D", "-f", self.conf], env)
            self._wait(lambda: self._node_idle(tools["sinfo"], env), timeout, "the node did not come up")
        except Unavailable:
            self.stop()
            raise
        return self

    def _spawn(self, cmd, env):
        log = open(os.path.join(self.dir, os.path.basename(cmd[0]) + ".out"), "w")
        self._procs.append(subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT,
                                            start_new_session=True))

    def _node_idle(self, sinfo, env):
        for p in self._procs:
            if p.poll() is not None:
                raise Unavailable(f"{p.args[0]} exited with {p.returncode}: {self._tail(p.args[0])}")
        r = subprocess.run([sinfo, "-h", "-o", "%T"], env=env, capture_output=True, text=True)
        return r.returncode == 0 and r.stdout.strip() == "idle"

    def _tail(self, prog):
        name = os.path.basename(prog)
        for path in (os.path.join(self.dir, name + ".log"), os.path.join(self.dir, name + ".out")):
            if os.path.isfile(path):
                lines = [l for l in open(path, errors="replace").read().splitlines() if l.strip()]
                if lines:
                    return lines[-1]
        return ""

    def _wait(self, ready, timeout, what):
        end = time.time() + timeout
        while time.time() < end:
            if ready():
                return
            time.sleep(0.3)
        raise Unavailable(f"{what} within {timeout:.0f}s (logs in {self.dir})")

    def stop(self):
        for p in reversed(self._procs):
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        self._procs = []


if __name__ == "__main__":  # manual use: python tests/slurm_cluster.py DIR  (Ctrl-C stops it)
    import signal
    import sys

    signal.signal(signal.SIGTERM, signal.default_int_handler)
    c = LocalSlurm(sys.argv[1]).start()
    print(f"export SLURM_CONF={c.conf}", flush=True)
    try:
        while True:
            time.sleep(1)
    except KeyboardInterrupt:
        c.stop()
