"""Measured tables in docs/ are written by the script that measured them, never pasted by hand.

``write_measured(path, title, body)`` writes a Markdown page headed by the command that produced it (the script's
own argv unless given), the date and the machine, so a table in docs/ always says where its numbers come from and
rerunning the command rewrites it.
"""
from __future__ import annotations

import datetime as _dt
import os
import platform
import shlex
import sys
from typing import Optional

from .files import atomic_write_text

DOCS_RESULTS = os.path.join("docs", "results")  # relative to the repository root


def add_docs_flag(parser, example: str) -> None:
    """``--docs PATH``: a script that measures a table also writes it as a docs page (``write_measured``)."""
    parser.add_argument("--docs", default=None, metavar="PATH",
                        help=f"also write the table as a docs page (e.g. {example}), headed by this command, the date "
                             "and the machine")


def this_command(argv: Optional[list] = None) -> str:
    """The command line that is running, as a user would type it from the repository root."""
    argv = list(sys.argv if argv is None else argv)
    script = os.path.relpath(os.path.abspath(argv[0])) if argv and argv[0].endswith(".py") else (argv[0] if argv else "")
    return " ".join(["python", shlex.quote(script)] + [shlex.quote(a) for a in argv[1:]])


def script_command(script: str, argv: Optional[list] = None) -> str:
    """The command of a script's ``main(argv)``: ``argv`` when called from Python, else this process's command line."""
    return this_command() if argv is None else this_command([script, *argv])


def machine() -> str:
    """A one-line description of where the numbers were measured (CPU count, torch, accelerator if any)."""
    import torch

    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    threads = os.environ.get("OMP_NUM_THREADS", "unset")
    return (f"{platform.machine()}, {os.cpu_count()} CPU cores, {device}, torch {torch.__version__}, "
            f"OMP_NUM_THREADS={threads}")


def header(title: str, command: str, when: Optional[_dt.datetime] = None, where: Optional[str] = None) -> str:
    when = when or _dt.datetime.now(_dt.timezone.utc)
    return (f"# {title}\n\n"
            f"Written by `{command}` on {when:%Y-%m-%d %H:%M} UTC ({where or machine()}). "
            f"Rerun the command to rewrite this page; do not edit it by hand.\n\n")


def write_measured(path: str, title: str, body: str, command: Optional[str] = None,
                   when: Optional[_dt.datetime] = None, where: Optional[str] = None) -> str:
    """Write ``body`` (Markdown) to ``path`` under a header naming its command, date and machine (atomically)."""
    return atomic_write_text(path, header(title, command or this_command(), when, where) + body.rstrip() + "\n")
