"""The unlearning-method registry (logic in unlearning/strategies.py; `_our` in unlearning/over_unlearning.py).

Run as a script: prints every method with what --para1/--para2 mean and their defaults on a dataset
(`python forget_full_class_strategies.py [-dataset cifar20]`).
"""
import argparse

from unlearning.strategies import (METHODS, Context, Method, UnknownMethodError, describe, get_method,  # noqa: F401
                                   method_names, method_settings)

if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("-dataset", "--dataset", default="digits", help="whose defaults to show")
    print(describe(p.parse_args().dataset))
