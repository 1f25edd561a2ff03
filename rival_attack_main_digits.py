"""Rival attacks (PRA, retain-only relearning) on an unlearned digits model (see `python rival_attack_main_digits.py -h`, docs/matrix.md)."""
from unlearning.cli.parsers import rival_parser

if __name__ == "__main__":
    args = rival_parser("digits").parse_args()  # before torch loads: -h and a bad flag answer at once
    from unlearning.cli.rival import rival_main

    rival_main("digits", args=args)
