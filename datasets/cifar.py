"""CIFAR-100 (100 fine classes) and CIFAR-20 (its 20 coarse superclasses), torchvision's on-disk format.

The files are read directly (``cifar-100-python/{train,test,meta}``, pickled dicts) because
torchvision's ``CIFAR100`` exposes only the fine labels; the coarse labels come from the files themselves.
"""
from __future__ import annotations

import os
import pickle

import numpy as np
import torch

from .base import DatasetNotFoundError, ImageData

CIFAR_FOLDER = "cifar-100-python"
CIFAR_MEAN = (0.5071, 0.4865, 0.4409)
CIFAR_STD = (0.2673, 0.2564, 0.2762)


def _unpickle(path):
    with open(path, "rb") as fh:
        return pickle.load(fh, encoding="latin1")


def _locate(data_root, download):
    folder = os.path.join(data_root, CIFAR_FOLDER)
    needed = [os.path.join(folder, name) for name in ("train", "test", "meta")]
    if all(os.path.isfile(p) for p in needed):
        return folder
    where = (f"expected {os.path.abspath(folder)}/{{train,test,meta}} (the extracted 'cifar-100-python' folder "
             f"under --data_root)")
    if download:
        from torchvision.datasets import CIFAR100

        archive = os.path.join(data_root, "cifar-100-python.tar.gz")  # torchvision's download name
        try:
            CIFAR100(root=data_root, train=True, download=True)
        except Exception as err:  # no network, bad archive: leave no partial download behind
            if os.path.isfile(archive):
                os.remove(archive)
            raise DatasetNotFoundError(f"CIFAR-100 --download failed ({type(err).__name__}: "
                                       f"{str(err).splitlines()[0] if str(err) else ''}); {where}")
        if all(os.path.isfile(p) for p in needed):
            return folder
    raise DatasetNotFoundError(f"CIFAR-100 not found: {where}, or pass --download to fetch it")


def locate_cifar(data_root="data", download=False):
    """Raises DatasetNotFoundError if the files are missing and --download was not given (nothing is fetched)."""
    if not download:
        _locate(data_root, False)


def _read(folder, split, coarse):
    raw = _unpickle(os.path.join(folder, split))
    data = np.asarray(raw["data"], dtype=np.uint8).reshape(-1, 3, 32, 32)  # R, G, B planes, row-major
    fine = torch.as_tensor(np.asarray(raw["fine_labels"], dtype=np.int64))
    if coarse:
        if "coarse_labels" not in raw:
            raise ValueError(f"{os.path.join(folder, split)} has no 'coarse_labels': not a CIFAR-100 file")
        labels = torch.as_tensor(np.asarray(raw["coarse_labels"], dtype=np.int64))
    else:
        labels = fine
    return torch.from_numpy(data.copy()), labels, fine


def load_cifar(data_root="data", download=False, coarse=False):
    folder = _locate(data_root, download)
    meta = _unpickle(os.path.join(folder, "meta"))
    names = list(meta["coarse_label_names" if coarse else "fine_label_names"])
    out = []
    for split in ("train", "test"):
        x, y, fine = _read(folder, split, coarse)
        out.append(ImageData(x=x, y=y, fine=fine, scale=255.0, mean=CIFAR_MEAN, std=CIFAR_STD, class_names=names))
    return tuple(out)


def load_cifar100(data_root="data", download=False):
    return load_cifar(data_root, download, coarse=False)


def load_cifar20(data_root="data", download=False):
    return load_cifar(data_root, download, coarse=True)
