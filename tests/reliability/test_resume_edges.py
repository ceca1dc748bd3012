"""`--resume` at its edges (issue 14, items 7, 9, 10; issue 15, item 5).

* A damaged training state is one `error:` line naming the file and the field, and the run directory
  stays byte-identical (nothing is claimed, copied or rewritten before every part was checked).
* A run that has finished is left alone: `--resume` says so, exits 0 and changes no file.
* A run stopped before its first checkpoint is no dead end: the same command starts it again, and
  `--resume` says how (and that advice works).
* `--resume RUN --epochs N` on a finished run continues at the schedule's final learning rate; it
  never restarts the schedule.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
from pathlib import Path

import pytest
import torch
from safetensors.torch import load, save

from cnnzoo.engine import checkpoint
from cnnzoo.engine.callbacks import Callback

from .conftest import assert_error_line, run_cli


def tree(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` (names relative to it) and the hash of its bytes."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def rewrite_state(path: Path, tensors=None, loop=None, optimizer=None, meta=None) -> None:
    """Rewrite a training-state file with ``tensors(dict)``, ``loop(dict)``, ``optimizer(dict)`` or
    ``meta(dict)`` applied (each changes its argument in place)."""
    data = path.read_bytes()
    header = checkpoint._header_metadata(data)
    ts = dict(load(data))
    if tensors:
        tensors(ts)
    for key, change in (("loop", loop), ("optimizer", optimizer)):
        if change:
            value = json.loads(header[key])
            new = change(value)
            header[key] = json.dumps(value if new is None else new)
    if meta:
        meta(header)
    path.write_bytes(save(ts, metadata=header))


def _set(key, value):
    def change(d):
        d[key] = value
    return change


def _group(key, value):
    def change(opt):
        opt["param_groups"][0][key] = value
    return change


def _first_buffer(ts):
    key = next(k for k in sorted(ts) if k.startswith("optim."))
    ts[key] = torch.zeros(3)


DAMAGE = {  # case: (what to change, what the error line names)
    "truncated-rng": ({"tensors": lambda ts: ts.__setitem__("rng.cpu", ts["rng.cpu"][:100])}, ["'rng.cpu'"]),
    "rng-of-floats": ({"tensors": lambda ts: ts.__setitem__("rng.cpu", ts["rng.cpu"].float())}, ["'rng.cpu'"]),
    "stats-size": ({"tensors": lambda ts: ts.__setitem__("stats", torch.zeros(7, dtype=torch.float64))},
                   ["'stats'"]),
    "optimizer-buffer-shape": ({"tensors": _first_buffer}, ["optim.", "shape (3,)"]),
    "optimizer-tensor-name": ({"tensors": lambda ts: ts.__setitem__("optim.x", torch.zeros(1))}, ["'optim.x'"]),
    "optimizer-hyperparameter": ({"optimizer": _group("momentum", "fast")}, ["param_groups.0.momentum"]),
    "optimizer-groups": ({"optimizer": _set("param_groups", {"a": 1})}, ["'optimizer'"]),
    "optimizer-not-object": ({"optimizer": lambda o: [1, 2]}, ["'optimizer'"]),
    "epoch-a-string": ({"loop": _set("epoch", "1")}, ["'epoch'", "must be int"]),
    "step-negative": ({"loop": _set("step", -5)}, ["'step'", "out of range"]),
    "batch-beyond-epoch": ({"loop": _set("batch", 10_000)}, ["'batch'"]),
    "history-not-a-list": ({"loop": _set("history", 5)}, ["'history'"]),
    "history-rows": ({"loop": _set("history", [["epoch", 1]])}, ["'history'"]),
    "best-acc-a-string": ({"loop": _set("best_val_acc", "high")}, ["'best_val_acc'"]),
    "best-acc-nan": ({"loop": _set("best_val_acc", float("nan"))}, ["'best_val_acc'"]),
    "world-size-zero": ({"loop": _set("world_size", 0)}, ["'world_size'"]),
    "scaler-of-strings": ({"loop": _set("scaler", {"scale": "big"})}, ["'scaler'"]),
    "loop-not-object": ({"loop": lambda loop: [1, 2]}, ["'loop'"]),
    "tag-not-a-step": ({"meta": _set("tag", "seven")}, ["'tag'"]),
}


@pytest.mark.parametrize("case", sorted(DAMAGE))
def test_damaged_training_state_is_one_line_and_leaves_the_run_byte_identical(case, run_copy, tmp_path, capsys):
    change, fragments = DAMAGE[case]
    state = run_copy / "checkpoints" / "last.state.safetensors"
    rewrite_state(state, **change)
    before = tree(run_copy)
    code, _, err = run_cli(capsys, "train", "--resume", run_copy, "--epochs", "2")
    assert_error_line(code, err, str(state), *fragments)
    assert tree(run_copy) == before
    # continuing in a copy checks before it copies: no half-made copy is left behind
    other = tmp_path / "other"
    code, _, err = run_cli(capsys, "train", "--resume", run_copy, "--epochs", "2", "--out", other)
    assert_error_line(code, err, str(state), *fragments)
    assert not other.exists() and tree(run_copy) == before


def test_train_state_names_the_file_and_field():
    from cnnzoo.engine.state import TrainState
    from cnnzoo.errors import CheckpointError

    with pytest.raises(CheckpointError, match=r"^x\.safetensors: training state field 'train_time_s' must be float"):
        TrainState.from_dict({"train_time_s": "1.5"}, "x.safetensors")
    assert TrainState.from_dict({"epoch": 1, "future_field": [1]}).epoch == 1  # unknown fields: a newer cnnzoo


# -------------------------------------------------------------------------------------------------
# A finished run (14.9)


def test_resume_of_a_finished_run_changes_nothing(run_copy, tmp_path, capsys):
    before = tree(run_copy)
    summary = json.loads((run_copy / "summary.json").read_text())
    code, out, err = run_cli(capsys, "train", "--resume", run_copy, "--quiet")
    assert code == 0, err
    assert "has already finished (1 epoch" in out and "nothing changed" in out
    assert f"cnnzoo train --resume {run_copy} --epochs N" in out  # how to extend it (issue 15, item 5)
    assert tree(run_copy) == before
    # into a copy: nothing to copy either
    code, out, _ = run_cli(capsys, "train", "--resume", run_copy, "--out", tmp_path / "other")
    assert code == 0 and "already finished" in out and not (tmp_path / "other").exists()
    assert tree(run_copy) == before
    # the Python face returns the recorded results
    from cnnzoo import load_config, train

    cfg = load_config(run_copy / "config.yaml")
    result = train(cfg, resume=run_copy, quiet=True)
    assert result.summary == summary and len(result.history) == 1
    assert tree(run_copy) == before


def test_a_finished_run_whose_summary_is_missing_is_finished_by_resume(run_copy, capsys):
    """Killed between its last checkpoint and summary.json: resuming records the results (no training)."""
    (run_copy / "summary.json").unlink()
    weights = (run_copy / "checkpoints" / "last.safetensors").read_bytes()
    code, _, err = run_cli(capsys, "train", "--resume", run_copy, "--quiet")
    assert code == 0, err
    assert json.loads((run_copy / "summary.json").read_text())["epochs"] == 1
    assert (run_copy / "checkpoints" / "last.safetensors").read_bytes() == weights


# -------------------------------------------------------------------------------------------------
# Extending a finished run (15.5)


class LRs(Callback):
    def __init__(self) -> None:
        self.seen: list[tuple[int, float]] = []

    def on_train_batch_end(self, trainer, loss) -> None:
        self.seen.append((trainer.step - 1, trainer.optimizer.param_groups[0]["lr"]))


def test_extending_a_finished_run_continues_at_its_final_learning_rate(fashion_dir, tmp_path, capsys):
    from cnnzoo import load_config, train

    run = tmp_path / "run"
    code, _, err = run_cli(capsys, "train", "--model", "cnn", "--dataset", "fashion-mnist", "--data-dir", fashion_dir,
                           "--offline", "--epochs", "2", "--batch-size", "64", "--out", run, "--quiet",
                           "--set", "output.plots=false")
    assert code == 0, err
    rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    final_lr, end = rows[-1]["lr"], rows[-1]["step"]  # the rate of the finished run's last step
    peak = load_config(run / "config.yaml").optim.lr
    assert final_lr < peak / 100

    for epochs in (3, 4):  # extended twice: the second resume follows the same schedule
        lrs = LRs()
        cfg = load_config(run / "config.yaml", sets=[f"train.epochs={epochs}"])
        train(cfg, resume=run, callbacks=[lrs])
        out = capsys.readouterr().out
        first_step, first_lr = lrs.seen[0]
        assert first_step == end + 16 * (epochs - 3)
        assert first_lr == pytest.approx(final_lr, rel=1e-12)  # no new warm-up
        assert all(lr == pytest.approx(final_lr, rel=1e-12) for _, lr in lrs.seen)
        assert "at its final learning rate" in out and "not restarted" in out
    rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2, 3, 4]
    assert json.loads((run / "summary.json").read_text())["epochs"] == 4


# -------------------------------------------------------------------------------------------------
# Stopped before the first checkpoint (14.10)


class DoubleCtrlC(Callback):
    """Two SIGINTs in the first batch: the first asks for a stop at the next check, the second stops at
    once (KeyboardInterrupt), before any checkpoint was saved."""

    def on_train_batch_end(self, trainer, loss) -> None:
        os.kill(os.getpid(), signal.SIGINT)
        os.kill(os.getpid(), signal.SIGINT)


def _train(fashion_dir: Path, out: Path) -> list[str]:
    return ["train", "--model", "cnn", "--dataset", "fashion-mnist", "--data-dir", str(fashion_dir), "--offline",
            "--epochs", "1", "--batch-size", "64", "--out", str(out), "--quiet", "--set", "output.plots=false"]


@pytest.fixture
def ctrl_c_raises(monkeypatch):
    """SIGINT raises KeyboardInterrupt in this process (a test runner may have changed the handler)."""
    old = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, old)


@pytest.mark.parametrize("when", ["setup", "first-epoch"])
def test_ctrl_c_before_the_first_checkpoint_is_no_dead_end(when, fashion_dir, tmp_path, monkeypatch, capsys,
                                                           ctrl_c_raises):
    import cnnzoo.report.callbacks as report_callbacks
    from cnnzoo.cli import main
    from cnnzoo.engine import trainer

    run = tmp_path / "run"
    with monkeypatch.context() as m:
        if when == "setup":  # a real SIGINT in setup, once the folder was claimed, before config.yaml
            real = trainer.write_config

            def write_config(*args, **kwargs):
                os.kill(os.getpid(), signal.SIGINT)
                return real(*args, **kwargs)

            m.setattr(trainer, "write_config", write_config)
        else:
            real_callbacks = report_callbacks.run_callbacks
            m.setattr(report_callbacks, "run_callbacks", lambda cfg: [*real_callbacks(cfg), DoubleCtrlC()])
        assert main(_train(fashion_dir, run)) == 130
    capsys.readouterr()
    assert run.is_dir() and not (run / "checkpoints" / "last.safetensors").exists()
    assert (run / "config.yaml").is_file() == (when == "first-epoch")

    # --resume says there is nothing to resume and how to start again; that advice works
    code, _, err = run_cli(capsys, "train", "--resume", run)
    assert_error_line(code, err, "stopped before its first checkpoint", "nothing to resume")
    if when == "first-epoch":
        advice = re.search(r"`cnnzoo (train [^`]+)`", err).group(1).split()
        assert advice == ["train", "--config", str(run / "config.yaml"), "--out", str(run)]
        code, _, err = run_cli(capsys, *advice)
    else:
        assert f"the command you ran, with --out {run}" in err
        code, _, err = run_cli(capsys, *_train(fashion_dir, run))  # the same command again
    assert code == 0, err
    assert json.loads((run / "summary.json").read_text())["epochs"] == 1


def test_a_folder_with_anything_else_is_still_refused(fashion_dir, tmp_path, capsys):
    """Starting over is only for what `cnnzoo train` itself leaves: a user's file keeps the folder safe."""
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    (run / "config.yaml").write_text("model: {name: cnn}\n")  # not written by cnnzoo (no header)
    code, _, err = run_cli(capsys, *_train(fashion_dir, run))
    assert_error_line(code, err, "already exists and is not empty")
    assert (run / "config.yaml").read_text() == "model: {name: cnn}\n"


def test_a_run_killed_before_its_last_checkpoint_gets_advice_that_works(run_copy, capsys):
    """Killed at the end of its first epoch, after metrics.jsonl and best.safetensors but before last:
    `--resume` has no position to continue from and says how to start again; that advice works."""
    for name in ("last.safetensors", "last.state.safetensors"):
        (run_copy / "checkpoints" / name).unlink()
    for name in ("summary.json", "predictions.safetensors"):
        (run_copy / name).unlink(missing_ok=True)
    code, _, err = run_cli(capsys, "train", "--resume", run_copy)
    assert_error_line(code, err, "no checkpoint to continue from")
    advice = re.search(r"`cnnzoo (train [^`]+)`", err).group(1).split()
    code, _, err = run_cli(capsys, *advice, "--quiet")
    assert code == 0, err
    assert (run_copy / "checkpoints" / "last.safetensors").is_file()
