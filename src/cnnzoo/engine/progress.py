"""What the user sees while a run trains: a progress bar on a terminal, plain lines in a log.

On a terminal the bar redraws in place at most a few times a second; when the output is a file or
a pipe (CI logs, `nohup`), it prints a plain line every ~25% of an epoch instead. ``quiet`` prints
nothing but the final summary (errors always go to stderr).
"""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO


def fmt_time(seconds: float) -> str:
    if seconds != seconds or seconds == float("inf"):  # NaN or inf
        return "--:--"
    seconds = int(round(seconds))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


class Console:
    """Messages for the user; rank 0 of a distributed run is the only one that speaks."""

    def __init__(self, quiet: bool = False, enabled: bool = True, stream: TextIO | None = None) -> None:
        self.quiet = quiet
        self.enabled = enabled
        self.stream = stream or sys.stdout

    @property
    def is_tty(self) -> bool:
        return bool(getattr(self.stream, "isatty", lambda: False)())

    def info(self, msg: str) -> None:
        if self.enabled and not self.quiet:
            print(msg, file=self.stream, flush=True)

    def always(self, msg: str) -> None:
        if self.enabled:
            print(msg, file=self.stream, flush=True)

    def warn(self, msg: str) -> None:
        if self.enabled:
            print(f"warning: {msg}", file=sys.stderr, flush=True)

    def bar(self, total: int, desc: str, start: int = 0) -> ProgressBar:
        return ProgressBar(self, total, desc, start)


class ProgressBar:
    REFRESH_S = 0.25  # terminal redraw interval: smooth to the eye, negligible cost
    PLAIN_STEPS = 4  # plain-text mode: lines per epoch

    def __init__(self, console: Console, total: int, desc: str, start: int = 0) -> None:
        self.console = console
        self.total = max(1, total)
        self.desc = desc
        self.start_n = start
        self.n = start
        self.t0 = time.perf_counter()
        self.last = 0.0
        self.active = console.enabled and not console.quiet
        self.next_plain = start + self.total // self.PLAIN_STEPS

    def due(self, n: int) -> bool:
        """Whether update(n) would draw: lets the caller skip reading device values otherwise."""
        if not self.active:
            return False
        if self.console.is_tty:
            return time.perf_counter() - self.last >= self.REFRESH_S or n >= self.total
        return n >= self.next_plain and n < self.total

    def update(self, n: int, batch_size: int, fields: dict[str, Any]) -> None:
        self.n = n
        if not self.due(n):
            return
        self.last = time.perf_counter()
        elapsed = self.last - self.t0
        done = n - self.start_n
        rate = done * batch_size / elapsed if elapsed > 0 else 0.0
        eta = (self.total - n) * elapsed / done if done else float("nan")
        extra = "  ".join(f"{k} {v}" for k, v in fields.items())
        if self.console.is_tty:
            width = 20
            filled = int(width * n / self.total)
            bar = "#" * filled + "-" * (width - filled)
            line = f"\r{self.desc} [{bar}] {n}/{self.total}  {extra}  {rate:,.0f} img/s  ETA {fmt_time(eta)}"
            print(line.ljust(110), end="", file=self.console.stream, flush=True)
        else:
            self.next_plain += max(1, self.total // self.PLAIN_STEPS)
            print(f"{self.desc} {n}/{self.total}  {extra}  {rate:,.0f} img/s  ETA {fmt_time(eta)}",
                  file=self.console.stream, flush=True)

    def close(self) -> None:
        if self.active and self.console.is_tty:
            print("\r" + " " * 110 + "\r", end="", file=self.console.stream, flush=True)
