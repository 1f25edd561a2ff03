"""The package's import graph as tests/test_layers.py sees it: modules, edges, cycles, layer violations, the imports
placed inside functions (by package) and the largest modules.

    python benchmarks/import_graph.py
"""
from __future__ import annotations

import os
import sys
from collections import Counter

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests"))

from test_layers import _cycles, _graph, _imports, _modules  # noqa: E402


def main() -> int:
    modules, edges, problems = _graph(ROOT)
    cycles = _cycles(edges)
    lazy = Counter()
    for module, path in modules.items():
        for target, _, _, in_func in _imports(module, path):
            if in_func:
                lazy[target.split(".")[0]] += 1
    print(f"modules {len(modules)} · import edges {sum(len(v) for v in edges.values())} · cycles {len(cycles)} · "
          f"layer or in-function violations {len(problems)}")
    print(f"imports inside functions: {sum(lazy.values())} ({', '.join(f'{k} {v}' for k, v in lazy.most_common())})")
    sizes = sorted(((sum(1 for _ in open(path)), module) for module, path in _modules(ROOT)), reverse=True)[:5]
    print("largest modules: " + ", ".join(f"{m} {n}" for n, m in sizes))
    for p in problems:
        print("  " + p)
    return 1 if cycles or problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
