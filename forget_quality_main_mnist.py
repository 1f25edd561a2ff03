"""Forgetting quality on mnist: K retrained vs K unlearned models per method (see `python forget_quality_main_mnist.py -h` and docs/quality.md)."""
from unlearning.cli.parsers import quality_parser

if __name__ == "__main__":
    quality_parser("mnist").parse_args()  # -h, bad flags: before torch loads (the stage parses again)
    from unlearning.cli.quality import main

    main("mnist")
