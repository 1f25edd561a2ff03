"""The sweep behind run.py: builds command lines stage by stage, runs them as subprocesses (in parallel over
CPU jobs or GPUs), skips steps already done with the same arguments, isolates failures, prints a summary.

Each step's success is recorded in a ledger file (``<log_root>/launcher/steps/<stage>-<hash>.json``) written
atomically after the step's own outputs, so a sweep killed at any point restarts where it stopped. The record
holds the content fingerprints of the step's declared inputs: a step counts as done only while its outputs exist
and its inputs are unchanged, otherwise it (and, through their inputs, the steps after it) is run again. The
hash is of the command lines with paths written relative to the log root / project root, so neither the spelling
of a path nor the directory run.py is started from changes it. One sweep at a time per log folder
(``<log_root>/launcher/lock``); see docs/launcher.md.
"""
from __future__ import annotations

import errno
import fcntl
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
from typing import Callable, Dict, List, Optional, Sequence, Union

from ..cli import distribution, unlearn
from ..cli import pretrain as pretraining
from ..cli.extraction import blackbox_results_path
from ..cli.quality import computed_settings as quality_settings
from ..cli.quality import results_path as quality_results_path
from ..cli import rival
from ..cli.parsers import rival_parser
from ..cli.args import finish_args
from ..cli.attack import config_from_args, rea_parser
from ..files import file_fingerprint, read_json, read_json_object, same_json, write_json
from ..methods import get_method
from ..methods.schema import applicable
from ..paths import ROOT, mask_dir, mask_filename, pretrained_path, seed_field
from ..run_identity import run_dir_from_args
from . import zygote

STAGES = ["pretrain", "masks", "unlearn", "rea", "blackbox", "rival", "distribution", "quality", "report"]
# flags whose value is a path: written relative to the log root / project root in a step's key
PATH_FLAGS = {"--log_root", "--data_root", "-weight_path", "--weight_path", "--mask_path", "--model_path",
              "--out_dir", "--victim_path", "--recipe"}
STARTUP = ("once", "per_step")  # once: steps forked from one server that imported torch (ForkExecutor)
CONTENT_FLAGS = {"--recipe"}  # flags whose file's content (not only its path) names the step

Paths = Union[Sequence[str], Callable[[], Sequence[str]]]


@dataclass
class Step:
    stage: str
    name: str
    cmds: List[List[str]]  # run in order; the step is done when all succeed
    deps: List[str] = field(default_factory=list)  # names of steps it needs
    # files the step reads / writes; a callable is asked when the step comes up (its paths may depend on what
    # earlier steps wrote). The ledger records the inputs' fingerprints and checks the outputs exist.
    inputs: Paths = field(default_factory=list)
    outputs: Paths = field(default_factory=list)
    cached: bool = True  # False: run on every sweep (the report)
    status: str = "pending"
    error: str = ""
    log: str = ""
    seconds: float = 0.0
    redo_reason: str = ""
    adopted: bool = False  # recorded as done from outputs already there (Launcher._adopt)
    # values the step's results must record to stand for it, where its folder name does not carry them (the
    # pretraining recipe): asked when outputs made outside the ledger are considered for adoption
    expects: Optional[Callable[[], dict]] = None

    @property
    def key(self) -> str:
        """Key of the command lines as written (the ledger name before paths were made canonical)."""
        return self.canonical_key(None)

    def canonical_key(self, log_root: Optional[str]) -> str:
        # --device is left out: the same step on another GPU is the same step
        cmds = [_without_device(c) for c in self.cmds]
        if log_root is not None:
            cmds = [canonical_cmd(c, log_root) for c in cmds]
        text = json.dumps(cmds)
        return f"{self.stage}-{hashlib.sha1(text.encode()).hexdigest()[:12]}"


def resolve_root(path: Optional[str], default: str) -> str:
    """An absolute path: ``path`` relative to the current directory, or ``default`` relative to the project."""
    if path is None:
        return os.path.realpath(os.path.join(ROOT, default))
    return os.path.realpath(os.path.expanduser(path))


def canonical_path(path: str, log_root: str) -> str:
    """``path`` (relative ones are relative to the project, where steps run) as ``<log_root>/…`` or ``<root>/…``."""
    real = os.path.realpath(os.path.join(ROOT, os.path.expanduser(path)))
    for tag, base in (("<log_root>", os.path.realpath(log_root)), ("<root>", os.path.realpath(ROOT))):
        if real == base:
            return tag
        if real.startswith(base + os.sep):
            return tag + "/" + os.path.relpath(real, base).replace(os.sep, "/")
    return real


def canonical_cmd(cmd: List[str], log_root: str) -> List[str]:
    """Paths written relative to the log root / project root; a recipe file is also named by its content, so a
    step whose recipe changed is a new step."""
    out, flag = [], None
    for tok in cmd:
        if flag in CONTENT_FLAGS and tok.lstrip().startswith("{"):  # an inline recipe is its own content
            out.append(tok)
        elif flag in PATH_FLAGS:
            path = canonical_path(tok, log_root)
            if flag in CONTENT_FLAGS:
                path += "@" + (file_fingerprint(os.path.join(ROOT, os.path.expanduser(tok))) or "missing")
            out.append(path)
        else:
            out.append(tok)
        flag = tok
    return out


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


