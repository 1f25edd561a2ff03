"""Pretrain on cifar20 (see `python pretrain_model_cifar20.py -h`)."""
from unlearning.cli.parsers import pretrain_parser

if __name__ == "__main__":
    args = pretrain_parser("cifar20").parse_args()  # before torch loads: -h and a bad flag answer at once
    from unlearning.cli.pretrain import main

    main("cifar20", args=args)
