"""Unlearn a full class on digits (see `python forget_full_class_main_digits.py -h`; methods: forget_full_class_strategies.py)."""
from unlearning.cli.unlearn import main

if __name__ == "__main__":
    main("digits")
