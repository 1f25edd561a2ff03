"""eval_mode: eval inside the block, each model's own mode afterwards, also when the block raises."""
from __future__ import annotations

import pytest
import torch.nn as nn

from unlearning.evaluation import eval_mode


def test_eval_mode_restores_each_models_mode():
    a, b = nn.Sequential(nn.Linear(2, 2), nn.Dropout()), nn.BatchNorm1d(2)
    a.train()
    b.eval()
    with eval_mode(a, b):
        assert not a.training and not a[1].training and not b.training
    assert a.training and a[1].training and not b.training


def test_eval_mode_restores_on_exception():
    m = nn.Dropout()
    m.train()
    with pytest.raises(RuntimeError, match="inside"):
        with eval_mode(m):
            raise RuntimeError("inside")
    assert m.training
