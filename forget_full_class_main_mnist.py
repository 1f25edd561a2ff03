"""Unlearn a full class on mnist (see `python forget_full_class_main_mnist.py -h`; methods: forget_full_class_strategies.py)."""
from unlearning.cli.parsers import unlearn_parser

if __name__ == "__main__":
    args = unlearn_parser("mnist").parse_args()  # before torch loads: -h and a bad flag answer at once
    from unlearning.cli.unlearn import main

    main("mnist", args=args)
