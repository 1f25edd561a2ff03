"""Unlearning methods, the generic `_our` wrapper, masks/penalties, the driver's run folder and its errors."""
import copy
import dataclasses
import os
import subprocess
import sys

import pytest
import torch

from conftest import ROOT
from unlearning.methods import classic as strategies
from unlearning.experiment import Experiment, load_checkpoint, load_model
from unlearning.files import read_json
from unlearning.methods.over_unlearning import over_unlearn_and_replay
from unlearning.methods.replay import PHASE1, PHASE2
from unlearning.methods.recent import RECENT_METHODS
from unlearning.methods.rival import RIVAL_DEFENCES
from unlearning.errors import UnknownMethodError
from unlearning.methods import Context, METHODS, get_method, method_names, method_settings
from unlearning.methods.classic import retain_val_idx
from unlearning.methods.common import mean_squared_grads
from unlearning.training import Regulariser
from unlearning.cli.unlearn import main

# the approximate methods registered in classic.py, read from the registry: a method added there is tested here
# without editing this file (the registry's list itself is pinned by the generated settings snapshot)
BASES = [n for n, m in METHODS.items() if m.approximate and getattr(m.fn, "__module__", None) == strategies.__name__]
SNAPSHOT = os.path.join(ROOT, "tests", "snapshots", "method_settings.json")


@pytest.fixture(scope="module")
def exp():
    return Experiment("digits", device="cpu", forget_class=3)


@pytest.fixture(scope="module")
def tiny(exp):
    """The digits experiment cut down to 48 retain + 16 forget samples, retrain recipe of 2 epochs."""
    e = copy.copy(exp)
    s = exp.split
    r, f = s.retain_train[:48], s.forget_train[:16]
    e.split = dataclasses.replace(s, retain_train=r, forget_train=f, train_idx=torch.sort(torch.cat([r, f]))[0],
                                  val_idx=s.val_idx[:40])
    e.preset = dict(exp.preset, pretrain=dict(exp.preset["pretrain"], epochs=2, milestones=[1]))
    return e


def _context(exp, weights, name, mask=None, on_phase=None, seed=0):
    teacher, _ = load_model(weights, exp, net="resnet8")
    model = copy.deepcopy(teacher)
    teacher.requires_grad_(False)
    settings = method_settings("digits", name)
    return Context(model=model, teacher=teacher, exp=exp, net="resnet8", reg=Regulariser(model, mask=mask),
                   seed=seed, settings=settings, mask=mask, on_phase=on_phase)


def _run(exp, weights, name, **kw):
    ctx = _context(exp, weights, name, **kw)
    before = {k: v.clone() for k, v in ctx.model.state_dict().items()}
    out = get_method(name).fn(ctx, ctx.settings.get("para1"), ctx.settings.get("para2"))
    return ctx, before, out


def _params_equal(model, state):
    return all(torch.equal(p, state[k]) for k, p in model.named_parameters())


# ----------------------------------------------------------------------------- registry
def test_registry_has_every_method_and_a_generated_our_variant():
    assert BASES[:4] == ["finetune", "negative_grad", "amnesiac", "badteacher"] and "salun" in BASES
    assert set(METHODS) == {"baseline", "retrain", *BASES, *(m["name"] for m in RECENT_METHODS),
                            *(m["name"] for m in RIVAL_DEFENCES)}
    names = method_names()
    # the generated snapshot names every method and variant: a method lost from the registry fails here, a new
    # one until `python forget_full_class_strategies.py --write-snapshot`
    assert {name for _, name, _ in read_json(SNAPSHOT)} == set(names), "run --write-snapshot"
    for base in BASES:
        entry = get_method(f"{base}_our")
        assert f"{base}_our" in names and entry.base == base and entry.gradient
        assert entry.fn.func is over_unlearn_and_replay and entry.fn.args[0] is METHODS[base]  # one wrapper
    for ref in ("baseline", "retrain"):
        assert f"{ref}_our" not in names
        with pytest.raises(UnknownMethodError, match="unknown method"):
            get_method(f"{ref}_our")
    with pytest.raises(UnknownMethodError, match="choose one of: baseline, retrain, .*salun_our"):
        get_method("forget_everything")
    for name in names:  # every method documents its two knobs
        entry = get_method(name)
        assert entry.para1 and entry.para2 and entry.doc


