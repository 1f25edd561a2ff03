"""The paper's tables and figures rebuilt from log_files/ (every stage's results.json).

Efficacy (paper Tables 14/15), distribution attributes (16/17), ReA balanced accuracy and TPR@5%FPR (18/19),
white-box and black-box. Rows group runs that differ only in seed (mean ± sd over seeds); a missing cell is "—".
"""
from __future__ import annotations

import csv
import functools
import hashlib
import io
import json
import math
import os
import sys
from collections import defaultdict
from typing import Dict, List, Optional

import numpy as np

from .errors import OutputError
from .files import atomic_write, atomic_write_text, file_fingerprint, read_json
from .paths import ROOT
import re

import config
from datasets import get_dataset_info
from . import matrix, plots
from .attacks import ATTACKS, attack_of
from .attacks.reminiscence import report_rows as rea_report_rows
from .methods import check_settings, method_settings
from .scoring import heldout_balanced_accuracy, roc_auc_ci
from .tables import markdown_table
from .measured_docs import script_command, write_measured
from .cli.parsers import report_parser

MISSING = "—"


# ----------------------------------------------------------------------------- collecting
SMOKE_DIR = "smoke"  # run.py --smoke writes under <log_root>/smoke/: never part of the real report


def is_smoke_root(log_root: str) -> bool:
    return os.path.basename(os.path.normpath(log_root)) == SMOKE_DIR


def _walk(log_root: str):
    """(folder, files) below ``log_root``, sorted, leaving out the report's own folder and, unless ``log_root`` is a
    smoke root, the smoke sweep's results (<log_root>/smoke/)."""
    for dirpath, dirs, files in os.walk(log_root):
        dirs.sort()
        if dirpath == log_root:
            dirs[:] = [d for d in dirs if d != "report" and (d != SMOKE_DIR or is_smoke_root(log_root))]
        yield dirpath, files


def _find_results(log_root: str):
    for dirpath, files in _walk(log_root):
        if "results.json" in files and os.sep + "report" + os.sep not in dirpath[len(log_root):] + os.sep:
            yield os.path.join(dirpath, "results.json")


def _run_dir_of(path: str) -> Optional[str]:
    """The unlearning run folder that an attack/metric result lives under (None for a free-standing one)."""
    parts = path.split(os.sep)
    for i, part in enumerate(parts[:-1]):
        if part in {a.folder[0] for a in ATTACKS.values()} | {"dfme"} or part.startswith("distribution"):
            return os.sep.join(parts[:i])
    return None


FOLDER_TAGS = re.compile(r"_((?:set|rcp|src)-[0-9a-zA-Z]+)")  # RunIdentity's extra fields beyond the shown ones


def _folder_tags(run_dir: Optional[str]) -> str:
    """The run folder's identifying fields beyond those shown in their own columns (a --settings hash ``set-``, a
    recipe hash ``rcp-``, a source model ``src-``): runs that differ in them are different experiments."""
    if not run_dir:
        return ""
    return "_".join(FOLDER_TAGS.findall(os.path.basename(os.path.normpath(run_dir))))


def _mask_of(args: dict, run_dir: Optional[str]) -> Optional[str]:
    """The mask as the run folder names it (file stem and content fingerprint); the file name without a folder."""
    if not args.get("mask_path"):
        return None
    found = re.search(r"_mask-(.+)_seed-", os.path.basename(os.path.normpath(run_dir))) if run_dir else None
    return found.group(1) if found else os.path.basename(str(args["mask_path"]))


def settings_hash(settings) -> str:
    """Short content hash of a run's resolved settings (what it recorded after the run left out): two runs with
    different settings, from whatever source, are different experiments."""
    if not isinstance(settings, dict):
        return ""
    clean = {k: v for k, v in settings.items() if k != "_log"}
    return hashlib.sha1(json.dumps(clean, sort_keys=True, default=str).encode()).hexdigest()[:6]


def _identity(res: dict, run_dir: Optional[str] = None) -> dict:
    """A run's identity as the report groups it: everything but the seed (rows of different seeds with equal
    identities are averaged; anything else that differs makes another row)."""
    a = res.get("args") if isinstance(res.get("args"), dict) else {}
    fine = a.get("forget_fine")  # sub-class runs: the paper's sub-class rows, "fine<id>"
    return {"dataset": a.get("dataset"), "net": a.get("net"),
            "forget": f"fine{fine}" if fine is not None else a.get("forget_class"),
            "method": res.get("method", a.get("method")), "para1": a.get("para1"), "para2": a.get("para2"),
            "mask": _mask_of(a, run_dir), "l1": a.get("l1") or 0.0,
            "l2": a.get("l2") or 0.0, "variant": _folder_tags(run_dir), "cfg": settings_hash(res.get("settings")),
            "source": _source_of(res, run_dir), "outcome": _outcome(res), "seed": a.get("seed")}


# a run (of any method but baseline, which unlearns nothing) whose forget-train accuracy UA stays above this did not
# forget: its rows are reported apart ("(not forgotten)"), so a mean over seeds never mixes the two outcomes
NOT_FORGOTTEN_UA = 0.5
NOT_FORGOTTEN = "not forgotten"


def _outcome(res: dict) -> str:
    """NOT_FORGOTTEN for an unlearning run whose UA > NOT_FORGOTTEN_UA (baseline aside), else ""."""
    m = res.get("metrics") if isinstance(res.get("metrics"), dict) else {}
    ua = m.get("UA")
    if res.get("method") == "baseline" or isinstance(ua, bool) or not isinstance(ua, (int, float)):
        return ""
    return NOT_FORGOTTEN if ua > NOT_FORGOTTEN_UA else ""


NOT_RECIPE_KEYS = ("para1", "para2", "_log")  # settings keys left out of the recipe comparison (own columns, logs)


def off_default(res: dict) -> str:
    """The settings keys in which a run's recorded settings differ from its method's registered defaults today
    (para1/para2 aside: they have their own columns), comma-separated; "" where none differ or it cannot tell (no
    settings recorded, a method or dataset no longer registered)."""
    settings, a = res.get("settings"), res.get("args")
    if not isinstance(settings, dict) or not isinstance(a, dict):
        return ""
    default = _default_settings(str(a.get("dataset")), str(res.get("method", a.get("method"))))
    if default is None:
        return ""
    run = json.loads(json.dumps({k: v for k, v in settings.items() if k not in NOT_RECIPE_KEYS}, default=str))
    return ", ".join(sorted(k for k in set(run) | set(default) if run.get(k) != default.get(k)))


@functools.lru_cache(maxsize=None)
def _default_settings_json(dataset: str, method: str) -> Optional[str]:
    try:
        found = check_settings(method, method_settings(dataset, method))
    except (KeyError, ValueError, TypeError):
        return None
    return json.dumps({k: v for k, v in found.items() if k not in NOT_RECIPE_KEYS}, default=str, sort_keys=True)


def _default_settings(dataset: str, method: str) -> Optional[dict]:
    found = _default_settings_json(dataset, method)
    return None if found is None else json.loads(found)


