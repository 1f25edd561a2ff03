"""Per-dataset presets (SPEC §1–2). Paper presets carry the paper's values; the digits preset picks its own.

Edit here, or override on the command line. Every script reads its defaults from ``PRESETS[dataset]``.
"""

LOG_ROOT = "log_files"
DATA_ROOT = "data"

PRESETS = {
    # Embedded CPU default: sklearn's 8×8 digits; ResNet-8 trained on 0–6, OOD 7–9 (our choice, see FINDINGS).
    "digits": {
        "net": "resnet8",
        "ood_classes": [7, 8, 9],
        "forget_class": 3,
        "val_fraction": 0.1,
        "pretrain": {"epochs": 30, "lr": 0.05, "milestones": [15, 24, 28], "batch_size": 32, "warmup_epochs": 1,
                     "momentum": 0.9, "weight_decay": 5e-4, "augment": False},
    },
    # (paper) CIFAR-20: 5 of 20 superclasses held out → 15 outputs. Which five is our choice.
    "cifar20": {
        "net": "ResNet18",
        "ood_classes": [15, 16, 17, 18, 19],
        "forget_class": 4,
        "val_fraction": 0.1,
        # Sub-class setting: all 20 superclasses trained; forget one fine class, hold out a sibling as OOD.
        # Fine 69 = rocket and 81 = streetcar, both in superclass 19 (vehicles 2).
        "subclass": {"ood_classes": [], "forget_fine": 69, "ood_fine": [81]},
        "pretrain": {"epochs": 40, "lr": 0.1, "milestones": [15, 30, 35], "batch_size": 64, "warmup_epochs": 1,
                     "momentum": 0.9, "weight_decay": 5e-4, "augment": True},
    },
    # (paper) CIFAR-100: 95 trained classes, 5 held out.
    "cifar100": {
        "net": "ResNet18",
        "ood_classes": [95, 96, 97, 98, 99],
        "forget_class": 0,
        "val_fraction": 0.1,
        "pretrain": {"epochs": 200, "lr": 0.1, "milestones": [60, 120, 160], "batch_size": 64, "warmup_epochs": 1,
                     "momentum": 0.9, "weight_decay": 5e-4, "augment": True},
    },
    # (paper) ImageNet64, 100-class subset: 94 trained, 6 held out.
    "imagenet64": {
        "net": "ResNet18",
        "ood_classes": [94, 95, 96, 97, 98, 99],
        "forget_class": 0,
        "val_fraction": 0.05,
        "pretrain": {"epochs": 200, "lr": 0.1, "milestones": [60, 120, 160], "batch_size": 128, "warmup_epochs": 1,
                     "momentum": 0.9, "weight_decay": 5e-4, "augment": True},
    },
}


def preset(dataset: str) -> dict:
    from datasets import get_dataset_info

    return PRESETS[get_dataset_info(dataset).name]
