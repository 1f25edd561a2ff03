"""What a value may be: the kinds, the one check every entry point runs, and argparse types built on it.

A kind names a range and a type. ``check(label, value, kind)`` returns the value (normalised: an integral float
becomes an int for a whole-number kind) or raises ValueError with one line that names the value, what it is and
what it may be. The method settings (``unlearning.methods.schema``), the CLI flags (``flag_type``) and run.py's
overrides all go through it, so a value is checked the same way wherever it enters.
"""
from __future__ import annotations

import argparse
import difflib
import math
from typing import Callable, Dict, Iterable, Tuple

# kind: (in range?, whole number?, wording)
NUMERIC: Dict[str, Tuple[Callable[[float], bool], bool, str]] = {
    "lr": (lambda v: v > 0, False, "a learning rate: > 0 and finite"),
    "epochs": (lambda v: v >= 1, True, "a number of epochs: a whole number ≥ 1"),
    "epochs0": (lambda v: v >= 0, True, "a number of epochs: a whole number ≥ 0"),
    "count": (lambda v: v >= 1, True, "a count: a whole number ≥ 1"),
    "count0": (lambda v: v >= 0, True, "a count: a whole number ≥ 0"),
    "seed": (lambda v: v >= 0, True, "a seed: a whole number ≥ 0"),
    "ratio": (lambda v: 0 < v <= 1, False, "a fraction in (0, 1]"),
    "open_fraction": (lambda v: 0 < v < 1, False, "a fraction in (0, 1), ends excluded"),
    "weight": (lambda v: 0 <= v <= 1, False, "a weight in [0, 1]"),
    "positive": (lambda v: v > 0, False, "> 0 and finite"),
    "nonneg": (lambda v: v >= 0, False, "≥ 0 and finite"),
    "real": (lambda v: True, False, "finite"),
}
OTHER = {"bool": "true or false", "text": "a string", "epoch_list": "a list of whole numbers ≥ 0",
         "int_list": "a list of whole numbers", "optional_count": "a whole number ≥ 1, or null",
         "object": "an object of settings"}
KINDS = set(NUMERIC) | set(OTHER)


def wording(kind) -> str:
    if isinstance(kind, tuple):
        return "one of " + ", ".join(repr(c) for c in kind)
    return NUMERIC[kind][2] if kind in NUMERIC else OTHER[kind]


def _number(value):
    """A real number (bool is not one); None otherwise."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return value


def check(label: str, value, kind):
    """``value`` if it is of ``kind`` (a whole-number kind turns 3.0 into 3; a tuple of values is a choice among
    them); ValueError naming ``label`` if not."""
    if isinstance(kind, tuple):
        if value not in kind or (isinstance(value, bool) and not any(c is value for c in kind)):
            raise ValueError(f"{label} {value!r} is not {wording(kind)}")
        return value
    if kind not in KINDS:
        raise ValueError(f"{label}: unknown kind {kind!r} (one of {sorted(KINDS)})")
    bad = ValueError(f"{label} {value!r} is out of range: it must be {wording(kind)}")
    if kind in NUMERIC:
        test, integral, _ = NUMERIC[kind]
        v = _number(value)
        if v is None or not math.isfinite(v) or not test(v) or (integral and v != int(v)):
            raise bad
        return int(v) if integral else value
    if kind == "bool":
        if not isinstance(value, bool):
            raise bad
        return value
    if kind == "text":
        if not isinstance(value, str):
            raise bad
        return value
    if kind == "object":
        if not isinstance(value, dict):
            raise bad
        return value
    if kind == "optional_count":
        return None if value is None else check(label, value, "count")
    if not isinstance(value, (list, tuple)):
        raise bad
    item = "count0" if kind == "epoch_list" else "real"
    out = []
    for v in value:
        n = _number(v)
        if n is None or not math.isfinite(n) or n != int(n) or (item == "count0" and n < 0):
            raise bad
        out.append(int(n))
    return out


# the supervised training recipe (pretraining, retrain's training): each key's kind. A preset's "pretrain" entry,
# the pretraining flags, a retrain run's "pretrain" setting and the audit's --pretrain_recipe are all checked by it
TRAINING_RECIPE_KINDS: Dict[str, str] = {
    "epochs": "epochs", "lr": "lr", "milestones": "epoch_list", "batch_size": "count", "warmup_epochs": "epochs0",
    "momentum": "weight", "weight_decay": "nonneg", "augment": "bool",
}


def check_table(label: str, table, kinds: Dict[str, object]) -> dict:
    """``table`` (an object of settings) with every key among ``kinds`` (the closest one named otherwise) and every
    value of its kind; ValueError with one line otherwise."""
    if not isinstance(table, dict):
        raise ValueError(f"{label} must be an object of settings, got {table!r}")
    out = {}
    for key, value in table.items():
        if key not in kinds:
            raise ValueError(f"{label} has no setting {key!r}{did_you_mean(key, kinds)}; its settings: "
                             f"{', '.join(sorted(kinds))}")
        out[key] = check(f"{label}.{key}", value, kinds[key])
    return out


def check_training_recipe(recipe, label: str = "training recipe") -> dict:
    """``recipe`` checked against ``TRAINING_RECIPE_KINDS`` (``check_table``)."""
    return check_table(label, recipe, TRAINING_RECIPE_KINDS)


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """' (did you mean X?)' for the closest of ``choices``, '' when none is close."""
    close = difflib.get_close_matches(str(name), list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def flag_type(kind: str, cast: Callable = float) -> Callable:
    """An argparse ``type=``: the text cast, then checked; a bad value is argparse's one ``error:`` line."""
    def parse(text: str):
        try:
            value = cast(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number; it must be {wording(kind)}")
        try:
            return check("", value, kind)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is out of range: it must be {wording(kind)}")
    parse.__name__ = f"{kind} value"
    return parse
