"""The unlearning-method registry (unlearning/methods/): `python forget_full_class_strategies.py [-dataset cifar20]`
prints every method, its knobs and the values that run; `--write-docs`, `--write-snapshot` regenerate the files
made from it."""
from unlearning.cli.methods import main

if __name__ == "__main__":
    main()
