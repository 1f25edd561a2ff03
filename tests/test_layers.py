"""The package's layers: a module imports only from its own layer and below, never inside a function (optional or
heavy third-party packages aside), and the import graph has no cycle."""
import ast
import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PKG = os.path.join(ROOT, "unlearning")

# lowest first; a module's layer is its first matching entry (a package name covers its modules)
LAYERS = [
    ["errors", "files", "paths", "runtime", "tables", "measured_docs", "values"],
    ["experiment", "training", "per_sample", "evaluation", "saliency", "scoring", "plots"],
    ["methods"],
    ["attacks", "metrics"],
    ["run_identity", "cli"],
    ["pipeline", "report", "matrix"],
]
# imported inside a function on purpose: optional extras and heavy libraries only a few calls need
LAZY_OK = {"submitit", "mlxtend", "matplotlib", "sklearn", "scipy", "threadpoolctl", "torch"}


def _modules(root=ROOT):
    for folder, _, files in os.walk(os.path.join(root, "unlearning")):
        for name in files:
            if name.endswith(".py"):
                path = os.path.join(folder, name)
                rel = os.path.relpath(path, root)[:-3].replace(os.sep, ".")
                yield (rel[:-len(".__init__")] if rel.endswith(".__init__") else rel), path


def _layer(module: str) -> int:
    parts = module.split(".")[1:]
    for i, names in enumerate(LAYERS):
        if parts and parts[0] in names:
            return i
    return -1  # the package's __init__


def _imports(module: str, path: str):
    """(imported package module, line, inside a function?) for every import of the package and of third parties."""
    tree = ast.parse(open(path).read())
    in_func = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for child in ast.walk(node):
                if child is not node:
                    in_func.add(id(child))
    is_pkg = path.endswith("__init__.py")
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".") if is_pkg else module.split(".")[:-1]
                base = base[:len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
                names = [f"{target}.{a.name}" for a in node.names]
                yield target, names, node.lineno, id(node) in in_func
            else:
                yield node.module, [f"{node.module}.{a.name}" for a in node.names], node.lineno, id(node) in in_func
        elif isinstance(node, ast.Import):
            for a in node.names:
                yield a.name, [a.name], node.lineno, id(node) in in_func


def _graph(root=ROOT):
    modules = dict(_modules(root))
    edges, problems = {}, []
    for module, path in modules.items():
        for target, names, line, in_func in _imports(module, path):
            top = target.split(".")[0]
            if top != "unlearning":
                if in_func and top not in LAZY_OK:
                    problems.append(f"{module}:{line} imports {target} inside a function")
                continue
            if in_func:
                problems.append(f"{module}:{line} imports {target} inside a function")
            # "from . import tables" names a module; "from .files import x" names a module's attribute
            deps = [n for n in names if n in modules] or [target]
            for dep in deps:
                if dep not in modules or dep == module:
                    continue
                edges.setdefault(module, set()).add(dep)
                if _layer(module) >= 0 and _layer(dep) > _layer(module):
                    problems.append(f"{module}:{line} (layer {_layer(module)}) imports {dep} (layer {_layer(dep)})")
    return modules, edges, problems


def _cycles(edges):
    seen, stack, found = set(), [], []

    def visit(node):
        if node in stack:
            found.append(stack[stack.index(node):] + [node])
            return
        if node in seen:
            return
        seen.add(node)
        stack.append(node)
        for dep in sorted(edges.get(node, ())):
            visit(dep)
        stack.pop()

    for node in sorted(edges):
        visit(node)
    return found


def test_every_module_has_a_layer():
    modules, _, _ = _graph()
    orphans = [m for m in modules if m != "unlearning" and _layer(m) < 0]
    assert not orphans, f"modules without a layer in tests/test_layers.py LAYERS: {orphans}"


def test_no_upward_or_in_function_import():
    _, _, problems = _graph()
    assert not problems, "\n".join(problems)


def test_no_import_cycle():
    _, edges, _ = _graph()
    cycles = _cycles(edges)
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)


def test_the_checker_sees_a_violation(tmp_path):
    """The checks can fail: an upward import, an in-function import and a cycle in a scratch package are reported."""
    pkg = tmp_path / "unlearning"
    (pkg / "cli").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "cli" / "__init__.py").write_text("")
    (pkg / "cli" / "args.py").write_text("from ..paths import x\n")
    (pkg / "files.py").write_text("from .cli import args\n\ndef f():\n    from . import paths\n    return paths\n")
    (pkg / "paths.py").write_text("from .files import f\nx = 1\n")
    _, edges, problems = _graph(str(tmp_path))
    assert any(p.startswith("unlearning.files:1") and "layer 4" in p for p in problems), problems
    assert any(p.startswith("unlearning.files:4") and "inside a function" in p for p in problems), problems
    assert _cycles(edges), edges
