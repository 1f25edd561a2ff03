"""A module that registers a method or an attack is imported by its package, so its entries exist: a new module
left out of the package's __init__.py would register nothing and silently be missing from the CLI and the
report."""
import importlib
import os
import sys

import pytest

from conftest import ROOT

CASES = [("unlearning.methods", ("@register(", "register_variant(")), ("unlearning.attacks", ("register_attack(",))]


@pytest.mark.parametrize("package, calls", CASES)
def test_every_registering_module_is_imported_by_its_package(package, calls):
    importlib.import_module(package)
    folder = os.path.join(ROOT, *package.split("."))
    missing = []
    for name in sorted(os.listdir(folder)):
        if not name.endswith(".py") or name == "__init__.py":
            continue
        source = open(os.path.join(folder, name)).read()
        defines = any(f"def {c.strip('@(')}(" in source for c in calls)
        if any(c in source for c in calls) and not defines and f"{package}.{name[:-3]}" not in sys.modules:
            missing.append(name)
    assert not missing, f"add `from . import <module>` to {package.replace('.', '/')}/__init__.py for: {missing}"
