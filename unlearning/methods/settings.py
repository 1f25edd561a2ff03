"""A method's settings on a dataset: the registered (paper-preset) values, the dataset's entry in config, and a
recipe layered over both (``load_recipe``); the registry as a printed table and as the docs' methods table."""
from __future__ import annotations

import copy
import json
from typing import Dict, Optional

import config
from .. import tables
from .registry import METHODS, VARIANTS, get_method, method_names
from .schema import check_recipe


RECIPE_NAME = "UNLEARN_OVERRIDES"  # what the error messages call a recipe's content


def merge(base: dict, extra: dict) -> dict:
    """``base`` updated by ``extra``, nested dicts merged key by key (neither argument changes)."""
    out = dict(base)
    for k, v in extra.items():
        out[k] = merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


RECIPE_LABEL = "UNLEARN_OVERRIDES recipe"  # what error messages call a recipe (its keys: UNLEARN, OVER_UNLEARN)


def load_recipe(source, label: str = RECIPE_LABEL) -> dict:
    """A recipe: settings merged over every dataset's method settings (so a target and its shadow models get the
    same one), ``{"UNLEARN": {method: {...}}, "OVER_UNLEARN": {method: {...}, "replay": {...}, "orth": {...}}}``.
    ``source``: a JSON object (inline text or a dict) or the path of a .json file. ValueError (one line, starting
    with ``label``) for anything else."""
    data = source
    if not isinstance(source, dict):
        raw = str(source or "").strip()
        if not raw:
            return {}
        try:
            if raw.startswith("{"):
                data = json.loads(raw)
            else:
                with open(raw) as fh:
                    data = json.load(fh)
        except (OSError, ValueError) as err:
            raise ValueError(f"{label} {raw[:80]!r} is neither a JSON object nor a readable JSON file ({err})")
    shape = '{"UNLEARN": {method: {...}}, "OVER_UNLEARN": {method: {...}}}'
    if not isinstance(data, dict):
        raise ValueError(f"{label} must hold a JSON object {shape}, got a {type(data).__name__}")
    unknown = set(data) - {"UNLEARN", "OVER_UNLEARN"}
    if unknown:
        raise ValueError(f"{label} takes the keys UNLEARN and OVER_UNLEARN, got {sorted(unknown)}")
    for key, table in data.items():
        if not isinstance(table, dict) or not all(isinstance(v, dict) for v in table.values()):
            raise ValueError(f"{label}: {key} must map method names to objects of settings {shape}, "
                             f"got {json.dumps(table)[:80]}")
    return check_recipe(data, label)


def _dataset_table(table: dict, dataset: str, name: str) -> dict:
    """The dataset's entry of config.UNLEARN / config.OVER_UNLEARN (``name``); a dataset without one is an error,
    never another dataset's values."""
    if dataset not in table:
        raise ValueError(f"config.{name} has no entry for dataset {dataset!r}: add one (an empty dict runs the "
                         f"registered paper-preset values)")
    return table[dataset]


def plain_settings(dataset: str) -> Dict[str, dict]:
    """{method: settings} on ``dataset``: the registered (paper-preset) settings with the dataset's entry in
    config.UNLEARN merged over them."""
    own = _dataset_table(config.UNLEARN, dataset, "UNLEARN")
    unknown = sorted(set(own) - set(METHODS))
    if unknown:
        raise ValueError(f"config.UNLEARN[{dataset!r}] names unknown methods {unknown}")
    return {name: merge(m.defaults(), own.get(name, {})) for name, m in METHODS.items()}


def over_unlearn_settings(dataset: str) -> Dict[str, dict]:
    """{method: phase-1 overrides of ``_our``, "replay": the replay, "orth": the ``_orth`` over-unlearning} on
    ``dataset``: the registered ones, each replaced as a whole by the dataset's entry in config.OVER_UNLEARN."""
    own = _dataset_table(config.OVER_UNLEARN, dataset, "OVER_UNLEARN")
    table = {name: merge(m.our, own.get(name, {})) for name, m in METHODS.items()}
    table.update({v.key: own.get(v.key, v.defaults) for v in VARIANTS.values()})
    return copy.deepcopy(table)


