"""Write synthetic datasets in the real on-disk formats (the tests' fixture writers), e.g. full-size CIFAR-100
files for timing a GPU box without the real data:

    python benchmarks/write_fixture_data.py cifar100 /tmp/synth --per_class_train 500 --per_class_test 100
    python benchmarks/write_fixture_data.py imagenet64 /tmp/synth_in --layout official

Images are class patterns plus noise (``learnable_pixels``: not natural images): a short training run learns
them well above chance, so a smoke run on them has known answers (the smoke report's checks). ``--encoded`` writes
the loader tests' pixels instead (planes that encode labels and indices, not learnable).
"""
import argparse
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests"))

from fixture_writers import write_cifar100_fixture, write_imagenet64_fixture  # noqa: E402


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("dataset", choices=["cifar100", "imagenet64"], help="cifar100 also serves cifar20")
    p.add_argument("root", help="data root to write into (the --data_root of the scripts)")
    p.add_argument("--per_class_train", type=int, default=500, help="CIFAR: train images per fine class")
    p.add_argument("--per_class_test", type=int, default=100, help="CIFAR: test images per fine class")
    p.add_argument("--per_class", type=int, default=2, help="ImageNet64: images per class per batch file")
    p.add_argument("--classes", type=int, default=100, help="ImageNet64: classes 0..K-1")
    p.add_argument("--layout", choices=["flat", "official"], default="official", help="ImageNet64 folder layout")
    p.add_argument("--encoded", action="store_true", help="pixels that encode labels (loader checks) instead of "
                                                          "learnable class patterns")
    args = p.parse_args(argv)
    start = time.perf_counter()
    if args.dataset == "cifar100":
        write_cifar100_fixture(args.root, args.per_class_train, args.per_class_test, learnable=not args.encoded)
        n = f"{100 * args.per_class_train} train / {100 * args.per_class_test} test images"
    else:
        write_imagenet64_fixture(args.root, classes=range(args.classes), per_class=args.per_class,
                                 batches=range(1, 11), layout=args.layout, learnable=not args.encoded)
        n = f"{10 * args.classes * args.per_class} train / {args.classes * args.per_class} val images"
    print(f"wrote {args.dataset} ({n}) under {os.path.abspath(args.root)} in {time.perf_counter() - start:.1f}s")


if __name__ == "__main__":
    main()
