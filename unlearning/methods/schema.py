"""The kind of every method setting, and the one check that runs on a run's resolved settings.

A setting's value can come from its registration, config.UNLEARN / OVER_UNLEARN, a ``--recipe``, ``--settings``
or the smoke plan; ``check_settings`` runs on the merged result, so every source is checked the same way: an
unknown key (with the closest known one), a value of the wrong kind or out of range is one ValueError line naming
the method, the key and what the value may be. ``tests/test_value_schema.py`` fails when a registered setting has
no kind here.
"""
from __future__ import annotations

from typing import Dict

from ..values import TRAINING_RECIPE_KINDS, check, check_table, did_you_mean
from .registry import METHODS, VARIANTS, get_method

# a method's own settings, by key (a key means the same kind of value in every method that reads it)
SETTING_KINDS: Dict[str, object] = {
    "alpha": "nonneg", "augment": "bool", "average_input_dim": "bool", "base": ("model", "uniform"),
    "batch_size": "count", "beta": "real", "bound": "positive", "center": "bool", "chunk_size": "count",
    "damping": "nonneg", "ema_beta": "weight", "epochs": "epochs", "eps": "nonneg",
    "fisher": ("true", "empirical"), "fisher_samples": "optional_count", "forget_alpha": "nonneg",
    "forget_freq": "count", "forget_row_var": "nonneg", "freeze_bn": "bool", "gamma": "nonneg",
    "grad_batch_size": "count", "head_max_var": "positive", "impair_batch_size": "count",
    "impair_epochs": "epochs0", "importance_batch_size": "count", "importance_order": ("class", "mixed"),
    "lamb": "nonneg", "lambd": "nonneg", "lambda_1": "nonneg", "lambda_2": "nonneg", "layer_scale": "positive",
    "lr_decay": "positive", "mask": "bool", "max_norm": "positive", "max_var": "positive",
    "milestones": "epoch_list", "momentum": "weight", "noise_batch_size": "count", "noise_copies": "count",
    "noise_l2": "nonneg", "noise_lr": "lr", "noise_steps": "count", "optimizer": ("adam", "sgd"),
    "pgd_sign": "real", "pgd_step": "nonneg", "pgd_steps": "count0", "pretrain_l1": "nonneg",
    "refine_epochs": "epochs0", "refine_lr": "lr", "repair_batch_size": "count", "repair_epochs": "epochs0",
    "retain_fraction": "ratio", "safeguard": "text", "samples_per_class": "count",
    "similarity": ("classifier", "prototype"), "temperature": "positive", "threshold": "nonneg",
    "use_retain": "bool", "weight_decay": "nonneg",
    "pretrain": "object",  # changes to the preset's pretraining recipe for this run (retrain's training, batch size)
}
# read by the shared optimiser and loader pieces of any method (with the method's own default)
SHARED_KEYS = ("batch_size", "momentum", "weight_decay", "optimizer", "pretrain_l1", "augment", "pretrain")
# phase 1 of ``<method>_our`` (unlearning/methods/phase_stopping.py)
PHASE1_KINDS: Dict[str, object] = {"steps": "count0", "stop_forget_acc": "weight", "stop_retain_acc": "weight",
                                   "check_every": "count", "max_steps": "count"}
# the replay of ``_our`` / ``_orth`` (unlearning/methods/replay.py, output_unit.py)
REPLAY_KINDS: Dict[str, object] = {
    "epochs": "epochs0", "steps": "count0", "lr": "lr", "l1": "nonneg", "batch_size": "count", "momentum": "weight",
    "weight_decay": "nonneg", "milestones": "epoch_list", "gamma": "nonneg", "schedule": ("reference", "cosine"),
    "reset_forget_unit": (None, "", "none", "zero", "reinit"), "suppress_forget_unit": "count0",
    "suppress_lr": "lr",
}
# the orthogonal over-unlearning of ``_orth`` (unlearning/methods/orthogonal.py)
ORTH_KINDS: Dict[str, object] = {"lam": "nonneg", "lr": "lr", "run_base": "bool", "stages": "int_list",
                                 "steps": "count"}
TABLES = {"replay": REPLAY_KINDS, "orth": ORTH_KINDS}
# a setting every method may carry that is itself a table: "pretrain", the changes to the training recipe
SHARED_TABLES = {"pretrain": TRAINING_RECIPE_KINDS}