def _source_of(res: dict, run_dir: Optional[str]) -> str:
    """The source model as an identity field: "" for the default one (the pretrained model of the run's own seed:
    its folder has no ``_src-`` tag), so a seed sweep's runs, each on its own seed's model, are one experiment;
    the fingerprint for any other (or where no run folder says)."""
    if run_dir and not any(tag.startswith("src-") for tag in FOLDER_TAGS.findall(os.path.basename(
            os.path.normpath(run_dir)))):
        return ""
    return str(res.get("source_fingerprint") or "")[:8]


def _read_result(path: str, notes: List[str]) -> Optional[dict]:
    """The results dict of ``path``; None (with a warning naming the file) when it is empty, truncated or not an
    object."""
    try:
        res = read_json(path)
    except ValueError:
        return _skip(notes, path, "empty or truncated JSON")
    except OSError as err:
        return _skip(notes, path, f"unreadable ({err.strerror or err})")
    if not isinstance(res, dict):
        return _skip(notes, path, f"holds {type(res).__name__ if res is not None else 'null'}, not a results object")
    return res


def _skip(notes: List[str], path: str, why: str) -> None:
    notes.append(f"skipped {path}: {why}")
    return None


def _measured_model(path: str, res: dict, run_dir: str) -> Optional[str]:
    """The checkpoint an attack/metric result was computed on, as it should be now: <run>/last.pt (mid.pt for a
    distribution of mid.pt), or the extracted copy <run>/dfme/<tag>/student.pt for a black-box attack."""
    attack = attack_of(path, run_dir)
    if attack is not None:
        return attack.model(path, res, run_dir)
    ckpt = res.get("checkpoint") or (res.get("target") or {}).get("checkpoint") or "last.pt"
    return os.path.join(run_dir, os.path.basename(str(ckpt)))


def _stale(path: str, res: dict, run_dir: str, unlearn_res: dict, unchecked: List[str]) -> Optional[str]:
    """Why the result was computed on another model than the run's current one (None: it was not, as far as the
    fingerprints tell). A result without a fingerprint (written before they were recorded) goes to ``unchecked``."""
    recorded = res.get("model_fingerprint")
    if not recorded:
        unchecked.append(path)
        return None
    model = _measured_model(path, res, run_dir)
    current = file_fingerprint(model)
    if current is None and os.path.basename(model) == "last.pt":
        current = unlearn_res.get("model_fingerprint")
    if current is not None and current != recorded:
        return f"computed on model {recorded}, but {os.path.relpath(model, run_dir)} is now {current}"
    if "dfme" in path.split(os.sep):  # the copy must have been extracted from the current unlearned model
        extraction = _read_quietly(os.path.join(os.path.dirname(model), "results.json"))
        victim = extraction.get("model_fingerprint")
        now = file_fingerprint(os.path.join(run_dir, "last.pt")) or unlearn_res.get("model_fingerprint")
        if victim and now and victim != now:
            return f"its copy was extracted from model {victim}, but last.pt is now {now}"
    return None


def _read_quietly(path: str) -> dict:
    try:
        res = read_json(path)
    except (OSError, ValueError):
        return {}
    return res if isinstance(res, dict) else {}


def collect(log_root: str, notes: Optional[List[str]] = None) -> Dict[str, List[dict]]:
    """Rows per table kind: 'unlearn', 'rea', 'blackbox', 'distribution', … (one per attack), and 'quality' (the
    quality stage's finished results.json, whole). Each row = identity + figures.

    Every results.json that is not used is named in ``notes``: unreadable ones, results of a run that is not done,
    results computed on another model than the run's current one (stale); results without a model fingerprint are
    used and listed as unchecked."""
    notes = [] if notes is None else notes
    unlearn_by_dir, rows, loaded, unchecked = {}, defaultdict(list), {}, []
    paths = sorted(_find_results(log_root))
    for path in paths:
        res = _read_result(path, notes)
        if res is None:
            continue
        loaded[path] = res
        quality = _quality_result(path, res, notes)
        if quality is not None:
            rows["quality"].append(quality)
            continue
        if res.get("stage") == "unlearn" and _run_dir_of(path) is None:
            unlearn_by_dir[os.path.dirname(path)] = res
            if res.get("status") == "done":
                m = res.get("metrics") if res.get("metrics") is not None else {}
                if not isinstance(m, dict) or not isinstance(res.get("args"), dict):
                    what = "metrics" if not isinstance(m, dict) else "args"
                    _skip(notes, path, f"{what} is a {type(res.get(what)).__name__}, not an object")
                    continue
                recorded, current = res.get("model_fingerprint"), file_fingerprint(
                    os.path.join(os.path.dirname(path), "last.pt"))
                if recorded and current and recorded != current:
                    _skip(notes, path, f"stale: written for model {recorded}, but last.pt is now {current}")
                    continue
                row = dict(_identity(res, os.path.dirname(path)), recipe=off_default(res), TA=m.get("TA"),
                           UA=m.get("UA"), RA=m.get("RA"), MIA=m.get("MIA"), RTE=m.get("RTE"),
                           forget_test=m.get("forget_test_acc"),
                           d_t=m.get("d_t"), MIA_paper=m.get("MIA_paper"), path=path)
                if _keep(notes, path, row):
                    rows["unlearn"].append(row)
    for path, res in loaded.items():
        run_dir = _run_dir_of(path)
        if run_dir is None:
            continue
        parts = path.split(os.sep)
        attack = attack_of(path, run_dir)
        is_dist = attack is None and any(p.startswith("distribution") for p in parts)
        if not (attack or is_dist):
            continue  # an extraction's own results.json: no table of its own
        owner = unlearn_by_dir.get(run_dir)
        if owner is None:
            _skip(notes, path, f"its unlearning run {run_dir} has no readable results.json")
            continue
        if owner.get("status") != "done":
            _skip(notes, path, f"its unlearning run is not done (status {owner.get('status')!r})")
            continue
        why = _stale(path, res, run_dir, owner, unchecked)
        if why:
            _skip(notes, path, "stale: " + why)
            continue
        ident = dict(_identity(owner, run_dir), recipe=off_default(owner))
        if attack is not None:
            try:
                found = attack.rows(res)
                if attack.rows is rea_report_rows and isinstance(found, list):
                    found = [dict(r, **rea_extras(res, r)) if isinstance(r, dict) else r for r in found]
            except (ValueError, TypeError, AttributeError) as err:
                _skip(notes, path, str(err))
                continue
            found = [dict(ident, path=path, **r) for r in found] if isinstance(found, list) else [None]
            if all(isinstance(r, dict) and _keep(notes, path, r) for r in found):
                rows.setdefault(attack.name, []).extend(found)
        else:
            for space, m in _metric_spaces(res.get("metrics", res)):
                if os.path.basename(str(res.get("checkpoint", "last.pt"))) == "mid.pt":
                    space += " (mid.pt)"
                row = dict(ident, features=str(space), variance=m.get("variance"),
                           silhouette=m.get("silhouette"), overlap=m.get("overlap"),
                           multiclass_overlap=m.get("multiclass_overlap"), overlap_paper=m.get("overlap_paper"),
                           silhouette_paper=m.get("silhouette_paper"), path=path)
                if _keep(notes, path, row):
                    rows["distribution"].append(row)
    for attack in ATTACKS.values():
        if attack.rows is rea_report_rows:
            control_prior(rows.get(attack.name, []))
    rows["unchecked"] = unchecked
    return rows


