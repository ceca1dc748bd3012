"""Training end to end on an image folder streamed from disk (defect 1 of issue 13).

A folder above the memory limit is a FileSplit: no ``images`` tensor. The run must finish with its
plots, and when a test file cannot be decoded its prediction is dropped while every other
prediction keeps pointing at its own image.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cnnzoo.cli import main

CLASSES = ("ant", "bee")


def write_folder(root: Path, per_class: dict[str, int]) -> Path:
    """ROOT/{train,test}/<class>/<n>.png; class 'ant' is dark, 'bee' bright (learnable at once)."""
    rng = np.random.default_rng(0)
    for split, n in per_class.items():
        for c, name in enumerate(CLASSES):
            for i in range(n):
                base = 40 if c == 0 else 200
                arr = np.clip(base + rng.integers(-30, 30, (16, 16)), 0, 255).astype(np.uint8)
                path = root / split / name / f"{i:02d}.png"
                path.parent.mkdir(parents=True, exist_ok=True)
                Image.fromarray(arr, "L").save(path)
    return root


@pytest.fixture(scope="module")
def streamed_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    root = write_folder(tmp_path_factory.mktemp("folder"), {"train": 24, "test": 6})
    broken = root / "test" / "ant" / "02.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 40)  # an image file Pillow cannot decode
    out = tmp_path_factory.mktemp("runs") / "streamed"
    mp = pytest.MonkeyPatch()
    mp.setenv("CNNZOO_DATA_MEMORY_LIMIT", "1000")  # every folder streams
    try:
        code = main(["train", "--model", "cnn", "--dataset", "folder", "--data-dir", str(root), "--epochs", "1",
                     "--batch-size", "8", "--out", str(out), "--quiet", "--set", "data.num_workers=0"])
    finally:
        mp.undo()
    assert code == 0
    return root, out, broken


def test_a_streamed_folder_trains_to_the_end_with_its_plots(streamed_run):
    _, out, _ = streamed_run
    for name in ("curves.png", "confusion.png", "samples.png"):
        assert (out / "plots" / name).stat().st_size > 0, name
    summary = json.loads((out / "summary.json").read_text())
    assert summary["test_split"] == "test" and summary["epochs"] == 1


def test_predictions_keep_pointing_at_their_images_when_a_file_is_dropped(streamed_run, monkeypatch):
    from cnnzoo.data import FileSplit
    from cnnzoo.report.runs import read_predictions, read_run, tested_split

    _, out, broken = streamed_run
    monkeypatch.setenv("CNNZOO_DATA_MEMORY_LIMIT", "1000")
    run = read_run(out)
    preds = read_predictions(run)
    split, _ = tested_split(run)
    assert isinstance(split, FileSplit) and len(split) == 12
    readable = [i for i, f in enumerate(split.files) if f != broken]
    assert preds.split_size == 12 and len(preds.preds) == 11
    assert preds.index.tolist() == readable  # the dropped file has no prediction, the rest keep theirs
    assert preds.targets.tolist() == split.labels[preds.index].tolist()
    assert int(preds.confusion.sum()) == 11


def test_the_report_of_a_streamed_run_shows_its_mistakes_images(streamed_run, monkeypatch, capsys):
    _, out, _ = streamed_run
    monkeypatch.setenv("CNNZOO_DATA_MEMORY_LIMIT", "1000")
    assert main(["report", str(out)]) == 0
    html = (out / "report.html").read_text()
    assert "could not be loaded" not in html and "not the data this run was tested on" not in html
