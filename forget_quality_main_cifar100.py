"""Forgetting quality on cifar100: K retrained vs K unlearned models per method (see `python forget_quality_main_cifar100.py -h` and docs/quality.md)."""
from unlearning.cli.parsers import quality_parser

if __name__ == "__main__":
    quality_parser("cifar100").parse_args()  # -h, bad flags: before torch loads (the stage parses again)
    from unlearning.cli.quality import main

    main("cifar100")
