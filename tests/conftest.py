"""Shared fixtures: tiny on-disk datasets in the real formats, and one quickly pretrained digits model."""
from __future__ import annotations

import os
import pickle
import sys

import numpy as np
import pytest
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

torch.set_num_threads(1)  # deterministic and fair to a 2-core CI box
os.environ.setdefault("OMP_NUM_THREADS", "1")  # the same for the scripts the tests start as subprocesses


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


def write_imagenet64_fixture(root, classes=(0, 1, 2, 5, 99, 150), per_class=2):
    """Downsampled-ImageNet pickles: two train batches and val_data; 1-based labels; channel-major data."""
    folder = os.path.join(root, "imagenet64")
    os.makedirs(folder, exist_ok=True)
    labels0 = np.repeat(np.asarray(classes), per_class)
    def blob(offset):
        data = np.zeros((len(labels0), 12288), dtype=np.uint8)
        data[:, :4096] = labels0[:, None] % 256  # channel 0 = class id
        data[:, 4096:8192] = offset  # channel 1 marks the file
        data[:, 8192:] = 7
        return {"data": data, "labels": (labels0 + 1).tolist()}
    for name, offset in (("train_data_batch_1", 1), ("train_data_batch_2", 2), ("val_data", 9)):
        with open(os.path.join(folder, name), "wb") as fh:
            pickle.dump(blob(offset), fh)
    return root


@pytest.fixture(scope="session")
def cifar_root(tmp_path_factory):
    return write_cifar100_fixture(str(tmp_path_factory.mktemp("cifar")))


@pytest.fixture(scope="session")
def imagenet_root(tmp_path_factory):
    return write_imagenet64_fixture(str(tmp_path_factory.mktemp("imagenet")))


@pytest.fixture(scope="session")
def digits_pretrained(tmp_path_factory):
    """Path of a digits ResNet-8 pretrained for a few epochs (shared by the whole test session)."""
    from unlearning.pretraining import main

    log_root = str(tmp_path_factory.mktemp("logs"))
    res = main("digits", ["--epochs", "8", "--milestones", "5", "7", "--log_root", log_root, "--quiet", "--device", "cpu"])
    return res["checkpoint"]
