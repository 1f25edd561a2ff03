"""Pretrain on imagenet64 (see `python pretrain_model_imagenet64.py -h`)."""
from unlearning.cli.parsers import pretrain_parser

if __name__ == "__main__":
    args = pretrain_parser("imagenet64").parse_args()  # before torch loads: -h and a bad flag answer at once
    from unlearning.cli.pretrain import main

    main("imagenet64", args=args)
