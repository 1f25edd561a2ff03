"""Unlearn a full class on cifar100 (see `python forget_full_class_main_cifar100.py -h`; methods: forget_full_class_strategies.py)."""
from unlearning.cli.parsers import unlearn_parser

if __name__ == "__main__":
    args = unlearn_parser("cifar100").parse_args()  # before torch loads: -h and a bad flag answer at once
    from unlearning.cli.unlearn import main

    main("cifar100", args=args)
