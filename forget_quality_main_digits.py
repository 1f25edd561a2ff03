"""Forgetting quality on digits: K retrained vs K unlearned models per method (see `python forget_quality_main_digits.py -h` and docs/quality.md)."""
from unlearning.cli.quality import main

if __name__ == "__main__":
    main("digits")
