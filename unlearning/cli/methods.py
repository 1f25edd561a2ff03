"""forget_full_class_strategies.py: the registry as a table, and the files generated from it."""
from __future__ import annotations

import os

from ..files import atomic_write_text
from ..methods import describe, docs_with_table, markdown_table
from ..methods.settings import DOCS_PATH, SNAPSHOT_PATH, settings_snapshot
from ..paths import ROOT
from .parsers import methods_parser



def main(argv=None, args=None):
    """Entry point of forget_full_class_strategies.py: ``args`` already parsed, else parsed from ``argv``."""
    p = methods_parser()
    args = args if args is not None else p.parse_args(argv)
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
