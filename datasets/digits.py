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
