"""Real loaders on miniature fixtures in the exact on-disk formats; the class split and its errors."""
import numpy as np
import pytest
import torch

from conftest import fixture_coarse_of
from datasets import DatasetNotFoundError, SplitError, build_split, get_dataset_info, load_dataset
from datasets.imagenet64 import load_imagenet64


def test_cifar100_loader_reads_fine_labels_and_pixels(cifar_root):
    info, train, test = load_dataset("cifar100", cifar_root)
    assert info.num_classes == 100 and len(train) == 300 and len(test) == 100
    assert train.x.shape[1:] == (3, 32, 32) and train.x.dtype == torch.uint8
    assert torch.equal(train.y, train.fine)
    assert torch.equal(train.x[:, 0, 5, 7].long(), train.y)  # R plane encodes the fine id
    assert set(train.x[:, 2].unique().tolist()) == {200} and set(test.x[:, 2].unique().tolist()) == {100}
    assert train.class_names[3] == "fine3"


def test_cifar20_uses_coarse_labels_from_the_files(cifar_root):
    info, train, test = load_dataset("cifar20", cifar_root)
    assert info.num_classes == 20
    expected = torch.tensor([fixture_coarse_of(f) for f in train.fine.tolist()])
    assert torch.equal(train.y, expected)
    assert train.class_names[0] == "coarse0"


def test_cifar20_split_excludes_ood_and_maps_sorted(cifar_root):
    _, train, test = load_dataset("cifar20", cifar_root)
    split = build_split("cifar20", train, test, 20, [19, 3, 15, 16, 17], forget_class=4, val_fraction=0.2)
    assert split.trained_classes == [c for c in range(20) if c not in (3, 15, 16, 17, 19)]
    assert split.class_to_index[4] == 3 and split.forget_index == 3
    used = torch.cat([split.train_idx, split.val_idx])
    assert not torch.isin(train.y[used], torch.tensor([3, 15, 16, 17, 19])).any()
    assert len(np.intersect1d(split.train_idx.numpy(), split.val_idx.numpy())) == 0
    assert (train.y[split.forget_train] == 4).all() and not (train.y[split.retain_train] == 4).any()
    assert set(split.ood_train) == {3, 15, 16, 17, 19}
    targets = split.targets(torch.tensor([0, 4, 18, 3]))
    assert targets.tolist() == [0, 3, 14, -1]


def test_subclass_split_holds_out_the_sibling_fine_class(cifar_root):
    _, train, test = load_dataset("cifar20", cifar_root)
    fine_forget = 21
    coarse = fixture_coarse_of(fine_forget)
    sibling = next(f for f in range(100) if f != fine_forget and fixture_coarse_of(f) == coarse)
    split = build_split("cifar20", train, test, 20, [], forget_fine=fine_forget, ood_fine=[sibling], val_fraction=0.0)
    assert split.forget_class == coarse and split.num_outputs == 20
    assert (train.fine[split.forget_train] == fine_forget).all() and len(split.forget_train) == 3
    assert not (train.fine[split.train_idx] == sibling).any()
    assert (train.fine[split.ood_train[sibling]] == sibling).all()
    other = next(f for f in range(100) if fixture_coarse_of(f) != coarse)
    with pytest.raises(SplitError, match="not in the forget class's superclass"):
        build_split("cifar20", train, test, 20, [], forget_fine=fine_forget, ood_fine=[other])


def test_imagenet64_reads_batches_subset_and_1_based_labels(imagenet_root):
    train, val = load_imagenet64(imagenet_root, classes=[1, 2, 5, 99])
    assert train.x.shape[1:] == (3, 64, 64)
    assert len(train) == 2 * 4 * 2 and len(val) == 4 * 2  # two train files, 2 images per kept class
    assert sorted(train.y.unique().tolist()) == [0, 1, 2, 3]
    original = torch.tensor([1, 2, 5, 99])[train.y]
    assert torch.equal(train.x[:, 0, 10, 10].long(), original)  # channel-major: plane 0 holds the class id
    assert set(train.x[:, 1].unique().tolist()) == {1, 2} and set(val.x[:, 1].unique().tolist()) == {9}


def test_digits_is_a_fixed_stratified_split():
    _, a, at = load_dataset("digits")
    _, b, _ = load_dataset("digits")
    assert torch.equal(a.x, b.x) and len(a) + len(at) == 1797
    counts = torch.bincount(at.y, minlength=10).float()
    totals = counts + torch.bincount(a.y, minlength=10).float()
    assert (counts - 0.25 * totals).abs().max() <= 1.0  # stratified: each class 25% ± one image


@pytest.mark.parametrize("name,flag", [("cifar20", "--download"), ("cifar100", "--download"), ("imagenet64", "imagenet64")])
def test_missing_dataset_says_where_to_put_it(tmp_path, name, flag):
    with pytest.raises(DatasetNotFoundError, match=flag):
        load_dataset(name, str(tmp_path))


@pytest.mark.parametrize("forget,msg", [(8, "is an OOD class"), (10, "out of range"), (-1, "out of range")])
def test_bad_forget_class(forget, msg):
    _, train, test = load_dataset("digits")
    with pytest.raises(SplitError, match=msg):
        build_split("digits", train, test, 10, [7, 8, 9], forget_class=forget)


def test_validation_split_is_seeded_stratified_and_disjoint():
    _, train, test = load_dataset("digits")
    s1 = build_split("digits", train, test, 10, [7, 8, 9], 3, val_fraction=0.1)
    s2 = build_split("digits", train, test, 10, [7, 8, 9], 3, val_fraction=0.1)
    assert torch.equal(s1.val_idx, s2.val_idx)
    assert len(set(s1.val_idx.tolist()) & set(s1.train_idx.tolist())) == 0
    per_class = torch.bincount(train.y[s1.val_idx], minlength=10)
    assert per_class[7:].sum() == 0 and per_class[:7].min() >= 12
    assert len(s1.retain_train) + len(s1.forget_train) == len(s1.train_idx)


def test_unknown_dataset():
    with pytest.raises(ValueError, match="unknown dataset 'svhn'"):
        get_dataset_info("svhn")
