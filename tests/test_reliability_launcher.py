"""The sweep's ledger, lock and report against a hostile but fair user: deleted or changed files, garbage ledgers,
two sweeps in one folder, killed processes, malformed or stale results."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from conftest import ROOT
from unlearning.files import file_fingerprint, write_json
from unlearning.pipeline.launcher import Launcher, Step, plan_sweep, resolve_root
from unlearning.report import build_report


def _py(code):
    return ["python", "-c", code]


def _write(path, text):
    return _py(f"import os; os.makedirs(os.path.dirname({path!r}), exist_ok=True); open({path!r}, 'w').write({text!r})")


def _pipeline(log_root, model_text="model v1"):
    """pretrain → model.txt; unlearn reads it → out.txt (its content records how often it ran)."""
    model, out, runs = (os.path.join(log_root, n) for n in ("m/model.txt", "u/out.txt", "runs.txt"))
    copy = _py(f"open({runs!r}, 'a').write('u'); import shutil, os; os.makedirs(os.path.dirname({out!r}), "
               f"exist_ok=True); shutil.copy({model!r}, {out!r})")
    return [Step("pretrain", "pre", [_write(model, model_text)], outputs=[model]),
            Step("unlearn", "unl", [copy], deps=["pre"], inputs=[model], outputs=[out])], model, out, runs


def _sweep(log_root, steps, stages=("pretrain", "unlearn")):
    launcher = Launcher(log_root)
    for s in steps:
        launcher.add(s)
    return {s.name: s for s in launcher.run(list(stages))}


def test_a_deleted_output_is_made_again_and_a_changed_input_redoes_its_dependants(tmp_path):
    log_root = str(tmp_path / "logs")
    steps, model, out, runs = _pipeline(log_root)
    assert {n: s.status for n, s in _sweep(log_root, steps).items()} == {"pre": "done", "unl": "done"}

    os.remove(model)  # the pretrained model is gone: pretraining is redone, not "skipped" forever
    steps, *_ = _pipeline(log_root)
    res = _sweep(log_root, steps)
    assert res["pre"].status == "done" and os.path.isfile(model)
    assert res["unl"].status == "skipped"  # the same bytes came back: nothing downstream changed
    assert open(runs).read() == "u"

    steps, *_ = _pipeline(log_root, model_text="model v2")  # a different model: its dependant runs again
    os.remove(model)
    res = _sweep(log_root, steps)
    assert res["pre"].status == "done" and res["unl"].status == "done"
    assert open(out).read() == "model v2" and open(runs).read() == "uu"

    with open(model, "w") as fh:  # the input changed behind the ledger's back
        fh.write("edited by hand")
    steps, *_ = _pipeline(log_root, model_text="edited by hand")
    res = _sweep(log_root, steps, stages=("unlearn",))
    assert res["unl"].status == "done" and "changed" in res["unl"].redo_reason
    assert open(out).read() == "edited by hand"

    os.remove(out)  # a missing output: the step is redone
    steps, *_ = _pipeline(log_root, model_text="edited by hand")
    assert _sweep(log_root, steps, stages=("unlearn",))["unl"].status == "done"
    assert open(runs).read() == "uuuu"


@pytest.mark.parametrize("content", [b"[]", b"", b"\x00\xff garbage", b"null", b'{"status": "done"'])
def test_a_garbage_ledger_file_means_redo_without_a_traceback(tmp_path, content, capsys):
    log_root = str(tmp_path / "logs")
    marker = str(tmp_path / "count.txt")
    step = lambda: Step("pretrain", "a", [_py(f"open({marker!r}, 'a').write('x')")])  # noqa: E731
    launcher = Launcher(log_root)
    launcher.add(step())
    launcher.run(["pretrain"])
    with open(launcher._ledger(step()), "wb") as fh:
        fh.write(content)
    capsys.readouterr()
    assert _sweep(log_root, [step()], stages=("pretrain",))["a"].status == "done"
    assert open(marker).read() == "xx"
    assert f"warning: skipped {launcher._ledger(step())}" in capsys.readouterr().err  # the file, by name


def test_a_results_file_that_is_empty_or_not_done_makes_the_step_run_again(tmp_path):
    log_root = str(tmp_path / "logs")
    res = os.path.join(log_root, "r", "results.json")
    step = lambda: Step("rea", "r", [_write(res, '{"status": "done"}')], outputs=[res])  # noqa: E731
    assert _sweep(log_root, [step()], ("rea",))["r"].status == "done"
    assert _sweep(log_root, [step()], ("rea",))["r"].status == "skipped"
    for broken in ("", "[]", '{"status": "running"}'):
        open(res, "w").write(broken)
        again = _sweep(log_root, [step()], ("rea",))["r"]
        assert again.status == "done" and "results.json" in again.redo_reason


def test_ledger_keys_do_not_depend_on_the_spelling_of_paths(tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    cmd = lambda root: [["python", "x.py", "--log_root", root, "-weight_path", os.path.join(root, "a", "model.pt"),  # noqa: E731
                         "--data_root", os.path.join(ROOT, "data")]]
    keys = {Launcher(spelled).key(Step("unlearn", "u", cmd(root)))
            for spelled, root in [(str(logs), str(logs)), (str(logs) + "/", str(tmp_path / "x" / ".." / "logs")),
                                  (str(tmp_path / "." / "logs"), str(logs) + "/")]}
    assert len(keys) == 1
    moved = tmp_path / "moved"
    assert Launcher(str(moved)).key(Step("unlearn", "u", cmd(str(moved)))) in keys  # the folder can move
    assert Launcher(str(logs)).key(Step("unlearn", "u", cmd(str(tmp_path / "other")))) not in keys


@pytest.mark.slow
def test_run_py_from_another_directory_uses_the_project_log_folder(tmp_path, monkeypatch):
    """The default log folder is the project's wherever run.py starts (checked on the resolver: a dry run with the
    default would read the project's log_files/); an explicit --log_root is relative to where it was started."""
    monkeypatch.chdir(tmp_path)
    assert resolve_root(None, "log_files") == os.path.realpath(os.path.join(ROOT, "log_files"))
    r = subprocess.run([sys.executable, os.path.join(ROOT, "run.py"), "--dry_run", "--methods", "baseline",
                        "--log_root", "mine"], cwd=str(tmp_path), capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert f"--log_root {os.path.realpath(tmp_path / 'mine')} " in r.stdout  # relative to where it was started


@pytest.mark.slow
def test_the_report_is_rebuilt_on_every_sweep(tmp_path):
    log_root = str(tmp_path / "logs")
    settings = {"dataset": "digits", "net": "resnet8", "log_root": log_root, "data_root": "data", "device": "cpu",
                "seeds": [], "forget_classes": [], "methods": [], "stages": ["report"]}
    for _ in range(2):
        steps = plan_sweep(settings, Launcher(log_root)).run(["report"])
        assert [s.status for s in steps] == ["done"]
    assert os.path.isfile(os.path.join(log_root, "report", "report.md"))


def test_a_dry_run_keeps_the_last_summary(tmp_path):
    log_root = str(tmp_path / "logs")
    _sweep(log_root, [Step("pretrain", "a", [_py("pass")])], ("pretrain",))
    summary = os.path.join(log_root, "launcher", "last_summary.json")
    before = open(summary).read()
    launcher = Launcher(log_root, dry_run=True)
    launcher.add(Step("pretrain", "b", [_py("pass")]))
    launcher.run(["pretrain"])
    assert open(summary).read() == before


def test_a_child_killed_by_a_signal_is_reported_as_such(tmp_path):
    step = Step("unlearn", "oom", [_py("import os, signal; print('working'); os.kill(os.getpid(), signal.SIGKILL)")])
    res = _sweep(str(tmp_path / "logs"), [step], ("unlearn",))["oom"]
    assert res.status == "failed" and res.error.startswith("killed by signal SIGKILL")


# ----------------------------------------------------------------------------- one sweep per folder
def _slow_sweep(log_root, seconds, name="slow"):
    """A run.py stand-in: a sweep whose one step sleeps (started as its own process group)."""
    code = (f"import sys; sys.path.insert(0, {ROOT!r}); from unlearning.pipeline.launcher import Launcher, Step; "
            f"l = Launcher({log_root!r}); l.add(Step('unlearn', {name!r}, [['python', '-c', "
            f"'import time; time.sleep({seconds})']])); l.run(['unlearn'])")
    return subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)


