"""The one error contract.

A user's mistake (a bad argument, a wrong file, missing data) raises a :class:`CnnzooError` whose
message says what was wrong, where, and what to do instead. The CLI prints it as a single
``error: ...`` line on stderr and exits with status 2; ``--debug`` shows the traceback. Anything
else that escapes is a bug and stays an ordinary exception.
"""

from __future__ import annotations

import reprlib
from collections.abc import Iterable


class CnnzooError(Exception):
    """A user-facing error: the message is the whole story, no traceback needed."""

    exit_code = 2


class ConfigError(CnnzooError):
    """A recipe, a ``--set`` override or a command-line value is invalid."""


class DataError(CnnzooError):
    """A dataset is missing, corrupt, or cannot be downloaded."""


class ModelError(CnnzooError):
    """An unknown model, or a model that cannot take the requested input."""


class CheckpointError(CnnzooError):
    """A checkpoint or run directory is missing, corrupt, or belongs to another model."""


class DeviceError(CnnzooError):
    """The requested device is unavailable or ran out of memory."""


class OutputError(CnnzooError):
    """The output location cannot be written (exists, read-only, disk full)."""


class TrainingError(CnnzooError):
    """Training cannot go on: a non-finite loss, or the device ran out of memory."""


def caused_by_ctrl_c(err: BaseException) -> bool:
    """Is ``err`` a KeyboardInterrupt, or an exception Python made of one? (A Ctrl-C that lands in
    a class body's ``__set_name__`` during an import reaches us as a RuntimeError caused by it.)"""
    seen: set[int] = set()
    e: BaseException | None = err
    while e is not None and id(e) not in seen:
        if isinstance(e, KeyboardInterrupt):
            return True
        seen.add(id(e))
        e = e.__cause__ or e.__context__
    return False


def closest(name: str, choices: Iterable[str], n: int = 3) -> list[str]:
    """The choices most similar to ``name``, best first (may be empty)."""
    import difflib  # here, not at the top: `import cnnzoo` stays nearly free (see cnnzoo.__main__)

    choices = list(choices)
    lowered = {c.lower(): c for c in choices}
    hits = difflib.get_close_matches(name.lower(), list(lowered), n=n, cutoff=0.5)
    # A prefix match ("resn" -> "resnet18") is a good suggestion even when the ratio is low.
    for c in choices:
        if len(hits) >= n:
            break
        if name and c.lower().startswith(name.lower()) and c.lower() not in hits:
            hits.append(c.lower())
    return [lowered[h] for h in hits]


def did_you_mean(name: str, choices: Iterable[str], n: int = 3) -> str:
    """A suffix for error messages: `` (did you mean 'a' or 'b'?)`` or an empty string."""
    hits = closest(name, choices, n)
    if not hits:
        return ""
    quoted = [f"'{h}'" for h in hits]
    text = quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " or " + quoted[-1]
    return f" (did you mean {text}?)"


# reprlib stops at a few items per level and a few levels: the cost of the text is bounded however
# large (or however aliased, as YAML anchors make it) the value is.
_REPR = reprlib.Repr()
_REPR.maxlevel = 3
_REPR.maxlist = _REPR.maxtuple = _REPR.maxdict = _REPR.maxset = _REPR.maxfrozenset = 4
_REPR.maxstring = _REPR.maxother = 60


def short_repr(value: object, limit: int = 60) -> str:
    """``repr(value)`` for a message: at most ``limit`` characters, in time and memory independent
    of the value's size (a list of a billion items, a megabyte string, a 5000-digit integer)."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 128:
        text = f"an integer of {value.bit_length()} bits"  # str() of a huge int is slow, past 4300 digits refused
    else:
        text = _REPR.repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def short_text(text: str, limit: int = 80) -> str:
    """A user's string (a key, an argument) cut to ``limit`` characters for a message."""
    return text if len(text) <= limit else text[: limit - 3] + "..."
