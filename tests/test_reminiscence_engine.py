"""ReA engines: vmap_grad == vmap_sum == loop on a tiny problem, early stop at τ (same steps-to-τ, curves cut at the stop), stacks stay
contiguous through the steps and the compaction of stopped runs."""
from __future__ import annotations

import copy
import json
import math
import os

import numpy as np
import pytest
import torch
import torch.nn as nn

from unlearning.attacks import reminiscence as R
from unlearning.cli.attack import rea_main

torch.set_num_threads(1)


# ----------------------------------------------------------------------------- a tiny, hand-checkable problem
class TinyData:
    """Images are 2-vectors; normalisation is the identity."""

    def __init__(self, x, y):
        self.x, self.y = x, y

    def normalize(self, x):
        return x


class TinySplit:
    forget_index = 0

    def targets(self, y):
        return y.clone()


N_ATTACK, T, M = 4, 6, 2


def tiny_problem():
    """Class 0 (the forget output) at (+1, 0); class 1 at (−1, 0); attacker samples at (a, 1) for a in {3, 0.5, −2}:
    the target (logit₀ − logit₁ = 2·x₀ after an identity BatchNorm1d) calls (3, 1) and (0.5, 1) class 0 at once
    (step 0), (−2, 1) only after training on it with the forget label: at lr 0.5 within T steps, at 0.02 not."""
    gen = torch.Generator().manual_seed(0)
    retain = torch.cat([torch.tensor([[1.0, 0.0]]) + 0.1 * torch.randn(8, 2, generator=gen),
                        torch.tensor([[-1.0, 0.0]]) + 0.1 * torch.randn(8, 2, generator=gen)])
    samples = [torch.tensor([[a, 1.0]]) + 0.05 * torch.randn(N_ATTACK, 2, generator=gen) for a in (3.0, 0.5, -2.0)]
    x = torch.cat([retain, *samples])
    y = torch.cat([torch.zeros(8), torch.ones(8), torch.full((3 * N_ATTACK,), 2.0)]).long()
    data = TinyData(x, y)
    model = nn.Sequential(nn.BatchNorm1d(2), nn.Linear(2, 3))
    with torch.no_grad():
        model[1].weight.copy_(torch.tensor([[1.0, 0.0], [-1.0, 0.0], [0.0, 0.0]]))
        model[1].bias.zero_()
    model.eval()
    mix = torch.arange(16)[torch.randperm(16, generator=gen)].repeat(2)[:T * M].view(T, M)
    runs = [R.Run(i, lr, "forget" if i % 3 == 0 else "ood", -1 if i % 3 == 0 else 7, 0,
                  torch.arange(16 + N_ATTACK * (i % 3), 16 + N_ATTACK * (i % 3 + 1)), mix)
            for i, lr in enumerate([0.5, 0.5, 0.5, 0.02, 0.02, 0.02])]
    return model, R.RunData(data, TinySplit()), runs


def test_threshold_count_is_the_statistics_comparison():
    # τ = 0.9 of 12 images: 10/12 = 0.833 < 0.9 ≤ 11/12; of 4: 4/4. τ = 0.75 of 4: exactly 3/4 (the 1e-12 slack)
    assert R.threshold_count(0.9, 12) == 11 and R.threshold_count(0.9, 4) == 4 and R.threshold_count(0.75, 4) == 3
    assert R.threshold_count(1.0, 7) == 7 and R.threshold_count(1e-9, 5) == 1
    for n in (1, 3, 12):
        for tau in (0.1, 0.5, 0.9, 1.0):
            k = R.threshold_count(tau, n)
            acc = np.array([[(k - 1) / n, k / n]]) if k > 0 else np.array([[0.0, 0.0]])
            assert R.steps_to_threshold(acc, tau).tolist() == ([1] if k > 0 else [0])


@pytest.mark.parametrize("chunk, engine", [(0, None), (2, "vmap_grad"), (6, "vmap_grad"), (2, "vmap_sum"),
                                           (6, "vmap_sum")])  # the loop, chunks that straddle, one chunk
def test_early_stop_keeps_steps_to_tau_and_cuts_the_curve(chunk, engine):
    model, rd, runs = tiny_problem()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    tau, stop = 0.75, R.threshold_count(0.75, N_ATTACK)
    full = R.relearn(model, runs, rd, T, chunk, engine=engine)
    cut = R.relearn(model, runs, rd, T, chunk, stop_count=stop, engine=engine)
    assert (full >= 0).all() and full.shape == cut.shape == (6, T + 1)
    # hand-checkable ends: (3, 1) is right at step 0 and stops there; (−2, 1) at lr 0.02 never gets there in T steps
    assert full[0, 0] == full[3, 0] == N_ATTACK and full[2, 0] == full[5, 0] == 0
    assert (full[5] == 0).all() and full[2, -1] < stop  # and (−2, 1) at lr 0.5 falls back below τ by step T
    s_full = R.steps_to_threshold(full / N_ATTACK, tau)
    s_cut = R.steps_to_threshold(np.where(cut == R.STOPPED, -1, cut) / N_ATTACK, tau)
    assert s_full.tolist() == s_cut.tolist()
    assert s_full[0] == s_full[3] == 0 and s_full[5] == T + 1
    assert 0 < s_full[2] < T  # a run that does stop in the middle: the case under test
    for i, s in enumerate(s_full):
        measured = min(s, T)  # the steps up to and including the stop are measured, the rest is STOPPED
        assert np.array_equal(cut[i, :measured + 1], full[i, :measured + 1])
        assert (cut[i, measured + 1:] == R.STOPPED).all()
    # trained model-steps = the sum of the stop steps (runs that never reach τ train all T)
    assert int((cut[:, 1:] != R.STOPPED).sum()) == int(np.minimum(s_full, T).sum())
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())  # the target is untouched


