"""scikit-learn's bundled 8×8 digits: the embedded default, no download."""
from __future__ import annotations

import numpy as np
import torch

from .base import ImageData

DIGITS_TEST_FRACTION = 0.25
DIGITS_SPLIT_SEED = 0  # fixed so every run, whatever its --seed, sees the same train/test split


def load_digits_data(data_root=None, download=False, test_fraction=DIGITS_TEST_FRACTION):
    """Train/test ImageData from ``sklearn.datasets.load_digits`` (values 0–16, one channel)."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    bunch = load_digits()
    images = bunch.images.astype(np.uint8)  # 1797×8×8, integers 0..16
    labels = bunch.target.astype(np.int64)
    idx_train, idx_test = train_test_split(
        np.arange(len(labels)), test_size=test_fraction, stratify=labels, random_state=DIGITS_SPLIT_SEED
    )
    names = [str(i) for i in range(10)]

    def make(idx):
        idx = np.sort(idx)
        return ImageData(
            x=torch.from_numpy(images[idx]).unsqueeze(1).contiguous(),
            y=torch.from_numpy(labels[idx]),
            scale=16.0,
            mean=(0.3,),
            std=(0.4,),
            class_names=names,
        )

    return make(idx_train), make(idx_test)


DIGITS_FRACTIONS = (25, 50)  # percent of each training class kept by the registered digits_frac<p> datasets
DIGITS_FRACTION_SEED = 0  # the subsample is part of the dataset: fixed, whatever the run's --seed


def load_digits_fraction(data_root=None, download=False, fraction=0.5):
    """Digits with ``fraction`` of each class's training images (seeded, without replacement; at least one per
    class), the test split unchanged: the same class split at a smaller training-set size. A smaller fraction keeps
    a subset of a larger one's images (one permutation per class, cut at the fraction)."""
    if not 0 < fraction <= 1:
        raise ValueError(f"digits fraction must be in (0, 1], got {fraction}")
    train, test = load_digits_data()
    gen = torch.Generator().manual_seed(DIGITS_FRACTION_SEED)
    keep = []
    for c in range(10):
        members = torch.nonzero(train.y == c).flatten()
        order = members[torch.randperm(len(members), generator=gen)]
        keep.append(order[:max(1, int(round(fraction * len(members))))])
    idx = torch.sort(torch.cat(keep)).values
    return (ImageData(x=train.x[idx], y=train.y[idx], scale=train.scale, mean=train.mean, std=train.std,
                      class_names=train.class_names), test)


DIGITS_X10_SEED = 0  # the augmentation is part of the dataset: fixed, whatever the run's --seed


def _upsample(images: torch.Tensor, size: int) -> torch.Tensor:
    return torch.nn.functional.interpolate(images, size=(size, size), mode="bilinear", align_corners=False)


def _random_affine(images: torch.Tensor, gen: torch.Generator, max_shift: float, max_degrees: float) -> torch.Tensor:
    """Per-image seeded rotation (±max_degrees) and shift (±max_shift, as a fraction of the half-width)."""
    n = len(images)
    angle = (torch.rand(n, generator=gen) * 2 - 1) * max_degrees * torch.pi / 180
    shift = (torch.rand(n, 2, generator=gen) * 2 - 1) * max_shift
    cos, sin = torch.cos(angle), torch.sin(angle)
    theta = torch.stack([torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1)
    grid = torch.nn.functional.affine_grid(theta, list(images.shape), align_corners=False)
    return torch.nn.functional.grid_sample(images, grid, padding_mode="zeros", align_corners=False)


def load_digits_x10(data_root=None, download=False, copies=10, size=16, source="digits"):
    """Digits enlarged ×``copies`` with seeded shifts and small rotations, upsampled to ``size``×``size``.

    Train: every image in ``copies`` versions (the first unaugmented), tagged with its source image in
    ``group`` so the validation split holds out whole groups. Test: the original test images, upsampled.
    ``source="shadow"``: the same construction on digits_shadow (the attacker's shadow data at the x10 scale).
    """
    train, test = load_digits_data() if source == "digits" else load_digits_shadow()
    gen = torch.Generator().manual_seed(DIGITS_X10_SEED)
    base = _upsample(train.x.float() / train.scale, size)
    versions = [base] + [_random_affine(base, gen, max_shift=0.25, max_degrees=12) for _ in range(copies - 1)]

    def to_uint8(t):
        return (t.clamp(0, 1) * 255).round().to(torch.uint8)

    n = len(train)
    return (
        ImageData(x=to_uint8(torch.cat(versions)), y=train.y.repeat(copies), scale=255.0, mean=train.mean,
                  std=train.std, class_names=train.class_names, group=torch.arange(n).repeat(copies)),
        ImageData(x=to_uint8(_upsample(test.x.float() / test.scale, size)), y=test.y, scale=255.0,
                  mean=test.mean, std=test.std, class_names=test.class_names),
    )


def load_digits_shadow(data_root=None, download=False, test_fraction=1 / 3):
    """The attacker's own data for shadow models: the target's *test* split (never trained on by the target),
    re-split (seeded, stratified) into shadow-train and shadow-test. Disjoint from the target's training data."""
    from sklearn.model_selection import train_test_split

    _, pool = load_digits_data()
    idx_train, idx_test = train_test_split(np.arange(len(pool)), test_size=test_fraction, stratify=pool.y.numpy(),
                                           random_state=DIGITS_SPLIT_SEED)

    def make(idx):
        idx = torch.from_numpy(np.sort(idx))
        return ImageData(x=pool.x[idx], y=pool.y[idx], scale=pool.scale, mean=pool.mean, std=pool.std,
                         class_names=pool.class_names)

    return make(idx_train), make(idx_test)
