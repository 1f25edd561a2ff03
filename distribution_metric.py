"""Representation distribution metrics of one model (see `python distribution_metric.py -h` and README.md)."""
from unlearning.cli.distribution import main

if __name__ == "__main__":
    main()