class FolderBusy(RuntimeError):
    """Another sweep (or steps it left running) holds the log folder."""


class FolderLock:
    """An exclusive ``flock`` on ``<log_root>/launcher/lock``, holding who took it (pid, start time, the step
    processes running as "children", the start-up server as "server").

    The descriptor is passed to every step's subprocess, so the lock stays held while any of them lives: a run.py
    killed with SIGKILL leaves its running step holding it, and a second sweep cannot start that step again.
    """

    def __init__(self, path: str):
        self.path = path
        self.fd: Optional[int] = None
        self.info: dict = {}

    def acquire(self) -> "FolderLock":
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as err:
            holder = _read_lock_info(fd)
            os.close(fd)
            if err.errno not in (errno.EAGAIN, errno.EACCES):
                raise
            raise FolderBusy(_busy_message(os.path.dirname(os.path.dirname(self.path)), holder)) from None
        self.fd = fd
        self.info = {"pid": os.getpid(), "started": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
                     "argv": sys.argv, "children": [], "server": None}
        self._write()
        return self

    def child_started(self, pid: int, server: bool = False) -> None:
        if server:
            self.info["server"] = pid
        else:
            self.info["children"].append(pid)
        self._write()

    def child_ended(self, pid: int, server: bool = False) -> None:
        if server and self.info.get("server") == pid:
            self.info["server"] = None
            self._write()
        elif pid in self.info["children"]:
            self.info["children"].remove(pid)
            self._write()

    def _write(self) -> None:
        data = (json.dumps(self.info) + "\n").encode()
        os.ftruncate(self.fd, 0)
        os.pwrite(self.fd, data, 0)

    def release(self) -> None:
        if self.fd is not None:
            self.info["children"], self.info["server"] = [], None
            self._write()
            os.close(self.fd)  # children that still hold the descriptor keep the lock
            self.fd = None


def _read_lock_info(fd: int) -> dict:
    try:
        info = json.loads(os.pread(fd, 1 << 16, 0).decode() or "{}")
        return info if isinstance(info, dict) else {}
    except (OSError, ValueError):
        return {}


def _pid_alive(pid) -> bool:
    try:
        os.kill(int(pid), 0)
    except (OSError, ValueError, TypeError):
        return False
    return True


def _busy_message(log_root: str, holder: dict) -> str:
    pid, started = holder.get("pid", "?"), holder.get("started", "?")
    if _pid_alive(pid):
        return (f"another run.py (pid {pid}, started {started}) is working in {log_root}: "
                f"wait for it to finish or stop it")
    children = [c for c in [*holder.get("children", []), holder.get("server")] if c and _pid_alive(c)]
    which = f" (pid {', '.join(map(str, children))})" if children else ""
    return (f"steps started by run.py (pid {pid}, started {started}), which is gone, are still running{which} in "
            f"{log_root}: wait for them to finish or stop them")


