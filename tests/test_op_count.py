"""The op counters of benchmarks/bench_paper_preset.py (section (d)): hand-counted answers, and the invariant the
foreach forms are for: the λ₁ penalty and the project's SGD cost the same number of dispatched ops whatever the
number of parameter tensors."""
from __future__ import annotations

import importlib.util
import os

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from unlearning.training import Regulariser, l1_norm, sgd

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_paper_preset",
                                                  os.path.join(ROOT, "benchmarks", "bench_paper_preset.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_op_counter_counts_each_dispatched_op_once(bench):
    a = torch.ones(3)
    with bench.OpCounter() as c:
        b = a * 2 + 1
    assert c.total == 2 and c.counts == {"aten.mul": 1, "aten.add": 1}
    assert torch.equal(b, torch.full((3,), 3.0))  # the ops still ran
    params = [torch.ones(2) for _ in range(4)]
    with bench.OpCounter() as c:
        total = sum(p.abs().sum() for p in params)  # 0 + Σ: per tensor an abs, a sum and an add
    assert c.total == 12 and c.counts == {"aten.abs": 4, "aten.sum": 4, "aten.add": 4} and total.item() == 8.0
    with bench.OpCounter() as c:
        norms = torch._foreach_norm(params, 1)
    assert c.total == 1 and [n.item() for n in norms] == [2.0] * 4


def test_profiler_count_takes_the_outermost_aten_calls(bench):
    a = torch.ones(3)
    assert bench.profiled_ops(lambda: a * 2 + 1) == 2
    w = torch.ones(4, 3)
    assert bench.profiled_ops(lambda: F.linear(a, w)) == 1  # linear's inner t/mm are not counted


def net(blocks):
    torch.manual_seed(0)
    return nn.Sequential(*[nn.Linear(6, 6) for _ in range(blocks)])


def step_ops(bench, model, l1, project_sgd):
    opt = (sgd(model.parameters(), 0.1, 0.9, 5e-4, torch.device("cpu")) if project_sgd
           else torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4))
    reg = Regulariser(model, l1=l1)
    x, y = torch.randn(8, 6), torch.arange(8) % 6

    def step():
        reg.step(opt, F.cross_entropy(model(x), y))
    step()
    step()  # the momentum buffers exist
    with bench.OpCounter() as c:
        step()
    return c.total


def test_l1_and_the_project_sgd_cost_a_fixed_number_of_ops(bench):
    """2 vs 20 parameter tensors: the λ₁ term adds the same ops to a step, the project's SGD the same ops to the
    update; the per-parameter SGD grows with the tensors."""
    l1_cost = [step_ops(bench, net(k), 1e-3, True) - step_ops(bench, net(k), 0.0, True) for k in (1, 10)]
    assert l1_cost[0] == l1_cost[1] and 0 < l1_cost[0] <= 12
    sgd_cost = [step_ops(bench, net(k), 0.0, False) - step_ops(bench, net(k), 0.0, True) for k in (1, 10)]
    assert sgd_cost[1] > sgd_cost[0] >= 0 and sgd_cost[1] - sgd_cost[0] >= 18 * 3  # ≥ 3 ops per tensor per step


def test_l1_norm_is_one_foreach_op_and_the_sum_of_absolute_values(bench):
    model = net(3)
    with torch.no_grad(), bench.OpCounter() as c:
        l1_norm(model)
    assert c.counts == {"aten._foreach_norm": 1, "aten.stack": 1, "aten.sum": 1}
    with bench.OpCounter() as c:
        value = l1_norm(model)
    assert c.total - c.counts["aten.detach"] == 3  # with a graph: the same three, and autograd's saved views
    assert torch.allclose(value, sum(p.abs().sum() for p in model.parameters()), rtol=1e-6)