def inferred_kind(default) -> str:
    """The kind of a setting registered without one and not in SETTING_KINDS: its default's type."""
    if isinstance(default, bool):
        return "bool"
    if isinstance(default, int):
        return "count0" if default >= 0 else "real"
    if isinstance(default, float):
        return "real"
    if isinstance(default, (list, tuple)):
        return "int_list"
    return "text"


def setting_kind(key: str, registered: tuple):
    """A registered setting's kind: the third element of its registration ``(value, meaning, kind)``, else
    SETTING_KINDS[key], else inferred from the value's type."""
    if len(registered) > 2:
        return registered[2]
    return SETTING_KINDS.get(key) or inferred_kind(registered[0])


def known_kinds(name: str) -> Dict[str, object]:
    """{key: kind} of every top-level setting method ``name`` reads (its variant's keys included)."""
    entry = get_method(name)
    base = get_method(entry.base) if entry.base else entry
    kinds = {k: SETTING_KINDS[k] for k in SHARED_KEYS}
    kinds.update({k: setting_kind(k, reg) for k, reg in base.settings.items()})
    if entry.base:
        kinds.update({k: v for k, v in PHASE1_KINDS.items() if k not in kinds})
    return kinds


def applicable(name: str, settings: dict) -> dict:
    """The part of ``settings`` (meant for every method, e.g. the smoke plan's tiny settings) that method ``name``
    reads; the rest would be an unknown key for it."""
    entry = get_method(name)
    keep = set(known_kinds(name)) | ({v.key for v in VARIANTS.values()} if entry.base else set())
    return {k: v for k, v in settings.items() if k in keep}


def _check_entry(owner: str, value_label, entry: dict, kinds: Dict[str, object], tables: Dict[str, dict],
                 passthrough=("para1", "para2")) -> dict:
    """One object of settings checked key by key: ``passthrough`` keys as they are, a key of ``tables`` as a nested
    table, a key of ``kinds`` by its kind; any other key is refused with the closest known one. ``owner`` names the
    object in that message, ``value_label(key)`` a value in a range message."""
    out = {}
    for key, value in entry.items():
        if key in passthrough:
            out[key] = value
        elif key in tables:
            out[key] = check_table(value_label(key), value, tables[key])
        elif key in kinds:
            out[key] = check(value_label(key), value, kinds[key])
        else:
            choices = sorted(set(kinds) | set(tables))
            raise ValueError(f"{owner} has no setting {key!r}{did_you_mean(key, choices)}; its settings: "
                             f"{', '.join(sorted(choices)) or 'none'}")
    return out


def check_settings(name: str, settings: dict) -> dict:
    """``settings`` (a run's resolved settings for method ``name``) checked key by key and normalised; ValueError
    with one line for an unknown key or a value out of its kind's range. para1/para2 are the knobs
    (``check_knobs``); "_log" is what a run recorded."""
    tables = dict(SHARED_TABLES, **({v.key: TABLES[v.key] for v in VARIANTS.values()} if get_method(name).base else {}))
    return _check_entry(name, lambda key: f"{name} setting {key}", settings, known_kinds(name), tables,
                        passthrough=("para1", "para2", "_log"))


def check_recipe(recipe: dict, label: str) -> dict:
    """Every entry of a recipe (``load_recipe``'s shape) checked: method names known (with the closest one), each
    method's keys and values as ``check_settings`` checks them. Returns the recipe with values normalised."""
    names = {"UNLEARN": list(METHODS), "OVER_UNLEARN": list(METHODS) + [v.key for v in VARIANTS.values()]}
    out = {}
    for part, table in recipe.items():
        out[part] = {}
        for name, entry in table.items():
            where = f"{label}: {part}.{name}"
            if name not in names[part]:
                raise ValueError(f"{label}: {part} names {name!r}, which is not a method{did_you_mean(name, names[part])}"
                                 + (" (OVER_UNLEARN is keyed by the plain method's name)" if name.endswith("_our") else ""))
            if part == "OVER_UNLEARN" and name in TABLES:
                out[part][name] = check_table(where, entry, TABLES[name])
                continue
            kinds = known_kinds(name if part == "UNLEARN" else f"{name}_our")
            out[part][name] = _check_entry(where, lambda key, where=where: f"{where}.{key}", entry, kinds,
                                           dict(SHARED_TABLES, **(TABLES if part == "OVER_UNLEARN" else {})))
    return out
