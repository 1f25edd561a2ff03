"""The per-stage scripts under hostile but fair use: a finished run is never lost or mixed with another model's
results, and every bad input ends in one clear ``error:`` line before any computation."""
from __future__ import annotations

import os
import shutil
import signal
import stat
import subprocess
import sys
import time

import pytest
import torch

from unlearning.experiment import load_checkpoint, save_checkpoint
from unlearning.files import read_json, write_json
from unlearning.files import file_fingerprint
from unlearning.cli.unlearn import main

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RUN_FILES = ("last.pt", "log.tsv", "results.json")


def _argv(tmp_path, weights, method="baseline", *extra):
    return ["-method", method, "--log_root", str(tmp_path), "-weight_path", weights, "--device", "cpu", *extra]


def _snapshot(folder):
    """Bytes of every file under ``folder`` (relative path → bytes)."""
    out = {}
    for dirpath, _, files in os.walk(folder):
        for name in files:
            path = os.path.join(dirpath, name)
            with open(path, "rb") as fh:
                out[os.path.relpath(path, folder)] = fh.read()
    return out


@pytest.fixture()
def finished(tmp_path, digits_pretrained):
    """A finished finetune run (one epoch) with an attack result under it: (argv, run folder, snapshot)."""
    argv = _argv(tmp_path, digits_pretrained, "finetune", "--para2", "1")
    res = main("digits", argv=argv)
    folder = os.path.dirname(res["checkpoints"]["last"])
    write_json(os.path.join(folder, "rea", "tag", "results.json"), {"status": "done", "stage": "rea"})
    return argv, folder, _snapshot(folder)


# ----------------------------------------------------------------------------- a rerun never destroys a finished run
def test_failed_rerun_with_a_typo_in_weight_path_keeps_the_finished_run(tmp_path, digits_pretrained, finished):
    argv, folder, before = finished
    typo = ["-weight_path", str(tmp_path / "typo.pt")]
    with pytest.raises(SystemExit, match=r"error: checkpoint .*typo.pt does not exist"):
        main("digits", argv=argv + typo)
    assert _snapshot(folder) == before


@pytest.mark.parametrize("interrupt", [KeyboardInterrupt, RuntimeError])
def test_interrupted_or_failing_rerun_keeps_the_finished_run(monkeypatch, finished, interrupt):
    from unlearning.methods import METHODS

    argv, folder, before = finished

    def broken(ctx, para1, para2):
        raise interrupt("stopped half way")

    monkeypatch.setattr(METHODS["finetune"], "fn", broken)
    with pytest.raises((SystemExit, RuntimeError)) as err:  # Ctrl-C: exit code 130 after one line
        main("digits", argv=argv)
    assert interrupt is RuntimeError or err.value.code == 130
    assert _snapshot(folder) == before
    assert not [n for n in os.listdir(os.path.dirname(folder)) if n.startswith(".")]  # no staging left


def test_diverged_rerun_keeps_the_finished_run_and_says_so(monkeypatch, finished):
    from unlearning.methods import METHODS
    from unlearning.errors import Diverged

    argv, folder, before = finished

    def diverge(ctx, para1, para2):
        raise Diverged("loss became NaN/inf")

    monkeypatch.setattr(METHODS["finetune"], "fn", diverge)
    with pytest.raises(SystemExit, match="finetune diverged .*the finished run in .* is kept unchanged"):
        main("digits", argv=argv)
    assert _snapshot(folder) == before


