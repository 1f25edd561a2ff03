"""Pretrain on imagenet64 (see `python pretrain_model_imagenet64.py -h`)."""
from unlearning.cli.pretrain import main

if __name__ == "__main__":
    main("imagenet64")
