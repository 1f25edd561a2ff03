"""DFME: the black box only answers queries, counts them exactly, and the extraction learns a faithful copy."""
import copy
import os
import pickle

import pytest
import torch
import torch.nn as nn

from models.generator import build_generator
from unlearning.experiment import Experiment, load_model
from unlearning.cli.extraction import main
from unlearning.attacks.extraction import BlackBoxAccessError, BlackBoxVictim, DFMEConfig, EvalSet, QueryBudgetExceeded, centred_log_probs, extract, forward_difference_grad, unit_directions

SHAPE = (1, 8, 8)


class TinyVictim(nn.Module):
    """A small digits-shaped classifier with a BatchNorm (buffers that must not move) and a row counter."""

    def __init__(self, outputs=7):
        super().__init__()
        torch.manual_seed(123)
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.fc = nn.Linear(4 * 64, outputs)
        self.rows_seen = []  # batch sizes of every forward call

    def forward(self, x):
        self.rows_seen.append(len(x))
        return self.fc(torch.relu(self.bn(self.conv(x))).flatten(1))


def _touched(*args, **kwargs):
    raise AssertionError("the extraction touched the victim's parameters/state")


class PoisonedVictim(TinyVictim):
    """Any read of weights, gradients or state (other than the forward pass itself) fails the test."""

    parameters = named_parameters = state_dict = buffers = named_buffers = _touched
    zero_grad = load_state_dict = requires_grad_ = to = cpu = cuda = half = double = float = _touched
    __deepcopy__ = __reduce_ex__ = __getstate__ = _touched


def snapshot(model):
    return {k: v.clone() for k, v in nn.Module.state_dict(model).items()}


def small_cfg(**kw):
    base = dict(query_budget=130, batch_size=8, grad_m=2, student_steps=2, generator_steps=1, nz=8,
                generator="conv_small", eval_points=2, lr_generator=1e-3, seed=0)
    base.update(kw)
    return DFMEConfig(**base)


def run_small(victim, cfg, student_seed=0, output="probs", box_budget=None):
    box = BlackBoxVictim(victim, box_budget or cfg.query_budget, output=output, input_shape=SHAPE)
    torch.manual_seed(student_seed)
    student = nn.Sequential(nn.Flatten(), nn.Linear(64, 7))
    gen = build_generator(cfg.generator, cfg.nz, 1, 8, (0.3,), (0.4,))
    result = extract(box, student, gen, cfg)
    return box, student, result


# ----------------------------------------------------------------------------- the wrapper is a real guard
FORBIDDEN = ["parameters", "named_parameters", "state_dict", "buffers", "modules", "children", "forward", "model",
             "module", "victim", "grad", "weight", "eval", "train", "to", "zero_grad", "_modules", "_parameters",
             "__dict__", "__reduce_ex__", "__reduce__", "__getstate__", "__deepcopy__", "__copy__", "_bb_answer",
             "_bb_state", "__closure__", "__call__"]


@pytest.mark.parametrize("name", FORBIDDEN)
def test_wrapper_refuses_everything_but_queries(name):
    box = BlackBoxVictim(TinyVictim(), 100)
    with pytest.raises(BlackBoxAccessError, match="only access is query"):
        getattr(box, name)
    with pytest.raises(BlackBoxAccessError):  # not an AttributeError: hasattr cannot swallow it
        hasattr(box, name)


def test_wrapper_cannot_be_copied_pickled_or_modified():
    box = BlackBoxVictim(TinyVictim(), 100)
    for leak in (lambda: copy.deepcopy(box), lambda: copy.copy(box), lambda: pickle.dumps(box), lambda: vars(box)):
        with pytest.raises(BlackBoxAccessError):
            leak()
    with pytest.raises(BlackBoxAccessError, match="cannot set"):
        box.budget = 10 ** 9
    with pytest.raises(BlackBoxAccessError, match="cannot set"):
        box._bb_state = {}
    with pytest.raises(BlackBoxAccessError, match="cannot delete"):
        del box.query
    with pytest.raises(TypeError):  # no __call__: the only entry is query()
        box(torch.zeros(1, *SHAPE))
    # nothing reachable through the public interface is a module or a tensor
    public = {n: getattr(box, n) for n in dir(box)}
    assert set(public) == {"PUBLIC", "budget", "input_shape", "output", "queries_used", "query", "remaining"}
    assert not any(isinstance(v, (nn.Module, torch.Tensor)) for v in public.values())
    assert box.query.__func__.__closure__ is None  # the model lives in a private closure, not in query()


