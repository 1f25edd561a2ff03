"""TREW and Spotter (unlearning/rival_defences.py): their targets and losses on hand-computed tensors, the PGD
neighbours on a linear teacher, the registry entries, the entry point, and the invariants of a run."""
import copy
import math
from types import SimpleNamespace

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from conftest import digits_cut

from unlearning.methods import rival as rival_defences
from unlearning.experiment import load_checkpoint, load_model
from unlearning.methods.orthogonal import orth_over_unlearn_and_replay
from unlearning.methods.over_unlearning import over_unlearn_and_replay
from unlearning.methods.replay import PHASE1, PHASE2
from unlearning.methods.rival import RIVAL_DEFENCES, class_similarity, dispersion_loss, masked_soft_target, pgd_neighbours, trew_target
from unlearning.methods import Context, METHODS, get_method, method_names, method_settings
from unlearning.training import Regulariser
from unlearning.cli.unlearn import main

NAMES = [m["name"] for m in RIVAL_DEFENCES]


# ----------------------------------------------------------------------------- TREW target and similarity
def test_trew_target_is_the_tilted_softmax_with_nothing_on_the_forget_class():
    s = torch.tensor([0.5, 1.0, 0.2, -0.3], dtype=torch.float64)
    q = trew_target(s, beta=2.0, forget_index=1)
    z = math.exp(1.0) + math.exp(0.4) + math.exp(-0.6)  # exp(2·s) of the classes other than 1
    assert q.tolist() == pytest.approx([math.exp(1.0) / z, 0.0, math.exp(0.4) / z, math.exp(-0.6) / z], abs=1e-12)
    assert float(q.sum()) == pytest.approx(1.0, abs=1e-12) and float(q[1]) == 0.0
    assert trew_target(s, 0.0, 1).tolist() == pytest.approx([1 / 3, 0.0, 1 / 3, 1 / 3], abs=1e-12)
    # β = 10 (the paper's) puts almost everything on the most similar other class
    assert float(trew_target(s, 10.0, 1)[0]) > 0.95


def test_trew_target_tilts_a_given_distribution_row_by_row():
    s = torch.tensor([0.5, 1.0, 0.2, -0.3], dtype=torch.float64)
    base = torch.tensor([[0.1, 0.6, 0.2, 0.1], [0.25, 0.25, 0.25, 0.25]], dtype=torch.float64)
    q = trew_target(s, 2.0, 1, base)
    w = [0.1 * math.exp(1.0), 0.2 * math.exp(0.4), 0.1 * math.exp(-0.6)]  # base_k · exp(2·s_k), k ≠ 1
    assert q[0].tolist() == pytest.approx([w[0] / sum(w), 0.0, w[1] / sum(w), w[2] / sum(w)], abs=1e-12)
    assert torch.allclose(q[1], trew_target(s, 2.0, 1))  # a uniform base is the base-free target
    assert torch.allclose(q.sum(1), torch.ones(2, dtype=torch.float64)) and (q[:, 1] == 0).all()


def test_class_similarity_is_the_cosine_of_the_centred_rows():
    rows = torch.tensor([[1.0, 0.0], [1.0, 1.0], [0.0, 2.0]])
    raw = class_similarity(rows, 0, center=False)
    assert raw.tolist() == pytest.approx([1.0, 1 / math.sqrt(2), 0.0], abs=1e-12)
    # mean row (⅔, 1): centred (⅓, −1), (⅓, 0), (−⅔, 1)
    c = class_similarity(rows, 0, center=True)
    n0 = math.sqrt(1 / 9 + 1)
    assert c.tolist() == pytest.approx([1.0, (1 / 9) / (n0 * (1 / 3)), (-2 / 9 - 1) / (n0 * math.sqrt(4 / 9 + 1))],
                                       abs=1e-12)


# ----------------------------------------------------------------------------- Spotter's pieces
def test_masked_soft_target_zeroes_the_forget_class_and_renormalises():
    q = masked_soft_target(torch.tensor([[0.5, 0.3, 0.2], [0.1, 0.1, 0.8]]), 0)
    assert q.tolist() == [pytest.approx([0.0, 0.6, 0.4]), pytest.approx([0.0, 1 / 9, 8 / 9])]


