"""forget_full_class_strategies.py: the registry as a table, and the files generated from it."""
from __future__ import annotations

import argparse
import os

from ..files import atomic_write_text
from ..methods import describe, docs_with_table, markdown_table
from ..methods.settings import DOCS_PATH, SNAPSHOT_PATH, settings_snapshot
from ..paths import ROOT



def main(argv=None):
    p = argparse.ArgumentParser(
        description="Every unlearning method of the registry with what --para1/--para2 mean and the values that "
                    "run on a dataset; --write-docs / --write-snapshot regenerate the files made from the registry.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("-dataset", "--dataset", default="digits", help="whose values to show")
    p.add_argument("--markdown", action="store_true", help="print the methods table of the docs (Markdown)")
    p.add_argument("--write-docs", action="store_true", help=f"write the methods table into {DOCS_PATH}")
    p.add_argument("--write-snapshot", action="store_true",
                   help=f"write every preset's resolved settings into {SNAPSHOT_PATH}")
    args = p.parse_args(argv)
    if args.write_docs:
        path = os.path.join(ROOT, DOCS_PATH)
        with open(path) as fh:
            text = fh.read()
        try:
            new = docs_with_table(text)
        except ValueError as err:
            p.exit(2, f"error: {err}\n")
        atomic_write_text(path, new)
        print(f"{DOCS_PATH}: methods table {'updated' if new != text else 'already current'}")
    if args.write_snapshot:
        path = os.path.join(ROOT, SNAPSHOT_PATH)
        old = open(path).read() if os.path.isfile(path) else None
        new = settings_snapshot()
        atomic_write_text(path, new)
        print(f"{SNAPSHOT_PATH}: {'updated' if new != old else 'already current'} (git diff shows what changed)")
    if args.markdown:
        print(markdown_table())
    elif not (args.write_docs or args.write_snapshot):
        try:
            print(describe(args.dataset))
        except (KeyError, ValueError) as err:
            p.exit(2, f"error: {err}\n")
