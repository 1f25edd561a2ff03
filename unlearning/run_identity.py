"""The identity of one unlearning run, shared by every stage that writes or reads it.

A run is named by its dataset, network, forget class, method, para1/para2 (the method's defaults filled in), mask,
seed, --l1/--l2, its --settings and --recipe (each by a short hash of its content: ``_set-<8 hex>``,
``_rcp-<8 hex>``; none adds nothing) and its SOURCE MODEL. The source model counts by content (``file_fingerprint``), not by how its
path is spelled: the preset's pretrained model of the run's own seed (the default -weight_path,
``pretrain/seed-<s>``) adds nothing to the folder name, any other model adds ``_src-<first 8 hex digits of its fingerprint>``. So the same model under another spelling (a
relative path, a copy) finds the same run folder, and another model gets its own.

``resolve(args)`` fills the defaults and checks the run's inputs (method, knob ranges, source model present);
``RunIdentity.of(args)`` then gives the folder and the checkpoints in it. The unlearning driver, ReA, the
distribution metrics, DFME, the saliency masks, the quality stage and the launcher all go through this module
(``fill_forget_default``, ``pretrained_path``, ``mask_dir`` for the folders that are not a run's).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Optional, Tuple

import config
from .errors import CheckpointError
from .files import check_output_dir, check_stage_owner, file_fingerprint
from .methods import check_knobs, check_settings, get_method, load_recipe, merge, method_settings
from .paths import forget_name, pretrained_path, settings_tag, unlearn_dir
from .runtime import resolve_device

SOURCE_DIGITS = 8  # hex digits of the source fingerprint in a folder name
MASK_DIGITS = 6  # hex digits of the mask fingerprint in a folder name


def recipe_of(args) -> dict:
    """The --recipe of ``args`` loaded and checked (``strategies.load_recipe``); {} without one."""
    return load_recipe(getattr(args, "recipe", None))


def fill_forget_default(args, subclass: bool = False) -> None:
    """The preset's forget class (or fine class in the sub-class setting) where ``args`` gives none."""
    pre = config.preset(args.dataset)
    if subclass:
        if getattr(args, "forget_fine", None) is None:
            args.forget_fine = pre.get("subclass", {}).get("forget_fine")
        if args.forget_fine is None:
            raise ValueError(f"{args.dataset} has no sub-class preset: pass the fine class to forget")
    elif getattr(args, "forget_class", None) is None:
        args.forget_class = pre["forget_class"]


def default_source_path(args, settings: Optional[dict] = None) -> str:
    """The pretrained model a method runs on unless -weight_path says otherwise: the one pretrained with the run's
    own -seed (``pretrain/seed-<s>``), the sparse one for methods whose settings name a ``pretrain_l1``. So the runs
    of a seed sweep, each on its own seed's model, share one identity but the seed and average in the report."""
    if settings is None:
        settings = method_settings(args.dataset, args.method, recipe=recipe_of(args))
    return default_weight_path(args, run_seed(args), settings.get("pretrain_l1") or 0.0)


def run_seed(args) -> int:
    """The run's -seed (0 where the parser has none)."""
    seed = getattr(args, "seed", None)
    return 0 if seed is None else int(seed)


def _content_tag(value: Optional[dict]) -> Optional[str]:
    """Short stable hash of a --settings or --recipe object (None without one)."""
    return settings_tag(value)


def _same_file(a: str, b: str) -> bool:
    return os.path.realpath(a) == os.path.realpath(b)