def _wait_for_child(log_root, timeout=120):
    lock = os.path.join(log_root, "launcher", "lock")
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            info = json.loads(open(lock).read() or "{}")
        except (OSError, ValueError):
            info = {}
        if info.get("children"):
            return info
        time.sleep(0.1)
    raise AssertionError("the sweep never started its step")


@pytest.mark.slow
def test_a_second_sweep_in_the_same_folder_refuses_naming_the_first(tmp_path):
    log_root = str(tmp_path / "logs")
    first = _slow_sweep(log_root, 60)
    try:
        info = _wait_for_child(log_root)
        second = _slow_sweep(log_root, 0)
        out, err = second.communicate(timeout=120)
        assert second.returncode != 0
        lines = [line for line in err.splitlines() if line.strip()]
        assert len(lines) == 1 and "Traceback" not in err, err
        assert f"pid {first.pid}" in lines[0] and info["started"] in lines[0]
    finally:
        os.killpg(first.pid, signal.SIGKILL)
        first.communicate()


@pytest.mark.slow
def test_a_step_left_running_by_a_killed_sweep_is_not_started_twice(tmp_path):
    log_root = str(tmp_path / "logs")
    first = _slow_sweep(log_root, 60)
    try:
        info = _wait_for_child(log_root)
        child = info["children"][0]
        first.kill()  # SIGKILL to the launcher alone: its step goes on
        first.communicate()
        os.kill(child, 0)  # still alive
        again = _slow_sweep(log_root, 0)
        out, err = again.communicate(timeout=120)
        assert again.returncode != 0 and "Traceback" not in err, err
        assert f"pid {first.pid}" in err and str(child) in err and "still running" in err
    finally:
        os.killpg(first.pid, signal.SIGKILL)
    deadline = time.time() + 30
    while time.time() < deadline:  # the orphan is gone: the folder is free again
        again = _slow_sweep(log_root, 0)
        again.communicate(timeout=120)
        if again.returncode == 0:
            break
        time.sleep(0.5)
    assert again.returncode == 0