def test_query_outputs_are_detached_and_victim_gets_no_gradient():
    victim = TinyVictim()
    box = BlackBoxVictim(victim, 100, output="logits")
    x = torch.randn(5, *SHAPE, requires_grad=True)
    out = box.query(x)
    assert not out.requires_grad and out.grad_fn is None
    with torch.no_grad():
        victim.eval()
        assert torch.allclose(out, victim(x))
    assert all(p.grad is None for p in victim.parameters())
    probs = BlackBoxVictim(victim, 100, output="probs").query(x)
    assert torch.allclose(probs.sum(1), torch.ones(5)) and (probs >= 0).all()
    assert torch.allclose(probs, torch.softmax(out, 1))


def test_query_count_is_exact_and_budget_refuses_before_running():
    victim = TinyVictim()
    box = BlackBoxVictim(victim, 20)
    for n in (3, 5, 1, 7):
        assert box.query(torch.randn(n, *SHAPE)).shape == (n, 7)
    assert box.queries_used == 16 == sum(victim.rows_seen) and box.remaining == 4
    with pytest.raises(QueryBudgetExceeded, match="16 of the budget of 20"):
        box.query(torch.randn(5, *SHAPE))
    assert box.queries_used == 16 and sum(victim.rows_seen) == 16  # refused before the victim ran
    box.query(torch.randn(4, *SHAPE))
    assert box.queries_used == 20 and box.remaining == 0
    with pytest.raises(QueryBudgetExceeded):
        box.query(torch.randn(1, *SHAPE))


@pytest.mark.parametrize("bad,msg", [(dict(budget=0), "positive integer"), (dict(budget=2.5), "positive integer"),
                                     (dict(output="labels"), "must be one of")])
def test_wrapper_bad_arguments(bad, msg):
    kw = dict(budget=10, output="probs")
    kw.update(bad)
    with pytest.raises(ValueError, match=msg):
        BlackBoxVictim(TinyVictim(), **kw)


def test_query_shape_is_checked():
    box = BlackBoxVictim(TinyVictim(), 10, input_shape=SHAPE)
    with pytest.raises(ValueError, match="victim takes"):
        box.query(torch.zeros(2, 3, 8, 8))
    with pytest.raises(ValueError, match="N×C×H×W"):
        box.query(torch.zeros(8, 8))


