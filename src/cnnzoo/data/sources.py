"""Where dataset files come from: the search order, checksums, mirrors and downloads.

The search order, first hit wins (a folder counts only when it holds every file the dataset needs):

1. ``--data-dir D`` (``data_dir=``): ``D`` itself, then ``D/<name>``;
2. ``$CNNZOO_DATA/<name>``;
3. the user cache, ``${XDG_CACHE_HOME:-~/.cache}/cnnzoo/<name>``;
4. system dataset folders, ``<dir>/<name>`` for each dir in ``$CNNZOO_SYSTEM_DATA``
   (``os.pathsep``-separated; default ``/usr/share/datasets`` and ``/usr/local/share/datasets``,
   where Debian's ``dataset-*`` packages install);
5. a download from the official mirrors into the cache, unless ``offline``.

Each folder is also checked under torchvision's names (``FashionMNIST/raw``...), so an existing
torchvision download is used in place.

Downloads stream into a hidden temporary file in the target folder while hashing it, and are
renamed to their official name only once the checksum matches, so an interrupted, failed or corrupt
download leaves nothing behind. ``$CNNZOO_MIRRORS`` (comma-separated base URLs, tried in order)
replaces the built-in mirror list; ``$CNNZOO_CHECKSUMS`` names a JSON file
``{"<dataset>": {"<file>": "sha256:<hex>"}}`` whose entries replace the pinned checksums (for a
private mirror that re-packs the files, and for tests). Only the standard library is used.
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import io
import json
import os
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from .. import env
from ..errors import DataError
from ..paths import describe
from .catalog import DatasetSpec, FileSpec, get_spec

# Environment variables: declared, typed and checked in cnnzoo.env; their names for messages.
ENV_DATA = env.DATA.name
ENV_SYSTEM = env.SYSTEM_DATA.name
ENV_MIRRORS = env.MIRRORS.name
ENV_CHECKSUMS = env.CHECKSUMS.name

# Debian/Ubuntu install dataset packages (dataset-fashion-mnist...) under /usr/share/datasets;
# /usr/local is where an administrator would put the same by hand.
DEFAULT_SYSTEM_DIRS = ("/usr/share/datasets", "/usr/local/share/datasets")

# Seconds a connect or a read may stall before a mirror counts as dead. Long enough for a slow
# link, short enough that an offline machine with a black-holing firewall answers within a minute.
TIMEOUT_S = 30.0

# Read and hash in 1 MiB pieces: big enough that Python overhead vanishes, small enough that the
# progress bar moves smoothly on a slow link.
CHUNK = 1 << 20


# ---------------------------------------------------------------------------------------------
# places


def cache_root() -> Path:
    """``$XDG_CACHE_HOME/cnnzoo`` or ``~/.cache/cnnzoo``: downloads and decoded-folder caches."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "cnnzoo"


def system_roots() -> list[Path]:
    """Folders where the operating system keeps datasets (``$CNNZOO_SYSTEM_DATA`` overrides)."""
    dirs = env.read_with_empty(env.SYSTEM_DATA)  # unset: None; set but empty: []
    return dirs if dirs is not None else [Path(d) for d in DEFAULT_SYSTEM_DIRS]


def search_places(spec: DatasetSpec, data_dir: str | os.PathLike | None = None) -> list[tuple[str, Path]]:
    """Every folder that is checked for ``spec``, in order, each with a label for messages."""
    places: list[tuple[str, Path]] = []
    names = (spec.name, *spec.dir_aliases)
    if data_dir is not None:
        d = Path(data_dir).expanduser()
        places.append(("--data-dir", d))
        places += [("--data-dir", d / n) for n in names]
    env_data = env.DATA.read()
    if env_data is not None:
        places += [(f"${ENV_DATA}", env_data / n) for n in names]
    places += [("cache", cache_root() / n) for n in names]
    for root in system_roots():
        places += [("system", root / n) for n in names]
    return places