class Launcher:
    def __init__(self, log_root: str, jobs: int = 1, devices: Optional[List[str]] = None, dry_run: bool = False,
                 python: str = sys.executable, executor=None, startup: str = "once"):
        self.log_root = os.path.realpath(log_root)
        self.ledger_dir = os.path.join(log_root, "launcher", "steps")
        self.logs_dir = os.path.join(log_root, "launcher", "logs")
        self.devices = devices or []
        self.jobs = max(1, len(self.devices) if self.devices else int(jobs))
        self.dry_run = dry_run
        self.python = python
        self.steps: List[Step] = []
        self._free_devices = list(self.devices)
        self._lock = threading.Lock()
        if startup not in STARTUP:
            raise ValueError(f"startup is one of {', '.join(STARTUP)}, got {startup!r}")
        if executor is None:  # GPU steps are long and own a device each: start-up once is for CPU sweeps
            once = startup == "once" and not self.devices and hasattr(os, "fork")
            executor = ForkExecutor() if once else LocalExecutor()
        self.executor = executor  # runs one step's command list (here or as a cluster job)
        self._stopping = False
        self._folder_lock = FolderLock(os.path.join(self.log_root, "launcher", "lock"))

    def add(self, step: Step) -> Step:
        self.steps.append(step)
        return step

    # ------------------------------------------------------------------ bookkeeping
    def key(self, step: Step) -> str:
        return step.canonical_key(self.log_root)

    def _ledger(self, step):
        return os.path.join(self.ledger_dir, self.key(step) + ".json")

    def _record(self, path: str) -> Optional[dict]:
        """A ledger record; None, with a warning naming the file, when it is empty, truncated, binary garbage,
        unreadable or not an object (the step is then treated as unrecorded)."""
        return read_json_object(path, then="the step counts as unrecorded: its outputs are adopted if they are "
                                           "the ones its command makes, else it runs")

    def _paths(self, spec: Paths) -> Optional[List[str]]:
        """The step's declared paths, or None when they cannot be worked out (the step is then run)."""
        try:
            return list(spec() if callable(spec) else spec)
        except (Exception, SystemExit):
            return None

    def _fingerprints(self, paths: List[str]) -> Dict[str, Optional[str]]:
        return {canonical_path(p, self.log_root): file_fingerprint(os.path.join(ROOT, p)) for p in paths}

    def _done_before(self, step) -> bool:
        """True when the ledger says done, the outputs are there and the inputs are the ones recorded."""
        step.redo_reason = ""
        if not step.cached:
            return False
        rec = self._record(self._ledger(step))
        legacy = None
        if rec is None and self.key(step) != step.key:  # a ledger written before keys were canonical
            legacy = self._record(os.path.join(self.ledger_dir, step.key + ".json"))
        rec = rec or legacy
        if rec is None:
            return self._adopt(step)
        if rec.get("status") != "done":
            return False
        outputs, inputs = self._paths(step.outputs), self._paths(step.inputs)
        if outputs is None or inputs is None:
            step.redo_reason = "its inputs/outputs could not be worked out"
            return False
        for path in outputs:
            problem = _output_problem(os.path.join(ROOT, path))
            if problem:
                step.redo_reason = f"{canonical_path(path, self.log_root)} {problem}"
                return False
        now = self._fingerprints(inputs)
        recorded = rec.get("inputs")
        if isinstance(recorded, dict):
            for name, fp in now.items():
                if recorded.get(name) != fp:
                    step.redo_reason = f"input {name} " + ("is missing" if fp is None else "changed")
                    return False
        elif inputs:  # done before inputs were recorded: adopt the current ones
            rec = dict(rec, inputs=now)
            legacy = legacy or rec
        if legacy is not None:
            write_json(self._ledger(step), rec)
        return True

    def _record_done(self, step, inputs: Dict[str, Optional[str]], outputs: List[str], **extra) -> None:
        """The step's ledger record: done, with the inputs' fingerprints as consumed and the outputs' as written."""
        write_json(self._ledger(step), {"status": "done", "stage": step.stage, "name": step.name, "cmds": step.cmds,
                                        "inputs": inputs, "outputs": self._fingerprints(outputs), **extra,
                                        "finished": time.strftime("%Y-%m-%d %H:%M:%S")})

    def _adopt(self, step) -> bool:
        """A step this ledger has no record of whose outputs are already there for the same run identity (made by
        hand with the same command, or by a sweep whose ledger is gone) is recorded as done, not run again; see
        ``adoption_problem`` for what must hold. Outputs that are there but fail a check are named in
        ``step.redo_reason`` and the step runs."""
        outputs, inputs = self._paths(step.outputs), self._paths(step.inputs)
        if not outputs or inputs is None:
            return False
        full = [os.path.join(ROOT, p) for p in outputs]
        if any(_output_problem(p) for p in full):
            return False  # not (all) made yet: the common case, nothing to say
        try:
            expects = step.expects() if step.expects is not None else {}
        except (Exception, SystemExit):
            return False
        problem = adoption_problem(step.cmds, full, [os.path.join(ROOT, p) for p in inputs], expects)
        if problem:
            step.redo_reason = f"outputs are there but not adopted: {problem}"
            return False
        if not self.dry_run:
            self._record_done(step, self._fingerprints(inputs), outputs, adopted=True)
        step.adopted = True
        return True

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
        step.log = os.path.join(self.logs_dir, self.key(step) + ".log")
        start = time.perf_counter()
        inputs = self._paths(step.inputs)
        consumed = self._fingerprints(inputs) if inputs else {}
        try:
            cmds = []
            for cmd in step.cmds:
                cmd = [self.python if c == "python" else c for c in cmd]
                if dev is not None:
                    cmd = _without_device(cmd) + ["--device", "cuda"]
                cmds.append(cmd)
            error = self.executor.run(step, cmds, env, step.log)
            if error:
                step.status, step.error = "failed", error
                return
            outputs = self._paths(step.outputs) or []
            missing = [p for p in outputs if _output_problem(os.path.join(ROOT, p))]
            if missing:
                step.status = "failed"
                step.error = f"finished without writing {canonical_path(missing[0], self.log_root)}"
                return
            step.status = "done"
            step.seconds = time.perf_counter() - start
            self._record_done(step, consumed, outputs, seconds=step.seconds, log=step.log)
        finally:
            step.seconds = time.perf_counter() - start
            self._release(dev)

    def _inherited_fds(self):
        return (self._folder_lock.fd,) if self._folder_lock.fd is not None else ()

    def _child_event(self, pid: int, started: bool, server: bool = False) -> None:
        if self._folder_lock.fd is not None:
            (self._folder_lock.child_started if started else self._folder_lock.child_ended)(pid, server=server)

    def _terminate_children(self, signum, frame):
        self._stopping = True
        self.executor.cancel()
        raise KeyboardInterrupt

    def run(self, stages: List[str]) -> List[Step]:
        """Run the steps of ``stages`` in stage order; within a stage, up to ``jobs`` at once."""
        if not self.dry_run:
            try:
                self._folder_lock.acquire()
            except FolderBusy as err:
                raise SystemExit(f"error: {err}")
            except OSError as err:
                raise SystemExit(f"error: cannot write to {self.log_root}: {err.strerror or err}")
        if hasattr(self.executor, "pass_fds"):  # local children inherit the lock and are named in it
            self.executor.pass_fds = self._inherited_fds()
            self.executor.on_child = self._child_event
        try:
            return self._run_stages(stages)
        finally:
            close = getattr(self.executor, "close", None)
            if close:
                close()
            self._folder_lock.release()

    def _run_stages(self, stages: List[str]) -> List[Step]:
        # Ctrl-C too: the executor's work may live outside this process group (cluster jobs)
        previous = {sig: signal.signal(sig, self._terminate_children) for sig in (signal.SIGTERM, signal.SIGINT)}
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
                        if step.adopted:
                            print(f"  adopted {step.name}: its outputs were already there, made with the same "
                                  f"command and inputs (recorded in the ledger; not run again)", flush=True)
                    elif self.dry_run:
                        step.status = "planned"
                        if step.redo_reason:
                            print(f"  (again: {step.redo_reason})")
                        for cmd in step.cmds:
                            print("  " + " ".join(shlex.quote(c) for c in cmd))
                    else:
                        todo.append(step)
                if not todo:
                    continue
                print(f"[{stage}] {len(todo)} step(s), {self.jobs} at a time", flush=True)
                for step in todo:
                    if step.redo_reason:
                        print(f"  again  {step.name}: {step.redo_reason}", flush=True)
                with ThreadPoolExecutor(self.jobs) as pool:
                    for step, _ in zip(todo, pool.map(self._run_step, todo)):
                        mark = {"done": "ok", "failed": "FAILED"}.get(step.status, step.status)
                        print(f"  {mark:6s} {step.name} ({step.seconds:.1f}s)"
                              + (f" — {step.error}" if step.status == "failed" else ""), flush=True)
        except KeyboardInterrupt:
            print("interrupted: finished steps are kept; run again to resume", file=sys.stderr)
            raise SystemExit(130)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
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
        if not self.dry_run:  # a plan is not a sweep: keep the last real summary
            write_json(os.path.join(self.log_root, "launcher", "last_summary.json"), out)
        return out


