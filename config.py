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


# Sweeps of run.py (per preset). mu_method_list entries: [method, para1, para2]; None = the method's default.
RUN_PRESETS = {
    "digits": {
        "dataset": "digits", "net": "resnet8", "n_classes": 10, "forget_classes": [3], "seeds": [0],
        "pretrain_path": None, "sparse_l1": 5e-4, "relearning_lrs": None, "repeats": None,
        "stages": ["pretrain", "unlearn", "rea", "distribution", "report"],
        "blackbox_methods": [],
        "mu_method_list": [
            ["baseline", None, None], ["retrain", None, None],
            ["finetune", None, None], ["finetune_our", None, None],
            ["negative_grad", None, None], ["negative_grad_our", None, None],
            ["amnesiac", None, None], ["amnesiac_our", None, None],
            ["badteacher", None, None], ["badteacher_our", None, None],
            ["ssd_tuning", None, None], ["ssd_tuning_our", None, None],
        ],
    },
    "cifar20": {
        "dataset": "cifar20", "net": "ResNet18", "n_classes": 20, "forget_classes": [4], "seeds": [0],
        "pretrain_path": None, "sparse_l1": 5e-4, "relearning_lrs": None, "repeats": None,
        "stages": ["pretrain", "unlearn", "rea", "distribution", "report"], "blackbox_methods": [],
        "mu_method_list": [["baseline", None, None], ["retrain", None, None],
                           ["badteacher", None, None], ["badteacher_our", None, None],
                           ["ssd_tuning", None, None], ["ssd_tuning_our", None, None],
                           ["Wfisher", None, None], ["Wfisher_our", None, None]],
    },
}
RUN_PRESETS["cifar100"] = dict(RUN_PRESETS["cifar20"], dataset="cifar100", n_classes=100, forget_classes=[0])
RUN_PRESETS["imagenet64"] = dict(RUN_PRESETS["cifar20"], dataset="imagenet64", n_classes=100, forget_classes=[0])


# Data-free model extraction (black-box ReA, SPEC §6). Keys are DFMEConfig fields (unlearning/extraction.py).
# (paper) DFME on CIFAR-10: 20M queries, batch 256, SGD lr 0.1 student, Adam lr 1e-4 generator, m=1, ε=1e-3,
# 5 student steps per generator step, ×0.3 at 10/30/50% of the budget. The digits values are ours (see docs/blackbox.md).
DFME = {
    "digits": {"query_budget": 1_000_000, "batch_size": 128, "lr_student": 0.1, "lr_generator": 1e-3, "grad_m": 1,
               "grad_epsilon": 1e-3, "student_steps": 5, "generator_steps": 1, "milestones": (0.1, 0.3, 0.5),
               "gamma": 0.3, "nz": 64, "generator": "conv_small", "victim_output": "probs"},
    "cifar20": {"query_budget": 20_000_000, "batch_size": 256, "lr_student": 0.1, "lr_generator": 1e-4, "grad_m": 1,
                "grad_epsilon": 1e-3, "student_steps": 5, "generator_steps": 1, "milestones": (0.1, 0.3, 0.5),
                "gamma": 0.3, "nz": 256, "generator": "conv", "victim_output": "probs"},
}
DFME["cifar100"] = dict(DFME["cifar20"])
DFME["imagenet64"] = dict(DFME["cifar20"])
