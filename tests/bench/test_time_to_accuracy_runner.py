"""benchmarks/time_to_accuracy.py runs a recipe through the real command line and reports wall time
from the command's start and the test accuracy of summary.json (tiny data; no timing assertions)."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_runner_reports_wall_time_and_test_accuracy(tmp_path, monkeypatch, fashion_dir):
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    import time_to_accuracy

    recipe = tmp_path / "tiny.yaml"
    recipe.write_text(f"model:\n  name: cnn\ndata:\n  data_dir: {fashion_dir}\n  batch_size: 64\n"
                      "train:\n  epochs: 1\noutput:\n  plots: false\n")
    r = time_to_accuracy.run_recipe(str(recipe), device="cpu")
    assert r["model"] == "convnet" and r["epochs"] == 1
    assert 0.0 <= r["test_acc"] <= 1.0
    # the stopwatch starts before the process does: it covers the trainer's own wall time
    assert r["wall_s"] >= r["trainer_wall_s"] > 0
    assert r["command"].startswith("cnnzoo train --config ") and "--offline" in r["command"]
    # the per-epoch history the lesson pages draw as curves: one metrics.jsonl row per epoch
    assert [row["epoch"] for row in r["history"]] == [1]
    assert {"train_loss", "lr"} <= set(r["history"][0])
