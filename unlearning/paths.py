"""Every folder and file name of the project's log layout, built in one place.

    <log_root>/<dataset>/<net>/pretrain/seed-<s>[_l1-<λ>][_subclass]/model.pt
    <log_root>/<dataset>/<net>/masks/forget_<c>/seed-<s>/mask_<t>.pt
    <log_root>/<dataset>/<net>/forget_<class>/<method>/p1-…_p2-…_mask-…_seed-<s>[_<key>-<value>…][_src-<fp>]
"""
from __future__ import annotations

import hashlib
import json
import os
from typing import Optional

from models import canonical_name

# the project's folder (run.py, config.py, the entry scripts): steps run there, default folders are inside it
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def fmt_param(value) -> str:
    """A parameter as it appears in a folder name (stable, filesystem-safe)."""
    if value is None:
        return "none"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value).replace(os.sep, "_").replace(" ", "")


def seed_field(seed) -> str:
    """The seed as every folder name spells it: seed-<s>."""
    return f"seed-{seed}"


def pretrain_dir(log_root: str, dataset: str, net: str, seed: int = 0, l1: float = 0.0, subclass: bool = False) -> str:
    """log_files/<dataset>/<net>/pretrain/seed-<s>[_l1-<λ>][_subclass]"""
    name = seed_field(seed) + (f"_l1-{fmt_param(float(l1))}" if l1 else "") + ("_subclass" if subclass else "")
    return os.path.join(log_root, dataset, canonical_name(net), "pretrain", name)


def forget_dir(log_root: str, dataset: str, net: str, forget) -> str:
    """log_files/<dataset>/<net>/forget_<class>: every run and stage result about one forget class."""
    return os.path.join(log_root, dataset, canonical_name(net), f"forget_{forget}")


def unlearn_dir(log_root, dataset, net, forget, method, para1=None, para2=None, mask=None, seed=0, extra=None,
                source=None, mask_content=None) -> str:
    """log_files/<dataset>/<net>/forget_<class>/<method>/p1-<para1>_p2-<para2>_mask-<mask>_seed-<s>[_<extra>][_src-<fp>]

    ``forget`` is the forget class id (or ``fine<id>`` in the sub-class setting); ``mask`` is the mask file's
    stem, followed by ``-<mask_content>`` (the mask file's content fingerprint, so two masks with one file name
    are two runs); ``extra`` (e.g. ``{"l1": 5e-5}``) adds further identifying options in a fixed order; ``source`` (the
    content fingerprint of a source model other than the default pretrained one) ends the name.
    """
    mask_name = fmt_param(os.path.splitext(os.path.basename(mask))[0]) if mask else "none"
    if mask and mask_content:
        mask_name += f"-{mask_content}"
    leaf = f"p1-{fmt_param(para1)}_p2-{fmt_param(para2)}_mask-{mask_name}_{seed_field(seed)}"
    for key in sorted(extra or {}):
        if extra[key] not in (None, 0, 0.0, False, ""):
            leaf += f"_{key}-{fmt_param(extra[key])}"
    if source:
        leaf += f"_src-{source}"
    return os.path.join(forget_dir(log_root, dataset, net, forget), method, leaf)


def setting_name(subclass: bool) -> str:
    return "subclass" if subclass else "fullclass"


def settings_tag(settings: Optional[dict]) -> Optional[str]:
    """Short stable hash of a --settings override (None without one)."""
    if not settings:
        return None
    return hashlib.sha1(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:8]


def forget_name(args) -> str:
    fine = getattr(args, "forget_fine", None)
    return f"fine{fine}" if fine is not None else str(args.forget_class)


def pretrained_path(log_root: str, dataset: str, net: str, seed: int = 0, l1: float = 0.0,
                    subclass: bool = False) -> str:
    """The checkpoint the pretraining stage writes: <pretrain_dir>/model.pt."""
    return os.path.join(pretrain_dir(log_root, dataset, net, seed, l1, subclass=subclass), "model.pt")


def mask_dir(log_root: str, dataset: str, net: str, forget_class: int, seed: int) -> str:
    """log_files/<dataset>/<net>/masks/forget_<c>/seed-<s>: the saliency masks of one pretrained model."""
    return os.path.join(log_root, dataset, canonical_name(net), "masks", f"forget_{forget_class}", seed_field(seed))


def mask_filename(ratio: float) -> str:
    """``mask_0.5.pt``, ``mask_1.0.pt``, ``mask_0.25.pt``."""
    return f"mask_{round(float(ratio), 6)!r}.pt"
