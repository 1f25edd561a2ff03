"""The unlearning-method registry (unlearning/methods/): `python forget_full_class_strategies.py [-dataset cifar20]`
prints every method, its knobs and the values that run; `--write-docs`, `--write-snapshot` regenerate the files
made from it."""
from unlearning.cli.parsers import methods_parser

if __name__ == "__main__":
    args = methods_parser().parse_args()  # before torch loads: -h and a bad flag answer at once
    from unlearning.cli.methods import main

    main(args=args)
