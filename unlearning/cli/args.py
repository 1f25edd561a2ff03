"""The completion of every script's flags from the dataset's preset (``finish_args``) and the speed flags as
``Experiment`` takes them. The parsers themselves are built without torch in ``unlearning.cli.parsers`` (re-exported
here)."""
from __future__ import annotations

import argparse
import sys

import config
from datasets import get_dataset_info
from models import canonical_name

from .parsers import add_run_identity_args, base_parser, json_object

__all__ = ["add_run_identity_args", "base_parser", "expected_args", "finish_args", "json_object", "speed_flags"]


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


def expected_args(p: argparse.ArgumentParser, argv, keys) -> dict:
    """``{"args.<key>": value}`` of ``keys`` for the command line ``argv`` parsed by ``p`` (defaults filled): what a
    stage's results.json must record in its ``args`` to stand for that command (the launcher's adoption check)."""
    args = p.parse_known_args(argv)[0]
    return {f"args.{k}": getattr(args, k) for k in keys}


def speed_flags(args) -> dict:
    """The --amp/--channels_last/--compile/--capture flags of ``args`` as ``Experiment(speed=...)`` takes them."""
    return {k: getattr(args, k) for k in ("amp", "channels_last", "compile", "capture") if getattr(args, k, None) is not None}

