"""Downsampled ImageNet 64×64, read from its published pickle batches in a local folder.

Files: ``train_data_batch_1`` … ``train_data_batch_10`` and ``val_data``; each a pickled dict with ``data``
(N×12288 uint8, channel-major) and 1-based ``labels``. Two layouts are found, under ``<data_root>`` or
``<data_root>/imagenet64`` (folder names in either case):

* the official archives unpacked side by side: ``Imagenet64_train_part1/`` (batches 1–5),
  ``Imagenet64_train_part2/`` (batches 6–10) and ``Imagenet64_val/`` (``val_data``);
* one flat folder holding every batch and ``val_data``.

``classes`` picks a subset of the 1,000 classes (0-based ids); the loaded labels are positions in that sorted
subset, so a 100-class subset has labels 0..99. ``size`` resizes the images once at load time (the paper trains
on 32×32: antialiased bilinear, as PIL's resize), kept as uint8.
"""
from __future__ import annotations

import os
import pickle
import re

import numpy as np
import torch
import torch.nn.functional as F

from .base import DatasetNotFoundError, ImageData

IMAGENET_MEAN = (0.481, 0.458, 0.408)
IMAGENET_STD = (0.268, 0.261, 0.276)
TRAIN_BATCHES = 10
_TRAIN_DIRS = ("imagenet64_train", "imagenet64_train_part1", "imagenet64_train_part2")
_VAL_DIR = "imagenet64_val"
_BATCH = re.compile(r"^train_data_batch_(\d+)$")
_HOW = ("put the downsampled-ImageNet 64x64 pickle batches (the official Imagenet64_train_part1/, "
        "Imagenet64_train_part2/ and Imagenet64_val/ folders, or one folder holding train_data_batch_1..10 and "
        "val_data) in {where}; they cannot be downloaded automatically")


def _entries(folder):
    """Lower-cased name → real name of a folder's entries ({} if it is no folder)."""
    try:
        return {name.lower(): name for name in os.listdir(folder)}
    except OSError:
        return {}


def _scan(root):
    """(train batch number → path, val path or None, official part folders seen) of one candidate folder."""
    entries = _entries(root)
    batches, val, parts = {}, None, set()
    places = [root] + [os.path.join(root, entries[d]) for d in _TRAIN_DIRS + (_VAL_DIR,) if d in entries]
    for d in _TRAIN_DIRS:
        if d in entries:
            parts.add(d)
    for place in places:
        for low, name in _entries(place).items():
            path = os.path.join(place, name)
            m = _BATCH.match(low)
            if m and os.path.isfile(path):
                number = int(m.group(1))
                if number in batches:
                    raise DatasetNotFoundError(f"ImageNet64: train_data_batch_{number} found twice ({batches[number]} "
                                               f"and {path}): keep one copy")
                batches[number] = path
            elif low == "val_data" and os.path.isfile(path):
                val = path
    return batches, val, parts


def locate_imagenet64(data_root="data", expect_batches=None):
    """(sorted train batch paths, val path); a missing or partial dataset is a DatasetNotFoundError (one line)."""
    entries = _entries(data_root)
    candidates = [os.path.join(data_root, entries["imagenet64"])] if "imagenet64" in entries else []
    candidates.append(data_root)
    where = os.path.abspath(candidates[0] if len(candidates) > 1 else os.path.join(data_root, "imagenet64"))
    for root in candidates:
        batches, val, parts = _scan(root)
        if not batches and val is None:
            continue
        numbers = sorted(batches)
        problems = []
        if "imagenet64_train_part1" in parts and "imagenet64_train_part2" not in parts:
            problems.append("Imagenet64_train_part2/ is missing (unpack both train archives)")
        if "imagenet64_train_part2" in parts and "imagenet64_train_part1" not in parts:
            problems.append("Imagenet64_train_part1/ is missing (unpack both train archives)")
        if not numbers:
            problems.append("no train_data_batch_* file")
        else:
            want = list(range(1, (expect_batches or numbers[-1]) + 1))
            missing = [n for n in want if n not in batches]
            if missing:
                problems.append("train_data_batch_" + ",".join(str(n) for n in missing) + " missing")
        if val is None:
            problems.append("val_data missing (Imagenet64_val/)")
        if problems:
            raise DatasetNotFoundError(f"ImageNet64 in {os.path.abspath(root)} is incomplete: " + "; ".join(problems))
        return [batches[n] for n in numbers], val
    raise DatasetNotFoundError("ImageNet64 not found: " + _HOW.format(where=where))


def _resize(x: torch.Tensor, size: int) -> torch.Tensor:
    out = F.interpolate(x.float(), size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    return out.round_().clamp_(0, 255).to(torch.uint8)


def _read(paths, lookup, size=None):
    xs, ys = [], []
    for path in paths:
        with open(path, "rb") as fh:
            raw = pickle.load(fh, encoding="latin1")
        labels = np.asarray(raw["labels"], dtype=np.int64) - 1  # files are 1-based
        keep = lookup[labels] >= 0
        x = torch.from_numpy(np.asarray(raw["data"], dtype=np.uint8)[keep].reshape(-1, 3, 64, 64).copy())
        if size and size != 64:
            x = torch.cat([_resize(x[i:i + 4096], size) for i in range(0, len(x), 4096)]) if len(x) else \
                x.new_zeros((0, 3, size, size))
        xs.append(x)
        ys.append(torch.from_numpy(lookup[labels[keep]]))
    return torch.cat(xs), torch.cat(ys)


def load_imagenet64(data_root="data", download=False, classes=None, size=None, expect_batches=None):
    train_paths, val_path = locate_imagenet64(data_root, expect_batches)
    classes = sorted(range(1000) if classes is None else set(int(c) for c in classes))
    if not classes or classes[0] < 0 or classes[-1] >= 1000:
        raise ValueError("ImageNet64 class subset must be ids in 0..999")
    lookup = np.full(1000, -1, dtype=np.int64)
    lookup[classes] = np.arange(len(classes))
    names = [f"imagenet_{c}" for c in classes]
    out = []
    for paths in (train_paths, [val_path]):
        x, y = _read(paths, lookup, size)
        out.append(ImageData(x=x, y=y, scale=255.0, mean=IMAGENET_MEAN, std=IMAGENET_STD, class_names=names))
    return tuple(out)
