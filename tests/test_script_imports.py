"""Every script outside the package (benchmarks/, experiments/, the entry scripts) imports only names that exist:
a module moved or a function renamed inside the package fails here, not in a GPU job's first minutes."""
import ast
import glob
import importlib
import os

import pytest

from conftest import ROOT

OURS = ("unlearning", "datasets", "models", "config")
SCRIPTS = sorted(glob.glob(os.path.join(ROOT, "benchmarks", "*.py")) + glob.glob(os.path.join(ROOT, "experiments", "*.py"))
                 + glob.glob(os.path.join(ROOT, "*.py")) + glob.glob(os.path.join(ROOT, "saliency_mu", "*.py")))


def imported_names(path):
    """(module, name) of every ``from <ours> import name`` anywhere in the file (functions included)."""
    for node in ast.walk(ast.parse(open(path).read(), path)):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module \
                and node.module.split(".")[0] in OURS:
            for alias in node.names:
                yield node.module, alias.name
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] in OURS:
                    yield alias.name, None


@pytest.mark.parametrize("path", SCRIPTS, ids=lambda p: os.path.relpath(p, ROOT))
def test_every_imported_name_exists(path):
    missing = []
    for module, name in imported_names(path):
        mod = importlib.import_module(module)
        if name not in (None, "*") and not hasattr(mod, name):
            try:
                importlib.import_module(f"{module}.{name}")  # a submodule
            except ImportError:
                missing.append(f"{module}.{name}")
    assert not missing, f"{os.path.relpath(path, ROOT)} imports names that do not exist: {missing}"
