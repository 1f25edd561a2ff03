"""Start-up once (unlearning/pipeline/zygote.py, ForkExecutor): a step forked from the server behaves as the same
command run as a fresh interpreter — same log, same error line, same exit status, same numbers."""
import json
import os
import signal
import sys
import textwrap
import threading
import time

import pytest

from unlearning.pipeline import zygote
from unlearning.pipeline.launcher import ForkExecutor, Launcher, LocalExecutor, Step

# every test here starts interpreters (a server that imports torch, forked steps): end to end, out of the fast tier
pytestmark = pytest.mark.slow

SCRIPT = textwrap.dedent("""
    import os, sys
    import torch
    torch.manual_seed(int(os.environ.get("SEED", "0")))
    print("argv", sys.argv[1:], "cwd", os.getcwd(), "path0", sys.path[0], "file", __file__, flush=True)
    print("env", os.environ.get("ZZ"), "threads", torch.get_num_threads(), "name", __name__, flush=True)
    print("numbers", torch.randn(3).tolist(), flush=True)
    print("to stderr", file=sys.stderr)
    what = sys.argv[1] if len(sys.argv) > 1 else ""
    if what == "exit":
        sys.exit("error: bad thing")
    if what == "raise":
        raise ValueError("boom")
    if what == "kill":
        os.kill(os.getpid(), 9)
    if what == "code":
        sys.exit(3)
    if what == "sleep":
        import time
        time.sleep(60)
""")


def _wait_for(path: str, text: str, seconds: float = 120) -> None:
    deadline = time.time() + seconds
    while time.time() < deadline:
        if os.path.exists(path) and text in open(path).read():
            return
        time.sleep(0.05)
    raise AssertionError(f"{text!r} not in {path} after {seconds} s")


@pytest.fixture(scope="module")
def fork():
    ex = ForkExecutor()
    yield ex
    ex.close()


@pytest.fixture
def script(tmp_path):
    path = tmp_path / "step.py"
    path.write_text(SCRIPT)
    return str(path)


