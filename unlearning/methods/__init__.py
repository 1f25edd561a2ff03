"""The unlearning methods: the registry and every registered method and variant.

Importing this package registers everything: the classic methods (``classic``), the recent ones (``recent``), and
the two variants every approximate method gets, ``<method>_our`` (``over_unlearning``) and ``<method>_orth``
(``orthogonal``). A new method is a function with ``@register(...)`` above it in one of these modules (or a new
module imported here).
"""
from . import classic, recent, rival  # noqa: F401  (registration order: the classic methods, the recent ones, the rival defences)
from . import over_unlearning, orthogonal  # noqa: F401  (the variants: _our, then _orth)
from .context import Context  # noqa: F401
from .registry import (KNOB_KINDS, KNOBS, METHODS, UNUSED, VARIANTS, Knob, Method, check_knobs, our_names,  # noqa: F401
                       get_method, method_names, orth_names, register, register_variant, registered, unregister)
from .settings import (describe, docs_with_table, load_recipe, markdown_table, merge, method_settings,  # noqa: F401
                       over_unlearn_settings, plain_settings)
from .schema import SETTING_KINDS, check_recipe, check_settings  # noqa: F401
