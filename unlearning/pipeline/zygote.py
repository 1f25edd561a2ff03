"""Start-up paid once per sweep: a server process imports torch and the package, then forks one child per step.

A step's command ``python <script>.py <args>`` normally costs a new interpreter that imports torch, numpy,
scikit-learn, matplotlib and the package (2–4 s on a laptop core) before it does its own work, often less than
that on the digits preset. The server (``python -m unlearning.pipeline.zygote``, started by ``ForkExecutor``)
imports all of that once; for each command it forks a child that sets the command's working directory,
environment, ``sys.argv`` and ``sys.path[0]`` exactly as ``python <script>.py`` would, points its stdout and stderr
at the step's log file and runs the script as ``__main__``. Each step is still its own process: a crash, a
``SystemExit`` or a SIGKILL ends that step only, with the exit status a fresh process would have had, and the
launcher records success in its ledger only after the step's outputs exist, as before.

The server forks only while CUDA is not initialised in it (it never touches a device) and only for commands whose
environment equals its own apart from the per-step keys in ``PER_STEP_ENV``; anything else runs as a plain
subprocess. Protocol: JSON lines on the server's stdin (``{"id", "argv", "cwd", "env", "log"}``), JSON lines
back (``{"id", "pid"}`` when the child started, ``{"id", "rc"}`` when it ended; rc < 0: killed by that signal).
End of input (the launcher closed it, or was killed) ends the server once the children still running have
finished: as with plain subprocesses, a step whose launcher was SIGKILLed still writes its result, and the folder
lock (whose descriptor the server and its children hold) stays taken until it has.
"""
from __future__ import annotations

import io
import json
import os
import runpy
import select
import signal
import sys
import traceback

import torch

# imported once by the server; children inherit them already initialised
PRELOAD = ("numpy", "scipy.stats", "sklearn.datasets", "sklearn.manifold", "sklearn.metrics", "matplotlib",
           "torch", "torchvision", "unlearning.cli.unlearn", "unlearning.cli.attack", "unlearning.cli.pretrain",
           "unlearning.cli.quality", "unlearning.cli.rival", "unlearning.cli.distribution",
           "unlearning.cli.extraction", "unlearning.cli.masks", "unlearning.report", "unlearning.plots")
PER_STEP_ENV = ("OMP_NUM_THREADS",)  # set in the child before any parallel region runs


def preload() -> None:
    os.environ.setdefault("MPLBACKEND", "Agg")
    for name in PRELOAD:
        __import__(name)


def _child(req: dict, proto_fd: int) -> int:
    """In the forked child: become ``python <script> <args>`` and run it; returns the exit status."""
    os.close(proto_fd)
    # the child stays in the launcher's process group: a group kill reaches every step
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGCHLD):
        signal.signal(sig, signal.SIG_DFL)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    log = os.open(req["log"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(log)
    sys.stdin = open(0, "r", closefd=False)
    sys.stdout = io.TextIOWrapper(io.FileIO(1, "w", closefd=False), write_through=True, line_buffering=True,
                                  errors="backslashreplace")
    sys.stderr = io.TextIOWrapper(io.FileIO(2, "w", closefd=False), write_through=True, line_buffering=True,
                                  errors="backslashreplace")
    code, script = 1, ""
    try:
        os.chdir(req["cwd"])
        os.environ.clear()
        os.environ.update(req["env"])
        threads = req["env"].get("OMP_NUM_THREADS")
        if threads and threads.isdigit() and int(threads) > 0:
            torch.set_num_threads(int(threads))
        script = os.path.abspath(req["argv"][1])
        sys.argv = list(req["argv"][1:])
        sys.path[0] = os.path.dirname(script)
        runpy.run_path(script, run_name="__main__")
        code = 0
    except SystemExit as exit_:
        if exit_.code is None:
            code = 0
        elif isinstance(exit_.code, int):
            code = exit_.code
        else:
            print(exit_.code, file=sys.stderr)
            code = 1
    except BaseException as err:  # noqa: B902 — a fresh interpreter prints the traceback and exits 1
        tb = err.__traceback__
        while tb is not None and tb.tb_frame.f_code.co_filename != script:  # from the script's frame on
            tb = tb.tb_next
        traceback.print_exception(type(err), err, tb or err.__traceback__)
        code = 1
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
    return code & 0xFF


def forkable(argv) -> bool:
    """Commands the server can run: ``<python> <script>.py ...`` (no ``-m``, ``-c`` or interpreter options)."""
    return len(argv) >= 2 and argv[1].endswith(".py") and not argv[1].startswith("-")


def serve(in_fd: int = 0, out_fd: int = 1) -> None:
    proto = os.dup(out_fd)
    os.dup2(2, out_fd)  # stray prints of the server go to its stderr, not into the protocol
    preload()
    children = {}  # pid -> request id
    buf = b""
    closed = False

    def send(msg: dict) -> None:
        os.write(proto, (json.dumps(msg) + "\n").encode())

    def reap() -> None:
        while children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            req_id = children.pop(pid, None)
            if req_id is not None:
                send({"id": req_id, "rc": os.waitstatus_to_exitcode(status)})

    while not closed or children:
        ready = select.select([in_fd] if not closed else [], [], [], 0.02)[0]
        if ready:
            chunk = os.read(in_fd, 1 << 16)
            if not chunk:  # the launcher closed or is gone: the steps running finish and write their results
                closed = True
            buf += chunk
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                req = json.loads(line)
                if torch.cuda.is_initialized():  # a forked child could not use the device
                    send({"id": req["id"], "refused": "CUDA is initialised in the server"})
                    continue
                pid = os.fork()
                if pid == 0:
                    os._exit(_child(req, proto))
                children[pid] = req["id"]
                send({"id": req["id"], "pid": pid})
        reap()


if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the launcher decides; its Ctrl-C terminates the children
    serve()