def _failure(rc: int, log_path: str) -> str:
    """The error of a failed command: the signal that killed it, else the last error line of its log."""
    if rc < 0:
        try:
            name = signal.Signals(-rc).name
        except ValueError:
            name = f"signal {-rc}"
        hint = " (out of memory?)" if name == "SIGKILL" else ""
        return f"killed by signal {name}{hint}"
    return _last_error_line(log_path) or f"exit code {rc}"


def _recorded_fingerprints(data, depth: int = 0) -> set:
    """Every file fingerprint a results file records (the values of keys ending in "fingerprint", at any depth)."""
    found = set()
    if isinstance(data, dict) and depth < 4:
        for key, value in data.items():
            if str(key).endswith("fingerprint") and isinstance(value, str) and value:
                found.add(value)
            else:
                found |= _recorded_fingerprints(value, depth + 1)
    elif isinstance(data, list) and depth < 4:
        for value in data:
            found |= _recorded_fingerprints(value, depth + 1)
    return found


ADOPT_IGNORED = {"--quiet", "--device", "--download", "--log_root", "--data_root"}  # not part of what is computed


def _is_flag(tok: str) -> bool:
    if not tok.startswith("-") or tok == "-":
        return False
    try:
        float(tok)
        return False  # a negative number is a value
    except ValueError:
        return True


def _command_values(cmd: List[str]) -> Dict[str, List[str]]:
    """{dest: values} of the flags a command line gives (``-weight_path x`` → ``{"weight_path": ["x"]}``)."""
    values: Dict[str, List[str]] = {}
    flag = None
    for tok in cmd[2:]:  # past "python <script>"
        if _is_flag(tok):
            flag = None if tok in ADOPT_IGNORED else tok
            if flag is not None:
                values[flag.lstrip("-").replace("-", "_")] = []
        elif flag is not None:
            values[flag.lstrip("-").replace("-", "_")].append(tok)
    return values


def _same_value(given: List[str], recorded) -> bool:
    """Whether a command's flag values are the value a stage recorded in its ``args`` (numbers as numbers, paths
    by their real location, JSON by its content, a flag with no value as True)."""
    if not given:
        return recorded is True
    items = recorded if isinstance(recorded, (list, tuple)) else [recorded]
    if len(items) != len(given):
        if len(given) == 1 and isinstance(recorded, dict):
            items = [recorded]
        else:
            return False
    for text, value in zip(given, items):
        if isinstance(value, dict):
            try:
                if json.loads(text) != value:
                    return False
            except ValueError:
                return False
        elif isinstance(value, bool) or value is None:
            if text.lower() not in (str(value).lower(), "1" if value else "0"):
                return False
        elif isinstance(value, (int, float)):
            try:
                if float(text) != float(value):
                    return False
            except ValueError:
                return False
        elif str(value) != text:
            real = lambda p: os.path.realpath(os.path.join(ROOT, os.path.expanduser(p)))
            if not (os.sep in text or os.sep in str(value)) or real(text) != real(str(value)):
                return False
    return True


