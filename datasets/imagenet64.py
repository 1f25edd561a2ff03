"""Downsampled ImageNet 64×64, read from its published pickle batches in a local folder.

Files: ``train_data_batch_1`` … ``train_data_batch_10`` and ``val_data``; each a pickled dict with
``data`` (N×12288 uint8, channel-major) and 1-based ``labels``. The folder is ``<data_root>/imagenet64``
(or ``<data_root>`` itself). ``classes`` picks a subset of the 1,000 classes (0-based ids); the
loaded labels are positions in that sorted subset, so a 100-class subset has labels 0..99.
"""
from __future__ import annotations

import glob
import os
import pickle

import numpy as np
import torch

from .base import DatasetNotFoundError, ImageData

IMAGENET_MEAN = (0.481, 0.458, 0.408)
IMAGENET_STD = (0.268, 0.261, 0.276)


def _folder(data_root):
    for cand in (os.path.join(data_root, "imagenet64"), data_root):
        if glob.glob(os.path.join(cand, "train_data_batch_*")) and os.path.isfile(os.path.join(cand, "val_data")):
            return cand
    raise DatasetNotFoundError(
        f"ImageNet64 not found: put train_data_batch_1..10 and val_data (the downsampled-ImageNet 64x64 "
        f"pickle batches) in {os.path.abspath(os.path.join(data_root, 'imagenet64'))}; it cannot be downloaded "
        f"automatically"
    )


def _read(paths, lookup):
    xs, ys = [], []
    for path in paths:
        with open(path, "rb") as fh:
            raw = pickle.load(fh, encoding="latin1")
        labels = np.asarray(raw["labels"], dtype=np.int64) - 1  # files are 1-based
        keep = lookup[labels] >= 0
        xs.append(np.asarray(raw["data"], dtype=np.uint8)[keep].reshape(-1, 3, 64, 64))
        ys.append(lookup[labels[keep]])
    return torch.from_numpy(np.concatenate(xs)), torch.from_numpy(np.concatenate(ys))


def load_imagenet64(data_root="data", download=False, classes=None):
    folder = _folder(data_root)
    classes = sorted(range(1000) if classes is None else set(int(c) for c in classes))
    if not classes or classes[0] < 0 or classes[-1] >= 1000:
        raise ValueError("ImageNet64 class subset must be ids in 0..999")
    lookup = np.full(1000, -1, dtype=np.int64)
    lookup[classes] = np.arange(len(classes))

    def batch_number(path):
        return int(path.rsplit("_", 1)[1])

    train_paths = sorted(glob.glob(os.path.join(folder, "train_data_batch_*")), key=batch_number)
    names = [f"imagenet_{c}" for c in classes]
    out = []
    for paths in (train_paths, [os.path.join(folder, "val_data")]):
        x, y = _read(paths, lookup)
        out.append(ImageData(x=x, y=y, scale=255.0, mean=IMAGENET_MEAN, std=IMAGENET_STD, class_names=names))
    return tuple(out)