def missing_files(spec: DatasetSpec, folder: Path, prefixes: tuple[str, ...] = ()) -> list[str]:
    """The files ``spec`` needs that ``folder`` lacks (empty: the folder is complete); with
    ``prefixes``, only the IDX files whose names start with one of them (``("t10k",)``: the test split).

    IDX files count whether gzipped or not; a CIFAR archive counts whether packed, extracted in
    its own folder, or extracted flat.
    """
    if spec.members:
        archive = spec.files[0].name
        if (folder / archive).is_file():
            return []
        nested = [m for m in spec.members if not (folder / m).is_file()]
        flat = [m for m in spec.members if not (folder / Path(m).name).is_file()]
        return [archive] if nested and flat else []
    needed = [f for f in spec.files if not prefixes or f.name.startswith(prefixes)]
    return [f.name for f in needed if not ((folder / f.name).is_file() or (folder / f.stem).is_file())]


def check_data_dir(spec: DatasetSpec, data_dir: str | os.PathLike) -> Path:
    """``--data-dir`` as a folder that can be listed, else one DataError line.

    An explicit folder that is not there (or is a file, a symlink loop, an unreadable folder) is a
    mistake, not a reason to fall through to some other copy or to a download."""
    d = Path(data_dir).expanduser()
    kind = describe(d)
    if kind == "is a folder":
        try:
            with os.scandir(d):
                return d
        except OSError as err:
            kind = f"cannot be read ({err.strerror})"
    hint = ("check the path, or leave --data-dir out to use the usual places (docs/data.md)"
            if kind == "does not exist" else
            f"--data-dir must be a folder that holds the dataset's files or a {spec.name}/ folder of them "
            "(docs/data.md)")
    raise DataError(f"--data-dir {data_dir} {kind} (for {spec.name}); {hint}")


@dataclass(frozen=True)
class Location:
    """Where a dataset was found: the folder, and which step of the search order found it."""

    path: Path
    where: str  # "--data-dir", "$CNNZOO_DATA", "cache", "system" or "download"

    def __str__(self) -> str:
        return f"{self.path} ({self.where})"


def find(spec: DatasetSpec, data_dir: str | os.PathLike | None = None,
         prefixes: tuple[str, ...] = ()) -> tuple[Location | None, list[str]]:
    """The first complete folder in the search order (complete for the files ``prefixes`` names,
    see :func:`missing_files`), and a note for each place that missed.

    An explicit ``data_dir`` must be a readable folder (see :func:`check_data_dir`)."""
    if data_dir is not None:
        check_data_dir(spec, data_dir)
    notes: list[str] = []
    seen: set[Path] = set()
    for label, folder in search_places(spec, data_dir):
        if folder in seen:
            continue
        seen.add(folder)
        if not folder.is_dir():
            # name the canonical places; torchvision-layout aliases only when they exist
            if not any(folder.as_posix().endswith("/" + a) for a in spec.dir_aliases):
                notes.append(str(folder))
            continue
        missing = missing_files(spec, folder, prefixes)
        if not missing:
            return Location(folder, label), notes
        have_some = len(missing) < max(len(spec.files), 1)
        notes.append(f"{folder} (missing {', '.join(missing)})" if have_some else str(folder))
    return None, notes


def locate(spec: DatasetSpec, data_dir: str | os.PathLike | None = None, *, offline: bool = False,
           download: bool = True, progress: bool | None = None, prefixes: tuple[str, ...] = ()) -> Location:
    """Find ``spec``'s files (those ``prefixes`` names, see :func:`missing_files`), downloading them
    into the cache when allowed; else a DataError.

    The error is one line: the folders searched and the ways to get the data.
    """
    loc, notes = find(spec, data_dir, prefixes)
    if loc is not None:
        return loc
    if spec.kind == "folder":
        raise DataError("the 'folder' dataset needs --data-dir ROOT (a folder of ROOT/<class>/<image>)")
    if not (offline or not download):
        dest = cache_root() / spec.name
        fetch(spec, dest, progress=progress)
        return Location(dest, "download")
    why = "offline and " if offline else ""
    if not offline:  # the command reads what is on disk and leaves downloading to `data fetch`
        raise DataError(f"{spec.name}: not found (looked in {'; '.join(notes)}); 'cnnzoo data fetch {spec.name}' "
                        f"downloads it, or put the files in --data-dir or ${ENV_DATA}/{spec.name}")
    files = ", ".join(f.name for f in spec.files)
    hint = f"; or {spec.package_hint}" if spec.package_hint else ""
    raise DataError(
        f"{spec.name}: {why}not found (looked in {'; '.join(notes)}); run 'cnnzoo data fetch "
        f"{spec.name}' where there is internet and copy {cache_root() / spec.name} here, or put "
        f"the official files ({files}) in --data-dir or ${ENV_DATA}/{spec.name}{hint}")