# ----------------------------------------------------------------------------- ReA's columns beyond its own rows
def rea_extras(res: dict, row: dict) -> dict:
    """From one lr's stored steps-to-τ (a ReA results.json's per_lr block): the held-out balanced accuracy and the
    AUC's 95% interval (``scoring``), None where the steps are not stored."""
    block = (res.get("per_lr") or {}).get(row.get("lr_key"), {})
    m, n = (block.get("member_steps"), block.get("non_member_steps")) if isinstance(block, dict) else (None, None)
    if not (isinstance(m, list) and isinstance(n, list) and m and n):
        return {"BA_heldout": None, "AUC_lo": None, "AUC_hi": None}
    held = heldout_balanced_accuracy(m, n, higher_is_member=False)
    lo, hi = roc_auc_ci(m, n, higher_is_member=False)
    return {"BA_heldout": None if math.isnan(held) else held, "AUC_lo": lo, "AUC_hi": hi}


def control_prior(rows: List[dict]) -> None:
    """``prior_AUC_ctrl`` of every row: its prior-attack AUC minus retrain's on the same seed (same group, the mean
    over retrain's rows of that seed; None where there is none). The entropy MIA's class-level decision separates
    the forget class from OOD classes on retrain too (retrain never saw either): the difference is what the run
    adds to that."""
    ref = defaultdict(list)
    for r in rows:
        if r.get("method") == "retrain" and r.get("prior_AUC") is not None:
            ref[(tuple(r.get(k) for k in GROUP), r.get("seed"))].append(r["prior_AUC"])
    for r in rows:
        base = ref.get((tuple(r.get(k) for k in GROUP), r.get("seed")))
        r["prior_AUC_ctrl"] = None if not base or r.get("prior_AUC") is None else r["prior_AUC"] - float(np.mean(base))


def table_fields(attack) -> Dict[str, tuple]:
    """An attack's report columns: its registered ones; for ReA's tables also the held-out balanced accuracy, the
    AUC's interval and the retrain-controlled prior AUC, and without the ReA / prior ratio (its prior is not
    controlled for class identity)."""
    fields = dict(attack.fields)
    if attack.rows is not rea_report_rows:
        return fields
    extra = {"ReA AUC": {"AUC 95% CI low": ("AUC_lo", 1, 3), "AUC 95% CI high": ("AUC_hi", 1, 3)},
             "ReA bal. acc %": {"ReA bal. acc % (held out)": ("BA_heldout", 100, 1)},
             "prior AUC": {"prior AUC − retrain's (same seed)": ("prior_AUC_ctrl", 1, 3)}}
    out = {}
    for col, spec in fields.items():
        if spec[0] == "ratio":
            continue
        out[col] = spec
        out.update(extra.get(col, {}))
    return out


TEXT_FIELDS = {"dataset", "net", "method", "mask", "variant", "cfg", "source", "path", "features", "lr_key", "forget",
               "outcome", "recipe"}
IDENTITY_NUMBERS = {"para1", "para2", "l1", "l2"}  # numbers or null, possibly non-finite (an --l1 nan run)


def _row_problem(row: dict) -> Optional[str]:
    """Why a report row cannot be used (None: it can): every figure is null or a finite number, the seed a whole
    number, the texts texts. One check for every reader's rows, whatever stage wrote them."""
    for key, value in row.items():
        if key in TEXT_FIELDS:
            if value is not None and not isinstance(value, (str, int)):
                return f"{key} is a {type(value).__name__}, not a name"
        elif key == "seed":
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
                return f"seed {value!r} is not a whole number"
        elif value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
            return f"{key} {str(value)[:40]!r} is not a number"
        elif key not in IDENTITY_NUMBERS and value is not None and not math.isfinite(value):
            return f"{key} {value!r} is not finite"
    return None


def _keep(notes: List[str], path: str, row: dict) -> bool:
    why = _row_problem(row)
    if why:
        _skip(notes, path, why)
    return why is None


def _metric_spaces(metrics: dict):
    """Distribution results hold one metric dict, or one per feature space."""
    if not isinstance(metrics, dict):
        return
    if "variance" in metrics:
        yield metrics.get("features", "features"), metrics
    else:
        for space, m in metrics.items():
            if isinstance(m, dict) and "variance" in m:
                yield space, m


# ----------------------------------------------------------------------------- aggregating
def _method_order(name: str):
    head = {"baseline": 0, "retrain": 1}
    for suffix, rank in (("_our", 1), ("_orth", 2)):
        if name.endswith(suffix):
            return (2, name[: -len(suffix)], rank)
    return (head.get(name, 2), name, 0)


