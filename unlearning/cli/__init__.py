"""Command-line faces of the stages: argument parsers, entry functions and their one-line error exits.

The algorithms live in the stage modules (``unlearning.reminiscence``, ``unlearning.extraction``); the modules here
read flags, find the run (``unlearning.run_identity``), call the algorithm and write its outputs.
"""
