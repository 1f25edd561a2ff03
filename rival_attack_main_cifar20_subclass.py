"""Retain-only relearning on an unlearned cifar20 sub-class model (see `python rival_attack_main_cifar20_subclass.py -h`, docs/matrix.md)."""
from unlearning.cli.parsers import rival_parser

if __name__ == "__main__":
    args = rival_parser("cifar20", subclass=True).parse_args()  # before torch loads: -h and a bad flag answer at once
    from unlearning.cli.rival import rival_main

    rival_main("cifar20", args=args, subclass=True)