def _fmt(values: List[float], scale: float = 1.0, digits: int = 3) -> str:
    vals = [v * scale for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
    if not vals:
        return MISSING
    if len(vals) == 1:
        return f"{vals[0]:.{digits}f}"
    return f"{np.mean(vals):.{digits}f} ± {np.std(vals, ddof=1):.{digits}f}"


def aggregate(rows: List[dict], keys: List[str], fields: Dict[str, tuple]) -> List[dict]:
    """Group ``rows`` by ``keys`` (seed excluded) and format ``fields`` {column: (row key, scale, digits)}."""
    groups = defaultdict(list)
    for r in rows:
        groups[tuple(r.get(k) for k in keys)].append(r)
    out = []
    for key in sorted(groups, key=lambda k: tuple(_method_order(str(v)) if keys[i] == "method" else str(v)
                                                   for i, v in enumerate(k))):
        rs = groups[key]
        row = dict(zip(keys, key))
        row["seeds"] = len({r.get("seed") for r in rs})
        row["recipe"] = next((r["recipe"] for r in rs if r.get("recipe")), "")
        for col, (field, scale, digits) in fields.items():
            row[col] = _fmt([r.get(field) for r in rs], scale, digits)
        out.append(row)
    return out


def _params(row) -> str:
    bits = [f"{row[k]:g}" for k in ("para1", "para2") if isinstance(row.get(k), (int, float))]
    if row.get("mask"):
        bits.append(f"mask {row['mask']}")
    bits += [f"{key} {row[key]:g}" for key in ("l1", "l2") if row.get(key)]
    if row.get("variant"):
        bits.append(str(row["variant"]))
    if row.get("recipe"):  # not the method's registered recipe of today: name it and what differs
        bits.append(f"recipe {row.get('cfg') or '?'} (not today's default: {row['recipe']})")
    if row.get("show_cfg"):
        bits.append(f"settings {row['cfg']}, source {row['source']}")
    return ", ".join(bits) or MISSING


def _method_label(row) -> str:
    """The method as a report row names it: with "(not forgotten)" for a run that kept the forget class."""
    return f"{row['method']} ({NOT_FORGOTTEN})" if row.get("outcome") == NOT_FORGOTTEN else str(row["method"])


def _mark_ambiguous(table: List[dict]) -> List[dict]:
    """Rows that the shown parameters would not tell apart (they differ only in resolved settings or source
    model) show their settings hash and source fingerprint."""
    shown = [k for k in IDENT if k not in ("cfg", "source")] + ["lr", "features"]
    keys = [tuple(row.get(k) for k in shown) for row in table]
    seen = defaultdict(set)
    for key, row in zip(keys, table):
        seen[key].add((row.get("cfg"), row.get("source")))
    return [dict(row, show_cfg=len(seen[key]) > 1) for key, row in zip(keys, table)]


# ----------------------------------------------------------------------------- tables
GROUP = ["dataset", "net", "forget"]
IDENT = GROUP + ["method", "para1", "para2", "mask", "l1", "l2", "variant", "cfg", "source", "outcome"]


def efficacy_table(rows):
    # TA / MIA: ours (retain test; non-members = retain test); d_t / MIA paper: the paper's definitions (full test
    # set incl. the forget class; non-members incl. forget-class test images) — docs/fidelity.md, "Metrics"
    agg = aggregate(rows, IDENT, {"TA % (retain test)": ("TA", 100, 1), "d_t % (full test)": ("d_t", 100, 1),
                                  "d_f (UA %)": ("UA", 100, 1), "d_r (RA %)": ("RA", 100, 1), "MIA %": ("MIA", 100, 1),
                                  "MIA % (paper)": ("MIA_paper", 100, 1), "RTE s": ("RTE", 1, 2)})
    retrain_rte = defaultdict(list)
    for r in rows:
        if r["method"] == "retrain":
            retrain_rte[tuple(r[k] for k in GROUP)].append(r["RTE"])
    for row in agg:
        base = retrain_rte.get(tuple(row[k] for k in GROUP))
        mine = [r["RTE"] for r in rows if all(r.get(k) == row[k] for k in IDENT)]
        row["RTE % of retrain"] = f"{100 * np.mean(mine) / np.mean(base):.1f}" if base else MISSING
    return agg


def rea_table(rows):
    return attack_table(ATTACKS["rea"], rows)


def attack_table(attack, rows):
    """An attack's report table: its registered columns, one row per identity (and per ``attack.keys``)."""
    return aggregate(rows, IDENT + list(attack.keys), table_fields(attack))


def table_name(attack) -> str:
    """The CSV name of an attack's table (rea.csv, rea_blackbox.csv, pra.csv, ...)."""
    return "rea" if attack.name == "rea" else f"rea_{attack.name}" if attack.name == "blackbox" else attack.name


def distribution_table(rows):
    return aggregate(rows, IDENT + ["features"], {"variance": ("variance", 1, 2), "silhouette": ("silhouette", 1, 3),
                                                  "overlap": ("overlap", 1, 3),
                                                  "multi-class overlap": ("multiclass_overlap", 1, 3),
                                                  # the paper's units: raw grid sum, pooled rest (docs/fidelity.md)
                                                  "overlap (paper units)": ("overlap_paper", 1, 4),
                                                  "silhouette (paper's nearest class)": ("silhouette_paper", 1, 3)})


def _columns(table):
    drop = {"para1", "para2", "mask", "l1", "l2", "variant", "cfg", "source", "outcome", "recipe"}
    cols = [c for c in table[0] if c not in drop]
    return cols[: cols.index("method") + 1] + ["params"] + cols[cols.index("method") + 1:]


def to_markdown(table: List[dict]) -> str:
    if not table:
        return "_no results yet_\n"
    cols = _columns(table)
    rows = [dict(row, params=_params(row), method=_method_label(row)) for row in _mark_ambiguous(table)]
    return markdown_table(cols, [[row.get(c, MISSING) for c in cols] for row in rows]) + "\n"


def to_csv(table: List[dict]) -> str:
    buf = io.StringIO()
    if table:
        cols = _columns(table)
        w = csv.writer(buf)
        w.writerow(cols)
        for row in _mark_ambiguous(table):
            row = dict(row, params=_params(row), method=_method_label(row))
            w.writerow([row.get(c, MISSING) for c in cols])
    return buf.getvalue()


# ----------------------------------------------------------------------------- figures
def plot_rea(rows: List[dict], path: str, title: str) -> Optional[str]:
    if not rows:
        return None
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    lrs = sorted({r["lr"] for r in rows})
    methods = sorted({_method_label(r) for r in rows}, key=_method_order)  # runs that did not forget: a bar apart
    fig, ax = plt.subplots(figsize=(max(6, 0.6 * len(methods) * len(lrs)), 4))
    width = 0.8 / len(lrs)
    for j, lr in enumerate(lrs):
        means, sds = [], []
        for m in methods:
            v = [r["BA"] for r in rows if _method_label(r) == m and r["lr"] == lr and r["BA"] is not None]
            means.append(100 * np.mean(v) if v else np.nan)
            sds.append(100 * np.std(v) if len(v) > 1 else 0)
        bars = ax.bar(np.arange(len(methods)) + j * width, means, width, yerr=sds, label=f"lr {lr:g}")
        ax.bar_label(bars, labels=[f"{v:.0f}" if np.isfinite(v) else "" for v in means], fontsize=7, padding=2)
    ax.axhline(50, color="k", lw=0.8, ls="--")
    ax.set_xticks(np.arange(len(methods)) + 0.4 - width / 2, methods, rotation=45, ha="right")
    ax.set_ylabel("ReA balanced accuracy (%)")
    ax.set_ylim(40, 108)
    ax.set_title(title, fontsize=10)
    # beside the axes: inside, it covered the bars that reach 100%
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, title="relearning", title_fontsize=8)
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=120, format="png", bbox_inches="tight"))
    plt.close(fig)
    return path


def quality_sections(log_root: str) -> List[str]:
    """The forgetting-quality stage writes its own table (…/forget_<c>/quality/<tag>/table.md): include each."""
    out = []
    for dirpath, files in _walk(log_root):
        if "table.md" in files and os.path.basename(os.path.dirname(dirpath)) == "quality":
            rel = os.path.relpath(dirpath, log_root)
            with open(os.path.join(dirpath, "table.md")) as fh:
                out += [f"## Forgetting quality against retrained models ({rel})\n", fh.read()]
    return out


# ----------------------------------------------------------------------------- the sweep's figures
def _group_name(group) -> str:
    dataset, net, forget = group
    forgotten = f"fine class {str(forget)[4:]}" if str(forget).startswith("fine") else f"class {forget}"
    return f"{dataset} / {net}, forget {forgotten}"


def _slug(*parts) -> str:
    return re.sub(r"[^A-Za-z0-9.=-]+", "_", "_".join(str(p) for p in parts if p not in (None, ""))).strip("_")


def _ident(row: dict) -> tuple:
    return tuple(row.get(k) for k in IDENT)


def _labels(rows: List[dict]) -> Dict[tuple, str]:
    """A legend label per identity (IDENT): the method, with its parameters where a method appears more than once."""
    method = IDENT.index("method")
    idents = sorted({_ident(r) for r in rows}, key=lambda k: (_method_order(str(k[method])), str(k)))
    recipes = {_ident(r): r["recipe"] for r in rows if r.get("recipe")}
    count = defaultdict(int)
    for k in idents:
        count[_method_label(dict(zip(IDENT, k)))] += 1
    out = {}
    for k in idents:
        row = dict(zip(IDENT, k), recipe=recipes.get(k, ""))
        name = _method_label(row)
        out[k] = name if count[name] == 1 else f"{name} ({_params(row)})"
    return out


