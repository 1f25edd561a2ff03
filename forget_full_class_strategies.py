"""The unlearning-method registry (logic in unlearning/strategies.py; `_our` in unlearning/over_unlearning.py).

Run as a script: prints every method with what --para1/--para2 mean and their defaults on a dataset
(`python forget_full_class_strategies.py [-dataset cifar20]`); `--markdown` prints the methods table of
docs/unlearning.md, `--write-docs` writes it there.
"""
import argparse
import os

from unlearning.strategies import (DOCS_PATH, METHODS, Context, Knob, Method, UnknownMethodError,  # noqa: F401
                                   describe, docs_with_table, get_method, markdown_table, method_names,
                                   method_settings, register, registered, unregister)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("-dataset", "--dataset", default="digits", help="whose defaults to show")
    p.add_argument("--markdown", action="store_true", help="print the methods table of the docs (Markdown)")
    p.add_argument("--write-docs", action="store_true", help=f"write the methods table into {DOCS_PATH}")
    args = p.parse_args(argv)
    if args.write_docs:
        path = os.path.join(os.path.dirname(os.path.abspath(__file__)), DOCS_PATH)
        with open(path) as fh:
            text = fh.read()
        try:
            new = docs_with_table(text)
        except ValueError as err:
            p.exit(2, f"error: {err}\n")
        tmp = path + ".tmp"
        with open(tmp, "w") as fh:
            fh.write(new)
        os.replace(tmp, path)
        print(f"{DOCS_PATH}: methods table {'updated' if new != text else 'already current'}")
    elif args.markdown:
        print(markdown_table())
    else:
        print(describe(args.dataset))


if __name__ == "__main__":
    main()
