"""The project's error kinds and the one ending of every entry function.

Every error a user can fix is a ValueError subclass (one line, no traceback at the command line); ``Diverged`` is
a RuntimeError (a NaN/inf loss or weight). ``exit_on_error`` turns them into one ``error: …`` line.
"""
from __future__ import annotations

import sys
from contextlib import contextmanager
from typing import Callable, Optional


class Diverged(RuntimeError):
    """A NaN/inf loss or weight: the method stops instead of saving a broken model."""


class CheckpointError(ValueError):
    """A checkpoint that is unreadable or made for another dataset / network / class list."""


class OutputError(ValueError):
    """An output folder that cannot be written (bad path, no permission): reported before any computation."""


class UnknownMethodError(ValueError):
    """A method name that is not in the registry (the message lists the registry)."""


@contextmanager
def exit_on_error(written: str, diverged: Optional[Callable[[BaseException], str]] = None,
                  detail: Optional[Callable[[BaseException], str]] = None):
    """Run the body; exit with one line on what the user can fix.

    ValueError (CheckpointError, OutputError, the stages' own errors) and FileNotFoundError: ``error: <err>``
    (plus ``detail(err)``). Any other OSError is a disk that fills up or goes read-only while writing: ``error:
    could not write <written>: <err>``. Diverged: ``error: <diverged(err)>`` where ``diverged`` is given, otherwise
    it propagates.
    """
    try:
        yield
    except Diverged as err:
        if diverged is None:
            raise
        sys.exit(f"error: {diverged(err)}")
    except (ValueError, FileNotFoundError) as err:
        sys.exit(f"error: {err}" + (detail(err) if detail else ""))
    except OSError as err:
        sys.exit(f"error: could not write {written}: {err}")
