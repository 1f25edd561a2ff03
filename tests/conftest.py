"""Shared fixtures: tiny on-disk datasets in the real formats, and one quickly pretrained digits model."""
from __future__ import annotations

import os
import sys
import tempfile

import pytest
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

torch.set_num_threads(1)  # deterministic and fair to a 2-core CI box
os.environ.setdefault("OMP_NUM_THREADS", "1")  # the same for the scripts the tests start as subprocesses
# no test reads or writes the project's log_files/: the default log folder of every script (and of the scripts the
# tests start as subprocesses) is a temporary one
os.environ["UNLEARNING_LOG_ROOT"] = tempfile.mkdtemp(prefix="unlearning-tests-log-root-")

from fixture_writers import fixture_coarse_of, write_cifar100_fixture, write_imagenet64_fixture  # noqa: E402,F401


@pytest.fixture(scope="session")
def cifar_root(tmp_path_factory):
    return write_cifar100_fixture(str(tmp_path_factory.mktemp("cifar")))


@pytest.fixture(scope="session")
def imagenet_root(tmp_path_factory):
    return write_imagenet64_fixture(str(tmp_path_factory.mktemp("imagenet")))


@pytest.fixture(scope="session")
def digits_pretrained(tmp_path_factory):
    """Path of a digits ResNet-8 pretrained for a few epochs (shared by the whole test session)."""
    from unlearning.cli.pretrain import main

    log_root = str(tmp_path_factory.mktemp("logs"))
    res = main("digits", ["--epochs", "8", "--milestones", "5", "7", "--log_root", log_root, "--quiet", "--device", "cpu"])
    return res["checkpoint"]


def digits_cut(retain: int, forget: int, val: int):
    """The digits experiment (forget class 3) cut to its first ``retain`` / ``forget`` / ``val`` samples."""
    import copy
    import dataclasses

    from unlearning.experiment import Experiment

    exp = Experiment("digits", device="cpu", forget_class=3)
    e = copy.copy(exp)
    s = exp.split
    r, f = s.retain_train[:retain], s.forget_train[:forget]
    e.split = dataclasses.replace(s, retain_train=r, forget_train=f, train_idx=torch.sort(torch.cat([r, f]))[0],
                                  val_idx=s.val_idx[:val])
    return e