def _env(**extra):
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_CURRENT_TEST"}  # pytest sets it per test
    return dict(env, ZZ="hello", OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1", **extra)


@pytest.mark.parametrize("what", ["", "exit", "raise", "kill", "code"])
def test_a_forked_step_writes_the_log_and_error_a_fresh_process_writes(fork, script, tmp_path, what):
    cmds = [[sys.executable, script] + ([what] if what else []), [sys.executable, script, "second"]]
    logs = {}
    errors = {}
    for name, ex in (("fresh", LocalExecutor()), ("forked", fork)):
        logs[name] = str(tmp_path / f"{name}.log")
        errors[name] = ex.run(None, cmds, _env(), logs[name])
    assert errors["forked"] == errors["fresh"]
    assert errors["fresh"] == {"": "", "exit": "error: bad thing", "raise": "ValueError: boom",
                               "kill": "killed by signal SIGKILL (out of memory?)", "code": "to stderr"}[what]
    fresh, forked = (open(logs[k]).read() for k in ("fresh", "forked"))
    assert forked == fresh  # argv, cwd, sys.path[0], __file__, environment, threads, seeded numbers, traceback
    assert "env hello threads 1 name __main__" in fresh
    assert (fresh.count("numbers") == 2) == (what == "")  # the first failing command stops the step


def test_the_server_forks_instead_of_starting_an_interpreter(fork, tmp_path):
    script = tmp_path / "parent.py"
    script.write_text("import os; print('parent', os.getppid())\n")
    log = str(tmp_path / "a.log")
    for _ in range(3):
        assert fork.run(None, [[sys.executable, str(script)]], _env(), log) == ""
        server = fork._server
        assert server is not None and server.poll() is None
        assert f"parent {server.pid}" in open(log).read()  # a child of the server, not of this process
    assert len({fork._server.pid}) == 1


def test_other_commands_and_environments_run_as_plain_subprocesses(fork, tmp_path):
    log = str(tmp_path / "c.log")
    assert not zygote.forkable([sys.executable, "-c", "print(1)"])
    assert fork.run(None, [[sys.executable, "-c", "print('plain')"]], _env(), log) == ""
    assert "plain" in open(log).read()
    # another environment than the server's: not forked (module-level reads of the environment could differ)
    ex = ForkExecutor()
    script = tmp_path / "s.py"
    script.write_text("import os; print('pid', os.getppid())\n")
    assert ex.run(None, [[sys.executable, str(script)]], _env(), log) == ""
    server = ex._server
    assert ex.run(None, [[sys.executable, str(script)]], _env(OTHER="1"), log) == ""
    assert ex._server is server and f"pid {os.getpid()}" in open(log).read()  # the launcher's own child
    ex.close()


def test_cancel_terminates_a_forked_step(fork, script, tmp_path):
    log = str(tmp_path / "s.log")
    out = {}
    t = threading.Thread(target=lambda: out.update(err=fork.run(None, [[sys.executable, script, "sleep"]], _env(),
                                                                  log)))
    t.start()
    _wait_for(log, "numbers")
    fork.cancel()
    t.join(30)
    assert out["err"] == "killed by signal SIGTERM"


def test_the_lock_names_forked_children_and_a_sweep_uses_the_server(tmp_path, script):
    seen = []
    launcher = Launcher(str(tmp_path / "logs"), jobs=1)
    assert isinstance(launcher.executor, ForkExecutor)
    assert isinstance(Launcher(str(tmp_path / "l2"), startup="per_step").executor, LocalExecutor)
    assert not isinstance(Launcher(str(tmp_path / "l3"), devices=["0"]).executor, ForkExecutor)
    with pytest.raises(ValueError, match="startup"):
        Launcher(str(tmp_path / "l4"), startup="sometimes")
    launcher.add(Step("unlearn", "one", [["python", script]], outputs=[]))
    original = launcher._child_event
    lock = str(tmp_path / "logs" / "launcher" / "lock")
    named = []  # what the lock file says at each event: the server apart from the step processes

    def event(pid, started, server=False):
        seen.append((pid, started, server))
        original(pid, started, server)
        info = json.load(open(lock))
        named.append((info["server"], list(info["children"])))
    launcher._child_event = event
    steps = launcher.run(["unlearn"])
    assert steps[0].status == "done", steps[0].error
    started = [(pid, server) for pid, s, server in seen if s]
    assert len(started) == 2 and set(started) == {(pid, server) for pid, s, server in seen if not s}  # both ended
    (server_pid, _), (child_pid, _) = sorted(started, key=lambda p: not p[1])
    assert named[:2] == [(server_pid, []), (server_pid, [child_pid])]  # a second sweep waits on either
    assert launcher.executor._server is None  # closed with the sweep


def test_a_killed_server_stops_its_step_and_the_error_says_how_it_ended(script, tmp_path):
    ex = ForkExecutor()
    log = str(tmp_path / "s.log")
    out = {}
    t = threading.Thread(target=lambda: out.update(err=ex.run(None, [[sys.executable, script, "sleep"]], _env(), log)))
    t.start()
    _wait_for(log, "numbers")
    child = next(iter(ex._pending.values())).pid
    os.kill(ex._server.pid, signal.SIGKILL)  # as an out-of-memory kill of the server would
    t.join(30)
    assert out["err"] == ("error: the start-up server (unlearning/pipeline/zygote.py) was killed by signal SIGKILL "
                          "(out of memory?) during this step, which was stopped; run the sweep again to redo it")

    def running(pid):  # gone, or a zombie waiting for its new parent
        try:
            return open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
        except OSError:
            return False
    deadline = time.time() + 30
    while running(child) and time.time() < deadline:
        time.sleep(0.05)
    assert not running(child)  # no step runs on unwatched after its server is gone
    assert ex.run(None, [[sys.executable, script]], _env(), log) == ""  # later commands: plain subprocesses
    ex.close()


def test_end_of_input_lets_running_steps_finish_then_ends_the_server(tmp_path):
    ex = ForkExecutor()
    script = tmp_path / "slow.py"
    script.write_text("import time; print('started', flush=True); time.sleep(1.5); print('finished')\n")
    log = str(tmp_path / "e.log")
    out = {}
    t = threading.Thread(target=lambda: out.update(err=ex.run(None, [[sys.executable, str(script)]], _env(), log)))
    t.start()
    _wait_for(log, "started")
    server = ex._server
    server.stdin.close()  # as when run.py is killed: its end of the pipe closes
    server.wait(30)
    t.join(30)
    assert "finished" in open(log).read()  # the orphaned step still completed
    assert out["err"] == ""