# ----------------------------------------------------------------------------- the extraction loop
@pytest.mark.parametrize("gen_steps,m", [(1, 2), (2, 1), (0, 1)])
def test_extraction_query_count_is_exact(gen_steps, m):
    cfg = small_cfg(generator_steps=gen_steps, grad_m=m, query_budget=130)
    per_iter = 8 * (gen_steps * (m + 1) + 2)
    assert cfg.queries_per_iteration == per_iter
    victim = TinyVictim()
    box, _, result = run_small(victim, cfg, box_budget=1000)
    expected = (130 // per_iter) * per_iter
    assert result["summary"]["queries_used"] == expected == box.queries_used == sum(victim.rows_seen)
    # every victim call is one generator step's (m+1)·B points or one student step's B images
    assert set(victim.rows_seen) <= {8 * (m + 1), 8}


def test_extraction_never_touches_victim_parameters_or_gradients():
    victim = PoisonedVictim()
    before = snapshot(victim)
    box, student, result = run_small(victim, small_cfg(query_budget=400))
    after = snapshot(victim)
    assert result["summary"]["queries_used"] == box.queries_used > 0
    assert before.keys() == after.keys()
    for k in before:  # weights AND BatchNorm running statistics bit-identical
        assert torch.equal(before[k], after[k]), k
    assert all(p.grad is None for _, p in nn.Module.named_parameters(victim))
    assert not victim.training  # served in eval mode


def test_extraction_is_deterministic_per_seed():
    _, s1, _ = run_small(TinyVictim(), small_cfg(query_budget=200))
    _, s2, _ = run_small(TinyVictim(), small_cfg(query_budget=200))
    _, s3, _ = run_small(TinyVictim(), small_cfg(query_budget=200, seed=1))
    w = [m[1].weight for m in (s1, s2, s3)]
    assert torch.equal(w[0], w[1]) and not torch.equal(w[0], w[2])


def test_extraction_refuses_a_budget_the_box_does_not_allow():
    cfg = small_cfg(query_budget=200)
    box = BlackBoxVictim(TinyVictim(), 100)
    gen = build_generator("conv_small", 8, 1, 8, (0.3,), (0.4,))
    with pytest.raises(ValueError, match="allows 100 queries"):
        extract(box, nn.Sequential(nn.Flatten(), nn.Linear(64, 7)), gen, cfg)


def test_forward_difference_estimates_the_gradient():
    # f(x) = <a, x> + ½‖x‖²  → ∇f = a + x; the estimator is unbiased up to O(ε), so many directions recover it
    torch.manual_seed(0)
    a = torch.randn(1, 2, 3, 3)
    x = torch.randn(4, 2, 3, 3, dtype=torch.float64)
    f = lambda p: (p * a).flatten(1).sum(1) + 0.5 * (p ** 2).flatten(1).sum(1)  # noqa: E731
    grad, base = forward_difference_grad(f, x, m=4000, eps=1e-4, gen=torch.Generator().manual_seed(0))
    assert torch.allclose(base, f(x))
    true = (a + x).flatten(1)
    cos = torch.nn.functional.cosine_similarity(grad.flatten(1), true, dim=1)
    assert (cos > 0.95).all(), cos
    one, _ = forward_difference_grad(f, x, m=1, eps=1e-4, gen=torch.Generator().manual_seed(0))
    # with m=1 and the (reproducible) unit direction u, the estimate is d·(∇f·u)·u up to O(ε), d = 18
    u = unit_directions(4, 1, (2, 3, 3), torch.Generator().manual_seed(0), "cpu")[:, 0].double()
    assert torch.allclose(u.flatten(1).norm(dim=1), torch.ones(4, dtype=torch.float64))
    expect = 18 * (true * u.flatten(1)).sum(1, keepdim=True) * u.flatten(1)
    assert torch.allclose(one.flatten(1), expect, atol=1e-2)


def test_centred_log_probs_hand_computed():
    p = torch.tensor([[0.5, 0.25, 0.25]])
    expect = torch.log(p) - torch.log(p).mean()
    out = centred_log_probs(p, "probs")
    assert torch.allclose(out, expect) and abs(out.sum().item()) < 1e-6
    assert torch.allclose(out, torch.tensor([[0.4621, -0.2310, -0.2310]]), atol=1e-4)
    logits = torch.tensor([[2.0, 1.0, -3.0]])
    assert torch.allclose(centred_log_probs(logits, "logits"), centred_log_probs(torch.softmax(logits, 1), "probs"),
                          atol=1e-5)
    assert torch.allclose(centred_log_probs(logits, "logits"), logits - logits.mean(), atol=1e-5)  # offset-free
    floored = centred_log_probs(torch.tensor([[1.0, 0.0]]), "probs", floor=1e-12)
    assert torch.isfinite(floored).all()


def test_generator_images_live_in_the_normalised_pixel_range():
    gen = build_generator("conv_small", 16, 1, 8, (0.3,), (0.4,))
    x = gen(gen.sample_noise(32, torch.Generator().manual_seed(0)))
    assert x.shape == (32, 1, 8, 8)
    assert x.min() >= (0 - 0.3) / 0.4 - 1e-6 and x.max() <= (1 - 0.3) / 0.4 + 1e-6
    with pytest.raises(ValueError, match="unknown generator"):
        build_generator("gan9000", 16, 1, 8)


@pytest.mark.parametrize("bad,msg", [
    (dict(query_budget=0), "--query_budget must be a positive integer"),
    (dict(query_budget=39), "below one DFME iteration"),
    (dict(grad_m=0), "--grad_m must be a positive integer"),
    (dict(grad_epsilon=0.0), "--grad_epsilon must be > 0"),
    (dict(lr_student=-1.0), "--lr_student must be > 0"),
    (dict(milestones=(0.5, 0.2)), "--milestones are increasing fractions"),
    (dict(milestones=(1.5,)), "--milestones are increasing fractions"),
    (dict(gamma=0.0), "--gamma must be in"),
    (dict(generator_steps=-1), "--generator_steps must be an integer"),
    (dict(generator="gan9000"), "--generator must be one of"),
])
def test_bad_config_is_a_clear_error(bad, msg):
    with pytest.raises(ValueError, match=msg):
        small_cfg(**bad).validate()


# ----------------------------------------------------------------------------- end to end on digits
@pytest.fixture(scope="module")
def exp():
    return Experiment("digits", device="cpu", forget_class=3)


@pytest.mark.slow
def test_short_extraction_beats_chance_on_digits(digits_pretrained, exp):
    victim, _ = load_model(digits_pretrained, exp)
    idx = exp.split.retain_test
    x = exp.test.normalize(exp.test.x[idx])
    with torch.no_grad():
        victim.eval()
        victim_labels = victim(x).argmax(1)
    eval_set = EvalSet(x, exp.split.targets(exp.test.y[idx]), victim_labels)
    cfg = DFMEConfig(query_budget=12_000, batch_size=64, lr_generator=1e-3, nz=32, generator="conv_small",
                     eval_points=3, seed=0)
    box = BlackBoxVictim(victim, cfg.query_budget, input_shape=SHAPE)
    torch.manual_seed(0)
    student = exp.new_model("resnet8")
    gen = build_generator(cfg.generator, cfg.nz, 1, 8, (0.3,), (0.4,))
    hist = extract(box, student, gen, cfg, eval_set)["history"]
    chance = 1 / 6  # six retain classes
    assert hist[0]["queries"] == 0 and hist[-1]["queries"] == box.queries_used <= 12_000
    assert hist[-1]["fidelity"] > max(0.5, 2 * chance), hist
    assert hist[-1]["fidelity"] > hist[0]["fidelity"] + 0.2


@pytest.mark.slow
def test_entry_point_saves_copy_per_target_and_seed(digits_pretrained, exp, tmp_path):
    common = ["--model_path", digits_pretrained, "--out_dir", str(tmp_path), "--query_budget", "1500",
              "--batch_size", "32", "--eval_points", "2", "--quiet", "--device", "cpu"]
    r0 = main("digits", common)
    r1 = main("digits", common + ["--dfme_seed", "1"])
    d0, d1 = os.path.dirname(r0["checkpoint"]), os.path.dirname(r1["checkpoint"])
    assert d0 == str(tmp_path / "dfme" / "budget-1500_student-resnet8_seed-0_batch_size-32") and d0 != d1
    assert sorted(os.listdir(d0)) == ["curve.png", "log.tsv", "results.json", "student.pt"]
    model, meta = load_model(r0["checkpoint"], exp)  # the white-box attack can load the copy like any model
    assert meta["kind"] == "dfme" and meta["query_budget"] == 1500 and meta["queries_used"] == r0["queries_used"]
    assert meta["victim"]["path"] == os.path.abspath(digits_pretrained) and meta["ood_classes"] == [7, 8, 9]
    assert meta["class_to_index"] == {str(c): i for i, c in enumerate(range(7))} and meta["seed"] == 0
    assert r0["queries_used"] == 1344  # 7 iterations of 32·(2+5) queries


def test_tag_names_every_setting_that_changes_the_copy():
    from unlearning.cli.extraction import dfme_parser, dfme_tag, finish_dfme_args

    tag = lambda *argv: dfme_tag(finish_dfme_args(dfme_parser("digits").parse_args(list(argv))))  # noqa: E731
    assert tag() == "budget-400000_student-resnet8_seed-0"  # the digits preset: nothing added
    assert tag("-seed", "2") == "budget-400000_student-resnet8_seed-2"  # the extraction follows the run's seed
    assert tag("--dfme_seed", "5", "--student_net", "resnet20") == "budget-400000_student-resnet20_seed-5"
    assert tag("--lr_student", "0.05", "--victim_output", "logits") == \
        "budget-400000_student-resnet8_seed-0_lr_student-0.05_victim_output-logits"
    assert tag("--milestones", "0.5") == "budget-400000_student-resnet8_seed-0_milestones-0.5"
    assert tag("--milestones", "0.1", "0.3", "0.5") == tag()


@pytest.mark.parametrize("argv,msg", [
    (["--query_budget", "10"], "below one DFME iteration"),
    (["--student_net", "nonet"], "--student_net: unknown network"),
    (["--grad_epsilon", "-1"], "--grad_epsilon must be > 0"),
    (["--model_path", "/nonexistent/model.pt"], "does not exist"),
])
def test_entry_point_bad_flags(argv, msg, digits_pretrained, tmp_path, capsys):
    base = ["--model_path", digits_pretrained, "--out_dir", str(tmp_path), "--quiet", "--device", "cpu"]
    with pytest.raises(SystemExit) as err:
        main("digits", base + argv)
    assert msg in str(err.value)


# ----------------------------------------------------------------------------- the run folder and the black-box ReA
def test_copy_goes_to_the_unlearning_run_folder(digits_pretrained, tmp_path):
    pytest.importorskip("unlearning.cli.unlearn")
    import shutil
    from unlearning.paths import unlearn_dir

    run_dir = unlearn_dir(str(tmp_path), "digits", "resnet8", "3", "baseline", seed=0)
    os.makedirs(run_dir)
    shutil.copy(digits_pretrained, os.path.join(run_dir, "last.pt"))
    res = main(None, ["-dataset", "digits", "-method", "baseline", "--log_root", str(tmp_path), "--query_budget", "700",
                      "--batch_size", "16", "--eval_points", "1", "--quiet", "--device", "cpu"])
    assert res["checkpoint"] == os.path.join(run_dir, "dfme", "budget-700_student-resnet8_seed-0_batch_size-16", "student.pt")
    assert res["victim"]["run_dir"] == run_dir and res["queries_used"] == 7 * 16 * 6
    assert {"fidelity_forget", "fidelity_ood"} <= set(res)  # how the copy treats the images ReA relearns


def test_blackbox_rea_extracts_once_then_runs_the_white_box_attack(digits_pretrained, tmp_path, capsys):
    pytest.importorskip("unlearning.attacks.reminiscence")
    import shutil
    from unlearning.cli.extraction import blackbox_rea_main

    victim = str(tmp_path / "victim.pt")
    shutil.copy(digits_pretrained, victim)
    argv = ["--victim_path", victim, "--query_budget", "700", "--batch_size", "16", "--eval_points", "1",
            "--repeats", "2", "--steps", "3", "--relearning_lr", "0.01", "--no_plot", "--quiet", "--device", "cpu"]
    with pytest.raises(SystemExit, match="--repeats must be at least 1"):  # attack flags checked before extracting
        blackbox_rea_main("digits", argv + ["--repeats", "0"])
    assert not os.path.exists(tmp_path / "dfme")
    r1 = blackbox_rea_main("digits", argv)
    copy_dir = tmp_path / "dfme" / "budget-700_student-resnet8_seed-0_batch_size-16"
    assert r1["target"]["checkpoint"] == str(copy_dir / "student.pt") and r1["target"]["kind"] == "dfme"
    assert r1["out_dir"].startswith(str(copy_dir)) and r1["stage"] == "rea_blackbox"  # next to the copy
    assert os.path.isfile(os.path.join(r1["out_dir"], "results.json"))
    stamp = os.path.getmtime(copy_dir / "student.pt")
    capsys.readouterr()
    r2 = blackbox_rea_main("digits", argv)
    assert "using the extracted copy" in capsys.readouterr().out and os.path.getmtime(copy_dir / "student.pt") == stamp
    assert r2["per_lr"] == r1["per_lr"]  # same copy, same attack seed → same numbers


def test_cifar20_path_three_channels(cifar_root, tmp_path):
    """The CIFAR-20 preset end to end on the miniature fixture: 3×32×32 generator, per-channel normalisation."""
    from unlearning.experiment import save_checkpoint

    exp20 = Experiment("cifar20", data_root=cifar_root, device="cpu")
    torch.manual_seed(0)
    victim = str(tmp_path / "victim.pt")
    save_checkpoint(victim, exp20.new_model("resnet8"), exp20.model_meta("resnet8"))
    res = main(None, ["-dataset", "cifar20", "--data_root", cifar_root, "--model_path", victim, "--query_budget", "120",
                      "--batch_size", "8", "--student_net", "resnet8", "--eval_points", "1", "--quiet", "--device", "cpu"])
    assert res["queries_used"] == 112 and res["config"]["nz"] == 100  # 2 iterations of 8·(2+5); the paper's nz
    _, meta = load_model(res["checkpoint"], exp20)
    assert meta["arch"] == "resnet8" and meta["dataset"] == "cifar20" and len(meta["trained_classes"]) == 15
    gen = build_generator("conv", 16, 3, 32, exp20.train.mean, exp20.train.std)
    x = gen(gen.sample_noise(4, torch.Generator().manual_seed(0)))
    lo = (0 - torch.tensor(exp20.train.mean)) / torch.tensor(exp20.train.std)
    hi = (1 - torch.tensor(exp20.train.mean)) / torch.tensor(exp20.train.std)
    assert x.shape == (4, 3, 32, 32)
    assert (x.amin(dim=(0, 2, 3)) >= lo - 1e-5).all() and (x.amax(dim=(0, 2, 3)) <= hi + 1e-5).all()
