"""train_supervised keeps the latest of the epochs that tie for the best validation accuracy."""
import torch
import torch.nn as nn

from unlearning.training import train_supervised


def _run(val_accs):
    torch.manual_seed(0)
    model = nn.Linear(2, 2)
    x, y = torch.randn(8, 2), torch.tensor([0, 1] * 4)
    seen = iter(val_accs)
    states = []

    def validate(m):
        states.append({k: v.clone() for k, v in m.state_dict().items()})
        return next(seen)

    out = train_supervised(model, [(x, y)], {"epochs": len(val_accs), "lr": 0.1, "milestones": ()}, validate,
                           progress=False)
    return out, model, states


def test_latest_tied_epoch_is_kept():
    out, model, states = _run([0.5, 0.9, 0.9, 0.8, 0.9, 0.7])
    assert out["best_epoch"] == 5 and out["best_val_acc"] == 0.9  # epochs 2, 3 and 5 tie: the last one
    assert all(torch.equal(model.state_dict()[k], states[4][k]) for k in states[4])


def test_a_strictly_better_epoch_still_wins():
    out, _, _ = _run([0.5, 0.95, 0.9, 0.9])
    assert out["best_epoch"] == 2
