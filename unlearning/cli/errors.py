"""One ending for every entry function: bad input and failed writes become one ``error: …`` line, no traceback."""
from __future__ import annotations

import sys
from contextlib import contextmanager
from typing import Callable, Optional

from ..training import Diverged


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
