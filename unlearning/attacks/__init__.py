"""Attacks on unlearned models: each one registry entry (``base.Attack``), its algorithm in its module."""
from . import reminiscence  # noqa: F401  (registers the white-box and black-box ReA)
from . import rival  # noqa: F401  (registers PRA and retain-only relearning)
from .base import ATTACKS, Attack, attack_of, register_attack  # noqa: F401
