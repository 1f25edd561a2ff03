"""The one class split of an experiment: which classes are trained, OOD and forgotten, and where each sample goes.

Every label that reaches a model goes through ``ClassSplit.targets`` (original id → output index), the single
sorted mapping (kept classes in increasing original id), for retain, forget and OOD data alike.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Optional

import torch

from .base import ImageData


class SplitError(ValueError):
    """Bad class arguments (forget class out of range or held out, bad OOD list)."""


def _stratified_holdout(labels: torch.Tensor, candidates: torch.Tensor, fraction: float, seed: int, groups=None):
    """Per class, a seeded random ``fraction`` of ``candidates`` (indices) → (kept, held_out).

    With ``groups`` (augmented copies of one source image share a group), whole groups are held out, so no
    copy of a validation image is trained on.
    """
    gen = torch.Generator().manual_seed(seed)
    held = []
    for c in torch.unique(labels[candidates]).tolist():
        members = candidates[labels[candidates] == c]
        if groups is None:
            n_out = int(round(fraction * len(members)))
            perm = members[torch.randperm(len(members), generator=gen)]
            held.append(perm[:n_out])
        else:
            ids = torch.unique(groups[members])
            chosen = ids[torch.randperm(len(ids), generator=gen)[: int(round(fraction * len(ids)))]]
            held.append(members[torch.isin(groups[members], chosen)])
    held = torch.sort(torch.cat(held))[0] if held else candidates[:0]
    keep = candidates[~torch.isin(candidates, held)]
    return keep, held


@dataclass
class ClassSplit:
    dataset: str
    num_classes: int
    ood_classes: List[int]
    trained_classes: List[int]
    forget_class: Optional[int]
    forget_fine: Optional[int] = None
    ood_fine: List[int] = field(default_factory=list)
    val_fraction: float = 0.1
    split_seed: int = 0
    # indices into the train / test ImageData
    train_idx: torch.Tensor = None  # everything the model trains on (retain + forget)
    val_idx: torch.Tensor = None
    retain_train: torch.Tensor = None
    forget_train: torch.Tensor = None
    retain_test: torch.Tensor = None
    forget_test: torch.Tensor = None
    ood_train: Dict[int, torch.Tensor] = field(default_factory=dict)
    ood_test: Dict[int, torch.Tensor] = field(default_factory=dict)
    _lookup: dict = field(default_factory=dict, repr=False, compare=False)  # device → targets() lookup table

    @property
    def class_to_index(self) -> Dict[int, int]:
        return {c: i for i, c in enumerate(self.trained_classes)}

    @property
    def num_outputs(self) -> int:
        return len(self.trained_classes)

    @property
    def forget_index(self) -> Optional[int]:
        return None if self.forget_class is None else self.class_to_index[self.forget_class]

    @property
    def subclass(self) -> bool:
        return self.forget_fine is not None

    def targets(self, labels: torch.Tensor) -> torch.Tensor:
        """Original class ids → output indices (-1 for classes the model has no output for)."""
        if labels.device not in self._lookup:  # built once per device
            lookup = torch.full((self.num_classes,), -1, dtype=torch.long)
            for c, i in self.class_to_index.items():
                lookup[c] = i
            self._lookup[labels.device] = lookup.to(labels.device)
        return self._lookup[labels.device][labels.long()]

    def metadata(self) -> dict:
        """What a checkpoint must agree on to be used with this split (JSON/weights_only friendly)."""
        return {
            "dataset": self.dataset,
            "num_classes": self.num_classes,
            "trained_classes": list(self.trained_classes),
            "ood_classes": list(self.ood_classes),
            "ood_fine": list(self.ood_fine),
            "val_fraction": float(self.val_fraction),
            "split_seed": int(self.split_seed),
        }

    def summary(self) -> str:
        f = f"forget class {self.forget_class}" if not self.subclass else f"forget fine class {self.forget_fine}"
        ood = sum(len(v) for v in self.ood_train.values())
        return (
            f"{self.dataset}: {self.num_outputs} trained classes, OOD {self.ood_classes or self.ood_fine}, {f}; "
            f"train {len(self.train_idx)} (retain {len(self.retain_train)}, forget {len(self.forget_train)}), "
            f"val {len(self.val_idx)}, test retain {len(self.retain_test)} / forget {len(self.forget_test)}, "
            f"OOD train {ood}"
        )


def build_split(
    dataset: str,
    train: ImageData,
    test: ImageData,
    num_classes: int,
    ood_classes,
    forget_class=None,
    val_fraction: float = 0.1,
    split_seed: int = 0,
    forget_fine=None,
    ood_fine=None,
) -> ClassSplit:
    """Build the split. Full-class mode: ``forget_class`` is an original class id (or None for pretraining).

    Sub-class mode (CIFAR-20): ``forget_fine`` is a fine class; the forget class is its superclass; the
    ``ood_fine`` fine classes (same superclass) are held out of training and serve as OOD controls.
    """
    ood_classes = sorted(int(c) for c in (ood_classes or []))
    for c in ood_classes:
        if not 0 <= c < num_classes:
            raise SplitError(f"OOD class {c} is outside {dataset}'s classes 0..{num_classes - 1}")
    trained = [c for c in range(num_classes) if c not in ood_classes]
    if not trained:
        raise SplitError("every class is OOD: nothing to train on")
    ood_fine = sorted(int(c) for c in (ood_fine or []))

    if forget_fine is not None:
        if train.fine is None:
            raise SplitError(f"{dataset} has no fine labels: the sub-class setting needs CIFAR-20")
        forget_fine = int(forget_fine)
        fine_to_coarse = {int(f): int(c) for f, c in zip(train.fine.tolist(), train.y.tolist())}
        if forget_fine not in fine_to_coarse:
            raise SplitError(f"forget fine class {forget_fine} does not occur in {dataset}")
        if forget_fine in ood_fine:
            raise SplitError(f"forget fine class {forget_fine} is one of the held-out OOD fine classes {ood_fine}")
        superclass = fine_to_coarse[forget_fine]
        for f in ood_fine:
            if fine_to_coarse.get(f) != superclass:
                raise SplitError(f"OOD fine class {f} is not in the forget class's superclass {superclass}")
        if forget_class is not None and int(forget_class) != superclass:
            raise SplitError(f"fine class {forget_fine} belongs to superclass {superclass}, not {forget_class}")
        forget_class = superclass

    if forget_class is not None:
        if isinstance(forget_class, bool) or int(forget_class) != forget_class:
            raise SplitError(f"forget class must be an integer, got {forget_class!r}")
        forget_class = int(forget_class)
        if not 0 <= forget_class < num_classes:
            raise SplitError(f"forget class {forget_class} is out of range: {dataset} has classes 0..{num_classes - 1}")
        if forget_class in ood_classes:
            raise SplitError(f"forget class {forget_class} is an OOD class of {dataset} (ood_classes={ood_classes})")

    def excluded_fine(data):
        if data.fine is None or not ood_fine:
            return torch.zeros(len(data), dtype=torch.bool)
        return torch.isin(data.fine, torch.tensor(ood_fine))

    trained_t = torch.tensor(trained)
    in_train = torch.isin(train.y, trained_t) & ~excluded_fine(train)
    in_test = torch.isin(test.y, trained_t) & ~excluded_fine(test)
    candidates = torch.nonzero(in_train).flatten()
    train_idx, val_idx = _stratified_holdout(train.y, candidates, val_fraction, split_seed, train.group)

    def is_forget(data, idx):
        if forget_fine is not None:
            return data.fine[idx] == forget_fine
        if forget_class is None:
            return torch.zeros(len(idx), dtype=torch.bool)
        return data.y[idx] == forget_class

    test_idx = torch.nonzero(in_test).flatten()
    f_tr, f_te = is_forget(train, train_idx), is_forget(test, test_idx)

    def ood_sets(data):
        if forget_fine is not None:
            return {f: torch.nonzero(data.fine == f).flatten() for f in ood_fine}
        return {c: torch.nonzero(data.y == c).flatten() for c in ood_classes}

    return ClassSplit(
        dataset=dataset,
        num_classes=num_classes,
        ood_classes=ood_classes,
        trained_classes=trained,
        forget_class=forget_class,
        forget_fine=forget_fine,
        ood_fine=ood_fine,
        val_fraction=val_fraction,
        split_seed=split_seed,
        train_idx=train_idx,
        val_idx=val_idx,
        retain_train=train_idx[~f_tr],
        forget_train=train_idx[f_tr],
        retain_test=test_idx[~f_te],
        forget_test=test_idx[f_te],
        ood_train=ood_sets(train),
        ood_test=ood_sets(test),
    )
