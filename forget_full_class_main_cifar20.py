"""Unlearn a full class on cifar20 (see `python forget_full_class_main_cifar20.py -h`; methods: forget_full_class_strategies.py)."""
from unlearning.cli.parsers import unlearn_parser

if __name__ == "__main__":
    args = unlearn_parser("cifar20").parse_args()  # before torch loads: -h and a bad flag answer at once
    from unlearning.cli.unlearn import main

    main("cifar20", args=args)