_MISSING = object()


def _lookup(record, dotted: str):
    """``record["args"]["max_points"]`` for ``"args.max_points"``; _MISSING where a part is absent."""
    for part in dotted.split("."):
        if not isinstance(record, dict) or part not in record:
            return _MISSING
        record = record[part]
    return record


def adoption_problem(cmds: List[List[str]], outputs: List[str], inputs: List[str],
                     expects: Optional[dict] = None) -> str:
    """'' when finished ``outputs`` (absolute paths) may stand for a step with command lines ``cmds`` and
    ``inputs`` it never recorded running, else what fails:
      every checkpoint (.pt) is the file a results file of the step, or one in its folder, records by
      fingerprint (a checkpoint replaced by hand is not taken for the one its results describe);
      every input is a file one of the outputs records having consumed, by fingerprint (a pretrained model
      retrained since, a mask remade, is another input: the step runs again);
      every flag the commands give is the value the outputs' recorded ``args`` hold, where they record it;
      every ``expects`` key (a value the command resolves to that no folder name carries: the pretraining recipe,
      the distribution metrics' t-SNE settings; ``a.b`` names a nested key) is recorded by an output with that
      value."""
    records = {}
    for path in outputs + [os.path.join(os.path.dirname(p), "results.json") for p in outputs if p.endswith(".pt")]:
        if path.endswith(".json") and path not in records:
            try:
                records[path] = read_json(path)
            except (OSError, ValueError):
                records[path] = None
    records = {p: r for p, r in records.items() if isinstance(r, dict)}
    known = set().union(*(_recorded_fingerprints(r) for r in records.values())) if records else set()
    for path in outputs:
        if path.endswith(".pt") and file_fingerprint(path) not in known:
            return f"{os.path.relpath(path, ROOT)} is not the file its results record"
    for path in inputs:
        fp = file_fingerprint(path)
        if fp is None:
            return f"input {os.path.relpath(path, ROOT)} is missing"
        if fp not in known:
            return f"input {os.path.relpath(path, ROOT)} is not the one the outputs were made from"
    for key, value in (expects or {}).items():
        found = [v for v in (_lookup(r, key) for r in records.values()) if v is not _MISSING]
        if not found:
            return f"no results file of the step records its {key}"
        if not all(same_json(v, value) for v in found):
            return f"the outputs record another {key} ({found[0]!r}) than the command runs ({value!r})"
    for path in outputs:
        args = (records.get(path) or {}).get("args")
        if not isinstance(args, dict):
            continue
        for cmd in cmds:
            for dest, given in _command_values(cmd).items():
                if dest in args and not _same_value(given, args[dest]):
                    return (f"{os.path.relpath(path, ROOT)} records {dest} = {args[dest]!r}, the command gives "
                            f"{' '.join(given) or 'the flag'}")
    return ""


def _output_problem(path: str) -> str:
    """Why a declared output does not count as written ('' when it does): missing, or an unreadable / unfinished
    results file."""
    if not os.path.exists(path):
        return "is missing"
    if path.endswith(".json"):
        try:
            data = read_json(path)
        except (ValueError, OSError):
            return "is empty or truncated"
        if not isinstance(data, dict):
            return "is not a JSON object"
        if data.get("status", "done") != "done":
            return f"has status {data.get('status')!r}"
    return ""


class LocalExecutor:
    """Runs a step's commands in order as subprocesses of this process, all output into one log file."""

    def __init__(self):
        self._lock = threading.Lock()
        self._children = set()
        self.pass_fds = ()  # the folder lock's descriptor: the folder stays locked while a child lives
        self.on_child = None  # on_child(pid, started, server): the lock file names the live children

    def run(self, step: Optional[Step], cmds: List[List[str]], env: dict, log_path: str) -> str:
        """'' when every command succeeded, else the error line (the first failing command stops the step)."""
        with open(log_path, "w") as log:
            for cmd in cmds:
                log.write("$ " + " ".join(shlex.quote(c) for c in cmd) + "\n")
                log.flush()
                rc = self._run_command(cmd, env, log, log_path)
                if isinstance(rc, str):
                    return rc
                if rc != 0:
                    return _failure(rc, log_path)
        return ""

    def _notify(self, pid: int, started: bool, server: bool = False) -> None:
        if self.on_child:
            self.on_child(pid, started, server)

    def _run_command(self, cmd: List[str], env: dict, log, log_path: str) -> Union[int, str]:
        """The command's exit status (negative: killed by that signal), or an error line."""
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env=env,
                                pass_fds=tuple(self.pass_fds))
        with self._lock:
            self._children.add(proc)
            self._notify(proc.pid, True)
        rc = proc.wait()
        with self._lock:
            self._children.discard(proc)
            self._notify(proc.pid, False)
        return rc

    def cancel(self) -> None:
        with self._lock:
            for proc in list(self._children):
                proc.terminate()

    def close(self) -> None:
        """Nothing outlives a local executor's steps."""


