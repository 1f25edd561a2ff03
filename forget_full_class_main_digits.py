"""Unlearn a full class on digits (see `python forget_full_class_main_digits.py -h`; methods: forget_full_class_strategies.py)."""
from unlearning.cli.parsers import unlearn_parser

if __name__ == "__main__":
    args = unlearn_parser("digits").parse_args()  # before torch loads: -h and a bad flag answer at once
    from unlearning.cli.unlearn import main

    main("digits", args=args)
