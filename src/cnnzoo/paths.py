"""What a path given by the user is, in words, before anything is opened.

Every command takes paths (``--data-dir``, ``--out``, ``--config``, ``--resume``, run directories,
checkpoints, images) and assumes a kind: a folder, a regular file. A path of another kind must be
one clear line, not a fall-through to some other place, a hang (opening a named pipe blocks until
a writer comes) or a traceback (a symlink loop). :func:`describe` names the kind with ``stat``
only, never ``open``; :func:`require_dir` and :func:`require_file` turn a wrong kind into the
caller's CnnzooError subclass. Standard library only, so anything may import it cheaply.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from .errors import CnnzooError

# stat's file types, as a sentence fragment ("X is a named pipe")
_KINDS = ((stat.S_ISFIFO, "a named pipe"), (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a device"),
          (stat.S_ISBLK, "a device"))


def describe(path: str | os.PathLike) -> str:
    """``"does not exist"``, ``"is a symlink loop"``, ``"is a file"``, ``"is a folder"``,
    ``"is a named pipe"``... (``stat`` follows symlinks, as opening would)."""
    try:
        mode = os.stat(path).st_mode
    except OSError as e:
        if e.errno == errno.ELOOP:
            return "is a symlink loop"
        if e.errno in (errno.ENOENT, errno.ENOTDIR):
            return "is a broken symlink" if os.path.islink(path) else "does not exist"
        return f"cannot be read ({e.strerror})"
    if stat.S_ISDIR(mode):
        return "is a folder"
    if stat.S_ISREG(mode):
        return "is a file"
    return "is " + next((name for test, name in _KINDS if test(mode)), "not a regular file")


def is_regular_file(path: str | os.PathLike) -> bool:
    """A regular file (or a symlink to one): safe to open and read to its end."""
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except OSError:
        return False


def require_dir(path: str | os.PathLike, error: type[CnnzooError], what: str, hint: str) -> Path:
    """``path`` as a Path when it is a folder that can be listed; else ``error`` with one line:
    ``f"{what} {path} {describe(path)}; {hint}"`` (``what`` such as ``"--data-dir"``, may be empty)."""
    p = Path(path)
    kind = describe(p)
    if kind == "is a folder":
        try:
            with os.scandir(p):
                pass
            return p
        except OSError as e:
            kind = f"cannot be read ({e.strerror})"
    raise error(f"{what + ' ' if what else ''}{p} {kind}; {hint}")


def require_file(path: str | os.PathLike, error: type[CnnzooError], what: str, hint: str) -> Path:
    """``path`` as a Path when it is a regular file; else ``error`` with one line, as :func:`require_dir`."""
    p = Path(path)
    kind = describe(p)
    if kind == "is a file":
        return p
    raise error(f"{what + ' ' if what else ''}{p} {kind}; {hint}")