# ---------------------------------------------------------------------------------------------
# checksums


def parse_checksum(text: str) -> tuple[str, str]:
    """``"md5:ab12..."`` / ``"sha256:..."`` / bare hex (length decides) -> (algorithm, hex)."""
    text = text.strip().lower()
    algo, sep, digest = text.partition(":")
    if not sep:
        algo, digest = {32: "md5", 64: "sha256"}.get(len(text), ""), text
    if algo not in ("md5", "sha1", "sha256", "sha512") or not digest or any(
            c not in "0123456789abcdef" for c in digest):
        raise DataError(f"bad checksum '{text}': write it as md5:<hex> or sha256:<hex>")
    return algo, digest


def digest_stream(stream: IO[bytes] | io.BufferedIOBase, algo: str,
                  on_chunk: Callable[[int], None] | None = None) -> str:
    h = hashlib.new(algo)
    while chunk := stream.read(CHUNK):
        h.update(chunk)
        if on_chunk:
            on_chunk(len(chunk))
    return h.hexdigest()


def file_digest(path: Path, algo: str) -> str:
    with open(path, "rb") as f:
        return digest_stream(f, algo)


def pinned_checksums(spec: DatasetSpec, overrides: Mapping[str, str] | None = None) -> dict[str, str]:
    """``{file name: "algo:hex"}`` for the downloadable files of ``spec``.

    Precedence: ``overrides`` (a function argument), then ``$CNNZOO_CHECKSUMS``, then the pinned
    table in :mod:`cnnzoo.data.catalog`.
    """
    table = {f.name: f"md5:{f.md5}" for f in spec.files}
    path = env.CHECKSUMS.read()  # checked there: a regular file (stat, never open: a pipe would block)
    if path is not None:
        try:
            data = json.loads(Path(path).read_text())
            entries = data.get(spec.name, {}) if isinstance(data, dict) else None
            if not isinstance(entries, dict):
                raise ValueError("expected {\"<dataset>\": {\"<file>\": \"sha256:<hex>\"}}")
        except (OSError, ValueError) as err:
            raise DataError(f"${ENV_CHECKSUMS}={path}: cannot read it ({err})") from None
        table.update({str(k): str(v) for k, v in entries.items()})
    table.update(overrides or {})
    for v in table.values():
        parse_checksum(v)  # fail early and clearly on a malformed override
    return table


# ---------------------------------------------------------------------------------------------
# downloads


def mirrors_for(spec: DatasetSpec) -> list[str]:
    """Base URLs to try in order: ``$CNNZOO_MIRRORS`` if set, else the dataset's official list."""
    mirrors = env.read_with_empty(env.MIRRORS)  # unset: None; set but empty: []
    return mirrors if mirrors is not None else list(spec.mirrors)


class ChecksumMismatch(DataError):
    """A download (or a file on disk) is not the file that was pinned."""

    def __init__(self, what: str, expected: str, actual: str):
        super().__init__(f"{what}: checksum mismatch (expected {expected}, got {actual})")
        self.expected, self.actual = expected, actual


