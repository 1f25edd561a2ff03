"""Unlearn one fine class inside a CIFAR-20 superclass (sub-class setting; `--forget_class` is the fine class id)."""
from unlearning.cli.parsers import unlearn_parser

if __name__ == "__main__":
    args = unlearn_parser("cifar20", subclass=True).parse_args()  # before torch loads: -h and a bad flag answer at once
    from unlearning.cli.unlearn import main

    main("cifar20", subclass=True, args=args)
