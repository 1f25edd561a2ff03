"""Pretrain on digits (see `python pretrain_model_digits.py -h`)."""
from unlearning.cli.pretrain import main

if __name__ == "__main__":
    main("digits")