class _Forked:
    """One command handed to the start-up server: its pid once started, its exit status once ended."""

    def __init__(self):
        self.done = threading.Event()
        self.pid: Optional[int] = None
        self.rc: Union[int, str, None] = None


class ForkExecutor(LocalExecutor):
    """The local executor with start-up paid once: ``python <script>.py`` commands become children forked from
    one server process that has imported torch and the package (unlearning/pipeline/zygote.py). Any other command,
    a command for another interpreter or environment, or every command after the server failed, runs as a plain
    subprocess, exactly as ``LocalExecutor`` runs it."""

    def __init__(self):
        super().__init__()
        self._server: Optional[subprocess.Popen] = None
        self._server_key = None  # (interpreter, environment without the per-step keys) the server was started with
        self._broken = False
        self._pending: Dict[int, _Forked] = {}
        self._next_id = 0
        self._send_lock = threading.Lock()
        self._reader: Optional[threading.Thread] = None  # reads the server's messages; records its end last

    @staticmethod
    def _env_key(env: dict):
        return tuple(sorted((k, v) for k, v in env.items() if k not in zygote.PER_STEP_ENV))

    def _ensure_server(self, python: str, env: dict) -> bool:
        """Under self._lock: a live server for this interpreter and environment (started on first use)."""
        key = (python, self._env_key(env))
        if self._server is None and not self._broken:
            self._server = subprocess.Popen([python, "-m", "unlearning.pipeline.zygote"], cwd=ROOT, env=env,
                                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                            pass_fds=tuple(self.pass_fds))
            self._server_key = key
            self._notify(self._server.pid, True, server=True)
            self._reader = threading.Thread(target=self._read_server, args=(self._server,), daemon=True)
            self._reader.start()
        return self._server is not None and not self._broken and self._server_key == key

    def _read_server(self, server: subprocess.Popen) -> None:
        for raw in server.stdout:
            try:
                msg = json.loads(raw)
                job = self._pending[msg["id"]]
            except (ValueError, KeyError, TypeError):
                continue
            if "pid" in msg:
                job.pid = int(msg["pid"])
                self._notify(job.pid, True)
            elif "rc" in msg:
                job.rc = int(msg["rc"])
                job.done.set()
            elif "refused" in msg:
                job.rc = "refused"
                job.done.set()
        rc = server.wait()
        how = f"was {_failure(rc, '')}" if rc < 0 else f"ended with exit code {rc}"
        with self._lock:  # the server is gone: later commands run as plain subprocesses
            if self._server is server:
                self._broken = True
            orphans = []
            for job in self._pending.values():
                if not job.done.is_set():
                    # its child lost the parent that reports its exit status: stopped, so no step runs unwatched
                    if job.pid is not None:
                        orphans.append(job.pid)
                    job.rc = (f"error: the start-up server (unlearning/pipeline/zygote.py) {how} during this "
                              "step, which was stopped; run the sweep again to redo it")
                    job.done.set()
        for pid in orphans:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self._notify(server.pid, False, server=True)

    def _run_command(self, cmd: List[str], env: dict, log, log_path: str) -> Union[int, str]:
        if not zygote.forkable(cmd):
            return super()._run_command(cmd, env, log, log_path)
        with self._lock:
            served = self._ensure_server(cmd[0], env)
            if served:
                self._next_id += 1
                job_id, job = self._next_id, _Forked()
                self._pending[job_id] = job
        if not served:
            return super()._run_command(cmd, env, log, log_path)
        log.flush()
        request = {"id": job_id, "argv": list(cmd), "cwd": ROOT, "env": dict(env), "log": log_path}
        try:
            with self._send_lock:
                self._server.stdin.write((json.dumps(request) + "\n").encode())
                self._server.stdin.flush()
        except OSError:
            with self._lock:
                self._broken = True
                self._pending.pop(job_id, None)
            return super()._run_command(cmd, env, log, log_path)
        job.done.wait()
        with self._lock:
            self._pending.pop(job_id, None)
        if job.pid is not None:
            self._notify(job.pid, False)
        if job.rc == "refused":
            return super()._run_command(cmd, env, log, log_path)
        log.seek(0, os.SEEK_END)  # the child appended to the same file
        return job.rc

    def cancel(self) -> None:
        super().cancel()
        with self._lock:
            pids = [job.pid for job in self._pending.values() if job.pid is not None and not job.done.is_set()]
        for pid in pids:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass

    def close(self) -> None:
        """End the server (it terminates children still running when its input closes)."""
        with self._lock:
            server, self._server, self._broken = self._server, None, False
            reader, self._reader = self._reader, None
        if server is not None:
            try:
                server.stdin.close()
            except OSError:
                pass
            server.wait()
        if reader is not None:  # its last act records the server's end (in the folder lock): wait for it
            reader.join()


def _last_error_line(log_path: str) -> str:
    try:
        lines = [l.strip() for l in open(log_path, errors="replace").read().splitlines() if l.strip()]
    except OSError:
        return ""
    for line in reversed(lines):
        if line.startswith("error:") or "Error" in line.split(":")[0]:
            return line[:300]
    return lines[-1][:300] if lines else ""


