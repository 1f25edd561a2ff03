"""SalUn saliency masks, one file per ratio (see `python saliency_mu/generate_mask.py -h`)."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # run from anywhere

from unlearning.cli.parsers import masks_parser  # noqa: E402

if __name__ == "__main__":
    args = masks_parser().parse_args()  # before torch loads: -h and a bad flag answer at once
    from unlearning.cli.masks import main

    main(args=args)
