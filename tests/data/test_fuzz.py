"""Random and mangled bytes fed to every reader give a DataError (or a skip), never anything else."""

from __future__ import annotations

import gzip
import tempfile
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cnnzoo.data import formats
from cnnzoo.errors import DataError

from .writers import idx_bytes

# Enough examples to hit the interesting branches (headers, gzip, tar) while the file stays fast.
FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _tmp_file(data: bytes, name: str) -> tuple[tempfile.TemporaryDirectory, Path]:
    d = tempfile.TemporaryDirectory()
    p = Path(d.name) / name
    p.write_bytes(data)
    return d, p


def _idx_ok_or_dataerror(data: bytes, ndim: int | None) -> None:
    d, p = _tmp_file(data, "train-images-idx3-ubyte")
    with d:
        try:
            arr = formats.read_idx(p, expect_ndim=ndim)
        except DataError as err:
            assert str(p) in str(err)
        else:
            assert arr.dtype == np.uint8


@FUZZ
@given(st.binary(max_size=600), st.sampled_from([None, 1, 3]))
def test_random_bytes_as_idx(data, ndim):
    _idx_ok_or_dataerror(data, ndim)


@FUZZ
@given(st.binary(max_size=600))
def test_random_bytes_gzipped_as_idx(data):
    _idx_ok_or_dataerror(gzip.compress(data), None)


@FUZZ
@given(st.integers(0, 200), st.integers(0, 255), st.booleans())
def test_mangled_valid_idx(cut, flip_byte, gz):
    """A real IDX file, truncated at a random point or with one byte flipped, gzipped or not."""
    good = idx_bytes(np.arange(5 * 4 * 4, dtype=np.uint8).reshape(5, 4, 4))
    data = bytearray(gzip.compress(good, mtime=0) if gz else good)
    data[flip_byte % len(data)] ^= 0x5A
    _idx_ok_or_dataerror(bytes(data[: len(data) - cut % len(data)]), 3)


@FUZZ
@given(st.binary(max_size=2000), st.sampled_from(["cifar10", "cifar100"]))
def test_random_bytes_as_cifar_archive(data, kind):
    name = {"cifar10": "cifar-10-binary.tar.gz", "cifar100": "cifar-100-binary.tar.gz"}[kind]
    d, p = _tmp_file(data, name)
    with d:
        try:
            formats.read_cifar(p.parent, kind, name)
        except DataError as err:
            assert name in str(err)
        else:
            raise AssertionError("random bytes read as a CIFAR archive")


@FUZZ
@given(st.binary(max_size=1500), st.sampled_from([".png", ".jpg", ".gif", ".bmp", ".webp"]),
       st.sampled_from([b"", b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF89a", b"BM", b"RIFF\0\0\0\0WEBPVP8 "]))
def test_random_bytes_as_image_are_skipped(data, ext, magic):
    d, p = _tmp_file(magic + data, "img" + ext)
    with d:
        out = formats.decode_image(p, 3, (8, 8))
        assert out is None or (out.shape == (3, 8, 8) and out.dtype == np.uint8)


@FUZZ
@given(st.lists(st.integers(0, 3 * 3074 + 3), min_size=2, max_size=2), st.binary(max_size=300))
def test_real_tar_layout_with_random_member_contents(sizes, names):
    """The right member names with wrong sizes and garbage label names: a DataError, not a crash."""
    import io
    import tarfile

    buf = io.BytesIO()
    members = {"cifar-100-binary/train.bin": bytes(sizes[0]), "cifar-100-binary/test.bin": bytes(sizes[1]),
               "cifar-100-binary/fine_label_names.txt": names, "cifar-100-binary/coarse_label_names.txt": b""}
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    d, p = _tmp_file(buf.getvalue(), "cifar-100-binary.tar.gz")
    with d:
        try:
            formats.read_cifar(p.parent, "cifar100", p.name)
        except DataError:
            pass
        else:
            assert sizes[0] % 3074 == 0 < sizes[0] and sizes[1] % 3074 == 0 < sizes[1]
