"""Checks of a run.py sweep before its first step (and in --dry_run): data present, method names known, forget
classes valid, devices present. Each problem is one line; nothing is loaded or run."""
from __future__ import annotations

import difflib
from typing import List, Optional

import config
from ..methods import method_names
from datasets import DatasetNotFoundError, get_dataset_info


def _did_you_mean(name: str, choices) -> str:
    close = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def check_data(s: dict) -> List[str]:

    try:
        info = get_dataset_info(s["dataset"])
    except ValueError as err:
        return [str(err)]
    problems = []
    if s.get("n_classes") and int(s["n_classes"]) != info.num_classes:
        problems.append(f"-classes {s['n_classes']} does not match {info.name}, which has {info.num_classes} classes")
    if info.locate is not None:
        try:
            info.locate(s["data_root"], bool(s.get("download")))
        except DatasetNotFoundError as err:
            problems.append(str(err))
    return problems


def check_methods(s: dict) -> List[str]:

    known = method_names()
    return [f"unknown method {m[0]!r}{_did_you_mean(str(m[0]), known)}; `python forget_full_class_strategies.py` "
            f"lists them" for m in s["methods"] if m[0] not in known]


def check_forget_classes(s: dict) -> List[str]:

    try:
        info = get_dataset_info(s["dataset"])
    except ValueError:
        return []  # reported by check_data
    pre = config.preset(info.name)
    problems = []
    if s.get("subclass"):
        sub = pre.get("subclass")
        if sub is None:
            return [f"{info.name} has no sub-class setting"]
        for f in s["forget_classes"]:
            if not 0 <= int(f) < 100:
                problems.append(f"forget fine class {f} is out of range: CIFAR-100 fine classes are 0..99")
            elif int(f) in sub.get("ood_fine", []):
                problems.append(f"forget fine class {f} is the held-out OOD fine class {sub['ood_fine']}")
        return problems
    ood = pre["ood_classes"]
    for c in s["forget_classes"]:
        if not 0 <= int(c) < info.num_classes:
            problems.append(f"forget class {c} is out of range: {info.name} has classes 0..{info.num_classes - 1}")
        elif int(c) in ood:
            problems.append(f"forget class {c} is an OOD class of {info.name} (ood_classes={ood}): it is never trained")
    return problems


def check_devices(device: str, devices: Optional[List[str]]) -> List[str]:
    import torch

    n = torch.cuda.device_count() if torch.cuda.is_available() else 0
    problems = []
    for d in devices or []:
        if not d.isdigit():
            problems.append(f"--devices takes GPU ids (e.g. 0,1), got {d!r}")
        elif int(d) >= n:
            problems.append(f"--devices {d}: this machine has {n} CUDA device(s)"
                            + (f" (ids 0..{n - 1})" if n else ", none"))
    spec = (device or "auto").lower()
    if spec != "auto" and not devices:
        try:
            dev = torch.device(spec)
        except RuntimeError:
            return problems + [f"--device {device!r}: use auto, cpu, cuda or cuda:i"]
        if dev.type == "cuda" and n == 0:
            problems.append(f"--device {device}: CUDA is not available on this machine (use --device cpu)")
        elif dev.type == "cuda" and dev.index is not None and dev.index >= n:
            problems.append(f"--device {device}: this machine has {n} CUDA device(s)")
    return problems


def check_sweep(s: dict, devices: Optional[List[str]] = None) -> List[str]:
    """Every problem of the sweep ``s`` (run.py's settings), one line each; [] when it can start."""
    return check_data(s) + check_methods(s) + check_forget_classes(s) + check_devices(s.get("device"), devices)
