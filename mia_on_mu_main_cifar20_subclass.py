"""White-box Reminiscence Attack, CIFAR-20 sub-class setting (see `python mia_on_mu_main_cifar20_subclass.py -h`)."""
from unlearning.cli.parsers import rea_parser

if __name__ == "__main__":
    args = rea_parser("cifar20", subclass=True).parse_args()  # before torch loads: -h and a bad flag answer at once
    from unlearning.cli.attack import rea_main

    rea_main("cifar20", subclass=True, args=args)