def test_dispersion_is_the_mean_cosine_of_same_label_pairs():
    h = torch.tensor([[1.0, 0.0], [1.0, 1.0], [0.0, 1.0]])
    # same-label pairs: (0, 1) and (1, 0), cosine 1/√2; sample 2 is alone in its class
    assert float(dispersion_loss(h, torch.tensor([0, 0, 1]))) == pytest.approx(1 / math.sqrt(2))
    # one class: pairs (0,1), (0,2), (1,2) twice each: (1/√2 + 0 + 1/√2)/3
    assert float(dispersion_loss(h, torch.tensor([3, 3, 3]))) == pytest.approx(2 / (3 * math.sqrt(2)))
    assert float(dispersion_loss(h, torch.tensor([0, 1, 2]))) == 0.0
    # the scale of a feature does not matter (cosine)
    assert float(dispersion_loss(h * torch.tensor([[5.0], [2.0], [1.0]]), torch.tensor([0, 0, 1]))) == \
        pytest.approx(1 / math.sqrt(2))


class LinearTeacher(nn.Module):
    def __init__(self, weight):
        super().__init__()
        self.fc = nn.Linear(2, len(weight), bias=False)
        with torch.no_grad():
            self.fc.weight.copy_(torch.tensor(weight))

    def features(self, x):
        return x.flatten(1)

    def forward(self, x):
        return self.fc(self.features(x))


def test_pgd_neighbour_steps_away_from_the_runner_up_within_eps():
    # logits (x₀, x₁, (x₀ + x₁)/2) at x = (0.6, 0.4): (0.6, 0.4, 0.5), label 0 wins, so the runner-up is class 2.
    # ∇ₓ CE(·, 2) = Wᵀ(p − e₂) = (p₀ − (1 − p₂)/2, p₁ − (1 − p₂)/2) ≈ (+0.03, −0.03): the ascent step of 0.1 leaves
    # the ε = 0.01 ball on both axes, so the projection lands on x + 0.01·(+1, −1) wherever the random start was
    teacher = LinearTeacher([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]])
    data = SimpleNamespace(mean=(0.0, 0.0), std=(1.0, 1.0))
    x = torch.tensor([0.6, 0.4]).view(1, 2, 1, 1)
    gen = torch.Generator().manual_seed(0)
    adv = pgd_neighbours(teacher, data, x, torch.tensor([0]), eps=0.01, step=0.1, steps=1, generator=gen)
    assert adv.flatten().tolist() == pytest.approx([0.61, 0.39], abs=1e-6)
    toward = pgd_neighbours(teacher, data, x, torch.tensor([0]), eps=0.01, step=0.1, steps=1, sign=-1.0,
                            generator=gen)
    assert toward.flatten().tolist() == pytest.approx([0.59, 0.41], abs=1e-6)
    # the label is not the top class: the runner-up is the top class itself (1 here), and the images stay valid
    edge = torch.tensor([0.999, 0.0]).view(1, 2, 1, 1)
    adv = pgd_neighbours(teacher, data, edge, torch.tensor([1]), eps=0.05, step=0.02, steps=3, generator=gen)
    assert float(adv.max()) <= 1.0 and float(adv.min()) >= 0.0 and float((adv - edge).abs().max()) <= 0.05 + 1e-7


# ----------------------------------------------------------------------------- registry and entry point
def test_registry_entries_and_generic_variants():
    assert NAMES == ["trew", "spotter"]
    names = method_names()
    for name in NAMES:
        entry = METHODS[name]
        assert entry.approximate and entry.gradient and entry.doc
        assert get_method(f"{name}_our").fn.func is over_unlearn_and_replay and f"{name}_our" in names
        assert get_method(f"{name}_orth").fn.func is orth_over_unlearn_and_replay and f"{name}_orth" in names
    trew, spot = method_settings("cifar20", "trew"), method_settings("cifar100", "spotter")
    assert trew["beta"] == 10.0 and trew["para1"] == 0.01  # the paper's β
    assert (spot["para1"], spot["para2"], spot["lambda_1"], spot["lambda_2"]) == (1e-4, 10, 0.7, 1.0)
    assert (spot["eps"], spot["pgd_step"], spot["pgd_steps"], spot["batch_size"]) == (0.03, 0.01, 3, 128)


