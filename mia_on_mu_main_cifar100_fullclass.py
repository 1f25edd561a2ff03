"""White-box Reminiscence Attack on an unlearned cifar100 model (see `python mia_on_mu_main_cifar100_fullclass.py -h` and README.md)."""
from unlearning.cli.attack import rea_main

if __name__ == "__main__":
    rea_main("cifar100")
