"""Argument-parsing plumbing shared by every subcommand (no heavy imports here)."""

from __future__ import annotations

import argparse
import json
import logging
import re
import sys
from collections.abc import Sequence
from typing import Any

from ..errors import ConfigError, did_you_mean


class UsageError(ConfigError):
    """A malformed command line (argparse's complaints, as a one-line cnnzoo error)."""


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are CnnzooErrors instead of usage dumps and sys.exit."""

    def error(self, message: str) -> None:  # type: ignore[override]
        m = re.search(r"invalid choice: '([^']*)' \(choose from (.*)\)", message)
        if m:
            choices = re.findall(r"'([^']*)'", m.group(2)) or [c.strip() for c in m.group(2).split(",")]
            # A word that starts with a choice is its long form ("evaluate" for "eval"): that choice
            # is the likely one, ahead of any that merely looks alike ("ablate").
            typed = m.group(1).lower()
            longer = [c for c in choices if len(c) >= 3 and typed.startswith(c.lower())]
            message = f"{message.split(':')[0]}: unknown value '{m.group(1)}'" + (
                did_you_mean(m.group(1), longer or choices)
                or f" (choose from {', '.join(choices)})"
            )
        raise UsageError(f"{message} (see '{self.prog} --help')")


def common_parent() -> argparse.ArgumentParser:
    """Options every subcommand accepts."""
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                        help="show the full traceback of an error")
    return parent


def print_json(obj: Any) -> None:
    json.dump(obj, sys.stdout, indent=2, default=str)
    sys.stdout.write("\n")


def format_table(rows: Sequence[Sequence[Any]], header: Sequence[str], align: str | None = None) -> str:
    """A plain-text table; ``align`` holds one 'l' or 'r' per column (numbers right by default)."""
    cells = [[str(c) for c in header]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    if align is None:
        align = "".join("r" if rows and isinstance(rows[0][i], (int, float)) else "l"
                        for i in range(len(header)))
    out = []
    for n, row in enumerate(cells):
        parts = [c.rjust(w) if a == "r" else c.ljust(w) for c, w, a in zip(row, widths, align, strict=True)]
        out.append("  ".join(parts).rstrip())
        if n == 0:
            out.append("  ".join("-" * w for w in widths))
    return "\n".join(out)


def human(n: float, unit: str = "") -> str:
    """1234567 -> '1.23M' (for parameter and MAC counts)."""
    for div, suffix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "K")):
        if abs(n) >= div:
            return f"{n / div:.2f}{suffix}{unit}"
    return f"{n:g}{unit}"


class _WarningLines(logging.Handler):
    """Show the library's warnings (skipped files, fallbacks) as ``warning: ...`` lines on stderr."""

    def emit(self, record: logging.LogRecord) -> None:
        print(f"warning: {record.getMessage()}", file=sys.stderr, flush=True)  # sys.stderr as of now


def show_warnings() -> None:
    """Route the ``cnnzoo`` loggers' warnings to stderr, once per process."""
    logger = logging.getLogger("cnnzoo")
    if not any(isinstance(h, _WarningLines) for h in logger.handlers):
        logger.addHandler(_WarningLines(logging.WARNING))
        logger.propagate = False
