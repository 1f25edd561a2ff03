"""Black-box Reminiscence Attack on an unlearned digits model: extract a copy with DFME (query access only), then run
the white-box attack on the copy (see `python mia_on_mu_main_digits_fullclass_blackbox.py -h` and README.md)."""
from unlearning.cli.extraction import blackbox_rea_main

if __name__ == "__main__":
    blackbox_rea_main("digits")
