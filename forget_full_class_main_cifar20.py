"""Unlearn a full class on cifar20 (see `python forget_full_class_main_cifar20.py -h`; methods: forget_full_class_strategies.py)."""
from unlearning.cli.unlearn import main

if __name__ == "__main__":
    main("cifar20")