def method_settings(dataset: str, name: str, recipe: Optional[dict] = None) -> dict:
    """Settings of a method on a dataset (``plain_settings``); for ``_our`` the phase-1 overrides and "replay" are
    merged in (``over_unlearn_settings``); for ``_orth`` the method's plain settings plus "orth" and "replay".
    ``recipe`` (``load_recipe``) is merged over both tables first."""
    entry = get_method(name)
    base = entry.base or entry.name
    extra = recipe or {}
    plain = merge(plain_settings(dataset), extra.get("UNLEARN", {}))
    settings = dict(plain.get(base, {}))
    if entry.base:
        over = merge(over_unlearn_settings(dataset), extra.get("OVER_UNLEARN", {}))
        if entry.name.endswith("_orth"):
            settings["orth"] = dict(over.get("orth", {}), **over.get(base, {}).get("orth", {}))
            settings["replay"] = dict(over.get("replay", {}))  # a method's own `_our` replay is not `_orth`'s
        else:
            settings.update(over.get(base, {}))
            settings["replay"] = dict(over.get("replay", {}), **over.get(base, {}).get("replay", {}))
    return settings


def describe(dataset: str = "digits") -> str:
    """The registry as a table: method, para1/para2 meaning and default (on ``dataset``), gradient-based."""
    rows = [f"{'method':<22} {'para1':<58} {'para2':<62} gradient-based"]
    for name in method_names():
        m = get_method(name)
        s = method_settings(dataset, name)
        p1 = f"{m.para1} [{s.get('para1')}]" if m.para1 != "unused" else "unused"
        p2 = f"{m.para2} [{s.get('para2')}]" if m.para2 != "unused" else "unused"
        rows.append(f"{name:<22} {p1:<58} {p2:<62} {'yes' if m.gradient else 'no'}")
    return "\n".join(rows)


DOCS_DATASETS = ("cifar20", "digits")  # the paper presets (cifar20 = cifar100 = imagenet64) and the CPU preset


def _cell(text) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _value(v) -> str:
    return "–" if v is None else f"{v:g}" if isinstance(v, float) else str(v)


def markdown_table() -> str:
    """The methods table of docs/unlearning.md, from the registry: knob meanings with their defaults on the paper
    presets and on digits, whether the method takes gradient steps, its other settings (paper-preset value) and
    the first sentence of its docstring."""
    def knob(m, key, meaning):
        if meaning == "unused":
            return "–"
        values = [_value(method_settings(ds, m.name).get(key)) for ds in DOCS_DATASETS]
        return f"{meaning} [paper {values[0]}; digits {values[1]}]"

    def flat(d, prefix=""):
        for k, v in d.items():
            yield from flat(v, f"{prefix}{k}.") if isinstance(v, dict) else [f"`{prefix}{k}` {_value(v)}"]

    header = ["method", "para1 [default: paper; digits]", "para2 [default: paper; digits]", "gradient",
              "other settings (paper preset)", "`_our` phase 1 (paper preset)", "what it does"]
    rows = []
    for m in METHODS.values():
        other = "; ".join(f"`{k}` {_value(v)}: {meaning}" for k, (v, meaning, *_) in m.settings.items())
        our = ", ".join(flat(m.our)) if m.approximate else "no `_our`"
        first = " ".join(m.doc.split()).split(". ")[0].rstrip(".")
        rows.append([_cell(c) for c in (m.name, knob(m, "para1", m.para1), knob(m, "para2", m.para2),
                                        "yes" if m.gradient else "no", other or "–", our or "–", first)])
    return tables.markdown_table(header, rows)


DOCS_PATH = "docs/unlearning.md"


DOCS_BEGIN = "<!-- methods table: generated by python forget_full_class_strategies.py --write-docs -->"


DOCS_END = "<!-- end -->"


def docs_with_table(text: str) -> str:
    """``text`` (docs/unlearning.md) with the part between DOCS_BEGIN and the next DOCS_END replaced by
    ``markdown_table()``. ValueError if the markers are missing."""
    begin = text.find(DOCS_BEGIN)
    end = text.find(DOCS_END, begin + len(DOCS_BEGIN)) if begin >= 0 else -1
    if begin < 0 or end < 0:
        raise ValueError(f"{DOCS_PATH} has no '{DOCS_BEGIN}' … '{DOCS_END}' block")
    return text[:begin + len(DOCS_BEGIN)] + "\n" + markdown_table() + "\n" + text[end:]


SNAPSHOT_PATH = "tests/snapshots/method_settings.json"
# every dataset with a preset: a new dataset's resolved settings enter the snapshot when it is regenerated
SNAPSHOT_DATASETS = tuple(sorted(config.PRESETS))


def settings_snapshot() -> str:
    """Every (dataset, registry name, resolved settings) of the snapshot datasets, one JSON row per line: the file
    tests/snapshots/method_settings.json, which the tests compare with ``method_settings``."""
    rows = [json.dumps([ds, name, json.loads(json.dumps(method_settings(ds, name), sort_keys=True))], sort_keys=True)
            for ds in SNAPSHOT_DATASETS for name in method_names()]
    return "[\n" + ",\n".join(rows) + "\n]\n"
