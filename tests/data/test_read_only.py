"""Commands that ask a question never download; fetch names a copy that is already there; eval reads
only the split it needs (issue 15, item 6). The mirrors point at a closed port (conftest), so a
download attempt would fail with "could not download"."""

from __future__ import annotations

from .writers import write_idx_dataset


def test_info_never_downloads_and_says_how_to(cli):
    code, out, err = cli("data", "info", "kmnist")
    assert code == 2 and out == ""
    assert "could not download" not in err and "downloading" not in err
    assert "kmnist: not found" in err and "'cnnzoo data fetch kmnist' downloads it" in err


def test_fetch_names_a_complete_copy_elsewhere_and_downloads_nothing(cli, isolated):
    folder = write_idx_dataset(isolated.system / "fashion-mnist", 20, 10)
    code, out, err = cli("data", "fetch", "fashion-mnist")
    assert code == 0, err
    assert f"fashion-mnist is already in {folder} (system): nothing downloaded" in out
    assert "downloading" not in err and not isolated.cache.exists()


def test_only_test_reads_the_test_files_alone(tmp_path):
    from cnnzoo.data import load_dataset

    write_idx_dataset(tmp_path / "kmnist", 30, 12)
    for name in ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"):
        (tmp_path / "kmnist" / name).unlink()
    ds = load_dataset("kmnist", data_dir=tmp_path, download=False, only_test=True)
    assert len(ds.test) == 12 and len(ds.train) == 0 and ds.classes[:2] == ["o", "ki"]