def _lr_results(row: dict) -> dict:
    """The per-lr block of an attack row's results.json ({} when unreadable)."""
    if not row.get("path"):
        return {}
    return (_read_quietly(row["path"]).get("per_lr") or {}).get(row.get("lr_key"), {})


def _mean_curves(row: dict) -> Optional[dict]:
    """Mean accuracy per step of the forget and of the OOD runs of an attack row, from its curves_lr<lr>.tsv."""
    res = _read_quietly(row["path"]) if row.get("path") else {}
    name = (res.get("files") or {}).get(f"curves_lr{row.get('lr_key')}")
    if not name:
        return None
    try:
        with open(os.path.join(os.path.dirname(row["path"]), name)) as fh:
            table = list(csv.DictReader(fh, delimiter="\t"))
    except OSError:
        return None
    out = {}
    for side in ("forget", "ood"):
        acc = [[float(v) for k, v in r.items() if k.startswith("acc_")] for r in table if r.get("side") == side]
        if not acc:
            return None
        out[side] = np.mean(np.array(acc), axis=0)
    out["threshold"] = (res.get("settings") or {}).get("threshold")
    return out


def _extraction_of(blackbox_path: str) -> dict:
    """The DFME results.json of the copy a black-box attack ran on (<run>/dfme/<tag>/rea/<tag>/results.json)."""
    parts = blackbox_path.split(os.sep)
    i = len(parts) - 1 - parts[::-1].index("rea")
    return _read_quietly(os.sep.join(parts[:i] + ["results.json"]))


def _attack_figures(kind: str, rows: List[dict], unlearn: List[dict], white: List[dict], group, out_dir: str,
                    figures: List[dict]) -> None:
    """Per lr of one group: ROC per method, the relearning curves overlaid, and TA vs AUC (white box) or DFME
    fidelity vs AUC (black box). Runs that differ only in seed are pooled (scores, curves) or averaged (points)."""

    dataset, net, forget = group
    side = "white-box ReA" if kind == "rea" else "black-box ReA on the DFME copies"
    labels = _labels(rows)
    ta = {(_ident(u), u.get("seed")): u["TA"] for u in unlearn if u.get("TA") is not None}
    for lr in sorted({r["lr"] for r in rows}):
        detail = f"{_group_name(group)}; relearning lr {lr:g}; runs that differ only in seed pooled"
        roc, curves, points = defaultdict(lambda: ([], [])), defaultdict(list), defaultdict(list)
        for r in (r for r in rows if r["lr"] == lr):
            res = _lr_results(r)
            if res.get("member_steps") is not None and res.get("non_member_steps") is not None:
                roc[_ident(r)][0].extend(res["member_steps"])
                roc[_ident(r)][1].extend(res["non_member_steps"])
            c = _mean_curves(r)
            if c is not None:
                curves[_ident(r)].append(c)
            if r.get("AUC") is not None:
                points[_ident(r)].append(r)
        base = os.path.join(out_dir, _slug(dataset, net, f"forget{forget}", kind)) + f"_lr{lr:g}"
        entries = [dict(label=labels[k], member=m, non_member=n) for k, (m, n) in roc.items() if m and n]
        if entries:
            title = plots.plot_roc_methods(base + "_roc.png", entries, dataset, net,
                                           what=f"{side}, ROC of steps-to-τ", subtitle=detail)
            figures.append(dict(group=group, path=base + "_roc.png", title=title))
        entries = [dict(label=labels[k], forget=np.mean([c["forget"] for c in cs], 0),
                        ood=np.mean([c["ood"] for c in cs], 0)) for k, cs in curves.items()]
        if entries:
            threshold = next((c["threshold"] for cs in curves.values() for c in cs if c.get("threshold")), None)
            title = plots.plot_relearning_overlay(base + "_relearning.png", entries, dataset, net,
                                                  threshold=threshold, what=f"{side}, mean relearning curves",
                                                  subtitle=detail)
            figures.append(dict(group=group, path=base + "_relearning.png", title=title))
        if kind == "rea":
            entries = []
            for k, rs in points.items():  # TA of the very runs attacked (a run may have more seeds unattacked)
                tas = [ta[(k, r.get("seed"))] for r in rs if (k, r.get("seed")) in ta]
                if tas:
                    entries.append(dict(label=labels[k], AUC=float(np.mean([r["AUC"] for r in rs])),
                                        TA=float(np.mean(tas))))
            if entries:
                title = plots.plot_ta_vs_rea(base + "_ta_vs_auc.png", entries, dataset, net,
                                             what="TA vs white-box ReA AUC", subtitle=detail + "; means over seeds")
                figures.append(dict(group=group, path=base + "_ta_vs_auc.png", title=title))
            continue
        white_auc = defaultdict(list)
        for w in white:
            if w["lr"] == lr and w.get("AUC") is not None:
                white_auc[_ident(w)].append(w["AUC"])
        entries = []
        for k, rs in points.items():
            fid = [f for f in (_extraction_of(r["path"]).get("fidelity") for r in rs if r.get("path")) if f is not None]
            if fid:
                entries.append(dict(label=labels[k], fidelity=float(np.mean(fid)),
                                    AUC=float(np.mean([r["AUC"] for r in rs])),
                                    white_AUC=float(np.mean(white_auc[k])) if white_auc.get(k) else None))
        if entries:
            title = plots.plot_fidelity_vs_rea(base + "_fidelity_vs_auc.png", entries, dataset, net,
                                               what="DFME fidelity vs black-box ReA AUC",
                                               subtitle=detail + "; means over seeds")
            figures.append(dict(group=group, path=base + "_fidelity_vs_auc.png", title=title))


def _run_figures(row: dict, kind: str) -> List[tuple]:
    """(caption, path) of the PNGs a stage wrote beside a result the tables use."""
    folder = os.path.dirname(row["path"])
    found = []
    if kind == "rea":
        found.append((f"white-box ReA relearning curves, lr {row['lr']:g}", os.path.join(folder, "relearning_curves.png")))
    elif kind == "blackbox":
        found += [("DFME extraction curve", os.path.join(os.path.dirname(os.path.dirname(folder)), "curve.png")),
                  (f"black-box ReA relearning curves, lr {row['lr']:g}", os.path.join(folder, "relearning_curves.png"))]
    elif kind == "distribution":
        found += [(f"t-SNE ({row['features']})", os.path.join(folder, "tsne.png")),
                  (f"KDE overlap map ({row['features']})", os.path.join(folder, "overlap_map.png"))]
    return [(c, p) for c, p in found if os.path.isfile(p)]


def quality_figures(log_root: str) -> List[dict]:
    """distributions.png of every forgetting-quality run (…/<dataset>/<net>/forget_<c>/quality/<tag>/)."""
    out = []
    for dirpath, files in _walk(log_root):
        if "distributions.png" in files and os.path.basename(os.path.dirname(dirpath)) == "quality":
            parts = os.path.relpath(dirpath, log_root).split(os.sep)
            if len(parts) >= 5 and parts[-3].startswith("forget_"):
                forget = parts[-3][len("forget_"):]
                group = (parts[-5], parts[-4], int(forget) if forget.isdigit() else forget)
                out.append(dict(group=group, path=os.path.join(dirpath, "distributions.png"),
                                title=f"{parts[-5]} / {parts[-4]}: forgetting quality, per-model ReA statistics "
                                      f"({parts[-1]})"))
    return out


