"""Rival attacks (PRA, retain-only relearning) on an unlearned mnist model (see `python rival_attack_main_mnist.py -h`, docs/matrix.md)."""
from unlearning.cli.parsers import rival_parser

if __name__ == "__main__":
    args = rival_parser("mnist").parse_args()  # before torch loads: -h and a bad flag answer at once
    from unlearning.cli.rival import rival_main

    rival_main("mnist", args=args)
