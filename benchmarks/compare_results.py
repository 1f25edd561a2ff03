"""Compare every results.json of two log folders, timings and paths aside: the numbers of two runs of the same
sweep (e.g. before and after a refactor) must be equal.

    python benchmarks/compare_results.py LOG_ROOT_A LOG_ROOT_B

Prints how many results.json each side has, how many numbers were compared and every number that differs (exit 1
then). Keys that are wall or CPU times, file paths, fingerprints of files that embed paths, and the arguments a
run was started with are left out.
"""
import argparse
import json
import math
import os
import sys

SKIP_KEYS = {"seconds", "time", "RTE", "rte", "rte_cpu", "cpu_seconds", "relearn_seconds", "wall_seconds", "args",
             "log_root", "data_root", "checkpoint", "checkpoints", "files", "weight_path", "path", "out_dir", "log",
             "started", "finished", "date", "host"}


def _numbers(obj, prefix=""):
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k in SKIP_KEYS or "seconds" in k or k.endswith("_time"):
                continue
            yield from _numbers(v, f"{prefix}.{k}" if prefix else k)
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _numbers(v, f"{prefix}[{i}]")
    elif isinstance(obj, bool) or obj is None or isinstance(obj, str):
        yield prefix, obj
    elif isinstance(obj, (int, float)):
        yield prefix, float(obj)


def _results(root):
    out = {}
    for folder, _, files in os.walk(root):
        if "results.json" in files and f"{os.sep}launcher" not in folder:
            rel = os.path.relpath(os.path.join(folder, "results.json"), root)
            try:
                out[rel] = json.load(open(os.path.join(folder, "results.json")))
            except (OSError, ValueError) as err:
                print(f"warning: skipped {os.path.join(root, rel)}: {err}", file=sys.stderr)
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("a", help="first log folder")
    p.add_argument("b", help="second log folder")
    args = p.parse_args(argv)
    ra, rb = _results(args.a), _results(args.b)
    print(f"{len(ra)} results.json in {args.a}, {len(rb)} in {args.b}")
    differ = 0
    compared = 0
    for rel in sorted(set(ra) | set(rb)):
        if rel not in ra or rel not in rb:
            print(f"only in {'b' if rel not in ra else 'a'}: {rel}")
            differ += 1
            continue
        na, nb = dict(_numbers(ra[rel])), dict(_numbers(rb[rel]))
        for key in sorted(set(na) | set(nb)):
            va, vb = na.get(key, "<absent>"), nb.get(key, "<absent>")
            if isinstance(va, str) and os.sep in va:
                continue  # a path (its log root differs)
            compared += 1
            same = va == vb or (isinstance(va, float) and isinstance(vb, float) and math.isnan(va) and math.isnan(vb))
            if not same:
                differ += 1
                print(f"differs: {rel} {key}: {va!r} vs {vb!r}")
    print(f"{compared} values compared, {differ} differ")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