# ----------------------------------------------------------------------------- report
def _run(root, method="baseline", model=b"weights v1", fingerprint=True):
    d = os.path.join(root, "digits", "resnet8", "forget_3", method, "p1-none_p2-none_mask-none_seed-0")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "last.pt"), "wb") as fh:
        fh.write(model)
    res = {"status": "done", "stage": "unlearn", "method": method,
           "args": {"dataset": "digits", "net": "resnet8", "forget_class": 3, "method": method, "seed": 0},
           "metrics": {"TA": 0.9, "UA": 0.0, "RA": 1.0, "MIA": 0.5, "RTE": 1.0}}
    if fingerprint:
        res["model_fingerprint"] = file_fingerprint(os.path.join(d, "last.pt"))
    write_json(os.path.join(d, "results.json"), res)
    return d


def _rea(run_dir, fingerprint, tag="tag"):
    res = {"status": "done", "stage": "rea", "per_lr": {"0.01": {"lr": 0.01, "roc_auc": 0.9, "balanced_accuracy": 0.8,
                                                                  "tpr_at_fpr": 0.5}}}
    if fingerprint is not None:
        res["model_fingerprint"] = fingerprint
    path = os.path.join(run_dir, "rea", tag, "results.json")
    write_json(path, res)
    return path


@pytest.mark.parametrize("content", ["", "null", "[]", '{"status": "done", "per_lr": {"0.0'])
def test_a_malformed_attack_result_is_skipped_with_one_warning_naming_it(tmp_path, content):
    root = str(tmp_path)
    d = _run(root)
    bad = _rea(d, file_fingerprint(os.path.join(d, "last.pt")))
    open(bad, "w").write(content)
    warnings = []
    rep = build_report(root, warn=warnings.append)
    assert [w for w in warnings if w.startswith("warning")] == [w for w in warnings if bad in w]
    assert len([w for w in warnings if bad in w]) == 1
    assert rep["tables"]["rea"] == [] and [r["method"] for r in rep["tables"]["efficacy"]] == ["baseline"]
    assert bad in open(os.path.join(root, "report", "report.md")).read()


