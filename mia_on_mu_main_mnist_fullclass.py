"""White-box Reminiscence Attack on an unlearned mnist model (see `python mia_on_mu_main_mnist_fullclass.py -h` and README.md)."""
from unlearning.cli.parsers import rea_parser

if __name__ == "__main__":
    args = rea_parser("mnist").parse_args()  # before torch loads: -h and a bad flag answer at once
    from unlearning.cli.attack import rea_main

    rea_main("mnist", args=args)