def test_our_settings_merge_phase1_over_method_and_add_replay():
    s = method_settings("digits", "negative_grad_our")
    assert s["para2"] == 0.0 and s["epochs"] == 5 and s["replay"]["epochs"] == 2 and s["replay"]["l1"] > 0
    assert method_settings("digits", "negative_grad")["para2"] == 0.95
    assert method_settings("cifar20", "ssd_tuning_our")["para1"] == 0.005  # the paper's values
    assert method_settings("cifar20", "Wfisher_our")["para1"] == 120.0


# ----------------------------------------------------------------------------- every method on a tiny split
@pytest.mark.parametrize("name", ["baseline", "retrain"] + BASES + [
    pytest.param(f"{b}_our", marks=pytest.mark.slow) if b == "negative_grad" else f"{b}_our" for b in BASES])
def test_every_method_runs_on_a_tiny_split(tiny, digits_pretrained, name):
    phases = []
    ctx, before, out = _run(tiny, digits_pretrained, name, on_phase=lambda n, m, s: phases.append(n))
    assert all(torch.isfinite(p).all() for p in out.parameters())
    if name == "baseline":
        assert out is ctx.model and _params_equal(out, before)
    else:
        assert not _params_equal(out, before)
    assert phases == ([PHASE1, PHASE2] if name.endswith("_our") else [])


def test_retrain_never_sees_a_forget_sample(tiny, digits_pretrained, monkeypatch):
    seen = {}
    real = strategies.train_supervised

    def spy(model, loader, recipe, validate, **kw):
        seen["idx"] = loader.idx.clone()
        seen["targets"] = torch.cat([y for _, y in loader])  # what the loop will actually be fed
        return real(model, loader, recipe, validate, **kw)

    monkeypatch.setattr(strategies, "train_supervised", spy)
    ctx, _, out = _run(tiny, digits_pretrained, "retrain")
    f = tiny.split.forget_index
    assert len(seen["targets"]) == len(tiny.split.retain_train) and (seen["targets"] != f).all()
    assert not torch.isin(seen["idx"].cpu(), tiny.split.forget_train).any()
    assert (tiny.train.y[seen["idx"]] != 3).all()
    assert out is not ctx.model  # a fresh model, not the pretrained one
    val = retain_val_idx(tiny)
    assert len(val) > 0 and (tiny.train.y[val] != 3).all()
    assert (tiny.train.y[tiny.split.val_idx] == 3).any()  # the unfiltered validation split does hold class 3


@pytest.mark.parametrize("name", BASES + ["ssd_tuning_our", "Wfisher_our",
                                  pytest.param("negative_grad_our", marks=pytest.mark.slow)])
def test_all_zero_mask_leaves_every_weight_unchanged(tiny, digits_pretrained, name):
    teacher, _ = load_model(digits_pretrained, tiny, net="resnet8")
    zero = {k: torch.zeros_like(p) for k, p in teacher.named_parameters()}
    ctx, before, out = _run(tiny, digits_pretrained, name, mask=zero)
    assert _params_equal(out, before)


