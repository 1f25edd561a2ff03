"""One run's data and model plumbing: the dataset and its class split on the device, new models, checkpoints."""
from __future__ import annotations

import os
from typing import Optional

import torch

import config
from datasets import build_split, load_dataset
from models import build_model, canonical_name

from .errors import CheckpointError
from .files import atomic_write, jsonable, torch_save_stable
from .paths import setting_name
from .runtime import configure_speed, resolve_device


class Experiment:
    """Dataset + class split + device for one run; data stays compact (uint8) on the device."""

    def __init__(self, dataset, data_root="data", download=False, device="auto", forget_class=None,
                 ood_classes=None, val_fraction=None, subclass=False, forget_fine=None, ood_fine=None, speed=None):
        self.info, train, test = load_dataset_or_explain(dataset, data_root, download)
        pre = config.preset(self.info.name)
        self.preset = pre
        if subclass and "subclass" not in pre:
            raise ValueError(f"{self.info.name} has no sub-class setting (config.PRESETS[...]['subclass'])")
        self.subclass = bool(subclass)
        self.device = resolve_device(device) if isinstance(device, str) else device
        sub = pre.get("subclass", {}) if subclass else {}
        if ood_classes is None:
            ood_classes = sub.get("ood_classes", pre["ood_classes"])
        if subclass:  # forget_fine None: no forget class (pretraining)
            ood_fine = sub.get("ood_fine", []) if ood_fine is None else ood_fine
        self.split = build_split(
            self.info.name, train, test, self.info.num_classes, ood_classes,
            forget_class=forget_class, val_fraction=pre.get("val_fraction", 0.1) if val_fraction is None else val_fraction,
            forget_fine=forget_fine, ood_fine=ood_fine,
        )
        self.train = train.to(self.device)
        self.test = test.to(self.device)
        # speed: the --amp/--channels_last/--compile flags ({} or None: each setting's default for the device)
        self.speed = configure_speed(self.device, **(speed or {}))

    def new_model(self, net: str):
        model = build_model(net, self.split.num_outputs, self.info.in_channels, self.info.image_size).to(self.device)
        return self.speed.layout(model)

    def model_meta(self, net: str, **extra) -> dict:
        meta = dict(self.split.metadata(), arch=canonical_name(net), setting=setting_name(self.subclass),
                    in_channels=self.info.in_channels, image_size=self.info.image_size)
        meta.update(extra)
        return meta


# what a checkpoint must agree on: the architecture and every field of the split's metadata (Split.metadata), so a
# field added there is compared without a change here
META_KEYS_CHECKED = ("arch", "in_channels", "image_size")


def save_checkpoint(path: str, model: torch.nn.Module, meta: dict) -> str:
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    payload = {"state_dict": state, "meta": jsonable(meta)}
    return atomic_write(path, lambda tmp: torch_save_stable(payload, tmp))


def load_checkpoint(path: str, map_location="cpu", expect: Optional[dict] = None):
    """(state_dict, meta), with ``weights_only=True``; a bad file or a metadata mismatch is a CheckpointError."""
    if not os.path.isfile(path):
        raise CheckpointError(f"checkpoint {path} does not exist (pretrain first, or pass the right -weight_path)")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # truncated zip, pickle garbage, foreign objects
        raise CheckpointError(f"checkpoint {path} is truncated or not a checkpoint of this project ({type(err).__name__})")
    if not isinstance(payload, dict) or "state_dict" not in payload or "meta" not in payload:
        raise CheckpointError(f"checkpoint {path} has no state_dict/meta: not a checkpoint of this project")
    meta = payload["meta"]
    if expect and "setting" in expect:
        made_for = meta.get("setting") or setting_name(bool(meta.get("ood_fine")))
        if made_for != expect["setting"]:
            fix = ("pretrain_model_<dataset>.py --subclass" if expect["setting"] == "subclass"
                   else "pretrain_model_<dataset>.py without --subclass")
            raise CheckpointError(f"checkpoint {path} is a {made_for} model; this {expect['setting']} run needs one "
                                  f"from {fix}")
    for key in (list(META_KEYS_CHECKED) + [k for k in expect if k not in META_KEYS_CHECKED and k != "setting"]
                if expect else ()):
        if key in expect and meta.get(key) != expect[key]:
            raise CheckpointError(
                f"checkpoint {path} was made for {key}={meta.get(key)!r}, but this run needs {key}={expect[key]!r}"
            )
    return payload["state_dict"], meta


def load_model(path: str, exp: Experiment, net: Optional[str] = None, strict_meta: bool = True):
    """A model built from a checkpoint's metadata, checked against the experiment's split."""
    expect = exp.model_meta(net or "resnet8") if strict_meta else None
    if expect is not None and net is None:
        expect.pop("arch")
    state, meta = load_checkpoint(path, map_location=exp.device, expect=expect)
    model = exp.new_model(meta["arch"])
    try:
        model.load_state_dict(state)
    except RuntimeError as err:
        raise CheckpointError(f"checkpoint {path} does not fit {meta['arch']}: {str(err).splitlines()[0]}")
    return model, meta


def load_dataset_or_explain(dataset, data_root, download):
    """``load_dataset``, with a failed download (no network, refused, truncated) as one clear ValueError."""
    try:
        return load_dataset(dataset, data_root, download)
    except FileNotFoundError:
        raise
    except OSError as err:  # urllib's URLError, socket and SSL errors are OSErrors
        if not download:
            raise
        reason = getattr(err, "reason", None) or err.strerror or err
        raise ValueError(f"--download could not fetch {dataset} into {os.path.abspath(data_root)} ({reason}); "
                         f"check the network, or put the dataset there by hand")
