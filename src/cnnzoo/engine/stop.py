"""Stopping cleanly on Ctrl-C / SIGTERM: the loop finishes its step, saves, and exits with 130."""

from __future__ import annotations

import signal
import threading
from typing import Any


class StopFlag:
    """The first SIGINT/SIGTERM asks the loop to stop at the next step boundary; the second one
    interrupts immediately (KeyboardInterrupt). Handlers are installed only while the flag is
    entered (``with StopFlag() as stop``), and only in the main thread."""

    def __init__(self) -> None:
        self.requested = False
        self._old: dict[int, Any] = {}

    def __enter__(self) -> StopFlag:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._old[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def __exit__(self, *exc: Any) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)
        self._old.clear()


class Interrupted(KeyboardInterrupt):
    """Raised after a checkpoint was saved on request; the CLI exits with 130."""
