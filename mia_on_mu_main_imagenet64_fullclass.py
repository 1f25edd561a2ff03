"""White-box Reminiscence Attack on an unlearned imagenet64 model (see `python mia_on_mu_main_imagenet64_fullclass.py -h` and README.md)."""
from unlearning.cli.attack import rea_main

if __name__ == "__main__":
    rea_main("imagenet64")
