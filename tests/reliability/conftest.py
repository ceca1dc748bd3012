"""Shared pieces for the reliability tests: a small trained run and the CLI runner."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from cnnzoo.cli import main


def run_cli(capsys: pytest.CaptureFixture, *argv: str) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code: int, err: str, *fragments: str) -> None:
    lines = err.strip().splitlines()
    assert code == 2, (code, err)
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err
    for f in fragments:
        assert f in lines[0], (f, lines[0])


def assert_error_line(code: int, err: str, *fragments: str) -> None:
    """Like assert_one_line_error, for commands that also report progress on stderr: exactly one
    `error:` line, and it is the last one."""
    lines = err.strip().splitlines()
    errors = [ln for ln in lines if ln.startswith("error: ")]
    assert code == 2, (code, err)
    assert len(errors) == 1 and lines[-1] == errors[0], err
    assert "Traceback" not in err
    for f in fragments:
        assert f in errors[0], (f, errors[0])


@pytest.fixture(scope="package")
def small_run(tmp_path_factory: pytest.TempPathFactory, fashion_dir: Path) -> Path:
    out = tmp_path_factory.mktemp("reliability") / "run"
    code = main(["train", "--model", "cnn", "--dataset", "fashion-mnist", "--data-dir", str(fashion_dir),
                 "--offline", "--epochs", "1", "--batch-size", "64", "--out", str(out), "--quiet",
                 "--set", "output.plots=false"])
    assert code == 0
    return out


@pytest.fixture
def run_copy(small_run: Path, tmp_path: Path) -> Path:
    dest = tmp_path / "run"
    shutil.copytree(small_run, dest)
    return dest
