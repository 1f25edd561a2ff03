"""Pretraining of the victim model, normal or sparse (``--l1``): OOD classes excluded, best checkpoint on validation."""
from __future__ import annotations

import os

import torch

import config
from ..errors import exit_on_error
from ..evaluation import accuracy, split_accuracy
from .args import finish_args, speed_flags
from .parsers import RECIPE_FLAGS, pretrain_parser
from ..experiment import Experiment, save_checkpoint
from ..files import StagedOutput, write_json
from ..paths import pretrain_dir
from ..runtime import seed_everything
from ..files import file_fingerprint
from ..run_identity import preflight
from ..training import Loader, train_supervised
from ..values import check_training_recipe


def weight_sparsity(model: torch.nn.Module, threshold: float = 1e-3) -> float:
    """Fraction of parameters with |w| < threshold."""
    total = sum(p.numel() for p in model.parameters())
    small = sum((p.abs() < threshold).sum().item() for p in model.parameters())
    return small / total


def parser(dataset: str):
    return pretrain_parser(dataset)


def resolved_recipe(args) -> dict:
    """The pretraining recipe a command runs: the preset's, each given flag (``RECIPE_FLAGS``) replacing its value.
    results.json records it, so finished pretraining can be told apart from one with another recipe in the same
    folder (the folder is named by dataset, net, seed, l1 and setting only)."""
    recipe = dict(config.preset(args.dataset)["pretrain"])
    for key in RECIPE_FLAGS:
        if getattr(args, key) is not None:
            recipe[key] = getattr(args, key)
    return check_training_recipe(recipe, f"{args.dataset} pretraining recipe")


def recipe_of_argv(dataset: str, argv) -> dict:
    """``resolved_recipe`` of a pretraining command line (its arguments after the script name)."""
    return resolved_recipe(finish_args(parser(dataset).parse_known_args(argv)[0]))


def pretrain(args) -> dict:
    """Train, then swap the new model into place (StagedOutput): a diverged or interrupted rerun keeps the old one.
    The default folder is replaced whole (results computed on the old model under it go with it); with --out only
    the model file, train_log.tsv and results.json beside it are replaced."""
    out_dir = os.path.dirname(args.out) if args.out else pretrain_dir(args.log_root, args.dataset, args.net, args.seed,
                                                                     args.l1, subclass=args.subclass)
    preflight(args.device, out_dir or ".", stage="pretrain")
    seed_everything(args.seed)
    exp = Experiment(args.dataset, args.data_root, args.download, args.device, subclass=args.subclass,
                     speed=speed_flags(args))
    recipe = resolved_recipe(args)
    split = exp.split
    print(split.summary())
    model = exp.new_model(args.net)
    loader = Loader(exp.train, split.train_idx, split.targets(exp.train.y[split.train_idx.to(exp.train.y.device)]),
                    recipe["batch_size"], shuffle=True, seed=args.seed, augment=recipe.get("augment", False))
    with StagedOutput(out_dir or ".", whole=not args.out) as stage:
        return _pretrain_into(stage, args, exp, recipe, model, loader)


def _pretrain_into(stage, args, exp, recipe, model, loader) -> dict:
    split = exp.split
    ckpt = args.out or stage.final("model.pt")
    summary = train_supervised(model, loader, recipe, lambda m: split_accuracy(m, exp, "val_idx"), l1=args.l1,
                               log_path=stage.path("train_log.tsv"), desc=f"pretrain {args.dataset}",
                               progress=not args.quiet, compile=exp.speed.compile,
                               capture=exp.speed.capture)
    test_idx = torch.sort(torch.cat([split.retain_test, split.forget_test]))[0]  # every trained (fine) class
    test_acc = accuracy(model, exp.test, test_idx, split.targets(exp.test.y[test_idx.to(exp.test.y.device)]))
    sparsity = weight_sparsity(model)
    meta = exp.model_meta(args.net, seed=args.seed, l1=args.l1, kind="pretrain", recipe=recipe)
    if args.subclass:
        meta["held_out_fine"] = list(split.ood_fine)
    save_checkpoint(stage.path(os.path.basename(ckpt)), model, meta)
    results = {
        "status": "done", "stage": "pretrain", "args": vars(args), "recipe": recipe, "checkpoint": ckpt,
        "model_fingerprint": file_fingerprint(stage.path(os.path.basename(ckpt))),
        "test_acc": test_acc, "val_acc": summary["best_val_acc"], "best_epoch": summary["best_epoch"],
        "train_acc": split_accuracy(model, exp, "train_idx"), "sparsity_abs_lt_1e-3": sparsity,
        "seconds": summary["seconds"], "device": str(exp.device), "meta": meta,
    }
    write_json(stage.path("results.json"), results)
    stage.commit()
    print(f"test acc {test_acc:.4f} | val acc {summary['best_val_acc']:.4f} (epoch {summary['best_epoch']}) | "
          f"|w|<1e-3: {sparsity:.3f} | {summary['seconds']:.1f}s | {ckpt}")
    return results


def main(dataset: str, argv=None, args=None) -> dict:
    """Entry point of pretrain_model_<dataset>.py: ``args`` already parsed, else parsed from ``argv``."""
    args = finish_args(args if args is not None else parser(dataset).parse_args(argv))
    with exit_on_error("the pretrained model", diverged=lambda err: f"pretraining diverged: {err}"):
        return pretrain(args)