@dataclass(frozen=True)
class RunIdentity:
    log_root: str
    dataset: str
    net: str
    forget: str  # class id, or fine<id> in the sub-class setting
    method: str
    para1: Optional[float]
    para2: Optional[float]
    mask_path: Optional[str]
    seed: int
    l1: float
    l2: float
    weight_path: str  # the source model as given (or the default)
    source_fingerprint: Optional[str]  # None only when the default source model does not exist (yet)
    default_source: bool
    settings_tag: Optional[str] = None  # hash of a --settings override, where the parser has that flag
    recipe_tag: Optional[str] = None  # hash of the --recipe content
    mask_fingerprint: Optional[str] = None  # content of the --mask_path file (None: no mask, or not made yet)

    @classmethod
    def of(cls, args, settings: Optional[dict] = None) -> "RunIdentity":
        """The identity of the run named by already resolved ``args`` (see ``resolve``)."""
        default = default_source_path(args, settings)
        weight_path = getattr(args, "weight_path", None) or default
        fp = file_fingerprint(weight_path)
        if _same_file(weight_path, default):
            is_default = True
        else:
            if fp is None:
                raise CheckpointError(f"checkpoint {weight_path} does not exist (pretrain first, or pass the right "
                                      f"-weight_path)")
            is_default = fp == file_fingerprint(default)
        return cls(args.log_root, args.dataset, args.net, forget_name(args), args.method, args.para1, args.para2,
                   args.mask_path, args.seed, args.l1 or 0.0, args.l2 or 0.0, weight_path, fp, is_default,
                   _content_tag(getattr(args, "settings", None)), _content_tag(recipe_of(args)),
                   file_fingerprint(args.mask_path) if args.mask_path else None)

    @property
    def run_dir(self) -> str:
        return unlearn_dir(self.log_root, self.dataset, self.net, self.forget, self.method, self.para1, self.para2,
                           self.mask_path, self.seed, extra={"l1": self.l1, "l2": self.l2, "set": self.settings_tag,
                                  "rcp": self.recipe_tag},
                           source=None if self.default_source else self.source_fingerprint[:SOURCE_DIGITS],
                           mask_content=(self.mask_fingerprint or "")[:MASK_DIGITS] or None)

    def checkpoint(self, name: str = "last.pt") -> str:
        return os.path.join(self.run_dir, name)


def resolve(args, subclass: bool = False) -> Tuple[object, dict]:
    """Fill every default in ``args`` (forget class, para1/para2 from config.UNLEARN / OVER_UNLEARN and the
    --recipe, the source model) and check them: method known, knobs in range, --l1/--l2/--mask_path meaningful, an
    explicit -weight_path present, the recipe well formed. Returns (method entry, settings); sets
    ``args.source_fingerprint``. Raises ValueError (UnknownMethodError and CheckpointError included) with one clear
    line."""
    entry = get_method(args.method)
    fill_forget_default(args, subclass)
    settings = method_settings(args.dataset, args.method, recipe=recipe_of(args))
    if getattr(args, "settings", None):  # a --settings override merged over the method's settings
        settings = merge(settings, args.settings)
    settings = check_settings(args.method, settings)  # whatever the source: one check of every key and value
    if args.para1 is None:
        args.para1 = settings.get("para1")
    if args.para2 is None:
        args.para2 = settings.get("para2")
    settings["para1"], settings["para2"] = args.para1, args.para2
    check_knobs(args.method, args.para1, args.para2)
    if not entry.approximate and (args.l1 or args.l2 or args.mask_path):
        raise ValueError(f"{entry.name} takes no --l1/--l2/--mask_path (it is a reference, not an approximate method)")
    if not entry.gradient and (args.l1 or args.l2):
        raise ValueError(f"{entry.name} makes no gradient updates: --l1/--l2 apply to gradient-based methods and to "
                         f"the replay of {entry.name}_our")
    if args.weight_path is None:
        args.weight_path = default_source_path(args, settings)
    args.source_fingerprint = RunIdentity.of(args, settings).source_fingerprint
    return entry, settings


def identity(args, subclass: bool = False) -> RunIdentity:
    """``resolve`` then ``RunIdentity.of``."""
    _, settings = resolve(args, subclass)
    return RunIdentity.of(args, settings)


def preflight(device: str, *folders: str, stage: Optional[str] = None) -> None:
    """Checks every stage makes before computing: the device is known and present, every output folder writable
    and, for ``stage``, not holding another stage's results."""
    resolve_device(device)
    for folder in folders:
        check_output_dir(folder)
        if stage:
            check_stage_owner(folder, stage)


def run_dir_from_args(args) -> str:
    """The unlearning run folder named by the (resolved) identity arguments."""
    return RunIdentity.of(args).run_dir


def default_weight_path(args, seed: int, l1: float = 0.0) -> str:
    """The pretrained checkpoint of ``seed`` in the run's setting (the sub-class one when the run forgets a fine
    class)."""
    return pretrained_path(args.log_root, args.dataset, args.net, seed, l1,
                           subclass=getattr(args, "forget_fine", None) is not None)
