"""``cnnzoo data verify``: are the files on disk the official ones, and do they parse?

Each file gets one verdict:

- ``ok``: a pinned checksum matches: the archive's MD5, or the SHA-256 of the decompressed content
  (which is how Debian's re-compressed Fashion-MNIST is recognized as the official data);
- ``mismatch``: a pinned checksum applies and differs: the file is not the official one;
- ``unverified``: no pinned checksum applies (a decompressed MNIST file, an extracted CIFAR batch),
  so only the structure vouches for it.

Then the whole dataset is parsed (headers, sizes, image/label counts, label range). Verification
never downloads anything.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import DataError
from .catalog import get_spec
from .sources import content_checksum_ok, file_digest, find, parse_checksum, pinned_checksums


@dataclass
class FileVerdict:
    path: str
    status: str  # "ok", "mismatch" or "unverified"
    detail: str


@dataclass
class VerifyReport:
    name: str
    source: str
    files: list[FileVerdict] = field(default_factory=list)
    structure: str = ""
    structure_ok: bool = True

    @property
    def ok(self) -> bool:
        return self.structure_ok and all(f.status != "mismatch" for f in self.files)

    def as_dict(self) -> dict:
        return {"name": self.name, "source": self.source, "ok": self.ok,
                "files": [vars(f) for f in self.files],
                "structure": self.structure, "structure_ok": self.structure_ok}


def verify(name: str, data_dir: str | os.PathLike | None = None, *,
           checksums: Mapping[str, str] | None = None) -> VerifyReport:
    """Check the dataset's files where the search order finds them (see module docstring).

    ``checksums`` (and ``$CNNZOO_CHECKSUMS``) map a file name as it lies on disk to ``algo:hex``
    and take precedence over the pinned table.
    """
    from .dataset import _folder_root, load_dataset

    root = _folder_root(name, data_dir)
    if root is not None:
        report = VerifyReport("folder", str(root))
        _structure(report, lambda: load_dataset("folder", data_dir=root, val_fraction=0.0))
        return report
    spec = get_spec(name)
    loc, notes = find(spec, data_dir)
    if loc is None:
        raise DataError(f"{spec.name}: nothing to verify, not found (looked in {'; '.join(notes)}); "
                        f"run 'cnnzoo data fetch {spec.name}'")
    report = VerifyReport(spec.name, str(loc.path))
    table = pinned_checksums(spec, checksums)
    for f in spec.files:
        candidates = [loc.path / f.name, loc.path / f.stem]
        path = next((p for p in candidates if p.is_file()), None)
        if path is None:  # CIFAR extracted: the archive is gone, the members are there
            report.files.append(FileVerdict(str(loc.path), "unverified",
                                            "extracted members; only the archive's checksum is pinned"))
            continue
        report.files.append(_verdict(f, path, table))
    _structure(report, lambda: load_dataset(spec.name, data_dir=loc.path, offline=True, val_fraction=0.0))
    return report


def _verdict(f, path: Path, table: Mapping[str, str]) -> FileVerdict:
    override = table.get(path.name)
    pinned_default = f"md5:{f.md5}"
    if override is not None and (path.name != f.name or override != pinned_default):
        algo, want = parse_checksum(override)
        got = file_digest(path, algo)
        if got == want:
            return FileVerdict(str(path), "ok", f"{algo} matches the given checksum")
        return FileVerdict(str(path), "mismatch", f"expected {algo}:{want}, got {algo}:{got}")
    content = content_checksum_ok(f, path)
    if content is True:
        how = "md5 of the official archive" if path.name == f.name and file_digest(path, "md5") == f.md5 \
            else "sha256 of the decompressed content (a re-compressed or decompressed copy)"
        return FileVerdict(str(path), "ok", how)
    if content is False:
        got = file_digest(path, "md5")
        return FileVerdict(str(path), "mismatch", f"not the official file: expected md5:{f.md5} (or the "
                                                  f"pinned content sha256), got md5:{got}")
    if path.name == f.name:
        got = file_digest(path, "md5")
        return FileVerdict(str(path), "mismatch", f"expected md5:{f.md5}, got md5:{got} (no content "
                                                  f"checksum is pinned to recognize a re-compressed copy)")
    return FileVerdict(str(path), "unverified", "decompressed; only the archive's md5 is pinned")


def _structure(report: VerifyReport, load) -> None:
    try:
        ds = load()
    except DataError as err:
        report.structure_ok = False
        report.structure = str(err)
        return
    sizes = ", ".join(f"{s} {len(getattr(ds, s))}" for s in ("train", "val", "test")
                      if getattr(ds, s) is not None and not (s == "test" and ds.test_is_val))
    report.structure = (f"{sizes} images of {ds.channels}x{ds.image_size[0]}x{ds.image_size[1]}, "
                        f"{ds.num_classes} classes")
    if ds.skipped:
        report.structure += f", {len(ds.skipped)} files skipped"