def test_ssd_dampens_exactly_the_selected_weights(tiny, digits_pretrained):
    ctx = _context(tiny, digits_pretrained, "ssd_tuning")
    alpha, lam = 1.0, 0.5
    # the reference's pass: D_r class by class, then D_f, unshuffled batches of 64
    r = tiny.split.retain_train
    r = r[torch.sort(tiny.train.y[r], stable=True).indices]
    full = torch.cat([r, tiny.split.forget_train])
    i_d = mean_squared_grads(ctx.model, ctx.loader(full, batch_size=64, shuffle=False))
    i_f = mean_squared_grads(ctx.model, ctx.loader(tiny.split.forget_train, batch_size=64, shuffle=False))
    before = {k: p.detach().clone() for k, p in ctx.model.named_parameters()}
    strategies.ssd_tuning(ctx, alpha, lam)
    n_sel = 0
    for k, p in ctx.model.named_parameters():
        sel = i_f[k] > alpha * i_d[k]
        n_sel += int(sel.sum())
        assert torch.equal(p[~sel], before[k][~sel])
        factor = torch.clamp(lam * i_d[k] / i_f[k], max=1.0)
        assert torch.allclose(p[sel], before[k][sel] * factor[sel], rtol=1e-5, atol=1e-7)
    assert n_sel > 0


def test_l2_penalty_pulls_towards_the_pretrained_weights(tiny, digits_pretrained):
    dist = {}
    for l2 in (0.0, 2.0):
        ctx = _context(tiny, digits_pretrained, "finetune")
        ctx.reg = Regulariser(ctx.model, l2=l2)
        start = {k: p.detach().clone() for k, p in ctx.model.named_parameters()}
        strategies.finetune(ctx, 0.05, 3)
        dist[l2] = sum(((p - start[k]) ** 2).sum().item() for k, p in ctx.model.named_parameters())
    assert dist[2.0] < 0.5 * dist[0.0]


def test_same_seed_same_weights_other_seed_differs(tiny, digits_pretrained):
    a = _run(tiny, digits_pretrained, "amnesiac_our")[2].state_dict()
    b = _run(tiny, digits_pretrained, "amnesiac_our")[2].state_dict()
    c = _run(tiny, digits_pretrained, "amnesiac_our", seed=1)[2].state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)


# ----------------------------------------------------------------------------- the driver and its run folder
def _argv(method, tmp_path, weights, *extra):
    return ["-method", method, "--log_root", str(tmp_path), "-weight_path", weights, "--device", "cpu", *extra]


def _src(weights):
    """The folder-name suffix of a source model other than the log root's default pretrained one."""
    from unlearning.files import file_fingerprint
    return "_src-" + file_fingerprint(weights)[:8]


def test_baseline_run_folder_is_bit_identical_and_documented(tmp_path, digits_pretrained):
    res = main("digits", argv=_argv("baseline", tmp_path, digits_pretrained))
    folder = os.path.join(tmp_path, "digits", "resnet8", "forget_3", "baseline",
                          "p1-none_p2-none_mask-none_seed-0" + _src(digits_pretrained))
    assert res["checkpoints"] == {"last": os.path.join(folder, "last.pt")}
    pre, _ = load_checkpoint(digits_pretrained)
    last, meta = load_checkpoint(res["checkpoints"]["last"])
    assert all(torch.equal(pre[k], last[k]) for k in pre)  # buffers included
    assert meta["method"] == "baseline" and meta["forget_class"] == 3 and meta["seed"] == 0
    saved = read_json(os.path.join(folder, "results.json"))
    assert saved["status"] == "done" and saved["error"] is None and saved["stage"] == "unlearn"
    assert set(saved["metrics"]) == {"TA", "UA", "RA", "forget_test_acc", "MIA", "RTE", "d_t", "MIA_paper"}
    assert saved["metrics"]["UA"] > 0.9 and saved["pretrained"] == digits_pretrained
    lines = open(os.path.join(folder, "log.tsv")).read().splitlines()
    assert lines[0] == "d_t\td_f\td_r\tmia\ttime" and len(lines) == 2
    assert float(lines[1].split("\t")[1]) == pytest.approx(saved["metrics"]["UA"], abs=1e-5)