# ----------------------------------------------------------------------------- where steps write
# Each asks the script's own argument handling, so the launcher never re-derives a folder name.
def unlearn_run_dir(dataset: str, argv: List[str], subclass: bool = False) -> str:
    """The run folder the unlearning script writes for the command-line arguments ``argv``."""

    args = finish_args(unlearn.parser(dataset, subclass).parse_known_args(argv)[0])
    unlearn.resolve(args, subclass)
    return run_dir_from_args(args)


def rea_results_path(dataset: str, argv: List[str], subclass: bool = False) -> str:
    """results.json of the white-box attack run with ``argv`` on the run's last.pt."""

    args = finish_args(rea_parser(dataset, subclass).parse_known_args(argv)[0])
    return os.path.join(unlearn_run_dir(dataset, argv, subclass), "rea",
                        config_from_args(args, args.dataset, subclass).tag(), "results.json")


def rival_results_paths(dataset: str, argv: List[str], subclass: bool = False) -> List[str]:
    """results.json of every rival attack run with ``argv``."""
    return rival.results_paths(finish_args(rival_parser(dataset, subclass).parse_known_args(argv)[0]), subclass)


def distribution_results_path(argv: List[str]) -> str:
    args = finish_args(distribution.parser().parse_known_args(argv)[0])
    return os.path.join(distribution.resolve_paths(args)[1], "results.json")


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
    """--settings of one method in a smoke sweep: those of the common tiny settings the method reads, and its own
    extras."""
    base = get_method(method).base or str(method)
    return dict(applicable(method, smoke.get("unlearn", {})), **smoke.get("methods", {}).get(base, {}))


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
    common = ["-dataset", ds, "-net", net, "--device", s["device"], "--log_root", log_root, "--data_root", s["data_root"],
              *s.get("speed", [])]
    if s.get("n_classes"):
        common += ["-classes", str(s["n_classes"])]
    if s.get("download"):
        common += ["--download"]
    pre_flags = (["--subclass"] if sub else []) + _flags(smoke.get("pretrain", {}))
    unlearn_script = f"forget_subclass_main_{ds}.py" if sub else f"forget_full_class_main_{ds}.py"
    rea_script = f"mia_on_mu_main_{ds}_{'subclass' if sub else 'fullclass'}.py"
    forget_flag = "--forget_fine" if sub else "--forget_class"
    for seed in s["seeds"]:
        pre_weight = s.get("pretrain_path") or pretrained_path(log_root, ds, net, seed, subclass=sub)
        sparse_weight = pretrained_path(log_root, ds, net, seed, s.get("sparse_l1") or 0.0, subclass=sub)
        pre = f"pretrain {seed_field(seed)}"
        if not s.get("pretrain_path"):
            pre_argv = [*common, "-seed", str(seed), "--quiet", *pre_flags]
            launcher.add(Step("pretrain", pre, [["python", f"pretrain_model_{ds}.py", *pre_argv]], outputs=[pre_weight],
                              expects=lambda a=pre_argv: {"recipe": pretraining.recipe_of_argv(ds, a)}))
        sparse = None
        if s.get("sparse_l1") and any(str(m[0]).startswith("Wfisher") for m in s["methods"]):
            sparse = f"pretrain sparse {seed_field(seed)}"
            sparse_argv = [*common, "-seed", str(seed), "--l1", str(s["sparse_l1"]), "--quiet", *pre_flags]
            launcher.add(Step("pretrain", sparse, [["python", f"pretrain_model_{ds}.py", *sparse_argv]],
                              outputs=[sparse_weight],
                              expects=lambda a=sparse_argv: {"recipe": pretraining.recipe_of_argv(ds, a)}))
        for fc in s["forget_classes"]:
            ident_base = [*common, "-seed", str(seed), forget_flag, str(fc)]
            mask_step = None
            if any(len(m) > 3 and m[3] is not None for m in s["methods"]):  # SalUn masks for masked entries
                mask_step = f"masks {seed_field(seed)} forget{fc}"
                masks = mask_dir(log_root, ds, net, fc, seed)
                launcher.add(Step("masks", mask_step, [["python", "saliency_mu/generate_mask.py", *ident_base,
                                                        "-weight_path", pre_weight]], deps=[pre],
                                  inputs=[pre_weight], outputs=[os.path.join(masks, "masks.json")] + [
                                      os.path.join(masks, mask_filename(m[3])) for m in s["methods"]
                                      if len(m) > 3 and m[3] is not None]))
            for entry in s["methods"]:
                wfisher = bool(sparse) and str(entry[0]).startswith("Wfisher")  # Wfisher runs on the sparse model
                ident = ident_base + _flag_args(entry) + ["-weight_path", sparse_weight if wfisher else pre_weight]
                if s.get("recipe"):
                    ident += ["--recipe", s["recipe"]]
                if smoke:
                    ident += ["--settings", json.dumps(_smoke_unlearn_settings(smoke, entry[0]), sort_keys=True)]
                tag = f"{entry[0]}({entry[1]},{entry[2]}{', mask ' + str(entry[3]) if len(entry) > 3 else ''})" \
                      f" {seed_field(seed)} forget{'fine' if sub else ''}{fc}"
                unl = f"unlearn {tag}"
                deps = [sparse if wfisher else pre]
                inputs = [sparse_weight if wfisher else pre_weight]
                if len(entry) > 3 and entry[3] is not None:
                    mask_file = os.path.join(mask_dir(log_root, ds, net, fc, seed), mask_filename(entry[3]))
                    ident += ["--mask_path", mask_file]
                    deps.append(mask_step)
                    inputs.append(mask_file)
                run_dir = (lambda ident=ident: unlearn_run_dir(ds, ident, sub))  # asked when the step comes up
                model = (lambda run_dir=run_dir: [os.path.join(run_dir(), "last.pt")])
                launcher.add(Step("unlearn", unl, [["python", unlearn_script, *ident]], deps=deps,
                                  inputs=inputs, outputs=lambda run_dir=run_dir: [
                                      os.path.join(run_dir(), "results.json"), os.path.join(run_dir(), "last.pt")]))
                attack = ["--relearning_lr", *[str(lr) for lr in s["relearning_lrs"]]] if s.get("relearning_lrs") else []
                if s.get("repeats"):
                    attack += ["--repeats", str(s["repeats"])]
                if s.get("early_stop"):
                    attack += ["--early_stop"]
                rea_smoke = dict(smoke.get("rea", {}))
                if s.get("repeats"):
                    rea_smoke.pop("repeats", None)
                attack += _flags(rea_smoke)
                rea_cmd = [*ident, *attack]
                launcher.add(Step("rea", f"rea {tag}", [["python", rea_script, *rea_cmd]], deps=[unl], inputs=model,
                                  outputs=lambda rea_cmd=rea_cmd: [rea_results_path(ds, rea_cmd, sub)]))
                # black box: the listed methods, or every method when the stage is asked for and none is listed
                if "blackbox" in s["stages"] and not sub and entry[0] in (s.get("blackbox_methods") or [entry[0]]):
                    # both commands name the same copy (the DFME flags are part of its folder name)
                    dfme_flags = _flags(smoke.get("blackbox", {}))
                    bb_cmd = [*ident, *dfme_flags, *attack]
                    launcher.add(Step("blackbox", f"blackbox {tag}", [
                        ["python", "dfme_attack.py", *ident, *dfme_flags],
                        ["python", f"mia_on_mu_main_{ds}_fullclass_blackbox.py", *bb_cmd]], deps=[unl],
                        inputs=model, outputs=lambda bb_cmd=bb_cmd: [blackbox_results_path(ds, bb_cmd)]))
                if "rival" in s["stages"]:  # PRA and retain-only relearning (sub-class runs: the latter); asked for
                    riv = [*ident, *_flags(smoke.get("rival", {}))]
                    riv_script = f"rival_attack_main_{ds}{'_subclass' if sub else ''}.py"
                    launcher.add(Step("rival", f"rival {tag}", [["python", riv_script, *riv]],
                                      deps=[unl], inputs=model,
                                      outputs=lambda riv=riv: rival_results_paths(ds, riv, sub)))
                dist = ["python", "distribution_metric.py", *ident, *_flags(smoke.get("distribution", {}))]
                dist += ["--subclass"] if sub else []
                launcher.add(Step("distribution", f"distribution {tag}", [dist], deps=[unl], inputs=model,
                                  outputs=lambda d=dist: [distribution_results_path(d[2:])],
                                  expects=lambda d=dist: distribution.computed_settings(d[2:])))
    audited = [m[0] for m in s["methods"] if m[0] not in ("baseline", "retrain")]
    quality_attack = (["--relearning_lr", str(s["relearning_lrs"][0])] if s.get("relearning_lrs") else []) + \
        (["--repeats", str(s["repeats"])] if s.get("repeats") else [])  # the stage attacks at one lr
    for fc in (s["forget_classes"] if audited and "quality" in s["stages"] and not sub else []):
        # K seeds of its own: needs no step above
        q_cmd = [*common, "--forget_class", str(fc), "--methods", *audited, *quality_attack,
                 *_flags(smoke.get("quality", {})), *(["--recipe", s["recipe"]] if s.get("recipe") else [])]
        if smoke:  # its K pretrained, K retrained and K unlearned models trained as the sweep's are
            q_cmd += ["--pretrain_recipe", json.dumps(smoke.get("pretrain", {}), sort_keys=True),
                      "--method_settings", json.dumps({m: _smoke_unlearn_settings(smoke, m)
                                                       for m in ["retrain", *audited]}, sort_keys=True)]
        launcher.add(Step("quality", f"quality forget{fc}", [["python", f"forget_quality_main_{ds}.py", *q_cmd]],
                          outputs=lambda q_cmd=q_cmd: [quality_results_path(ds, q_cmd)],
                          expects=lambda q_cmd=q_cmd: quality_settings(ds, q_cmd)))
    launcher.add(Step("report", "report", [["python", "reproduce_tables.py", "--log_root", log_root]],
                      outputs=[os.path.join(log_root, "report", "report.md")], cached=False))
    return launcher
