"""distribution_metric.py: the representation metrics of an unlearned model (or any checkpoint)."""
from __future__ import annotations

import os

from ..errors import exit_on_error
from ..experiment import Experiment, load_model
from ..files import StagedOutput, file_fingerprint, write_json
from ..metrics.representation import distribution_metrics
from ..paths import forget_name
from ..run_identity import fill_forget_default, identity, preflight
from ..runtime import seed_everything
from .args import expected_args, finish_args, speed_flags
from .parsers import distribution_parser


def parser():
    return distribution_parser()


# the settings that change the numbers but not the folder name (the folder is per checkpoint and feature kind)
COMPUTE_KEYS = ("features", "max_points", "perplexity", "grid_size", "tsne_threads", "paper")


def computed_settings(argv) -> dict:
    """``expected_args`` of ``COMPUTE_KEYS`` for a distribution command line."""
    return expected_args(parser(), argv, COMPUTE_KEYS)


def resolve_paths(args):
    """(checkpoint, out_dir) from the arguments."""
    # one folder per (checkpoint, feature kind), so mid.pt or logits never overwrite the default results
    stem = os.path.splitext(os.path.basename(args.checkpoint))[0]
    suffix = ("" if stem == "last" or args.model_path else f"_{stem}") + \
        ("" if args.features == "penultimate" else f"_{args.features}") + ("_paper" if getattr(args, "paper", False)
                                                                          else "")
    if args.model_path:
        out = args.out_dir or os.path.join(os.path.dirname(os.path.abspath(args.model_path)),
                                           f"distribution_forget{forget_name(args)}{suffix}")
        return args.model_path, out
    run_dir = identity(args, subclass=args.forget_fine is not None).run_dir  # the unlearning driver's identity: the same folder
    ckpt = os.path.join(run_dir, args.checkpoint)
    if not os.path.isfile(ckpt):
        raise FileNotFoundError(f"no checkpoint {ckpt}: run the unlearning method with the same arguments first, "
                                f"or pass --model_path")
    return ckpt, args.out_dir or os.path.join(run_dir, f"distribution{suffix}")


def _plot_title(args, ckpt: str) -> str:
    """Short: dataset, net, the model (the method, or the checkpoint given) and the features."""
    stem = os.path.splitext(os.path.basename(ckpt))[0]
    model = os.path.basename(ckpt) if args.model_path else args.method + ("" if stem == "last" else f" ({stem}.pt)")
    return f"{args.dataset} / {args.net}: {model} [{args.features}]"


def run(args) -> dict:
    sub = args.subclass or args.forget_fine is not None
    fill_forget_default(args, sub)
    if sub:
        args.forget_class = None
    tsne_seed = args.seed
    if getattr(args, "paper", False):
        args.features, args.max_points, tsne_seed = "logits", None, 42
    if args.max_points is not None and args.max_points < 10:
        raise ValueError(f"--max_points must be at least 10 (got {args.max_points})")
    if args.tsne_threads < 0:
        raise ValueError(f"--tsne_threads must be 0 (all cores) or positive (got {args.tsne_threads})")
    seed_everything(args.seed)
    ckpt, out_dir = resolve_paths(args)
    preflight(args.device, out_dir, stage="distribution")
    exp = Experiment(args.dataset, args.data_root, args.download, args.device, forget_class=args.forget_class,
                     subclass=sub, forget_fine=args.forget_fine, speed=speed_flags(args))
    model_fp = file_fingerprint(ckpt)
    model, meta = load_model(ckpt, exp, net=args.net)
    # a folder this stage names is its own (replaced whole); one given by --out_dir may hold other files
    with StagedOutput(out_dir, whole=args.out_dir is None) as stage:
        res = distribution_metrics(model, exp, args.features, args.max_points, tsne_seed, args.grid_size,
                                   args.perplexity, plot_dir=stage.dir, tsne_threads=args.tsne_threads or None,
                                   title=_plot_title(args, ckpt), progress=not args.quiet)
        res["files"] = {k: stage.final(os.path.basename(v)) for k, v in res["files"].items()}
        res = dict(status="done", stage="distribution", checkpoint=ckpt, model_fingerprint=model_fp, args=vars(args),
                   **res)
        write_json(stage.path("results.json"), res)
        stage.commit()
    print(f"{ckpt} [{args.features}, {res['n_points']} points]: variance {res['variance']:.1f} | silhouette "
          f"{res['silhouette']:.3f} (vs class {res['nearest_class']}) | overlap {res['overlap']:.3f} "
          f"(paper's units {res['overlap_paper']:.4g}) | multi-class overlap {res['multiclass_overlap']:.3f} | {res['seconds']['total']:.1f}s → {out_dir}")
    return res


def main(argv=None, args=None) -> dict:
    args = finish_args(args if args is not None else parser().parse_args(argv))
    with exit_on_error("the metrics"):
        return run(args)
