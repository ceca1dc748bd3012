"""The environment variables cnnzoo reads, each declared once: name, type, bounds, default, help.

A module that needs one calls its reader (``env.THREADS.read()``) instead of ``os.environ``; a value
that does not parse is one :class:`~cnnzoo.errors.ConfigError` line naming the variable, its value
and what is expected, the same for every variable. An unset or empty variable means its default.
docs/configuration.md lists them all (generated from :data:`VARIABLES`; a test scans ``src/`` for
``CNNZOO_`` names so a new one cannot go undocumented).

Cheap to import (the standard library only): the CLI reads ``CNNZOO_DEBUG`` before anything else.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

from .errors import ConfigError, short_text

T = TypeVar("T")

# A value shown in a message is cut to this many characters (an environment variable can be long).
_SHOWN = 120  # room for a real path (a user must see which file); still a bound on a hostile value


@dataclass(frozen=True)
class Var(Generic[T]):
    """One variable. ``parse`` turns the text into a value or raises ValueError whose message says
    what is expected; ``default`` is what an unset (or empty) variable means."""

    name: str
    kind: str  # the type as the docs show it
    default: T
    default_text: str  # the default as the docs show it
    help: str
    parse: Callable[[str], T]

    def read(self, environ: Mapping[str, str] | None = None) -> T:
        raw = (os.environ if environ is None else environ).get(self.name)
        if raw is None or not raw.strip():
            return self.default
        try:
            return self.parse(raw.strip())
        except ValueError as e:
            raise ConfigError(f"${self.name}={short_text(raw, _SHOWN)!r}: expected {e}") from None


VARIABLES: dict[str, Var[Any]] = {}


def _declare(var: Var[T]) -> Var[T]:
    assert var.name.startswith("CNNZOO_") and var.name not in VARIABLES, var.name
    VARIABLES[var.name] = var
    return var


# --------------------------------------------------------------------------------------------------
# Parsers: each raises ValueError("<what is expected>").


def _integer(lo: int, hi: int, unit: str = "") -> Callable[[str], int]:
    what = f"an integer from {lo} to {hi}{unit}"

    def parse(text: str) -> int:
        if not re.fullmatch(r"[+-]?\d{1,30}", text):
            raise ValueError(what)
        value = int(text)
        if not lo <= value <= hi:
            raise ValueError(what)
        return value

    return parse


_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


def _bytes(text: str) -> int:
    """'2000000000', '2e9', '512M', '2GiB', '1.5G' -> bytes (K/M/G/T are powers of 1024)."""
    what = "a number of bytes such as 2000000000, 2e9, 512M or 2G (K/M/G/T: powers of 1024)"
    m = re.fullmatch(r"(\d{1,20}(?:\.\d{1,20})?(?:[eE][+-]?\d{1,3})?)\s*([kKmMgGtT]?)(?:i?[bB])?", text)
    if not m:
        raise ValueError(what)
    value = float(m.group(1)) * _UNITS[m.group(2).lower()]
    if not value < 2**62:
        raise ValueError(what + ", below 2^62")
    return int(value)


_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


def _flag(text: str) -> bool:
    word = text.lower()
    if word in _TRUE:
        return True
    if word in _FALSE:
        return False
    raise ValueError("1 or 0 (also true/false, yes/no, on/off)")


def _folder(text: str) -> Path:
    path = Path(text).expanduser()
    if path.exists() and not path.is_dir():
        raise ValueError("a folder, but it names a file")
    return path


def _folders(text: str) -> list[Path]:
    paths = [Path(p).expanduser() for p in text.split(os.pathsep) if p.strip()]
    for p in paths:
        if p.exists() and not p.is_dir():
            raise ValueError(f"folders separated by '{os.pathsep}', but {str(p)[:_SHOWN]!r} is a file")
    return paths


def _json_file(text: str) -> Path:
    from .paths import describe  # standard library only, like this module

    path = Path(text).expanduser()
    kind = describe(path)  # stat, not open: a named pipe would block the read forever
    if kind != "is a file":
        raise ValueError("the path of a JSON file, but nothing is there" if kind == "does not exist"
                         else f"the path of a JSON file, but it {kind}")
    return path


_URL = re.compile(r"(https?|ftp|file)://\S*")


def _urls(text: str) -> list[str]:
    urls = [u.strip() for u in text.split(",") if u.strip()]
    for u in urls:
        if not _URL.fullmatch(u):
            raise ValueError(f"comma-separated base URLs like https://host/path/, but {u[:_SHOWN]!r} is not one")
    return urls


# --------------------------------------------------------------------------------------------------
# The variables


DEBUG = _declare(Var(
    "CNNZOO_DEBUG", "flag", False, "0",
    "1: print the traceback of an error as well as its `error:` line (like `--debug`)", _flag))

THREADS = _declare(Var(
    "CNNZOO_THREADS", "integer (1 to 1024)", None, "unset: one per physical core",
    "CPU threads when `train.threads` is unset (shared machines, parallel test workers)", _integer(1, 1024)))

DIST_TIMEOUT = _declare(Var(
    "CNNZOO_DIST_TIMEOUT", "seconds (1 to 604800)", 600, "600",
    "under torchrun: how long a rank waits for the others in a collective before it gives up",
    _integer(1, 7 * 24 * 3600, " seconds")))

DATA = _declare(Var(
    "CNNZOO_DATA", "folder", None, "unset",
    "datasets are looked for in `$CNNZOO_DATA/<name>` after `--data-dir` (docs/data.md)", _folder))

SYSTEM_DATA = _declare(Var(
    "CNNZOO_SYSTEM_DATA", f"folders separated by `{os.pathsep}`", None,
    "`/usr/share/datasets:/usr/local/share/datasets`",
    "system dataset folders, searched after the cache; set but empty: none", _folders))

MIRRORS = _declare(Var(
    "CNNZOO_MIRRORS", "comma-separated URLs", None, "unset: each dataset's official mirrors",
    "base URLs to download dataset files from, tried in order; set but empty: none", _urls))

WEIGHTS_MIRRORS = _declare(Var(
    "CNNZOO_WEIGHTS_MIRRORS", "comma-separated URLs", None, "unset: the libraries' official addresses",
    "base URLs to download pretrained weight files from, tried first (timm files under <base>/<hub id>)", _urls))

CHECKSUMS = _declare(Var(
    "CNNZOO_CHECKSUMS", "JSON file", None, "unset",
    'checksums that replace the pinned ones: `{"<dataset>": {"<file>": "sha256:<hex>"}}`', _json_file))

# 2 GiB: why, in cnnzoo/data/dataset.py (DEFAULT_MEMORY_LIMIT).
DATA_MEMORY_LIMIT = _declare(Var(
    "CNNZOO_DATA_MEMORY_LIMIT", "bytes (e.g. 2e9, 512M, 2G)", 2 << 30, "2G",
    "image folders whose decoded size is above this stream from disk instead of memory", _bytes))

BENCH_RESULTS = _declare(Var(
    "CNNZOO_BENCH_RESULTS", "folder", None, "unset: benchmarks/results",
    "benchmarks/ only: where the benchmark scripts write their result files", _folder))


def read_with_empty(var: Var[T], environ: Mapping[str, str] | None = None) -> T:
    """``var``'s value where 'set but empty' means an empty list (CNNZOO_SYSTEM_DATA,
    CNNZOO_MIRRORS): unset is the default, an empty value is no entries."""
    environ = os.environ if environ is None else environ
    if var.name in environ and not environ[var.name].strip():
        return var.parse("")
    return var.read(environ)


# Variables that others set and cnnzoo reads: torchrun's, and the XDG cache location.
FOREIGN = {
    "WORLD_SIZE, RANK, LOCAL_RANK, LOCAL_WORLD_SIZE, GROUP_RANK, MASTER_ADDR, MASTER_PORT":
        "set by torchrun for each rank (docs/distributed.md); WORLD_SIZE above 1 means cnnzoo runs under torchrun",
    "TORCHELASTIC_ERROR_FILE": "set by torchrun: where a failing rank records its error",
    "XDG_CACHE_HOME": "the cache folder is `$XDG_CACHE_HOME/cnnzoo` (default `~/.cache/cnnzoo`)",
}


def under_torchrun() -> bool:
    """True where torchrun started this process with more than one rank (WORLD_SIZE above 1)."""
    return os.environ.get("WORLD_SIZE", "1").strip() not in ("", "0", "1")


def reference_markdown() -> str:
    """The docs section listing every variable (part of docs/configuration.md)."""
    lines = [
        "## Environment variables",
        "",
        "Generated from `src/cnnzoo/env.py`. An unset or empty variable has its default; a value that does",
        "not parse stops the command with one `error:` line naming the variable and what it expects.",
        "",
        "| variable | type | default | meaning |",
        "|---|---|---|---|",
    ]
    lines += [f"| `{v.name}` | {v.kind} | {v.default_text} | {v.help} |" for v in VARIABLES.values()]
    lines += ["", "Also read, set by others:", ""]
    lines += [f"- `{names}`: {text}" for names, text in FOREIGN.items()]
    return "\n".join(lines)
