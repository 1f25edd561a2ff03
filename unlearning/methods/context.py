"""What a method receives: the ``Context`` of one unlearning run."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Dict, Optional

import torch
import torch.nn as nn

from ..training import Loader, Regulariser


@dataclass
class Context:
    model: nn.Module  # the model being unlearned (a copy of the pretrained one); methods change it in place
    teacher: nn.Module  # the pretrained model, never changed
    exp: object  # unlearning.experiment.Experiment
    net: str
    reg: Regulariser  # built on ``model`` while it still holds the pretrained weights (the ℓ2 anchor)
    seed: int = 0
    settings: dict = field(default_factory=dict)
    mask: Optional[Dict[str, torch.Tensor]] = None  # the --mask_path mask (already inside ``reg``)
    on_phase: Optional[Callable] = None  # on_phase(name, model, seconds): a multi-phase method reports a phase
    recipe: Optional[dict] = None  # the run's recipe (load_recipe): a method that runs another passes it on

    @property
    def split(self):
        return self.exp.split

    @property
    def device(self):
        return self.exp.device

    def setting(self, key, default=KeyError):
        """The method's setting ``key`` (registered with its paper-preset value, so always present); ``default``
        only for the shared optimiser pieces whose value the calling method passes."""
        value = self.settings.get(key)
        if value is None:
            if default is KeyError:
                if key in self.settings:
                    return None
                raise KeyError(f"setting {key!r} is not registered for this method (register it with its "
                               f"paper-preset value)")
            return default
        return value

    @property
    def batch_size(self) -> int:
        return int(self.setting("batch_size", self.exp.preset["pretrain"]["batch_size"]))

    def targets(self, idx, data=None) -> torch.Tensor:
        """Output indices of ``data[idx]`` (the split's one class mapping)."""
        data = self.exp.train if data is None else data
        return self.split.targets(data.y[torch.as_tensor(idx).to(data.y.device)])

    def loader(self, idx, targets=None, batch_size=None, shuffle=True, stream=0, data=None) -> Loader:
        """A seeded loader; ``stream`` separates the shuffles of a method's different loaders."""
        data = self.exp.train if data is None else data
        targets = self.targets(idx, data) if targets is None else targets
        return Loader(data, idx, targets, batch_size or self.batch_size, shuffle=shuffle,
                      seed=self.seed * 1000 + stream)

    def generator(self, stream=0) -> torch.Generator:
        return torch.Generator().manual_seed(self.seed * 1000 + 500 + stream)

    def fresh_model(self, stream=0) -> nn.Module:
        """A randomly initialised model of the same architecture, seeded (init on the CPU generator)."""
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed * 1000 + 700 + stream)
            return self.exp.new_model(self.net)

    def random_other_labels(self, n: int, stream=0) -> torch.Tensor:
        """Uniformly random labels among the trained outputs other than the forget class's."""
        k, f = self.split.num_outputs, self.split.forget_index
        return ((f + torch.randint(1, k, (n,), generator=self.generator(stream))) % k).to(self.device)
