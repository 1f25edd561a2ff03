"""Representation distribution metrics of one model (see `python distribution_metric.py -h` and README.md)."""
from unlearning.cli.parsers import distribution_parser

if __name__ == "__main__":
    args = distribution_parser().parse_args()  # before torch loads: -h and a bad flag answer at once
    from unlearning.cli.distribution import main

    main(args=args)