class Progress:
    """A download progress report on stderr.

    On a terminal: one line redrawn in place (percent, MB, MB/s), at most ten times a second. Not
    on a terminal (CI logs, pipes): one line when a file starts and one when it is verified.
    ``quiet`` silences both.
    """

    def __init__(self, label: str, total: int | None, stream: IO[str] | None = None,
                 enabled: bool | None = None):
        self.stream = stream if stream is not None else sys.stderr
        self.label, self.total, self.done = label, total, 0
        self.enabled = True if enabled is None else enabled
        self.tty = self.enabled and enabled is None and _isatty(self.stream)
        self.start = self.last = time.monotonic()
        if self.enabled and not self.tty:
            size = f" ({self.total / 1e6:.1f} MB)" if self.total else ""
            print(f"downloading {label}{size}", file=self.stream, flush=True)

    def update(self, n: int) -> None:
        self.done += n
        now = time.monotonic()
        if self.tty and now - self.last >= 0.1:  # 10 redraws a second is smooth and cheap
            self.last = now
            rate = self.done / max(now - self.start, 1e-6) / 1e6
            pct = f"{100 * self.done / self.total:3.0f}% " if self.total else ""
            total = f"/{self.total / 1e6:.1f}" if self.total else ""
            self.stream.write(f"\r{self.label}  {pct}{self.done / 1e6:.1f}{total} MB  {rate:.1f} MB/s ")
            self.stream.flush()

    def close(self, note: str) -> None:
        if not self.enabled:
            return
        if self.tty:
            self.stream.write("\r\033[K")
        print(f"{self.label}: {self.done / 1e6:.1f} MB, {note}", file=self.stream, flush=True)


def _isatty(stream: IO[str]) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def _url(base: str, filename: str) -> str:
    return base.rstrip("/") + "/" + urllib.parse.quote(filename)


def download_file(filename: str, mirrors: list[str], dest_dir: Path, checksum: str, *,
                  content_sha256: str | None = None, progress: bool | None = None,
                  timeout: float = TIMEOUT_S) -> Path:
    """Download ``filename`` from the first mirror that serves it with the right checksum.

    ``content_sha256``, when given, also accepts a gzip file whose *decompressed* content has that
    hash (a mirror that re-compressed the official file, as Debian does). Returns
    ``dest_dir / filename``. Raises one DataError naming every mirror and why it failed (HTTP
    status, network error, or the expected and actual checksum).
    """
    algo, expected = parse_checksum(checksum)
    target = dest_dir / filename
    failures: list[str] = []
    mismatch: ChecksumMismatch | None = None
    if not mirrors:
        raise DataError(f"no mirror to download {filename} from (${ENV_MIRRORS} is empty)")
    for base in mirrors:
        url = _url(base, filename)
        try:
            _download_verified(url, target, algo, expected, content_sha256, progress, timeout)
            return target
        except ChecksumMismatch as err:
            mismatch = err
            failures.append(str(err))
        except urllib.error.HTTPError as err:
            failures.append(f"{url}: HTTP {err.code} {err.reason}")
            err.close()
        except urllib.error.URLError as err:
            failures.append(f"{url}: {err.reason}")
        except (OSError, http.client.HTTPException, ValueError) as err:
            # timeouts, resets, a server that hangs up mid-body, a malformed mirror URL
            failures.append(f"{url}: {type(err).__name__}: {err}".rstrip(": "))
    if mismatch is not None and len(failures) == 1:
        raise mismatch
    raise DataError(f"could not download {filename}: {'; '.join(failures)} (check the network, "
                    f"set {ENV_MIRRORS} to a mirror that serves the official files, or copy them by hand)")


def _download_verified(url: str, target: Path, algo: str, expected: str, content_sha256: str | None,
                       progress: bool | None, timeout: float) -> None:
    request = urllib.request.Request(url, headers={"User-Agent": "cnnzoo (dataset download)"})
    try:
        fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    except OSError as err:  # a local problem, not the mirror's: stop here
        raise DataError(f"cannot write in {target.parent}: {err.strerror} (choose another --dest)") from None
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(request, timeout=timeout) as resp:
            length = resp.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            bar = Progress(url, total, enabled=None if progress is None else progress)
            h = hashlib.new(algo)
            while chunk := resp.read(CHUNK):
                out.write(chunk)
                h.update(chunk)
                bar.update(len(chunk))
            if total is not None and bar.done != total:
                raise http.client.IncompleteRead(b"", total - bar.done)
        actual = h.hexdigest()
        note = f"{algo} verified"
        if actual != expected:
            if content_sha256 is None or _gunzip_sha256(tmp) != content_sha256:
                bar.close("checksum mismatch")
                raise ChecksumMismatch(f"{url}", f"{algo}:{expected}", f"{algo}:{actual}")
            note = "re-compressed copy, decompressed content sha256 verified"
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; a dataset is as readable as any file
        os.replace(tmp, target)
        bar.close(note)
    finally:
        tmp.unlink(missing_ok=True)


