"""Pretrain on cifar20 (see `python pretrain_model_cifar20.py -h`)."""
from unlearning.cli.pretrain import main

if __name__ == "__main__":
    main("cifar20")