def test_our_writes_mid_and_last_and_times_both_phases(tmp_path, digits_pretrained):
    res = main("digits", argv=_argv("ssd_tuning_our", tmp_path, digits_pretrained, "--l1", "1e-5"))
    folder = os.path.dirname(res["checkpoints"]["last"])
    assert folder.endswith(os.path.join("ssd_tuning_our", "p1-0.005_p2-0.4_mask-none_seed-0_l1-1e-05" + _src(digits_pretrained)))
    assert os.path.isfile(res["checkpoints"]["mid"]) and os.path.isfile(res["checkpoints"]["last"])
    mid, _ = load_checkpoint(res["checkpoints"]["mid"])
    last, _ = load_checkpoint(res["checkpoints"]["last"])
    assert not all(torch.equal(mid[k], last[k]) for k in mid)
    assert [p["name"] for p in res["phases"]] == [PHASE1, PHASE2]
    assert res["metrics"]["RTE"] == pytest.approx(sum(p["seconds"] for p in res["phases"]))
    assert res["rte_cpu"] == pytest.approx(sum(p["cpu_seconds"] for p in res["phases"])) and res["rte_cpu"] > 0
    assert res["phases"][1]["metrics"]["TA"] == res["metrics"]["TA"]


def test_divergence_is_reported_and_leaves_no_model(tmp_path, digits_pretrained):
    argv = _argv("finetune", tmp_path, digits_pretrained, "--para1", "1e30", "--para2", "2")
    with pytest.raises(SystemExit, match="finetune diverged"):
        main("digits", argv=argv)
    folder = os.path.join(tmp_path, "digits", "resnet8", "forget_3", "finetune",
                          "p1-1e+30_p2-2_mask-none_seed-0" + _src(digits_pretrained))
    saved = read_json(os.path.join(folder, "results.json"))
    assert saved["status"] == "diverged" and "NaN/inf" in saved["error"]
    assert not os.path.exists(os.path.join(folder, "last.pt"))


@pytest.mark.slow
def test_mask_path_reaches_the_replay(tmp_path, digits_pretrained, exp):
    model, _ = load_model(digits_pretrained, exp, net="resnet8")
    path = str(tmp_path / "mask_0.pt")
    torch.save({k: torch.zeros_like(p) for k, p in model.named_parameters()}, path)
    res = main("digits", argv=_argv("negative_grad_our", tmp_path, digits_pretrained, "--mask_path", path))
    assert "mask-mask_0" in res["checkpoints"]["last"]
    last, _ = load_checkpoint(res["checkpoints"]["last"])
    assert all(torch.equal(last[k], p.detach()) for k, p in model.named_parameters())


@pytest.mark.parametrize("argv,message", [
    (["-method", "forget_everything"], "unknown method 'forget_everything'; choose one of: baseline"),
    (["-method", "baseline", "--l1", "1e-4"], "baseline takes no --l1/--l2/--mask_path"),
    (["-method", "ssd_tuning", "--l2", "0.1"], "ssd_tuning makes no gradient updates"),
    (["-method", "finetune", "--forget_class", "8"], "forget class 8 is an OOD class"),
])
def test_bad_input_is_one_clear_line(tmp_path, digits_pretrained, argv, message):
    with pytest.raises(SystemExit, match=message):
        main("digits", argv=argv + ["--log_root", str(tmp_path), "-weight_path", digits_pretrained])


@pytest.mark.slow
def test_entry_point_lists_the_registry_on_an_unknown_method():
    proc = subprocess.run([sys.executable, "forget_full_class_main_digits.py", "-method", "nope"], cwd=ROOT,
                          capture_output=True, text=True)
    assert proc.returncode != 0
    assert proc.stderr.strip().splitlines()[-1].startswith("error: unknown method 'nope'; choose one of: baseline")
    assert "Wfisher_our" in proc.stderr


def test_retrain_validation_drops_the_forget_fine_class():
    from types import SimpleNamespace
    split = SimpleNamespace(subclass=True, forget_fine=5, forget_class=1, val_idx=torch.tensor([0, 1, 2, 3]))
    train = SimpleNamespace(fine=torch.tensor([5, 6, 5, 7]), y=torch.tensor([1, 1, 1, 2]))
    assert retain_val_idx(SimpleNamespace(split=split, train=train)).tolist() == [1, 3]