@pytest.mark.parametrize("name", NAMES + [f"{n}_our" for n in NAMES])
def test_entry_point_runs_each_method_and_its_our(tmp_path, digits_pretrained, name):
    res = main("digits", argv=["-method", name, "--log_root", str(tmp_path), "-weight_path", digits_pretrained,
                               "--device", "cpu", "--para1", "0.01", "--para2", "1"])
    assert res["status"] == "done" and 0 <= res["metrics"]["UA"] <= 1
    assert [p["name"] for p in res["phases"]] == ([PHASE1, PHASE2] if name.endswith("_our") else ["unlearn"])
    pre, _ = load_checkpoint(digits_pretrained)
    last, meta = load_checkpoint(res["checkpoints"]["last"])
    assert meta["method"] == name and {k: v.shape for k, v in last.items()} == {k: v.shape for k, v in pre.items()}
    assert not all(torch.equal(pre[k], last[k]) for k in pre)


# ----------------------------------------------------------------------------- invariants of a run
@pytest.fixture(scope="module")
def tiny():
    """digits cut to 48 retain + 16 forget samples."""
    return digits_cut(48, 16, 40)


def _run(exp, weights, name, mask=None, **settings):
    teacher, _ = load_model(weights, exp, net="resnet8")
    model = copy.deepcopy(teacher)
    teacher.requires_grad_(False)
    s = dict(method_settings("digits", name), **settings)
    ctx = Context(model=model, teacher=teacher, exp=exp, net="resnet8", reg=Regulariser(model, mask=mask), seed=0,
                  settings=s, mask=mask)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    return ctx, before, get_method(name).fn(ctx, s["para1"], s["para2"])


@pytest.mark.parametrize("name", NAMES)
def test_all_zero_mask_freezes_every_weight(tiny, digits_pretrained, name):
    teacher, _ = load_model(digits_pretrained, tiny, net="resnet8")
    zero = {k: torch.zeros_like(p) for k, p in teacher.named_parameters()}
    _, before, out = _run(tiny, digits_pretrained, name, mask=zero, para1=0.01, para2=1, batch_size=8)
    assert all(torch.equal(p, before[k]) for k, p in out.named_parameters())


def test_spotter_keeps_batchnorm_statistics_and_sees_no_retain_image(tiny, digits_pretrained, monkeypatch):
    seen = []
    real = rival_defences.masked_soft_target
    monkeypatch.setattr(rival_defences, "masked_soft_target", lambda p, f: (seen.append(len(p)), real(p, f))[1])
    ctx, before, out = _run(tiny, digits_pretrained, "spotter", para1=0.01, para2=2, batch_size=8)
    for k, v in out.state_dict().items():
        if "running" in k:
            assert torch.equal(v, before[k]), k  # frozen BatchNorm statistics, as the reference
    assert not all(torch.equal(p, before[k]) for k, p in out.named_parameters())
    # per step one teacher target for a D_f batch and one for its PGD neighbours: 2 epochs × 16 images × 2
    assert sum(seen) == 2 * 16 * 2


def test_trew_moves_the_forget_images_towards_the_most_similar_class(tiny, digits_pretrained):
    ctx, _, out = _run(tiny, digits_pretrained, "trew", para1=0.05, para2=3, batch_size=16)
    f = tiny.split.forget_index
    sim = rival_defences.trew_similarity(ctx)
    nearest = int(torch.tensor([v if k != f else -9 for k, v in enumerate(sim.tolist())]).argmax())
    data = tiny.train
    x = data.normalize(data.x[tiny.split.forget_train])
    with torch.no_grad():
        p_before, p_after = F.softmax(ctx.teacher.eval()(x), 1), F.softmax(out.eval()(x), 1)
    assert float(p_after[:, f].mean()) < float(p_before[:, f].mean()) - 0.2
    assert float(p_after[:, nearest].mean()) > float(p_before[:, nearest].mean())