@pytest.mark.slow
def test_sigkill_during_a_rerun_keeps_the_finished_run(tmp_path, finished):
    """A rerun made slow (batch size 1 patched into config: the folder does not depend on it) is killed with its
    process group while it computes; the finished run is untouched, and the next run clears the orphaned staging
    folder."""
    argv, folder, before = finished
    env = dict(os.environ, OMP_NUM_THREADS="1")
    slow = ("import sys, config; config.UNLEARN['digits']['finetune'].update(batch_size=1, para2=1); "
            "from unlearning.cli.unlearn import main; main('digits', argv=sys.argv[1:])")
    proc = subprocess.Popen([sys.executable, "-c", slow, *argv], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    parent = os.path.dirname(folder)
    deadline = time.time() + 120
    try:
        while time.time() < deadline and proc.poll() is None:
            staging = [n for n in os.listdir(parent) if n.startswith(".staging-")]
            if staging or not os.path.exists(os.path.join(folder, "last.pt")):
                time.sleep(1.0)  # well inside the computation
                break
            time.sleep(0.1)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert _snapshot(folder) == before
    main("digits", argv=argv + ["--para1", "0.01"])  # another run in the same method folder
    assert not [n for n in os.listdir(parent) if n.startswith(".staging-")]


def test_rerun_that_reproduces_the_model_keeps_its_checkpoint_and_attack_results(finished, capsys):
    """Same seed, same settings: the CPU rerun gives the same weights, so the finished checkpoint file stays
    (byte for byte) and the results computed on it (rea/) still name it."""
    argv, folder, before = finished
    res = main("digits", argv=argv)
    assert "reproduced the finished model exactly" in capsys.readouterr().out
    after = _snapshot(folder)
    assert after["last.pt"] == before["last.pt"] and after["rea/tag/results.json"] == before["rea/tag/results.json"]
    assert res["model_fingerprint"] == file_fingerprint(os.path.join(folder, "last.pt"))
    assert not [n for n in os.listdir(os.path.dirname(folder)) if n.startswith((".staging-", ".replaced-"))]


def test_successful_rerun_replaces_the_run_and_its_attack_results(finished):
    argv, folder, before = finished
    state, meta = load_checkpoint(os.path.join(folder, "last.pt"))  # the finished run's model is now another one
    key = next(k for k, v in state.items() if v.is_floating_point())
    state[key] = state[key] + 1.0
    torch.save({"state_dict": state, "meta": meta}, os.path.join(folder, "last.pt"))
    res = main("digits", argv=argv)
    assert os.path.dirname(res["checkpoints"]["last"]) == folder
    assert not os.path.exists(os.path.join(folder, "rea"))  # computed on the model that was replaced
    saved = read_json(os.path.join(folder, "results.json"))
    assert saved["model_fingerprint"] == file_fingerprint(os.path.join(folder, "last.pt"))
    assert sorted(os.listdir(folder)) == sorted(RUN_FILES)


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_device_cuda_on_a_cpu_machine_over_a_finished_run(finished):
    argv, folder, before = finished
    with pytest.raises(SystemExit, match="error: --device cuda: CUDA is not available"):
        main("digits", argv=argv + ["--device", "cuda"])
    assert _snapshot(folder) == before


# ----------------------------------------------------------------------------- one run identity
def test_another_source_model_gets_another_folder_the_same_model_the_same(tmp_path, digits_pretrained, monkeypatch):
    state, meta = load_checkpoint(digits_pretrained)
    other = str(tmp_path / "other.pt")
    model_state = {k: (v + 0.01 if v.is_floating_point() else v) for k, v in state.items()}

    class Holder(torch.nn.Module):
        def state_dict(self, *a, **k):
            return model_state
    save_checkpoint(other, Holder(), meta)
    a = main("digits", argv=_argv(tmp_path / "logs", digits_pretrained))
    b = main("digits", argv=_argv(tmp_path / "logs", other))
    dir_a, dir_b = (os.path.dirname(r["checkpoints"]["last"]) for r in (a, b))
    assert dir_a != dir_b
    assert a["source_fingerprint"] == file_fingerprint(digits_pretrained)
    assert b["source_fingerprint"] == file_fingerprint(other) != a["source_fingerprint"]
    # the same model under another spelling (a copy, a relative path) is the same run
    copy = str(tmp_path / "copy" / "model.pt")
    os.makedirs(os.path.dirname(copy))
    shutil.copy(digits_pretrained, copy)
    monkeypatch.chdir(tmp_path)
    c = main("digits", argv=_argv(tmp_path / "logs", os.path.relpath(copy)))
    assert os.path.dirname(c["checkpoints"]["last"]) == dir_a


def test_the_same_weights_saved_twice_have_the_same_fingerprint(tmp_path):
    """A checkpoint's bytes depend on its content only (not on the temporary file it was written through), so a
    source model trained again to the same weights keeps its runs' folders."""
    model = torch.nn.Linear(3, 2)
    a = save_checkpoint(str(tmp_path / "a.pt"), model, {"kind": "pretrain"})
    b = save_checkpoint(str(tmp_path / "b" / "model.pt"), model, {"kind": "pretrain"})
    assert file_fingerprint(a) == file_fingerprint(b)


def test_attack_and_metric_results_name_the_model_they_were_computed_on(tmp_path, digits_pretrained):
    from unlearning.cli import distribution

    res = main("digits", argv=_argv(tmp_path, digits_pretrained))
    last = res["checkpoints"]["last"]
    d = distribution.main(["--log_root", str(tmp_path), "-method", "baseline", "-weight_path", digits_pretrained,
                  "--device", "cpu", "--max_points", "100", "--grid_size", "16"])
    assert d["model_fingerprint"] == file_fingerprint(last) == res["model_fingerprint"]
    saved = read_json(os.path.join(os.path.dirname(last), "distribution", "results.json"))
    assert saved["model_fingerprint"] == res["model_fingerprint"]
    assert all(os.path.isfile(p) for p in saved["files"].values())
    from unlearning.cli.attack import rea_main
    r = rea_main("digits", argv=["--log_root", str(tmp_path), "-method", "baseline", "-weight_path", digits_pretrained,
                                 "--device", "cpu", "--repeats", "1", "--steps", "2", "--relearning_lr", "0.01",
                                 "--no_plot", "--quiet"])
    assert read_json(os.path.join(r["out_dir"], "results.json"))["model_fingerprint"] == res["model_fingerprint"]
    assert os.path.dirname(os.path.dirname(r["out_dir"])) == os.path.dirname(last)


# ----------------------------------------------------------------------------- inputs checked before computing
@pytest.mark.parametrize("para2,message", [
    ("-1", r"finetune --para2 -1 is out of range: it is the epochs on D_r, a number of epochs"),
    ("0.5", r"finetune --para2 0.5 is out of range"),
    ("inf", r"finetune --para2 inf is out of range"),
    ("nan", r"finetune --para2 nan is out of range"),
])
def test_finetune_epochs_out_of_range(tmp_path, digits_pretrained, para2, message):
    with pytest.raises(SystemExit, match="error: " + message):
        main("digits", argv=_argv(tmp_path, digits_pretrained, "finetune", "--para2", para2))
    assert not os.path.exists(tmp_path / "digits")  # nothing computed, nothing written


@pytest.mark.parametrize("method,flags,message", [
    ("finetune", ["--para1", "0"], "--para1 0 is out of range: it is the learning rate"),
    ("badteacher", ["--para2", "1.5"], "--para2 1.5 is out of range: .* a fraction in \\(0, 1\\]"),
    ("negative_grad_our", ["--para2", "-0.1"], "--para2 -0.1 is out of range"),
    ("SCRUB", ["--para2", "0"], None),  # no max steps: a valid count
])
def test_knob_ranges_come_from_the_registry_table(method, flags, message):
    from unlearning.methods import KNOBS, METHODS, check_knobs

    assert set(KNOBS) == set(METHODS)
    p = {"--para1": None, "--para2": None}
    p[flags[0]] = float(flags[1])
    if message is None:
        check_knobs(method, p["--para1"], p["--para2"])
    else:
        with pytest.raises(ValueError, match=message):
            check_knobs(method, p["--para1"], p["--para2"])


def test_every_preset_default_is_in_range():
    import config
    from unlearning.methods import check_knobs, method_names, method_settings

    for dataset in config.UNLEARN:
        for name in method_names():
            s = method_settings(dataset, name)
            check_knobs(name, s.get("para1"), s.get("para2"))


def test_unknown_device_is_one_line(tmp_path, digits_pretrained):
    with pytest.raises(SystemExit, match=r"error: --device tpu: unknown device"):
        main("digits", argv=_argv(tmp_path, digits_pretrained, "baseline", "--device", "tpu"))


def test_over_long_folder_name_is_refused_before_computing(tmp_path, digits_pretrained):
    log_root = str(tmp_path / ("x" * 300))
    with pytest.raises(SystemExit, match=r"error: output folder .*: the folder name x+… has 300 bytes"):
        main("digits", argv=_argv(log_root, digits_pretrained))


@pytest.mark.parametrize("value,message", [
    ('{"UNLEARN": 5}', "UNLEARN must map method names to objects"),
    ('{"UNLEARN": {"finetune": 3}}', "UNLEARN must map method names to objects"),
    ('{"OVER_UNLEARN": []}', "OVER_UNLEARN must map"),
    ('{bad', "neither a JSON object nor a readable JSON file"),
])
def test_overrides_of_the_wrong_type_are_one_line(tmp_path, digits_pretrained, value, message):
    with pytest.raises(SystemExit, match="error: UNLEARN_OVERRIDES.*" + message):
        main("digits", argv=_argv(tmp_path, digits_pretrained, "finetune", "--recipe", value))


def test_download_without_network_is_one_line(tmp_path, monkeypatch):
    import socket
    import urllib.error
    import urllib.request

    from unlearning.cli.pretrain import main as pretrain_main

    def offline(*a, **k):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    def no_connect(*a, **k):
        raise OSError("network is unreachable")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    monkeypatch.setattr(socket.socket, "connect", no_connect)
    with pytest.raises(SystemExit, match=r"error: .*--download (could not fetch cifar20|failed).*name resolution"):
        pretrain_main("cifar20", ["--download", "--data_root", str(tmp_path / "data"), "--log_root",
                                  str(tmp_path / "logs"), "--device", "cpu", "--quiet"])


def _unprivileged(cmd):
    """``cmd`` run so that file permissions apply (root keeps its capabilities otherwise)."""
    if os.geteuid() != 0:
        return cmd
    if not shutil.which("setpriv"):
        pytest.skip("running as root without setpriv: permissions cannot be enforced")
    return ["setpriv", "--inh-caps=-all", "--bounding-set=-dac_override,-dac_read_search", *cmd]


@pytest.mark.parametrize("script,extra", [
    ("forget_full_class_main_digits.py", ["-method", "baseline"]),
    ("pretrain_model_digits.py", ["--epochs", "1", "--quiet"]),
])
@pytest.mark.slow
def test_unwritable_log_root_is_one_line_before_computing(tmp_path, digits_pretrained, script, extra):
    root = tmp_path / "readonly"
    root.mkdir()
    root.chmod(stat.S_IRUSR | stat.S_IXUSR | stat.S_IRGRP | stat.S_IXGRP | stat.S_IROTH | stat.S_IXOTH)
    cmd = _unprivileged([sys.executable, script, "--log_root", str(root), "-weight_path", digits_pretrained,
                         "--device", "cpu", *extra] if "forget" in script else
                        [sys.executable, script, "--log_root", str(root), "--device", "cpu", *extra])
    try:
        proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    finally:
        root.chmod(0o755)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode != 0 and "Traceback" not in proc.stderr, proc.stderr
    assert lines[-1].startswith("error: output folder") and "cannot write in" in lines[-1], proc.stderr
    assert "test acc" not in proc.stdout and "TA " not in proc.stdout  # refused before computing
    assert os.listdir(root) == []


# ----------------------------------------------------------------------------- divergence in the outputs
def test_nan_outputs_with_finite_weights_count_as_diverged(tmp_path, digits_pretrained):
    argv = _argv(tmp_path, digits_pretrained, "FisherForgetting", "--para1", "1e30")
    with pytest.raises(SystemExit) as err:
        main("digits", argv=argv)
    msg = str(err.value)
    assert msg.startswith("error: FisherForgetting diverged (outputs on") and "NaN" in msg and "Input X" not in msg
    folder = os.path.join(tmp_path, "digits", "resnet8", "forget_3", "FisherForgetting")
    (leaf,) = os.listdir(folder)
    saved = read_json(os.path.join(folder, leaf, "results.json"))
    assert saved["status"] == "diverged" and not os.path.exists(os.path.join(folder, leaf, "last.pt"))


# ----------------------------------------------------------------------------- file modes
def test_atomic_writes_honour_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        path = write_json(str(tmp_path / "a.json"), {"x": 1})
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o644
        os.umask(0o007)
        path = write_json(str(tmp_path / "b.json"), {"x": 1})
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o660
    finally:
        os.umask(old)
