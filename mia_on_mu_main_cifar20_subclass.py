"""White-box Reminiscence Attack, CIFAR-20 sub-class setting (see `python mia_on_mu_main_cifar20_subclass.py -h`)."""
from unlearning.cli.attack import rea_main

if __name__ == "__main__":
    rea_main("cifar20", subclass=True)
