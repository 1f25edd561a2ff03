"""saliency_mu/generate_mask.py: SalUn masks of a pretrained model, one file per ratio."""
from __future__ import annotations

from typing import List

from ..errors import exit_on_error
from ..experiment import Experiment, load_model
from ..files import file_fingerprint
from ..paths import mask_dir
from ..run_identity import default_weight_path, fill_forget_default, preflight, run_seed
from ..runtime import seed_everything
from ..saliency import check_ratios, forget_gradient, save_masks, saliency_masks
from ..training import Loader
from .args import finish_args, speed_flags
from .parsers import masks_parser


def parser():
    return masks_parser()


def generate(args) -> List[str]:
    ratios = check_ratios(args.ratios)
    if args.batch_size < 1:
        raise ValueError(f"--batch_size must be positive (got {args.batch_size})")
    fill_forget_default(args)
    out_dir = args.out_dir or mask_dir(args.log_root, args.dataset, args.net, args.forget_class, args.seed)
    preflight(args.device, out_dir)
    seed_everything(args.seed)
    exp = Experiment(args.dataset, args.data_root, args.download, args.device, forget_class=args.forget_class,
                     speed=speed_flags(args))
    weight_path = args.weight_path or default_weight_path(args, run_seed(args))
    model_fp = file_fingerprint(weight_path)
    model, meta = load_model(weight_path, exp, net=args.net)
    split = exp.split
    f_idx = split.forget_train
    loader = Loader(exp.train, f_idx, split.targets(exp.train.y[f_idx.to(exp.train.y.device)]), args.batch_size,
                    shuffle=False)
    grads = forget_gradient(model, loader)
    masks = saliency_masks(grads, ratios)
    paths = save_masks(masks, out_dir, {"dataset": args.dataset, "net": meta["arch"], "forget_class": args.forget_class,
                                        "weight_path": weight_path, "model_fingerprint": model_fp, "seed": args.seed,
                                        "n_forget": len(f_idx),
                                        "parameters": [[k, list(p.shape)] for k, p in model.named_parameters()]},
                       whole=args.out_dir is None)
    total = sum(p.numel() for p in model.parameters())
    print(f"{len(paths)} masks over {total} weights (forget class {args.forget_class}, {len(f_idx)} samples) → {out_dir}")
    return paths


def main(argv=None, args=None) -> List[str]:
    args = finish_args(args if args is not None else parser().parse_args(argv))
    with exit_on_error("the masks"):
        return generate(args)
