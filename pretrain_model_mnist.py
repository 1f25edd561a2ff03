"""Pretrain on mnist (see `python pretrain_model_mnist.py -h`)."""
from unlearning.cli.parsers import pretrain_parser

if __name__ == "__main__":
    args = pretrain_parser("mnist").parse_args()  # before torch loads: -h and a bad flag answer at once
    from unlearning.cli.pretrain import main

    main("mnist", args=args)
