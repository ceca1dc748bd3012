"""What a run tells a learner while it trains: the loss within epochs (steps.jsonl), a warning when
it diverges, honest split names, and a banner that says how long the run really is."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from cnnzoo.cli import main


def train_args(data: Path, out: Path, *extra: str) -> list[str]:
    return ["train", "--model", "cnn", "--dataset", "fashion-mnist", "--data-dir", str(data), "--offline",
            "--batch-size", "64", "--set", "output.plots=false", "--out", str(out), *extra]


def test_steps_jsonl_holds_the_loss_within_epochs(fashion_dir, tmp_path, capsys):
    # 1,080 training images in batches of 64: 16 steps per epoch, a line every step on one CPU
    out = tmp_path / "run"
    assert main(train_args(fashion_dir, out, "--epochs", "2", "--quiet")) == 0
    rows = [json.loads(line) for line in (out / "steps.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == list(range(1, 33))
    assert rows[0]["epoch"] == pytest.approx(1 / 16) and rows[-1]["epoch"] == 2
    assert all(set(r) == {"step", "epoch", "train_loss", "train_acc", "lr"} for r in rows)
    # the windows average to the epoch's training loss in metrics.jsonl
    history = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    first = [r["train_loss"] for r in rows if r["step"] <= 16]
    assert sum(first) / 16 == pytest.approx(history[0]["train_loss"], rel=1e-6)
    assert json.loads((out / "summary.json").read_text())["warnings"] == []


def test_a_resumed_run_rewrites_the_steps_after_its_checkpoint(fashion_dir, tmp_path):
    from cnnzoo.report.callbacks import WriteSteps

    out = tmp_path / "run"
    out.mkdir()
    (out / "steps.jsonl").write_text("".join(json.dumps({"step": s, "epoch": s / 16}) + "\n" for s in range(1, 9)))
    trainer = SimpleNamespace(run_dir=out, state=SimpleNamespace(step=5), stats=SimpleNamespace(
        sums=SimpleNamespace(tolist=lambda: [1.0, 2.0, 3.0])))
    cb = WriteSteps()
    cb.on_fit_start(trainer)
    assert [json.loads(line)["step"] for line in (out / "steps.jsonl").read_text().splitlines()] == [1, 2, 3, 4, 5]
    assert cb.mark == [1.0, 2.0, 3.0]


def test_diverging_is_far_above_chance_level():
    from cnnzoo.engine.trainer import diverging

    assert diverging(635_120.0, 10) and diverging(203.0, 2) and diverging(30.0, 1000)
    assert not diverging(2.31, 10)  # guessing
    assert not diverging(8.0, 10)  # a spike, or an overfitted network's confident mistakes
    assert not diverging(float("nan"), 10)  # the NaN check stops the run with an error instead


def test_a_diverging_run_warns_with_advice_and_says_so_in_the_summary(fashion_dir, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(train_args(fashion_dir, out, "--epochs", "1", "--lr", "100")) == 0
    cap = capsys.readouterr()
    warning = [line for line in cap.err.splitlines() if line.startswith("warning: diverging")]
    assert len(warning) == 1, cap.err  # said once, not at every step
    assert "far above chance level (ln 10 = 2.30" in warning[0] and "--lr 10" in warning[0]
    assert "warning          diverging (see above)" in cap.out  # repeated under the final table
    assert json.loads((out / "summary.json").read_text())["warnings"][0].startswith("diverging: the training loss")


def _trainer(epochs: int, per_epoch: int, total: int) -> SimpleNamespace:
    return SimpleNamespace(cfg=SimpleNamespace(train=SimpleNamespace(epochs=epochs)), steps_per_epoch=per_epoch,
                           total_steps=total)


def test_the_banner_says_how_long_the_run_is():
    from cnnzoo.engine.describe import length

    assert length(_trainer(1, 421, 421)) == "1 epoch x 421 steps"
    assert length(_trainer(3, 1, 3)) == "3 epochs x 1 step"
    assert length(_trainer(1, 421, 10)) == "10 steps (train.max_steps; 421 per epoch)"


def test_a_folder_without_a_test_split_reports_validation_numbers_as_val(tmp_path, capsys):
    import numpy as np
    from PIL import Image

    root, rng = tmp_path / "imgs", np.random.default_rng(0)
    for c, name in enumerate(("cat", "dog", "eel")):  # ROOT/<class>/<image>, no test/: val is tested
        (root / name).mkdir(parents=True)
        for i in range(12):
            img = rng.integers(0, 60, (16, 16), dtype=np.uint8)
            img[:, 5 * c:5 * c + 4] = 255
            Image.fromarray(img).save(root / name / f"{i}.png")
    out = tmp_path / "run"
    assert main(["train", "--model", "cnn", "--dataset", "folder", "--data-dir", str(root), "--image-size", "16",
                 "--batch-size", "8", "--epochs", "1", "--set", "output.plots=false", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "no test split: the final test is on val" in text
    assert "val acc / loss" in text and "test acc" not in text
    assert json.loads((out / "summary.json").read_text())["test_split"] == "val"
    assert main(["eval", str(out), "--device", "cpu"]) == 0
    text = capsys.readouterr().out
    result = json.loads((out / "eval.json").read_text())
    assert f"(val, {result['n']} images)" in text and "the dataset has no test split: these are its val" in text
    assert (result["split"], result["split_asked"]) == ("val", "test")
