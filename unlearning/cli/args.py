"""The flags every script shares, and their completion from the dataset's preset (``finish_args``)."""
from __future__ import annotations

import argparse
import json
import sys
from typing import Optional

import config
from datasets import get_dataset_info
from models import canonical_name
from ..values import flag_type


def base_parser(description: str, dataset: Optional[str] = None) -> argparse.ArgumentParser:
    """Flags every script shares. Paper spellings (``-net``) and double-dash aliases (``--net``) both work."""
    p = argparse.ArgumentParser(description=description, formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("-dataset", "--dataset", default=dataset or "digits", help="dataset registry name")
    p.add_argument("-net", "--net", default=None, help="model registry name (default: the dataset preset's)")
    p.add_argument("-classes", "--classes", type=int, default=None,
                   help="number of classes of the dataset (checked against the registry)")
    p.add_argument("-seed", "--seed", type=int, default=0, help="seed for every random choice of the run")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:i")
    p.add_argument("--data_root", default=config.DATA_ROOT, help="folder holding the real datasets")
    p.add_argument("--download", action="store_true", help="download CIFAR if missing (user machines only)")
    p.add_argument("--log_root", default=config.LOG_ROOT, help="where runs write checkpoints and logs")
    speed = p.add_argument_group("speed (default: amp and channels_last on CUDA, off on the CPU; an explicit flag wins)")
    speed.add_argument("--amp", action=argparse.BooleanOptionalAction, default=None, help="bf16 autocast")
    speed.add_argument("--channels_last", action=argparse.BooleanOptionalAction, default=None,
                       help="channels_last memory format")
    speed.add_argument("--compile", action=argparse.BooleanOptionalAction, default=None,
                       help="torch.compile the supervised training forward")
    return p


def finish_args(args: argparse.Namespace) -> argparse.Namespace:
    """Fill preset defaults and validate the dataset/net/classes triple; exits with one clear line on error."""
    try:
        info = get_dataset_info(args.dataset)
        args.dataset = info.name
        args.net = canonical_name(args.net or config.preset(info.name)["net"])
        if args.classes is not None and args.classes != info.num_classes:
            raise ValueError(f"-classes {args.classes} does not match {info.name}, which has {info.num_classes} classes")
    except ValueError as err:
        sys.exit(f"error: {err}")
    return args


def speed_flags(args) -> dict:
    """The --amp/--channels_last/--compile flags of ``args`` as ``Experiment(speed=...)`` takes them."""
    return {k: getattr(args, k) for k in ("amp", "channels_last", "compile") if getattr(args, k, None) is not None}


def add_run_identity_args(p: argparse.ArgumentParser, subclass: bool = False) -> argparse.ArgumentParser:
    """The arguments that name one unlearning run (and so its folder); shared by unlearning, attack and metrics."""
    p.add_argument("-method", "--method", default="baseline", help="unlearning method registry name")
    if subclass:
        p.add_argument("--forget_fine", "--forget_class", dest="forget_fine", type=int, default=None,
                       help="fine class to forget (default: the preset's)")
    else:
        p.add_argument("--forget_class", "-forget_class", type=int, default=None,
                       help="class to forget (default: the preset's)")
    p.add_argument("--para1", type=float, default=None, help="method knob 1 (see forget_full_class_strategies.py)")
    p.add_argument("--para2", type=float, default=None, help="method knob 2")
    p.add_argument("--mask_path", default=None, help="SalUn mask file (from saliency_mu/generate_mask.py)")
    p.add_argument("--l1", type=flag_type("nonneg"), default=0.0, help="λ of an added λ‖θ‖₁ term")
    p.add_argument("--l2", type=flag_type("nonneg"), default=0.0, help="λ of an added λ‖θ−θ₀‖² term (towards the pretrained weights)")
    p.add_argument("-weight_path", "--weight_path", default=None,
                   help="checkpoint to load: the pretrained model the run starts from (default: "
                        "log_files/<dataset>/<net>/pretrain/seed-0/model.pt)")
    p.add_argument("--settings", default=None, type=json_object,
                   help="JSON object merged over the method's settings (e.g. '{\"epochs\": 1}'); the run folder "
                        "name gets a hash of it")
    p.add_argument("--recipe", default=None, metavar="FILE",
                   help='JSON file (or inline object) {"UNLEARN": {method: {...}}, "OVER_UNLEARN": {method: {...}, '
                        '"replay": {...}, "orth": {...}}} merged over config for every dataset; the run folder name '
                        'gets a hash of its content (_rcp-<hash>)')
    return p


def json_object(text: str) -> dict:
    try:
        value = json.loads(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"not JSON: {err}")
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError("must be a JSON object")
    return value
