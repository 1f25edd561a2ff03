"""Shared logic of the project: one module per pipeline step (see README, "Layout")."""
