"""Unlearn one fine class inside a CIFAR-20 superclass (sub-class setting; `--forget_class` is the fine class id)."""
from unlearning.cli.unlearn import main

if __name__ == "__main__":
    main("cifar20", subclass=True)
