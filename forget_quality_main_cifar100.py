"""Forgetting quality on cifar100: K retrained vs K unlearned models per method (see `python forget_quality_main_cifar100.py -h` and docs/quality.md)."""
from unlearning.cli.quality import main

if __name__ == "__main__":
    main("cifar100")
