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


PATTERN_SEED = 1234  # the class patterns of the learnable fixtures (noise has its own seed per file)


def class_patterns(n: int, size: int, key: int) -> np.ndarray:
    """n fixed random patterns, n × size, values in [-1, 1], class c's from the seed (``PATTERN_SEED``, key, c):
    a colour per channel (0.6) plus mirror-symmetric 8×8 blocks (0.4), so that the training augmentation (flips,
    4-pixel crops) keeps a class recognisable and a small CNN learns it in a few steps."""
    side = int(round((size / 3) ** 0.5))
    out = []
    for c in range(n):  # class c's pattern is drawn from its own seed: the same whatever n, in every file
        rng = np.random.default_rng([PATTERN_SEED, key, c])
        colour = rng.uniform(-1, 1, (3, 1, 1))
        half = rng.uniform(-1, 1, (3, side // 8, side // 16))
        cells = np.concatenate([half, half[:, :, ::-1]], axis=2)  # mirror-symmetric: a flip keeps it
        blocks = np.repeat(np.repeat(cells, 8, axis=1), 8, axis=2)
        # a part inside a class (key > 0: the fine class inside its coarse one) is blocks only, zero mean, so it
        # moves no class's colour
        out.append(0.6 * colour + 0.4 * blocks if key == 0 else blocks - blocks.mean(axis=(1, 2), keepdims=True))
    return np.stack(out).reshape(n, size)


def learnable_pixels(labels: np.ndarray, size: int, seed: int, parts=()) -> np.ndarray:
    """uint8 images, one row per label: 128 + 70·(the label's pattern) + 25·(each extra part's pattern, e.g. the
    fine class inside a coarse one) + Gaussian noise (σ 20), clipped. Learnable to high accuracy in a few
    epochs; another draw of the noise (``seed``) gives the test split."""
    x = 128.0 + 70.0 * class_patterns(int(labels.max()) + 1, size, 0)[labels]
    for k, (part, n) in enumerate(parts, 1):
        x += 25.0 * class_patterns(n, size, k)[part]
    x += np.random.default_rng(seed).normal(0.0, 20.0, x.shape)
    return np.clip(np.rint(x), 0, 255).astype(np.uint8)


def write_cifar100_fixture(root, per_class_train=3, per_class_test=1, learnable=False):
    """A miniature ``cifar-100-python`` folder. Default: pixel (R,G,B) planes encode (fine, index, split), for
    loader checks. ``learnable``: class patterns plus noise (``learnable_pixels``: the coarse class's pattern,
    the fine class's on top), so a short training run beats chance clearly and a smoke run can check numbers."""
    folder = os.path.join(root, "cifar-100-python")
    os.makedirs(folder, exist_ok=True)
    for split, per in (("train", per_class_train), ("test", per_class_test)):
        fine = np.repeat(np.arange(100), per)
        data = np.zeros((len(fine), 3072), dtype=np.uint8)
        if learnable:
            coarse = np.asarray([fixture_coarse_of(f) for f in fine])
            data[:] = learnable_pixels(coarse, 3072, seed=1 if split == "train" else 2, parts=((fine, 100),))
        else:
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


def write_imagenet64_fixture(root, classes=(0, 1, 2, 5, 99, 150), per_class=2, batches=(1, 2), layout="flat",
                             learnable=False):
    """Downsampled-ImageNet pickles: train batches ``batches`` and val_data; 1-based labels; channel-major data.
    Default: channel 0 encodes the class, channel 1 the file; ``learnable``: class patterns plus noise.

    ``layout``: "flat" (everything in <root>/imagenet64) or "official" (the archives' Imagenet64_train_part1/
    (batches 1-5), Imagenet64_train_part2/ (6-10) and Imagenet64_val/ folders directly under <root>).
    """
    labels0 = np.repeat(np.asarray(classes), per_class)

    def blob(offset):
        data = np.zeros((len(labels0), 12288), dtype=np.uint8)
        if learnable:
            data[:] = learnable_pixels(labels0, 12288, seed=100 + offset)
            return {"data": data, "labels": (labels0 + 1).tolist()}
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