@pytest.mark.parametrize("engine", R.ENGINES)
def test_stopped_run_keeps_the_weights_of_its_stop_step(engine):
    model, rd, runs = tiny_problem()
    stop = R.threshold_count(0.75, N_ATTACK)
    states_cut, states_short = [], []
    cut = R.relearn(model, runs, rd, T, 3, states=states_cut, stop_count=stop, engine=engine)
    s = int(R.steps_to_threshold(np.where(cut == R.STOPPED, -1, cut)[2:3] / N_ATTACK, 0.75)[0])
    assert 0 < s < T
    R.relearn(model, runs[2:3], rd, s, 3, states=states_short, engine=engine)  # the same run, exactly s steps
    for k, v in states_short[0].items():
        assert torch.equal(states_cut[2][k], v), k
    assert states_cut[0]["0.num_batches_tracked"].item() == model.state_dict()["0.num_batches_tracked"].item()


def test_engines_give_equal_counts():
    model, rd, runs = tiny_problem()
    loop = R.relearn(model, runs, rd, T, 0)
    for engine in R.ENGINES:
        assert np.array_equal(R.relearn(model, runs, rd, T, 4, engine=engine), loop), engine


def test_engine_choice_errors():
    model, rd, runs = tiny_problem()
    with pytest.raises(R.ReAError, match="unknown ReA engine 'fast'"):
        R.relearn(model, runs, rd, T, 2, engine="fast")
    with pytest.raises(R.ReAError, match="early_stop is True or False"):
        R.ReAConfig(early_stop="yes").validate()


@pytest.mark.parametrize("engine", R.ENGINES)
@pytest.mark.parametrize("stop_count", [None, 3])
def test_stacks_stay_contiguous_through_steps_and_compaction(monkeypatch, stop_count, engine):
    """Every stacked parameter, buffer and momentum tensor is contiguous after the steps (and after stopped runs
    were removed from the stacks), also from a target whose weights are not contiguous."""
    model, rd, runs = tiny_problem()
    odd = copy.deepcopy(model)
    odd[1].weight.data = odd[1].weight.data.t().contiguous().t()  # a transposed, non-contiguous view
    assert not odd[1].weight.is_contiguous()
    made = []
    real = R.stack_targets
    monkeypatch.setattr(R, "stack_targets", lambda models, owners: made.append(real(models, owners)) or made[-1])
    R.relearn(odd, runs, rd, T, 6, stop_count=stop_count, engine=engine)
    assert made
    for st in made:
        for group in (st.params, st.buffers, st.momentum):
            bad = [k for k, v in group.items() if not v.is_contiguous()]
            assert not bad, bad
    if stop_count is not None:
        assert made[0].b < len(runs)  # runs did leave the stacks


# ----------------------------------------------------------------------------- the attack with early stop
def test_early_stop_results_on_digits(tmp_path, digits_pretrained):
    out = str(tmp_path / "out")
    argv = ["--model_path", digits_pretrained, "--out_dir", out, "--repeats", "2", "--steps", "5", "--mix_batch", "4",
            "--num_ood_dataset", "2", "--relearning_lr", "0.05", "--quiet", "--device", "cpu", "--no_plot"]
    full = rea_main("digits", argv=argv)
    cut = rea_main("digits", argv=argv + ["--early_stop"])
    assert cut["out_dir"] == full["out_dir"] + "_stop"
    a, b = full["per_lr"]["0.05"], cut["per_lr"]["0.05"]
    assert a["member_steps"] == b["member_steps"] and a["non_member_steps"] == b["non_member_steps"]
    assert a["steps_scores"] == b["steps_scores"] and a["roc_auc"] == b["roc_auc"]
    assert b["member_area"] is None and b["area_scores"] is None and "early_stop" in b["area_not_measured"]
    assert a["area_scores"] is not None
    data = json.load(open(os.path.join(cut["out_dir"], "results.json")))
    assert data["settings"]["early_stop"] is True and "plot" not in data["files"]
    assert data["model_steps_trained"] == sum(min(s, 5) for s in b["member_steps"] + b["non_member_steps"])
    rows = [line.split("\t") for line in open(os.path.join(cut["out_dir"], "curves_lr0.05.tsv")).read().splitlines()]
    steps = b["member_steps"] + b["non_member_steps"]
    sides = [r[1] for r in rows[1:]]
    assert sides == ["forget", "ood", "ood", "forget", "ood", "ood"]
    ordered = [b["member_steps"][0], *b["non_member_steps"][:2], b["member_steps"][1], *b["non_member_steps"][2:]]
    for row, s in zip(rows[1:], ordered):
        acc = [float(v) for v in row[4:]]
        assert all(not math.isnan(v) for v in acc[:min(s, 5) + 1])
        assert all(math.isnan(v) for v in acc[min(s, 5) + 1:])  # "nan": not measured after the stop
    assert len(steps) == 6
