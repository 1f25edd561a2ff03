"""Writers of tiny datasets in the real on-disk formats (CIFAR-100's pickles, downsampled ImageNet's batches).

Used by the tests (conftest.py) and, from the command line, by benchmarks/write_fixture_data.py; no pytest needed.
"""
from __future__ import annotations

import os
import pickle

import numpy as np


def fixture_coarse_of(fine: int) -> int:
    """The fixture's own fine→coarse assignment (any fixed map works; the loader must read it from the files)."""
    return (fine * 7) % 20


def write_cifar100_fixture(root, per_class_train=3, per_class_test=1):
    """A miniature ``cifar-100-python`` folder: pixel (R,G,B) planes encode (fine, index, split)."""
    folder = os.path.join(root, "cifar-100-python")
    os.makedirs(folder, exist_ok=True)
    for split, per in (("train", per_class_train), ("test", per_class_test)):
        fine = np.repeat(np.arange(100), per)
        data = np.zeros((len(fine), 3072), dtype=np.uint8)
        data[:, :1024] = fine[:, None]  # R plane = fine id
        data[:, 1024:2048] = np.tile(np.arange(per), 100)[:, None]  # G plane = index within class
        data[:, 2048:] = 200 if split == "train" else 100  # B plane marks the split
        blob = {"data": data, "fine_labels": fine.tolist(),
                "coarse_labels": [fixture_coarse_of(f) for f in fine], "filenames": [f"{i}.png" for i in range(len(fine))],
                "batch_label": f"{split} fixture"}
        with open(os.path.join(folder, split), "wb") as fh:
            pickle.dump(blob, fh)
    meta = {"fine_label_names": [f"fine{i}" for i in range(100)], "coarse_label_names": [f"coarse{i}" for i in range(20)]}
    with open(os.path.join(folder, "meta"), "wb") as fh:
        pickle.dump(meta, fh)
    return root


def write_imagenet64_fixture(root, classes=(0, 1, 2, 5, 99, 150), per_class=2, batches=(1, 2), layout="flat"):
    """Downsampled-ImageNet pickles: train batches ``batches`` and val_data; 1-based labels; channel-major data.

    ``layout``: "flat" (everything in <root>/imagenet64) or "official" (the archives' Imagenet64_train_part1/
    (batches 1-5), Imagenet64_train_part2/ (6-10) and Imagenet64_val/ folders directly under <root>).
    """
    labels0 = np.repeat(np.asarray(classes), per_class)

    def blob(offset):
        data = np.zeros((len(labels0), 12288), dtype=np.uint8)
        data[:, :4096] = labels0[:, None] % 256  # channel 0 = class id
        data[:, 4096:8192] = offset  # channel 1 marks the file
        data[:, 8192:] = 7
        return {"data": data, "labels": (labels0 + 1).tolist()}

    def folder_of(name):
        if layout == "flat":
            return os.path.join(root, "imagenet64")
        if name == "val_data":
            return os.path.join(root, "Imagenet64_val")
        return os.path.join(root, "Imagenet64_train_part1" if int(name.rsplit("_", 1)[1]) <= 5 else "Imagenet64_train_part2")

    for name, offset in [(f"train_data_batch_{b}", b) for b in batches] + [("val_data", 9)]:
        os.makedirs(folder_of(name), exist_ok=True)
        with open(os.path.join(folder_of(name), name), "wb") as fh:
            pickle.dump(blob(offset), fh)
    return root
