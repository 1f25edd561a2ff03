"""The method registry: ``Method``, ``Knob``, ``register`` and the variants (``register_variant``).

A method is ``fn(ctx, para1, para2) -> model`` with ``@register(...)`` directly above it: its two knobs (kind,
meaning, paper-preset value), its other settings with their paper-preset values, and what phase 1 of its ``_our``
variant changes. A variant (``<method>_our``, ``<method>_orth``) is registered once by its own module with
``register_variant(suffix, build, key, defaults)`` and exists for every approximate method.
"""
from __future__ import annotations

import contextlib
import copy
import functools
import math
from dataclasses import dataclass, field
from typing import Callable, Dict, Optional

from ..errors import UnknownMethodError
from ..values import NUMERIC


# What a knob may be: a kind of unlearning.values (its range), enforced by ``check_knobs`` before any computation.
KNOB_KINDS = {kind: NUMERIC[kind] for kind in ("lr", "epochs", "count", "count0", "ratio", "weight", "positive",
                                              "nonneg", "real")}


@dataclass(frozen=True)
class Knob:
    """One of a method's two launcher knobs (--para1 / --para2)."""
    kind: Optional[str]  # a KNOB_KINDS key (None: not range-checked)
    meaning: str  # what the knob is, as the CLI and the docs say it
    default: object = None  # the paper-preset value


UNUSED = Knob(None, "unused")  # a knob the method ignores but whose preset entry is written (as None)


@dataclass
class Method:
    name: str
    fn: Callable
    para1: str  # what --para1 means
    para2: str  # what --para2 means
    gradient: bool  # makes gradient updates (so --l1/--l2 apply; a mask applies to every method that changes weights)
    approximate: bool = True  # False for baseline and retrain: no ``_our`` variant
    per_sample: bool = False  # uses torch.func per-sample gradients (the driver warms torch.func up before timing)
    doc: str = ""
    base: Optional[str] = None  # for ``<method>_our``: the wrapped method
    knobs: tuple = (None, None)  # the Knob of para1 / para2 (None: no preset entry)
    settings: dict = field(default_factory=dict)  # fixed settings: {key: (paper-preset value, meaning)}
    our: dict = field(default_factory=dict)  # phase-1 overrides of ``<name>_our`` on the paper presets

    def defaults(self) -> dict:
        """The paper-preset settings: para1/para2 and every fixed setting."""
        out = {key: knob.default for key, knob in zip(("para1", "para2"), self.knobs) if knob is not None}
        out.update({key: reg[0] for key, reg in self.settings.items()})
        return copy.deepcopy(out)


METHODS: Dict[str, Method] = {}


KNOBS: Dict[str, tuple] = {}  # method: (kind of para1, kind of para2); ``_our`` / ``_orth`` take their base's


def register(name: str, para1: Optional[Knob] = None, para2: Optional[Knob] = None, *, gradient: bool,
             approximate: bool = True, per_sample: bool = False, settings: Optional[dict] = None,
             our: Optional[dict] = None):
    """Decorator: put ``fn(ctx, para1, para2) -> model`` in the registry as ``name`` (and, unless ``approximate`` is
    False, its ``_our`` and ``_orth`` variants). ``para1`` / ``para2``: Knob(kind, meaning, paper-preset value), None
    for a knob the method does not have; ``settings``: the other settings the method reads, {key: (paper-preset value,
    meaning)} or {key: (value, meaning, kind)} (a kind of unlearning.values; without one, the key's entry in
    unlearning.methods.schema.SETTING_KINDS or the value's type); ``our``: what phase 1 of ``<name>_our`` changes on the paper presets (a "replay" key: this method's
    own replay settings). A dataset that needs other values names them in config.UNLEARN / config.OVER_UNLEARN."""
    for knob in (para1, para2):
        if knob is not None and knob.kind is not None and knob.kind not in KNOB_KINDS:
            raise ValueError(f"{name}: knob kind {knob.kind!r} is not one of {sorted(KNOB_KINDS)}")

    def wrap(fn):
        if name in METHODS:
            raise ValueError(f"method {name!r} is already registered")
        fixed = {key: reg[0] for key, reg in (settings or {}).items()}

        @functools.wraps(fn)
        def with_registered_settings(ctx, para1=None, para2=None):
            # the registration is the one home of a setting's value: keys the caller's settings lack (a test's
            # hand-made context) get the registered one; the body has no fallbacks of its own
            for key, value in fixed.items():
                if ctx.settings.get(key) is None and key not in ctx.settings:
                    ctx.settings[key] = copy.deepcopy(value)
            return fn(ctx, para1, para2)

        METHODS[name] = Method(
            name, with_registered_settings, para1.meaning if para1 else "unused",
            para2.meaning if para2 else "unused", gradient,
            approximate=approximate, per_sample=per_sample, doc=(fn.__doc__ or "").strip(), knobs=(para1, para2),
            settings=dict(settings or {}), our=copy.deepcopy(our or {}))
        KNOBS[name] = tuple(k.kind if k is not None else None for k in (para1, para2))
        return with_registered_settings
    return wrap


