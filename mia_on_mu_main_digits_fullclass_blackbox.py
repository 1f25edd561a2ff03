"""Black-box Reminiscence Attack on an unlearned digits model: extract a copy with DFME (query access only), then run
the white-box attack on the copy (see `python mia_on_mu_main_digits_fullclass_blackbox.py -h` and README.md)."""
from unlearning.cli.parsers import blackbox_rea_parser

if __name__ == "__main__":
    args = blackbox_rea_parser("digits").parse_args()  # before torch loads: -h and a bad flag answer at once
    from unlearning.cli.extraction import blackbox_rea_main

    blackbox_rea_main("digits", args=args)
