"""Guarantee: a run directory's config.yaml read by another command (resume, report, compare, eval)
is read like any config file: bounded, strict, and a problem is one line naming the file."""

from __future__ import annotations

import time

import pytest

from .conftest import assert_one_line_error, run_cli

BOMB = "notes:\n" + "\n".join(
    ["  a0: &a0 {" + ", ".join(f"k{j}: lol" for j in range(10)) + "}"]
    + [f"  a{i}: &a{i} {{" + ", ".join(f"k{j}: *a{i - 1}" for j in range(10)) + "}" for i in range(1, 9)]) + "\n"


@pytest.mark.timeout(120)
def test_alias_bomb_in_a_run_config_is_one_line_at_once(run_copy, capsys):
    cfg = run_copy / "config.yaml"
    cfg.write_text(cfg.read_text() + BOMB)
    before = {p: p.read_bytes() for p in run_copy.rglob("*") if p.is_file()}
    t = time.perf_counter()
    code, _, err = run_cli(capsys, "train", "--resume", run_copy)
    assert time.perf_counter() - t < 5
    assert_one_line_error(code, err, f"{cfg}:", "alias")
    assert {p: p.read_bytes() for p in run_copy.rglob("*") if p.is_file()} == before  # left as it was


def test_key_given_twice_in_a_run_config(run_copy, capsys):
    cfg = run_copy / "config.yaml"
    lines = cfg.read_text().splitlines()
    at = lines.index("train:") + 1
    lines.insert(at, "  epochs: 7")
    cfg.write_text("\n".join(lines) + "\n")
    code, _, err = run_cli(capsys, "train", "--resume", run_copy)
    assert_one_line_error(code, err, "key 'train.epochs' is given twice", f"{cfg}:{at + 1}")


@pytest.mark.parametrize("command", ["report", "compare"])
def test_run_config_that_is_not_text_is_one_line(run_copy, tmp_path, capsys, command):
    """report and compare read config.yaml as text for the page: non-UTF-8 bytes were a
    UnicodeDecodeError traceback."""
    cfg = run_copy / "config.yaml"
    cfg.write_bytes(cfg.read_bytes() + b"\xff\xfe\n")
    argv = [command, run_copy, "--out", tmp_path / "out"]
    if command == "report":
        argv[-1] = tmp_path / "report.html"
    code, _, err = run_cli(capsys, *argv)
    assert_one_line_error(code, err, str(cfg), "not UTF-8")


def test_eval_says_when_it_cannot_use_the_run_config(run_copy, fashion_dir, capsys):
    """eval falls back to the checkpoint's own facts when config.yaml is damaged; it used to do so
    without a word (another seed and validation split than training used)."""
    cfg = run_copy / "config.yaml"
    cfg.write_text(cfg.read_text() + "train:\n  seed: 3\n")
    code, _, err = run_cli(capsys, "eval", run_copy, "--data-dir", fashion_dir, "--offline", "--device", "cpu")
    assert code == 0, err
    assert "key 'train' is given twice" in err and "evaluating without it" in err