def unregister(name: str) -> None:
    """Remove a registered method (a test's throw-away method)."""
    METHODS.pop(name)
    KNOBS.pop(name)


@contextlib.contextmanager
def registered(name: str, fn: Callable, **registration):
    """``register(name, **registration)(fn)`` for the duration of a ``with`` block."""
    register(name, **registration)(fn)
    try:
        yield METHODS[name]
    finally:
        unregister(name)


@dataclass(frozen=True)
class Variant:
    """A variant that exists for every approximate method: ``<method><suffix>``."""
    suffix: str
    build: Callable  # build(method entry) -> the variant's Method entry
    key: str  # its settings table in the over-unlearning settings ("replay", "orth")
    defaults: dict  # that table's paper-preset values


VARIANTS: Dict[str, Variant] = {}


def register_variant(suffix: str, build: Callable, key: str, defaults: dict) -> None:
    """Make ``<method><suffix>`` exist for every approximate method (``build(entry)`` gives its entry)."""
    if suffix in VARIANTS:
        raise ValueError(f"variant {suffix!r} is already registered")
    VARIANTS[suffix] = Variant(suffix, build, key, copy.deepcopy(defaults))


def variant_names(suffix: str):
    return [f"{name}{suffix}" for name, m in METHODS.items() if m.approximate]


def our_names():
    return variant_names("_our")


def orth_names():
    return variant_names("_orth")


def method_names():
    """Every registry name: the methods, then each variant's names (``_our``, then ``_orth``)."""
    return list(METHODS) + [name for suffix in VARIANTS for name in variant_names(suffix)]


def get_method(name: str) -> Method:
    """A registry entry; a variant's entry is built by its wrapper. Unknown → UnknownMethodError."""
    if name in METHODS:
        return METHODS[name]
    for suffix, variant in VARIANTS.items():
        base = name[:-len(suffix)]
        if name.endswith(suffix) and base in METHODS and METHODS[base].approximate:
            return variant.build(METHODS[base])
    raise UnknownMethodError(f"unknown method {name!r}; choose one of: {', '.join(method_names())}")


def check_knobs(name: str, para1, para2) -> None:
    """ValueError (one line) unless para1/para2 are in the range of what they mean for method ``name``."""
    entry = get_method(name)
    kinds = KNOBS.get(entry.base or entry.name, (None, None))
    for flag, value, kind, meaning in (("--para1", para1, kinds[0], entry.para1), ("--para2", para2, kinds[1],
                                                                                   entry.para2)):
        if kind is None or value is None:
            continue
        test, integral, wording = KNOB_KINDS[kind]
        v = float(value)
        if not (math.isfinite(v) and test(v) and (not integral or v == int(v))):
            raise ValueError(f"{name} {flag} {value:g} is out of range: it is the {meaning}, {wording}")