def sweep_figures(rows: Dict[str, List[dict]], log_root: str, out_dir: str) -> Dict[tuple, dict]:
    """Every figure of the sweep, per group (dataset, net, forget): the report's own, written into ``out_dir``, and
    the ones each stage wrote beside its results, by run.
    {group: {"report": [{"group", "path", "title"}], "runs": [(run label, [(caption, path)])]}}."""

    groups = defaultdict(lambda: {"report": [], "runs": []})
    by_group = defaultdict(lambda: defaultdict(list))
    for kind in ("unlearn", "rea", "blackbox", "distribution"):
        for r in rows.get(kind, []):
            by_group[tuple(r.get(k) for k in GROUP)][kind].append(r)
    for group in sorted(by_group, key=lambda g: tuple(str(v) for v in g)):
        dataset, net, forget = group
        g, figures = by_group[group], groups[group]["report"]
        for kind, what in (("rea", "white-box ReA balanced accuracy"), ("blackbox", "black-box ReA balanced accuracy")):
            if not g[kind]:
                continue
            path = os.path.join(out_dir, _slug(dataset, net, f"forget{forget}", kind, "balanced_accuracy") + ".png")
            title = plots.sweep_title(dataset, net, f"{what}, {_group_name(group).split(', ', 1)[1]}")
            if plot_rea(g[kind], path, title):
                figures.append(dict(group=group, path=path, title=title))
            _attack_figures(kind, g[kind], g["unlearn"], g["rea"], group, out_dir, figures)
        labels = _labels(g["distribution"])
        for space in sorted({r["features"] for r in g["distribution"]}):
            rs = sorted((r for r in g["distribution"] if r["features"] == space),
                        key=lambda r: (_method_order(str(r["method"])), str(_ident(r)), str(r.get("seed"))))
            seeds = len({r.get("seed") for r in rs}) > 1
            entries = [dict(label=labels[_ident(r)] + (f", seed {r.get('seed')}" if seeds else ""),
                            image=os.path.join(os.path.dirname(r["path"]), "tsne.png")) for r in rs]
            entries = [e for e in entries if os.path.isfile(e["image"])]
            if entries:
                path = os.path.join(out_dir, _slug(dataset, net, f"forget{forget}", "tsne", space) + ".png")
                title = plots.plot_image_grid(path, entries, dataset, net, what=f"t-SNE per method ({space})",
                                              subtitle=f"{_group_name(group)}; each panel is that run's t-SNE "
                                                       f"(distribution stage)")
                figures.append(dict(group=group, path=path, title=title))
        per_run = defaultdict(list)
        for kind in ("rea", "blackbox", "distribution"):
            for r in g[kind]:
                for found in _run_figures(r, kind):
                    if found not in per_run[(_ident(r), r.get("seed"))]:
                        per_run[(_ident(r), r.get("seed"))].append(found)
        run_labels = _labels(g["rea"] + g["blackbox"] + g["distribution"])
        method = IDENT.index("method")
        for key in sorted(per_run, key=lambda k: (_method_order(str(k[0][method])), str(k))):
            groups[group]["runs"].append((f"{run_labels[key[0]]}, seed {key[1]}", per_run[key]))
    for fig in quality_figures(log_root):
        groups[fig["group"]]["report"].append(fig)
    return dict(groups)


def figures_markdown(groups: Dict[tuple, dict], out_dir: str) -> List[str]:
    """The report's Figures section: per group the sweep's figures, then each run's own; each named and embedded
    (paths relative to the report's folder)."""
    md = ["## Figures\n"]
    if not groups:
        return md + ["_no figures yet_\n"]
    for group in sorted(groups, key=lambda g: tuple(str(v) for v in g)):
        md.append(f"### {_group_name(group)}\n")
        for fig in groups[group]["report"]:
            rel = os.path.relpath(fig["path"], out_dir)
            md += [f"**{fig['title']}** (`{rel}`)\n", f"![{fig['title']}]({rel})\n"]
        if groups[group]["runs"]:
            md.append(f"#### Per run ({_group_name(group)})\n")
        for label, figs in groups[group]["runs"]:
            for caption, path in figs:
                rel = os.path.relpath(path, out_dir)
                md += [f"**{label}: {caption}** (`{rel}`)\n", f"![{label}: {caption}]({rel})\n"]
    return md


# ----------------------------------------------------------------------------- the attack matrix
# what a column costs, under the attacks: (row label, unlearning metric, kind); seconds rows stay out of the figure
COST_ROWS = (("cost: test accuracy (TA)", "TA", "accuracy"),
             ("efficacy: forget-train accuracy (UA)", "UA", "accuracy"),
             ("cost: unlearning time (s)", "RTE", "seconds"))


def _quality_result(path: str, res: dict, notes: List[str]) -> Optional[dict]:
    """A forgetting-quality results.json (…/forget_<c>/quality/<tag>/results.json) that is done, else None."""
    if os.path.basename(os.path.dirname(os.path.dirname(path))) != "quality":
        return None
    if res.get("stage") != "quality" or res.get("status") != "done":
        return None
    if not all(isinstance(res.get(k), dict) for k in ("settings", "methods", "retrained")):
        _skip(notes, path, "settings, methods or retrained is not an object")
        return None
    return dict(res, path=path)


def _run_key(run_dir) -> Optional[tuple]:
    """A run folder by its place under the log root (<dataset>/<net>/forget_<c>/<method>/<folder>), the same key
    wherever the log root lies and however it was spelt."""
    parts = os.path.normpath(str(run_dir)).split(os.sep) if run_dir else []
    return tuple(parts[-5:]) if len(parts) >= 5 else None


def _audited_column(models, by_run: Dict[tuple, tuple]) -> Optional[tuple]:
    """The report identity (IDENT) shared by the unlearning runs an audit's population was made of; None when its
    runs are not all reported or not all one identity."""
    idents = {by_run.get(_run_key(m.get("run_dir"))) for m in models if isinstance(m, dict)}
    return next(iter(idents)) if len(idents) == 1 and None not in idents else None


