"""Unlearn a full class on imagenet64 (see `python forget_full_class_main_imagenet64.py -h`; methods: forget_full_class_strategies.py)."""
from unlearning.cli.unlearn import main

if __name__ == "__main__":
    main("imagenet64")
