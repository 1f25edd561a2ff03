"""Pretrain on cifar100 (see `python pretrain_model_cifar100.py -h`)."""
from unlearning.cli.pretrain import main

if __name__ == "__main__":
    main("cifar100")