@pytest.mark.parametrize("content", ["", "null", "[]", '{"status": "done", "stage": "unl'])
def test_a_malformed_unlearning_result_is_never_dropped_silently(tmp_path, content):
    root = str(tmp_path)
    d = _run(root, "finetune")
    _run(root, "baseline")
    rea = _rea(d, file_fingerprint(os.path.join(d, "last.pt")))
    open(os.path.join(d, "results.json"), "w").write(content)
    warnings = []
    rep = build_report(root, warn=warnings.append)
    assert [r["method"] for r in rep["tables"]["efficacy"]] == ["baseline"]
    assert any(os.path.join(d, "results.json") in w for w in warnings)
    assert any(rea in w for w in warnings)  # its attack result has no run to belong to: said so, not dropped


@pytest.mark.slow
def test_the_reproduce_tables_script_survives_a_null_results_file(tmp_path):
    d = _run(str(tmp_path))
    open(_rea(d, None), "w").write("null")
    r = subprocess.run([sys.executable, "reproduce_tables.py", "--log_root", str(tmp_path), "--quiet"], cwd=ROOT,
                       capture_output=True, text=True)
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    assert "warning: skipped" in r.stderr and "rea/tag/results.json" in r.stderr


def test_results_of_another_model_are_marked_stale_and_not_reported(tmp_path):
    root = str(tmp_path)
    d = _run(root)
    old = _rea(d, file_fingerprint(os.path.join(d, "last.pt")), tag="old")
    _run(root, model=b"new weights")  # the unlearning was rerun: a new model in the same folder
    new = _rea(d, file_fingerprint(os.path.join(d, "last.pt")), tag="new")
    text = open(new).read().replace("0.8", "0.6")
    open(new, "w").write(text)
    warnings = []
    rep = build_report(root, warn=warnings.append)
    assert [r["ReA bal. acc %"] for r in rep["tables"]["rea"]] == ["60.0"]
    assert any(old in w and "stale" in w for w in warnings)
    assert not any(new in w for w in warnings)


def test_results_without_fingerprints_are_reported_with_a_note(tmp_path):
    root = str(tmp_path)
    d = _run(root, fingerprint=False)
    legacy = _rea(d, None)
    warnings = []
    rep = build_report(root, warn=warnings.append)
    assert [r["ReA bal. acc %"] for r in rep["tables"]["rea"]] == ["80.0"]
    assert len(warnings) == 1 and warnings[0].startswith("note: 1 result")
    assert legacy in rep["markdown"]


def test_fingerprint_sees_a_same_size_rewrite_with_the_old_mtime(tmp_path):
    from unlearning.files import file_fingerprint

    path = tmp_path / "model.pt"
    path.write_bytes(b"first")
    st = os.stat(path)
    first = file_fingerprint(str(path))
    path.write_bytes(b"other")  # same size, rewritten in place
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))  # and the old mtime, as within one timestamp tick
    assert file_fingerprint(str(path)) != first
