"""Damaged run files read by other commands (summary.json, metrics.jsonl, config.yaml of a run) are one
line naming the file and the field, never a traceback in compare or report (issue 14, item 8)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .conftest import assert_error_line, run_cli

pytestmark = pytest.mark.timeout(120)


def _set_summary(run: Path, key: str, raw_value: str) -> None:
    s = json.loads((run / "summary.json").read_text())
    s[key] = "__PLACEHOLDER__"
    (run / "summary.json").write_text(json.dumps(s).replace('"__PLACEHOLDER__"', raw_value))


SUMMARY_DAMAGE = [
    ("test_acc", '"97%"'), ("test_acc", "NaN"), ("test_acc", "1.5"), ("test_acc", "-0.1"), ("test_acc", "[0.9]"),
    ("params", '"1M"'), ("params", "-5"), ("params", "1.5"), ("params", "true"), ("macs", "{}"),
    ("best_val_acc", "Infinity"), ("train_time_s", '"ten"'), ("train_time_s", "-Infinity"),
    ("samples_per_s", "NaN"), ("epochs", '"3"'), ("model", "42"), ("dataset", "null"),
    ("test_split", '"train"'), ("per_class_acc", '{"a": "high"}'), ("per_class_acc", "[1, 2]"),
    ("input", '"1x28x28"'), ("world_size", "0"),
]


@pytest.mark.parametrize("key, raw", SUMMARY_DAMAGE, ids=[f"{k}={v}" for k, v in SUMMARY_DAMAGE])
def test_damaged_summary_fields_in_compare_and_report(key, raw, run_copy, tmp_path, capsys):
    _set_summary(run_copy, key, raw)
    code, _, err = run_cli(capsys, "compare", run_copy, "--out", tmp_path / "cmp")
    assert_error_line(code, err, str(run_copy / "summary.json"), f"field '{key}'")
    code, _, err = run_cli(capsys, "report", run_copy, "--out", tmp_path / "r.html")
    assert_error_line(code, err, str(run_copy / "summary.json"), f"field '{key}'")
    assert not (tmp_path / "r.html").exists()


@pytest.mark.parametrize("text", ['{"model": "cnn", "test_acc": 0.9', "[1, 2]", "", "\udcff"],
                         ids=["truncated", "a-list", "empty", "not-utf8"])
def test_summary_that_is_not_a_json_object(text, run_copy, tmp_path, capsys):
    data = text.encode("utf-8", "surrogateescape")
    (run_copy / "summary.json").write_bytes(data)
    code, _, err = run_cli(capsys, "compare", run_copy, "--out", tmp_path / "cmp")
    assert_error_line(code, err, str(run_copy / "summary.json"))


METRICS_DAMAGE = [
    ('{"epoch": "1", "train_loss": 0.5}', "'epoch'"),
    ('{"epoch": 0}', "'epoch'"),
    ('{"train_loss": 0.5}', "'epoch'"),
    ('{"epoch": 1, "val_acc": "high"}', "'val_acc'"),
    ('{"epoch": 1, "train_loss": NaN}', "'train_loss'"),
    ('{"epoch": 1, "lr": -1}', "'lr'"),
    ('{"epoch": 1, "samples_per_s": "fast"}', "'samples_per_s'"),
    ('[1, 2, 3]', "not a JSON object"),
    ('{"epoch": 1, "train_lo', "not a JSON line"),
]


@pytest.mark.parametrize("line, fragment", METRICS_DAMAGE, ids=[str(i) for i in range(len(METRICS_DAMAGE))])
def test_damaged_metrics_lines_in_compare_and_report(line, fragment, run_copy, tmp_path, capsys):
    metrics = run_copy / "metrics.jsonl"
    metrics.write_text(metrics.read_text() + line + "\n")
    n = len(metrics.read_text().splitlines())
    code, _, err = run_cli(capsys, "compare", run_copy, "--out", tmp_path / "cmp")
    assert_error_line(code, err, f"{metrics}:{n}", fragment)
    code, _, err = run_cli(capsys, "report", run_copy, "--out", tmp_path / "r.html")
    assert_error_line(code, err, f"{metrics}:{n}", fragment)


def test_run_config_that_is_not_utf8(run_copy, tmp_path, capsys):
    config = run_copy / "config.yaml"
    config.write_bytes(b"\xff\xfe" + config.read_bytes())
    code, _, err = run_cli(capsys, "report", run_copy, "--out", tmp_path / "r.html")
    assert_error_line(code, err, str(config))


def test_run_config_with_a_wrong_value_read_by_compare(run_copy, tmp_path, capsys, fashion_dir):
    """compare --models reads the config.yaml of the runs already in its folder."""
    out = tmp_path / "cmp"
    (out / "runs").mkdir(parents=True)
    run = out / "runs" / "cnn"
    run_copy.rename(run)
    (out / "compare.json").write_text('{"format": "cnnzoo-compare/1", "runs": []}\n')
    config = run / "config.yaml"
    config.write_text(config.read_text().replace("  epochs: 1\n", "  epochs: many\n"))
    code, _, err = run_cli(capsys, "compare", "--models", "cnn", "--out", out, "--epochs", "1",
                           "--data-dir", fashion_dir, "--offline")
    assert_error_line(code, err, str(config), "train.epochs")


def test_untouched_run_files_pass(run_copy, tmp_path, capsys):
    code, _, err = run_cli(capsys, "compare", run_copy, "--out", tmp_path / "cmp")
    assert code == 0, err
    code, _, err = run_cli(capsys, "report", run_copy, "--out", tmp_path / "r.html")
    assert code == 0, err