def _quality_cells(res: dict, by_run: Dict[tuple, tuple], labels: Dict[tuple, str]) -> List[matrix.Cell]:
    """The quality stage's population statistics as matrix cells: the headline statistic's U-LiRA AUC and the
    CMIA AUC per method (retrain: the split-halves control). Each goes to the column of the runs its models are
    (by run folder: same method, knobs, settings and source as the sweep's column, seeds aside), else to a column
    of its own named after the audit."""
    s = res["settings"]
    group = (s.get("dataset"), s.get("net"), s.get("forget_class"))
    head = s.get("headline_statistic", "forget_steps")
    k, tag = s.get("K"), os.path.basename(os.path.dirname(res["path"]))
    short = hashlib.sha1(tag.encode()).hexdigest()[:6]  # the audit's folder (its scope and attack), shortened
    audit_row, cmia_row = f"population audit (ReA U-LiRA, K={k}, q-{short}): AUC", f"CMIA (K={k}, q-{short}): AUC"
    blocks = dict(res["methods"])
    if isinstance(res.get("retrained_split_halves"), dict):
        blocks[matrix.REFERENCE] = {"numbers": res["retrained_split_halves"], "cmia": res.get("retrained_cmia"),
                                    "halves": True, "models": (res.get("retrained") or {}).get("models")}
    cells = []
    for name, block in blocks.items():
        if not isinstance(block, dict):
            continue
        models = block.get("models") if isinstance(block.get("models"), list) else []
        ident = _audited_column(models, by_run)
        column, label = (ident, labels[ident]) if ident in labels else ((*group, name, "quality"),
                                                                        f"{name} (audit q-{short})")
        num = ((block.get("numbers") or {}).get("statistics") or {}).get(head) or {}
        n = "K/2 vs K/2" if block.get("halves") else f"K={k}"
        auc, ci = (num.get("ulira") or {}).get("auc"), (num.get("ulira") or {}).get("auc_ci")
        if isinstance(auc, (int, float)):
            shown = n + (f", 95% CI {ci[0]:.2f}–{ci[1]:.2f}" if isinstance(ci, list) and len(ci) == 2 else "")
            cells.append(matrix.Cell(group, audit_row, "auc", column, label, float(auc), note=shown))
        cmia = block["cmia"].get("auc") if isinstance(block.get("cmia"), dict) else None
        if isinstance(cmia, (int, float)):
            cells.append(matrix.Cell(group, cmia_row, "auc", column, label, float(cmia), note=n))
    return cells


def attack_matrices(rows: Dict[str, List[dict]], quality: List[dict], out_dir: str,
                    figures: Optional[Dict[tuple, dict]] = None) -> Dict[tuple, "matrix.Matrix"]:
    """The matrix of every group with attack results: its CSV and figure in ``out_dir`` (the figure also listed
    under the group's figures)."""
    every = [r for a in ATTACKS for r in rows.get(a, [])]
    labels = _labels(rows.get("unlearn", []) + every)
    cells = []
    for attack in ATTACKS.values():
        found = rows.get(attack.name, [])
        lrs = {r.get("lr") for r in found if r.get("lr") is not None}
        for label, key, scale, _digits, kind in attack.matrix:
            for r in found:
                name = label + (f" (lr {r['lr']:g})" if len(lrs) > 1 else "")
                v = r.get(key)
                cells.append(matrix.Cell(tuple(r.get(k) for k in GROUP), name, kind, _ident(r), labels[_ident(r)],
                                         None if v is None else float(v) * scale, seed=r.get("seed")))
    by_run = {_run_key(os.path.dirname(r["path"])): _ident(r) for r in rows.get("unlearn", []) if r.get("path")}
    for res in quality:
        cells += _quality_cells(res, by_run, labels)
    for r in rows.get("unlearn", []):  # what each column costs: its utility and its time, per seed
        if _ident(r) in labels:
            for label, key, kind in COST_ROWS:
                v = r.get(key)
                cells.append(matrix.Cell(tuple(r.get(k) for k in GROUP), label, kind, _ident(r), labels[_ident(r)],
                                         None if v is None else float(v), seed=r.get("seed")))
    order = [label for a in ATTACKS.values() for label, *_ in a.matrix] + [label for label, *_ in COST_ROWS]

    def rank(column, label):
        return (_method_order(str(column[IDENT.index("method")] if len(column) > 3 else label)), label)

    built = matrix.build(cells, order, rank)
    for group, m in built.items():
        base = os.path.join(out_dir, _slug(group[0], group[1], f"forget{group[2]}", "attack_matrix"))
        atomic_write_text(base + ".csv", matrix.to_csv(m))
        cols = [m.labels[c] for c in m.columns]
        shown = [r for r in m.rows if m.kinds[r] in matrix.SCORE_KINDS]  # the figure's colour scale is 0–1
        stats = [[m.stats(r, c) or (None, None, 0) for c in m.columns] for r in shown]
        means, sds = ([[float("nan") if st[i] is None else st[i] for st in line] for line in stats] for i in (0, 1))
        ref = m.reference()
        title = plots.plot_matrix(base + ".png", shown, cols, means, sds, group[0], group[1],
                                  f"attacks × defences, {_group_name(group).split(', ', 1)[1]}",
                                  "mean over model seeds", flagged=[r for r in m.rows if m.reads_identity(r)],
                                  reference=None if ref is None else m.columns.index(ref))
        m.figure = base + ".png"
        if figures is not None:
            figures.setdefault(group, {"report": [], "runs": []})["report"].insert(
                0, dict(group=group, path=m.figure, title=title))
    return built


def matrix_markdown(matrices: Dict[tuple, "matrix.Matrix"]) -> List[str]:
    md = ["## Attack matrix: every attack against every method\n"]
    if not matrices:
        return md + ["_no attack results yet_\n"]
    for group in sorted(matrices, key=lambda g: tuple(str(v) for v in g)):
        m = matrices[group]
        md += [f"### {_group_name(group)}\n", matrix.to_markdown(m), matrix.reading()]
    return md


# ----------------------------------------------------------------------------- known answers (smoke)
KNOWN_CHANCE_FACTOR = 3.0  # the pretrained model (baseline's TA) must reach this many times chance
KNOWN_REA_AUC = 0.9  # baseline keeps the forget class: ReA tells it from OOD classes
KNOWN_RETRAIN_UA = 0.0  # retrain never saw the forget class


def _trained_classes(dataset: str, forget) -> Optional[int]:
    try:
        pre = config.preset(dataset)
    except (KeyError, ValueError):
        return None
    ood = (pre.get("subclass") or {}).get("ood_classes", []) if str(forget).startswith("fine") else pre["ood_classes"]
    return get_dataset_info(dataset).num_classes - len(ood)


