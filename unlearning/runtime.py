"""Where a computation runs and how: the device, seeds, timers and the speed settings (bf16 autocast,
channels_last, torch.compile, the captured training step).

The speed settings are a value (``Speed``) that the caller passes on (``Experiment.speed``); nothing here keeps
them in a module global. On CUDA they are on unless a flag turns them off; on the CPU they are off unless a flag
turns them on explicitly (then one line says so: the CPU numbers change under bf16).
"""
from __future__ import annotations

import random
import sys
import time
from dataclasses import dataclass
from typing import Callable, Optional, TextIO

import numpy as np
import torch
import torch.nn as nn


def resolve_device(spec: str = "auto") -> torch.device:
    """A known and present device; anything else is a ValueError with one clear line."""
    spec = (spec or "auto").lower()
    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(spec)
    except (RuntimeError, ValueError):
        dev = None
    if dev is None or dev.type not in ("cpu", "cuda", "mps"):
        raise ValueError(f"--device {spec}: unknown device (use auto, cpu, cuda or cuda:<i>)")
    if dev.type != "cuda" and dev.index not in (None, 0):
        raise ValueError(f"--device {spec}: {dev.type} has one device here (use {dev.type}, or cuda:<i> for a GPU)")
    if dev.type == "mps" and not (hasattr(torch.backends, "mps") and torch.backends.mps.is_available()):
        raise ValueError(f"--device {spec}: MPS is not available on this machine")
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"--device {spec}: CUDA is not available on this machine")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ValueError(f"--device {spec}: only {torch.cuda.device_count()} CUDA device(s)")
    return dev


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def generator(seed: int) -> torch.Generator:
    """CPU generator: random draws are identical whatever the device."""
    return torch.Generator().manual_seed(int(seed))


class Timer:
    def __enter__(self):
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self.start


def fmt_duration(seconds: float) -> str:
    """mm:ss, or h:mm:ss from an hour on."""
    seconds = max(0, int(round(seconds)))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


class Progress:
    """The progress of a loop of ``total`` items: ``<desc> i/N (p%) | elapsed mm:ss, ETA mm:ss[ | note]``.

    The ETA extrapolates the mean time per item so far. On a terminal the line is redrawn in place (at most every
    ``every`` s, default 0.5); otherwise (a log file, a pipe) a new line is written at most every ``every`` s
    (default 10) and at the end, so a log reads as a short list. Written to stderr: stdout keeps the results.
    ``clock`` is injectable for tests. Use as a context manager, or call ``close``.
    """

    def __init__(self, total: int, desc: str, enabled: bool = True, stream: Optional[TextIO] = None,
                 every: Optional[float] = None, clock: Callable[[], float] = time.monotonic):
        self.total, self.desc, self.enabled, self.n, self.note = max(0, int(total)), desc, enabled, 0, ""
        self.stream = stream if stream is not None else sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.every = every if every is not None else (0.5 if self.tty else 10.0)
        self.clock = clock
        self.start = self._last = clock()
        self._shown = None  # the count last written

    def line(self, now: Optional[float] = None) -> str:
        elapsed = (self.clock() if now is None else now) - self.start
        eta = fmt_duration(elapsed / self.n * (self.total - self.n)) if self.n else "?"
        pct = f" ({100 * self.n / self.total:.0f}%)" if self.total else ""
        return (f"{self.desc} {self.n}/{self.total}{pct} | elapsed {fmt_duration(elapsed)}, ETA {eta}"
                + (f" | {self.note}" if self.note else ""))

    def update(self, k: int = 1, note: Optional[str] = None) -> None:
        self.n += k
        if note is not None:
            self.note = note
        now = self.clock()
        if self.enabled and (now - self._last >= self.every or self.n >= self.total):
            self._write(now)

    def set(self, n: int, note: Optional[str] = None) -> None:
        """Jump to ``n`` items done (a loop that reports its position rather than its steps)."""
        self.update(n - self.n, note)

    def _write(self, now: float) -> None:
        self._last, self._shown = now, self.n
        if self.tty:
            self.stream.write("\r\033[K" + self.line(now))
        else:
            self.stream.write(self.line(now) + "\n")
        self.stream.flush()

    def close(self) -> None:
        if not self.enabled:
            return
        if self._shown != self.n and self.n:
            self._write(self.clock())
        if self.tty and self._shown is not None:
            self.stream.write("\n")
            self.stream.flush()

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


@dataclass(frozen=True)
class Speed:
    """The speed settings of one process's computations."""
    amp: bool = False  # bf16 autocast of every forward
    channels_last: bool = False  # channels_last memory format of conv models
    compile: bool = False  # torch.compile of the supervised training forward
    capture: bool = False  # the whole supervised training step compiled (CUDA graphs on CUDA): training.CapturedStep

    def layout(self, model: nn.Module) -> nn.Module:
        """``model`` in the memory format these settings ask for."""
        return model.to(memory_format=torch.channels_last) if self.channels_last else model


def configure_speed(device: torch.device, amp=None, channels_last=None, compile=None, capture=None,
                    say=print) -> Speed:
    """The speed settings for ``device`` from the --amp/--channels_last/--compile/--capture flags (None: the default).

    CUDA: amp and channels_last on by default, compile and capture off; cudnn.benchmark on. CPU (and MPS): all off by default;
    a flag set explicitly wins, with one line saying so. Autocast is switched on for the device type for every
    forward of the process (losses and softmax run in float32 under autocast), without a cache of cast weights (a
    cached bf16 copy would outlive an optimiser step)."""
    kind = torch.device(device).type
    cuda = kind == "cuda"
    speed = Speed(amp=bool(cuda if amp is None else amp),
                  channels_last=bool(cuda if channels_last is None else channels_last),
                  compile=bool(False if compile is None else compile),
                  capture=bool(False if capture is None else capture))
    forced = [name for name, flag in (("--amp", amp), ("--channels_last", channels_last), ("--compile", compile),
                                      ("--capture", capture)) if flag and not cuda]
    if forced:
        say(f"speed: {' '.join(forced)} on the {kind.upper()} as asked (results differ from the default "
            f"float32 {kind.upper()} numbers)")
    if cuda:
        torch.backends.cudnn.benchmark = True
    if kind in ("cuda", "cpu"):
        torch.set_autocast_dtype(kind, torch.bfloat16)
        torch.set_autocast_enabled(kind, speed.amp)
        torch.set_autocast_cache_enabled(False)
    return speed

