"""Bad input on the paper presets: sub-class vs full-class checkpoints, empty validation split, failed download,
ImageNet64 layouts; and the memory-lean Woodbury product equals the plain float64 formula."""
import os
import urllib.error

import pytest
import torch

from conftest import write_imagenet64_fixture
from datasets import DatasetNotFoundError, load_dataset
from datasets.imagenet64 import locate_imagenet64


def _pretrain(dataset, cifar_root, log_root, *extra):
    from unlearning.cli.pretrain import main
    return main(dataset, ["-net", "resnet8", "--data_root", cifar_root, "--log_root", log_root, "--epochs", "1",
                          "--quiet", "--device", "cpu", *extra])


def test_subclass_pretraining_and_checkpoint_setting_mismatch(cifar_root, tmp_path):
    from unlearning.cli.unlearn import main as unlearn_main

    log_root = str(tmp_path)
    sub = _pretrain("cifar20", cifar_root, log_root, "--subclass")
    assert sub["checkpoint"].endswith(os.path.join("seed-0_subclass", "model.pt"))
    meta = sub["meta"]
    assert meta["setting"] == "subclass" and meta["ood_fine"] == [81] and meta["held_out_fine"] == [81]
    assert meta["trained_classes"] == list(range(20)) and meta["ood_classes"] == []
    full = _pretrain("cifar20", cifar_root, log_root)
    assert full["meta"]["setting"] == "fullclass"
    common = ["-net", "resnet8", "--data_root", cifar_root, "--log_root", log_root, "--device", "cpu",
              "-method", "baseline"]
    with pytest.raises(SystemExit, match=r"subclass model; this fullclass run needs one from .* without --subclass"):
        unlearn_main("cifar20", argv=common + ["-weight_path", sub["checkpoint"]])
    with pytest.raises(SystemExit, match=r"fullclass model; this subclass run needs one from .*--subclass"):
        unlearn_main("cifar20", subclass=True, argv=common + ["--forget_class", "61", "-weight_path", full["checkpoint"]])
    # the default checkpoint of a sub-class run is the sub-class pretraining
    res = unlearn_main("cifar20", subclass=True, argv=common + ["--forget_class", "61"])
    assert res["pretrained"] == sub["checkpoint"] and res["status"] == "done"


def test_empty_validation_split_is_one_clear_error(cifar_root, tmp_path):
    # 3 train images per CIFAR-100 class: 10% of 3 rounds to 0 validation images per class
    with pytest.raises(SystemExit, match="validation accuracy is NaN: the validation split has no images"):
        _pretrain("cifar100", cifar_root, str(tmp_path))


def test_failed_download_is_one_line_and_leaves_no_archive(tmp_path, monkeypatch):
    import torchvision.datasets

    def offline(root, train=True, download=False, **kw):
        with open(os.path.join(root, "cifar-100-python.tar.gz"), "wb") as fh:
            fh.write(b"partial")
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(torchvision.datasets, "CIFAR100", offline)
    with pytest.raises(DatasetNotFoundError, match="--download failed .*URLError.*cifar-100-python"):
        load_dataset("cifar20", str(tmp_path), download=True)
    assert os.listdir(tmp_path) == []


def test_imagenet64_layouts_case_and_32px(tmp_path):
    official = write_imagenet64_fixture(str(tmp_path / "a"), batches=range(1, 11), layout="official")
    os.rename(os.path.join(official, "Imagenet64_val"), os.path.join(official, "IMAGENET64_VAL"))
    flat = write_imagenet64_fixture(str(tmp_path / "b"), batches=range(1, 11), layout="flat")
    for root in (official, flat):
        train_paths, val = locate_imagenet64(root, 10)
        assert [int(p.rsplit("_", 1)[1]) for p in train_paths] == list(range(1, 11))
        info, train, test = load_dataset("imagenet64", root)
        assert info.image_size == 32 and train.x.shape[1:] == (3, 32, 32) and train.x.dtype == torch.uint8
        # constant planes survive the antialiased resize: channel 0 is the class id, channel 1 the batch number
        assert torch.equal(train.x[:, 0, 7, 9].long(), train.y)  # the subset is classes 0..99: labels are the ids
        assert sorted(train.y.unique().tolist()) == [0, 1, 2, 5, 99]
        assert sorted(train.x[:, 1, 0, 0].unique().tolist()) == list(range(1, 11))
        assert len(train) == 10 * 5 * 2 and len(test) == 5 * 2  # class 150 is outside the 100-class subset


@pytest.mark.parametrize("batches,layout,msg", [
    (range(1, 6), "official", "Imagenet64_train_part2/ is missing"),
    ([1, 2, 4, 5, 6, 7, 8, 9, 10], "flat", "train_data_batch_3 missing"),
])
def test_partial_imagenet64_folder(tmp_path, batches, layout, msg):
    write_imagenet64_fixture(str(tmp_path), batches=batches, layout=layout)
    with pytest.raises(DatasetNotFoundError, match=msg):
        load_dataset("imagenet64", str(tmp_path))


def test_imagenet64_without_val_data(tmp_path):
    write_imagenet64_fixture(str(tmp_path), batches=range(1, 11), layout="flat")
    os.remove(os.path.join(tmp_path, "imagenet64", "val_data"))
    with pytest.raises(DatasetNotFoundError, match="val_data missing"):
        load_dataset("imagenet64", str(tmp_path))


@pytest.mark.slow
def test_woodbury_in_slices_equals_the_float64_formula():
    from unlearning.methods.classic import woodfisher_inverse_apply

    g = torch.Generator().manual_seed(0)
    G, v = torch.randn(12, 5003, generator=g), torch.randn(5003, generator=g)
    Gd, n = G.double(), 12
    F = torch.eye(5003, dtype=torch.float64) * 0.5 + Gd.T @ Gd / n  # the explicit damped empirical Fisher
    expected = torch.linalg.solve(F, v.double()).float()
    for chunk in (256 * 2**20, 4096, 8):
        out = woodfisher_inverse_apply(G, v, damping=0.5, chunk_bytes=chunk)
        assert torch.allclose(out, expected, rtol=1e-4, atol=1e-5)
        assert torch.equal(out, woodfisher_inverse_apply(G, v, damping=0.5))  # slicing never changes a bit