def known_answers(rows: Dict[str, List[dict]]) -> List[tuple]:
    """The answers a smoke run on learnable data must give, per group: (passed, line). The pretrained model
    beats chance clearly (baseline's TA ≥ 3× chance over the trained classes), baseline's white-box ReA AUC ≥ 0.9
    at every lr where baseline knows the forget class (UA ≥ 3× chance, as TA), retrain's UA is 0; the last two do not apply in
    the sub-class setting. A check whose runs are missing or that does not apply is reported as not run (None:
    neither pass nor fail)."""
    out = []
    groups = sorted({tuple(r.get(k) for k in GROUP) for r in rows.get("unlearn", [])}, key=str)
    for group in groups:
        name = _group_name(group)
        runs = [r for r in rows["unlearn"] if tuple(r.get(k) for k in GROUP) == group]
        base = [r for r in runs if r.get("method") == "baseline" and r.get("TA") is not None]
        n = _trained_classes(group[0], group[2])
        if base and n:
            chance, ta = 1.0 / n, min(r["TA"] for r in base)
            out.append((ta >= KNOWN_CHANCE_FACTOR * chance, f"{name}: pretrained model (baseline TA) {ta:.3f} ≥ "
                        f"{KNOWN_CHANCE_FACTOR:g}× chance ({KNOWN_CHANCE_FACTOR * chance:.3f}, {n} classes)"))
        else:
            out.append((None, f"{name}: pretrained model beats chance: no baseline run"))
        if str(group[2]).startswith("fine"):  # the forget images' superclass stays trained: no known answer
            out += [(None, f"{name}: baseline's ReA AUC and retrain's UA: n/a in the sub-class setting (the "
                           f"forget fine class's superclass is still learned, by retrain too)")]
            continue
        rea = [r for r in rows.get("rea", []) if tuple(r.get(k) for k in GROUP) == group
               and r.get("method") == "baseline" and r.get("AUC") is not None]
        ua = min((r["UA"] for r in base if r.get("UA") is not None), default=None)
        knows = KNOWN_CHANCE_FACTOR / n if n else None  # the forget class is known: UA ≥ 3× chance, like TA
        if rea and ua is not None and knows is not None and ua < knows:  # ReA's answer needs a known class
            out.append((None, f"{name}: baseline's ReA AUC: not run, baseline's UA {ua:.3f} < {knows:.3f} "
                              f"({KNOWN_CHANCE_FACTOR:g}× chance: the pretrained model did not learn the forget class)"))
        elif rea:
            auc = min(r["AUC"] for r in rea)
            out.append((auc >= KNOWN_REA_AUC, f"{name}: baseline's ReA AUC {auc:.3f} ≥ {KNOWN_REA_AUC:g} "
                        f"(lowest of {len(rea)} attack(s); baseline's UA {ua if ua is not None else float('nan'):.3f})"))
        else:
            out.append((None, f"{name}: baseline's ReA AUC: no attack on baseline"))
        ret = [r for r in runs if r.get("method") == "retrain" and r.get("UA") is not None]
        if ret:
            ua = max(r["UA"] for r in ret)
            out.append((ua <= KNOWN_RETRAIN_UA, f"{name}: retrain's UA {ua:.3f} = 0"))
        else:
            out.append((None, f"{name}: retrain's UA: no retrain run"))
    return out


def known_answers_markdown(checks: List[tuple]) -> List[str]:
    passed = sum(1 for ok, _ in checks if ok)
    failed = sum(1 for ok, _ in checks if ok is False)
    md = ["## Known-answer checks (smoke run on learnable data)\n",
          f"known answers: {passed} pass, {failed} fail, {len(checks) - passed - failed} not run\n"]
    return md + [f"- {'PASS' if ok else 'FAIL' if ok is False else 'NOT RUN'} {line}" for ok, line in checks] + [""]


# ----------------------------------------------------------------------------- entry
def build_report(log_root: str, out_dir: Optional[str] = None, warn=None) -> dict:
    """Tables, figures and report.md in ``out_dir``. Every results.json left out is named by ``warn`` (one line
    each, default: stderr) and in the report's notes."""
    out_dir = out_dir or os.path.join(log_root, "report")
    notes: List[str] = []
    rows = collect(log_root, notes)
    unchecked = rows.pop("unchecked", [])
    warn = warn or (lambda line: print(line, file=sys.stderr))
    for line in notes:
        warn("warning: " + line)
    if unchecked:
        warn(f"note: {len(unchecked)} result(s) carry no model fingerprint (written before fingerprints were "
             f"recorded): reported as their run's without that check (listed in report.md)")
    tables = {
        "efficacy": ("Unlearning efficacy (paper Tables 14/15)", efficacy_table(rows["unlearn"])),
        "distribution": ("Representation distribution of the forget class (Tables 16/17)",
                         distribution_table(rows["distribution"])),
    }
    for attack in ATTACKS.values():  # one table per registered attack (rea.csv, rea_blackbox.csv, pra.csv, ...)
        tables[table_name(attack)] = (attack.title, attack_table(attack, rows.get(attack.name, [])))
    smoke = is_smoke_root(log_root)
    md = ["# SMOKE report (tiny settings: checks a machine, not results)\n" if smoke else "# Report rebuilt from log_files\n"]
    checks = known_answers(rows) if smoke else []
    if smoke:
        md += known_answers_markdown(checks)
    if not smoke and os.path.isdir(os.path.join(log_root, SMOKE_DIR)):
        md.append(f"Smoke results under {os.path.join(log_root, SMOKE_DIR)} are left out (their own report: "
                  f"`python reproduce_tables.py --log_root {os.path.join(log_root, SMOKE_DIR)}`).\n")
    for name, (title, table) in tables.items():
        md += [f"## {title}\n", to_markdown(table)]
        if any(row.get("outcome") == NOT_FORGOTTEN for row in table):
            md.append(f"Rows \"({NOT_FORGOTTEN})\": runs whose forget-train accuracy UA stayed above "
                      f"{NOT_FORGOTTEN_UA:g}, apart from the runs of the same method that forgot.\n")
        atomic_write_text(os.path.join(out_dir, f"{name}.csv"), to_csv(table))
    md += quality_sections(log_root)
    figures = sweep_figures(rows, log_root, out_dir)
    matrices = attack_matrices(rows, rows.get("quality", []), out_dir, figures)
    md += matrix_markdown(matrices)
    md += figures_markdown(figures, out_dir)
    if notes or unchecked:
        md += ["## Notes\n"] + [f"- {line}" for line in notes] + \
              [f"- no model fingerprint (not checked against the run's model): {p}" for p in unchecked] + [""]
    atomic_write_text(os.path.join(out_dir, "report.md"), "\n".join(md))
    return {"out_dir": out_dir, "tables": {k: v[1] for k, v in tables.items()}, "markdown": "\n".join(md),
            "notes": notes, "unchecked": unchecked, "matrices": matrices, "known_answers": checks,
            "figures": [f["path"] for g in figures.values() for f in g["report"]] +
                       [p for g in figures.values() for _, figs in g["runs"] for _, p in figs]}


def main(argv=None):
    args = report_parser().parse_args(argv)
    if args.log_root is None:
        args.log_root = os.path.join(ROOT, config.LOG_ROOT)
    if not os.path.isdir(args.log_root):
        raise SystemExit(f"error: {args.log_root} does not exist: run python run.py first")
    try:
        rep = build_report(args.log_root, args.out_dir)
    except OutputError as err:  # atomic_write's one line (no permission, full disk), naming the file
        raise SystemExit(f"error: {err}")
    except OSError as err:
        raise SystemExit(f"error: cannot write the report to {args.out_dir or os.path.join(args.log_root, 'report')}: "
                         f"{err.strerror or err}")
    if not args.quiet:
        print(rep["markdown"])
    elif rep["known_answers"]:  # a smoke report: its known-answer lines even when quiet
        print("\n".join(known_answers_markdown(rep["known_answers"])[1:]))
    if args.docs:
        body = "\n".join(matrix_markdown(rep["matrices"]))
        page = write_measured(args.docs, "The attack matrix", body, script_command("reproduce_tables.py", argv))
        print(f"attack matrix written to {page}")
    print(f"report written to {rep['out_dir']}/ (report.md, *.csv, *.png)")
    failed = [line for ok, line in rep["known_answers"] if ok is False]
    if failed:  # a smoke run whose numbers are wrong fails like a crash (tests/fixture_writers.py's learnable data)
        raise SystemExit(f"error: {len(failed)} known-answer check(s) of the smoke run failed: " + "; ".join(failed))
    return rep
