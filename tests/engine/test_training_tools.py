"""The training tools of issue 19 in the trainer: mixed targets in the loss, early stopping (and
resuming a run it stopped), class-balanced training, and `cnnzoo lr-find`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from cnnzoo.cli import main


def small_cfg(fashion_dir: Path, **over):
    from cnnzoo.config import load_config

    # 1,080 training images (after validation is carved off) in batches of 256: 4 steps per epoch
    overrides = {"data.data_dir": str(fashion_dir), "data.offline": True, "data.batch_size": 256,
                 "train.epochs": 3, "output.plots": False, "train.deterministic": True, **over}
    return load_config(model="cnn", overrides=overrides)


def quiet_trainer(cfg, **kw):
    from cnnzoo.engine.progress import Console
    from cnnzoo.engine.trainer import Trainer

    return Trainer(cfg, console=Console(quiet=True), **kw)


# ---------------------------------------------------------------------------------------------
# mixup / CutMix through the one loss


def test_the_loss_of_a_mixed_batch_is_lam_ce_a_plus_one_minus_lam_ce_b(fashion_dir):
    from cnnzoo.data.augment import MixedTarget

    t = quiet_trainer(small_cfg(fashion_dir, **{"train.label_smoothing": 0.1}), output=False)
    t.setup()
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(6, 10, generator=g)
    a, b = torch.tensor([0, 1, 2, 3, 4, 5]), torch.tensor([9, 8, 7, 6, 5, 4])
    lam = torch.tensor([1.0, 0.0, 0.5, 0.3, 0.9, 0.6])
    loss, out = t._loss(logits, MixedTarget(a, b, lam))
    def ce(y):
        return F.cross_entropy(logits, y, label_smoothing=0.1, reduction="none")

    assert torch.allclose(loss, (lam * ce(a) + (1 - lam) * ce(b)).mean())
    assert out is logits
    # a plain batch is plain cross-entropy, unchanged
    plain, _ = t._loss(logits, a)
    assert torch.equal(plain, F.cross_entropy(logits, a, label_smoothing=0.1))


def test_training_with_every_augmentation_runs_and_counts_the_dominant_label(fashion_dir, tmp_path):
    import cnnzoo

    cfg = small_cfg(fashion_dir, **{"train.epochs": 1, "data.augment.policy": "trivialaugment",
                                    "data.augment.erasing": 0.25, "data.augment.mixup": 0.2,
                                    "data.augment.cutmix": 1.0, "data.augment.crop_padding": 2})
    result = cnnzoo.train(cfg, run_dir=tmp_path / "run", quiet=True)
    row = result.history[0]
    assert np.isfinite(row["train_loss"]) and 0.0 <= row["train_acc"] <= 1.0
    assert result.summary["test_acc"] is not None


# ---------------------------------------------------------------------------------------------
# early stopping


def test_early_stopping_stops_tests_the_best_weights_and_stays_stopped_on_resume(fashion_dir, tmp_path):
    import cnnzoo

    # val_loss never improves by 100: the first epoch sets the mark, the next one is patience 1
    cfg = small_cfg(fashion_dir, **{"train.epochs": 5, "train.early_stopping.patience": 1,
                                    "train.early_stopping.monitor": "val_loss",
                                    "train.early_stopping.min_delta": 100.0})
    run = tmp_path / "run"
    result = cnnzoo.train(cfg, run_dir=run, quiet=True)
    assert result.summary["epochs"] == 2 and len(result.history) == 2
    assert result.summary["test_weights"] == "best" and (run / "checkpoints" / "best.safetensors").is_file()
    t = quiet_trainer(cfg, resume=run, run_dir=tmp_path / "copy")
    t.setup()
    assert t.state.stopped_early and t.state.early_wait == 1
    # resuming the stopped run trains no further epoch
    again = t.fit()
    assert again.summary["epochs"] == 2 and len(again.history) == 2
    assert len((tmp_path / "copy" / "metrics.jsonl").read_text().splitlines()) == 2


def test_early_stopping_waits_for_patience_and_min_delta():
    from types import SimpleNamespace

    from cnnzoo.engine.callbacks import EarlyStopping
    from cnnzoo.engine.state import TrainState

    def run(values, **kw):
        t = SimpleNamespace(state=TrainState(), should_stop=False, console=SimpleNamespace(info=lambda s: None))
        cb = EarlyStopping(**kw)
        for i, v in enumerate(values, 1):
            cb.on_train_epoch_end(t, {"val_acc": v, "val_loss": v})
            if t.should_stop:
                return i
        return None

    assert run([0.5, 0.6, 0.6, 0.6], patience=2) == 4
    assert run([0.5, 0.6, 0.61, 0.62, 0.63], patience=2) is None
    assert run([0.5, 0.6, 0.61, 0.62, 0.63], patience=2, min_delta=0.05) == 4
    assert run([1.0, 0.9, 0.95, 0.99], patience=2, monitor="val_loss") == 4


def test_early_stopping_without_a_validation_split_is_a_config_error(fashion_dir, tmp_path):
    from cnnzoo.errors import ConfigError

    cfg = small_cfg(fashion_dir, **{"data.val_fraction": 0.0, "train.early_stopping.patience": 2})
    with pytest.raises(ConfigError, match="validation split"):
        quiet_trainer(cfg, run_dir=tmp_path / "r").fit()


# ---------------------------------------------------------------------------------------------
# class-balanced training


@pytest.fixture
def imbalanced(tmp_path) -> Path:
    """A folder of 8x8 images: 60 of class 'common', 12 of class 'rare' (5:1)."""
    rng = np.random.default_rng(0)
    for cls, n in (("common", 60), ("rare", 12)):
        (tmp_path / "imgs" / cls).mkdir(parents=True)
        for i in range(n):
            Image.fromarray(rng.integers(0, 256, (8, 8), dtype=np.uint8)).save(tmp_path / "imgs" / cls / f"{i}.png")
    return tmp_path / "imgs"


def folder_cfg(root: Path, **over):
    from cnnzoo.config import load_config

    return load_config(model="cnn", overrides={"data.dataset": "folder", "data.data_dir": str(root),
                                               "data.batch_size": 8, "data.val_fraction": 0.2,
                                               "output.plots": False, **over})


def test_the_banner_shows_class_counts_of_an_imbalanced_split(imbalanced, fashion_dir):
    from cnnzoo.engine import describe

    t = quiet_trainer(folder_cfg(imbalanced), output=False)
    t.setup()
    line = next(s for s in describe.banner(t).splitlines() if "imbalanced" in s)
    counts = dict(zip(t.ds.classes, t.class_counts.tolist(), strict=True))
    assert f"common {counts['common']}" in line and f"rare {counts['rare']}" in line
    assert "data.balance: none" in line
    balanced = quiet_trainer(small_cfg(fashion_dir), output=False)
    balanced.setup()
    assert "imbalanced" not in describe.banner(balanced)


def test_balanced_sampler_draws_classes_equally_and_reproducibly(imbalanced):
    t = quiet_trainer(folder_cfg(imbalanced, **{"data.balance": "sampler"}), output=False)
    t.setup()
    seen = []
    for epoch in range(20):
        t.train_loader.set_epoch(epoch)
        seen += [y for _, y in t.train_loader]
    labels = torch.cat(seen)
    share = float((labels == t.ds.classes.index("rare")).float().mean())
    assert 0.4 < share < 0.6  # 1/6 without the sampler
    again = quiet_trainer(folder_cfg(imbalanced, **{"data.balance": "sampler"}), output=False)
    again.setup()
    again.train_loader.set_epoch(19)
    assert torch.equal(torch.cat([y for _, y in again.train_loader]), torch.cat(seen[-len(t.train_loader):]))


def test_class_weights_weigh_the_loss(imbalanced):
    t = quiet_trainer(folder_cfg(imbalanced, **{"data.balance": "weights"}), output=False)
    t.setup()
    counts = t.class_counts.double()
    assert torch.allclose(t.class_weights.double(), counts.sum() / (2 * counts), rtol=1e-6)
    logits, y = torch.randn(4, 2), torch.tensor([0, 1, 1, 0])
    loss, _ = t._loss(logits, y)
    ls = t.cfg.train.label_smoothing
    assert torch.allclose(loss, F.cross_entropy(logits, y, weight=t.class_weights, label_smoothing=ls))
    assert not torch.allclose(loss, F.cross_entropy(logits, y, label_smoothing=ls))


# ---------------------------------------------------------------------------------------------
# cnnzoo lr-find


def test_lr_find_writes_a_plot_and_suggests_an_lr_in_range(fashion_dir, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    rc = main(["lr-find", "--model", "cnn", "--data-dir", str(fashion_dir), "--offline", "--steps", "12",
               "--start-lr", "1e-4", "--end-lr", "10", "--batch-size", "64", "--plot", "lr.png", "--json"])
    assert rc == 0
    r = json.loads(capsys.readouterr().out)
    assert r["lrs"][0] == pytest.approx(1e-4) and len(r["lrs"]) == r["steps"] <= 12
    assert r["lrs"][0] <= r["suggested_lr"] <= r["lrs"][-1]
    assert all(a < b for a, b in zip(r["lrs"], r["lrs"][1:], strict=False))  # exponentially rising
    assert (tmp_path / "lr.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lr.png"]  # no run directory


def test_lr_find_suggestion_is_the_steepest_descent_before_the_minimum():
    from cnnzoo.engine.lr_find import suggest

    lrs = list(np.logspace(-5, 1, 61))
    # flat, a fall that is steepest at 1e-2, a minimum at 1e-1, then divergence
    x = np.log10(lrs)
    loss = 2.0 - 1.0 / (1 + np.exp(-(x + 2) * 4)) + np.where(x > -1, (x + 1) ** 2 * 3, 0)
    steep, low = suggest(lrs, list(loss))
    assert steep == pytest.approx(1e-2, rel=0.3)
    assert low == pytest.approx(lrs[int(np.argmin(loss))] / 10)


def test_lr_find_refuses_a_falling_range(fashion_dir):
    assert main(["lr-find", "--model", "cnn", "--data-dir", str(fashion_dir), "--offline",
                 "--start-lr", "1", "--end-lr", "0.1"]) == 2