def _umask() -> int:
    """The process umask (reading it means setting it; restored at once)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _gunzip_sha256(path: Path) -> str | None:
    try:
        with gzip.open(path, "rb") as stream:
            return digest_stream(stream, "sha256")
    except (OSError, EOFError, zlib.error):
        return None


def fetch(name: str | DatasetSpec, dest: str | os.PathLike | None = None, *,
          mirrors: list[str] | None = None, checksums: Mapping[str, str] | None = None,
          progress: bool | None = None) -> Path:
    """Download a built-in dataset's official files into ``dest`` (default: the cache).

    Files already there with the right checksum are kept. ``mirrors`` and ``checksums`` override
    ``$CNNZOO_MIRRORS`` and the pinned table. A folder this call created is removed again if the
    first download fails, so a failure leaves nothing behind.
    """
    spec = name if isinstance(name, DatasetSpec) else get_spec(name)
    if spec.kind == "folder":
        raise DataError("'folder' is your own images: there is nothing to fetch "
                        "(use 'cnnzoo data info ROOT' to check it)")
    dest_dir = Path(dest).expanduser() if dest is not None else cache_root() / spec.name
    kind = describe(dest_dir)
    if kind not in ("is a folder", "does not exist"):  # a file, a symlink loop, a named pipe...
        raise DataError(f"{dest_dir} {kind}; choose a folder to download into (--dest)")
    sums = pinned_checksums(spec, checksums)
    bases = list(mirrors) if mirrors is not None else mirrors_for(spec)
    created = _makedirs(dest_dir)
    try:
        for f in spec.files:
            target = dest_dir / f.name
            # The pinned content hash vouches for re-compressed copies, unless the caller replaced
            # the checksum (then exactly that file is wanted).
            content = f.content_sha256 if sums[f.name] == f"md5:{f.md5}" else None
            if target.is_file() and (_matches(target, sums[f.name]) or (
                    content and content_checksum_ok(f, target))):
                continue
            download_file(f.name, bases, dest_dir, sums[f.name], progress=progress, content_sha256=content)
    except BaseException:
        for d in reversed(created):
            try:
                d.rmdir()  # only if still empty: verified files of earlier steps stay
            except OSError:
                break
        raise
    return dest_dir


def _matches(path: Path, checksum: str) -> bool:
    algo, expected = parse_checksum(checksum)
    return file_digest(path, algo) == expected


def _makedirs(path: Path) -> list[Path]:
    """``mkdir -p`` that returns the folders it created, outermost first."""
    created: list[Path] = []
    p = path
    while not p.exists():
        created.append(p)
        p = p.parent
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise DataError(f"cannot create {path}: {err.strerror} (choose another --dest)") from None
    return list(reversed(created))


def content_checksum_ok(f: FileSpec, path: Path) -> bool | None:
    """Is ``path`` (a pinned file, maybe re-compressed or decompressed) the official content?

    True/False when a pinned checksum decides; None when nothing pinned applies (a re-compressed
    or decompressed file without a pinned content hash).
    """
    if path.name == f.name and _matches(path, f"md5:{f.md5}"):
        return True
    if f.content_sha256 is None:
        return None
    try:
        opener = gzip.open if path.name.endswith(".gz") else open
        with opener(path, "rb") as stream:
            return digest_stream(stream, "sha256") == f.content_sha256
    except (OSError, EOFError, zlib.error):
        return False
