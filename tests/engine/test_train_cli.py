"""`cnnzoo train`, `eval` and `predict` end to end on a small Fashion-MNIST-format dataset."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

from cnnzoo.cli import main

ROOT = Path(__file__).resolve().parents[2]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def same_weights(a: Path, b: Path) -> bool:
    """Bit-identical tensors and metadata (the files' bytes may differ in header key order)."""
    from safetensors import safe_open

    with safe_open(str(a), "pt") as fa, safe_open(str(b), "pt") as fb:
        if fa.metadata() != fb.metadata() or set(fa.keys()) != set(fb.keys()):
            return False
        return all(fa.get_tensor(k).equal(fb.get_tensor(k)) for k in fa.keys())


def train_args(data: Path, out: Path, *extra: str) -> list[str]:
    return ["train", "--model", "cnn", "--dataset", "fashion-mnist", "--data-dir", str(data), "--offline",
            "--epochs", "2", "--batch-size", "64", "--out", str(out), "--quiet", *extra]


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory, fashion_dir) -> Path:
    out = tmp_path_factory.mktemp("runs") / "cnn"
    assert main(train_args(fashion_dir, out, "--set", "train.deterministic=true")) == 0
    return out


def test_run_directory_contract(trained_run):
    run = trained_run
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2]
    for r in rows:
        for key in ("epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr", "epoch_time_s", "samples_per_s"):
            assert key in r, key
        assert 0.0 <= r["train_acc"] <= 1.0 and 0.0 <= r["val_acc"] <= 1.0
        assert r["epoch_time_s"] > 0 and r["samples_per_s"] > 0
    s = json.loads((run / "summary.json").read_text())
    for key in ("model", "dataset", "params", "macs", "epochs", "best_val_acc", "test_acc", "test_loss",
                "train_time_s", "samples_per_s", "device", "torch_version", "seed"):
        assert key in s, key
    assert s["model"] == "convnet" and s["dataset"] == "fashion-mnist" and s["epochs"] == 2
    assert s["params"] > 10_000 and s["macs"] > 1_000_000
    # the synthetic classes are easy: a working loop learns them in two epochs
    assert s["test_acc"] > 0.6, s
    assert s["best_val_acc"] == max(r["val_acc"] for r in rows)
    for name in ("last.safetensors", "last.state.safetensors", "best.safetensors"):
        assert (run / "checkpoints" / name).stat().st_size > 0
    assert not list((run / "checkpoints").glob("*.tmp"))
    for name in ("curves.png", "confusion.png", "samples.png"):
        data = (run / "plots" / name).read_bytes()
        assert data.startswith(PNG_MAGIC)
        with Image.open(run / "plots" / name) as im:
            assert im.size[0] > 200 and im.size[1] > 100


def test_saved_config_reproduces_the_run(trained_run, tmp_path):
    again = tmp_path / "again"
    assert main(["train", "--config", str(trained_run / "config.yaml"), "--out", str(again), "--quiet"]) == 0
    a = json.loads((trained_run / "summary.json").read_text())
    b = json.loads((again / "summary.json").read_text())
    assert a["test_acc"] == b["test_acc"] and a["test_loss"] == pytest.approx(b["test_loss"], abs=0)
    assert same_weights(trained_run / "checkpoints" / "last.safetensors", again / "checkpoints" / "last.safetensors")


def test_existing_out_is_refused_then_overwritten(trained_run, fashion_dir, tmp_path, capsys):
    out = tmp_path / "busy"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    assert main(train_args(fashion_dir, out, "--epochs", "1")) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and "--overwrite" in err[0] and "--resume" in err[0]
    assert main(train_args(fashion_dir, out, "--epochs", "1", "--overwrite")) == 0
    assert (out / "summary.json").is_file() and (out / "notes.txt").read_text() == "mine"


def test_eval_writes_eval_json(trained_run, capsys):
    assert main(["eval", str(trained_run), "--offline", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    summary = json.loads((trained_run / "summary.json").read_text())
    assert result["accuracy"] == pytest.approx(summary["test_acc"])
    assert len(result["per_class_acc"]) == 10 and len(result["confusion"]) == 10
    assert sum(map(sum, result["confusion"])) == result["n"] == 200
    saved = json.loads((trained_run / "eval.json").read_text())
    assert saved["accuracy"] == result["accuracy"]


def test_eval_of_a_checkpoint_file_on_another_split(trained_run, capsys):
    ck = trained_run / "checkpoints" / "last.safetensors"
    assert main(["eval", str(ck), "--split", "val", "--offline"]) == 0
    out = capsys.readouterr().out
    assert "(val, 120 images)" in out and "accuracy" in out


def test_predict_any_image_mode_and_size(trained_run, tmp_path, capsys):
    paths = []
    for i, (mode, size) in enumerate((("RGB", (50, 31)), ("L", (28, 28)), ("RGBA", (100, 100)), ("P", (7, 9)))):
        p = tmp_path / f"img{i}.png"
        Image.new(mode, size, color=(200 if mode in ("L", "P") else (200, 10, 10, 255)[: len(mode)])).save(p)
        paths.append(str(p))
    assert main(["predict", str(trained_run), *paths, "--topk", "3", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert [r["image"] for r in result] == paths
    classes = json.loads((trained_run / "summary.json").read_text())["per_class_acc"].keys()
    for r in result:
        preds = r["predictions"]
        assert len(preds) == 3
        assert all(p["label"] in classes and 0 <= p["index"] < 10 for p in preds)
        probs = [p["prob"] for p in preds]
        assert probs == sorted(probs, reverse=True) and 0 < sum(probs) <= 1.0 + 1e-6


def test_predict_matches_training_preprocessing(trained_run, fashion_dir, tmp_path, capsys):
    """A 28x28 grayscale PNG of a test image gets the class eval gives it."""
    import numpy as np
    import torch

    from cnnzoo.data import load_dataset, make_loader
    from cnnzoo.engine.checkpoint import load_run

    ds = load_dataset("fashion-mnist", data_dir=str(fashion_dir), offline=True)
    model, spec = load_run(trained_run)
    imgs = ds.test.images[:8]
    loader = make_loader(ds.test, batch_size=8, train=False, seed=0, device="cpu", mean=spec.mean, std=spec.std)
    x, _ = next(iter(loader))
    with torch.no_grad():
        expected = model(x.float()).argmax(1).tolist()
    paths = []
    for i in range(8):
        p = tmp_path / f"t{i}.png"
        Image.fromarray(np.asarray(imgs[i, 0])).save(p)
        paths.append(str(p))
    assert main(["predict", str(trained_run), *paths, "--topk", "1", "--json"]) == 0
    got = [r["predictions"][0]["index"] for r in json.loads(capsys.readouterr().out)]
    assert got == expected


@pytest.mark.parametrize("argv, fragment", [
    (["train", "--model", "resnet1888"], "unknown model 'resnet1888'"),
    (["train", "--dataset", "fashion_mnist", "--offline"], "fashion-mnist"),
    (["train", "--set", "optim.name=lion"], "'optim.name' must be one of sgd, adam, adamw"),
    (["train", "--set", "train.epochs"], "needs the form key=value"),
    (["train", "--batch-size", "0"], "'data.batch_size' must be at least 1"),
    (["train", "--lr", "-1"], "'optim.lr' must be greater than 0"),
    (["train", "--epochs", "-2"], "'train.epochs' must be at least 1"),
    (["train", "--epochs", "two"], "'two' is not an integer"),
    (["train", "--device", "cuda"], "no CUDA GPU is available"),
    (["trian"], "did you mean 'train'"),
    (["train", "--config", "/nonexistent/x.yaml"], "config file not found"),
])
def test_user_errors_are_one_line_exit_2(argv, fragment, fashion_dir, tmp_path, capsys):
    if argv[:2] == ["train", "--device"] and __import__("torch").cuda.is_available():
        pytest.skip("a GPU is present")
    extra = [] if argv[0] != "train" or "--dataset" in argv else ["--data-dir", str(fashion_dir), "--offline"]
    code = main([*argv, *extra, "--out", str(tmp_path / "r")] if argv[0] == "train" else argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(err) == 1 and err[0].startswith("error: ") and fragment in err[0], err
    assert "Traceback" not in "\n".join(err)
    assert not (tmp_path / "r").exists(), "a failed start must not leave a run directory behind"


def test_batch_larger_than_dataset(fashion_dir, tmp_path, capsys):
    code = main(train_args(fashion_dir, tmp_path / "r", "--batch-size", "5000"))
    err = capsys.readouterr().err
    assert code == 2 and "larger than the training split" in err and "1080" in err
    assert not (tmp_path / "r").exists()


def test_missing_data_dir_is_an_error_not_a_fallback(tmp_path, capsys):
    code = main(["train", "--model", "cnn", "--data-dir", str(tmp_path / "typo"), "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert code == 2 and f"--data-dir {tmp_path / 'typo'} does not exist" in err
    assert not (tmp_path / "r").exists()


def test_failed_resume_leaves_the_run_as_it_was(trained_run, tmp_path, capsys):
    import shutil

    run = tmp_path / "copy"
    shutil.copytree(trained_run, run)
    before = (run / "config.yaml").read_text()
    (run / "checkpoints" / "last.state.safetensors").write_bytes(b"broken")
    assert main(["train", "--resume", str(run), "--epochs", "5"]) == 2
    assert "not a valid checkpoint" in capsys.readouterr().err
    assert (run / "config.yaml").read_text() == before


def test_image_size_too_small_for_model(fashion_dir, tmp_path, capsys):
    code = main(["train", "--model", "vgg11", "--data-dir", str(fashion_dir), "--offline",
                 "--image-size", "8", "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert code == 2 and "vgg11 needs inputs of at least 16x16, got 8x8" in err and err.count("\n") == 1


def test_debug_shows_traceback(capsys):
    assert main(["train", "--model", "nope", "--debug"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" in err and err.rstrip().splitlines()[-1].startswith("error: ")


def test_non_finite_loss_stops_naming_step_and_lr(fashion_dir, tmp_path, capsys, monkeypatch):
    """A loss that turns NaN in epoch 2 stops the run with the step and learning rate, and the
    checkpoint of epoch 1 stays as it was."""
    import torch.nn.functional as F

    from cnnzoo.engine import trainer
    from cnnzoo.engine.checkpoint import load_training_state

    calls = {"n": 0}
    real = F.cross_entropy

    def poisoned(*args, **kwargs):
        calls["n"] += 1
        loss = real(*args, **kwargs)
        return loss * float("nan") if calls["n"] == 20 else loss

    import types

    monkeypatch.setattr(trainer, "F", types.SimpleNamespace(cross_entropy=poisoned))
    out = tmp_path / "r"
    code = main(train_args(fashion_dir, out, "--set", "schedule.name=constant"))
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1
    # 16 steps per epoch (1080 images, batch 64): the 20th loss is step 19, in epoch 2
    assert "NaN/inf at step 19 (epoch 2, learning rate 0.1)" in err[0] and "--lr 0.01" in err[0]
    _, _, state = load_training_state(out / "checkpoints")
    assert state.loop["epoch"] == 1 and state.tag == 16


def test_main_py_dispatches_to_train(fashion_dir, tmp_path):
    out = tmp_path / "seed"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "main.py"), "--model=cnn", "--epochs", "1", "--data-dir", str(fashion_dir),
         "--offline", "--out", str(out), "--quiet"], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert json.loads((out / "summary.json").read_text())["model"] == "convnet"
    assert "convnet" in proc.stdout


def test_ctrl_c_saves_and_resume_matches_uninterrupted(fashion_dir, tmp_path):
    """Interrupt a deterministic run with SIGINT, resume it, compare with a run that never stopped."""
    common = ["--model", "cnn", "--dataset", "fashion-mnist", "--data-dir", str(fashion_dir), "--offline",
              "--epochs", "4", "--batch-size", "32", "--set", "train.deterministic=true", "output.plots=false"]
    full = tmp_path / "full"
    assert main(["train", *common, "--out", str(full), "--quiet"]) == 0

    part = tmp_path / "part"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "cnnzoo", "train", *common, "--out", str(part)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    deadline = time.time() + 120
    while time.time() < deadline and not (part / "metrics.jsonl").is_file():
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    if proc.returncode == 0:
        pytest.skip("the run finished before the signal arrived")
    assert proc.returncode == 130, err
    assert f"cnnzoo train --resume {part}" in out

    assert main(["train", "--resume", str(part), "--quiet"]) == 0
    assert same_weights(part / "checkpoints" / "last.safetensors", full / "checkpoints" / "last.safetensors")
    a = [json.loads(x) for x in (full / "metrics.jsonl").read_text().splitlines()]
    b = [json.loads(x) for x in (part / "metrics.jsonl").read_text().splitlines()]
    assert [r["train_loss"] for r in a] == [r["train_loss"] for r in b]


def test_resume_may_extend_epochs_but_not_change_the_recipe(trained_run, tmp_path, capsys):
    import shutil

    run = tmp_path / "copy"
    shutil.copytree(trained_run, run)
    assert main(["train", "--resume", str(run), "--lr", "0.5"]) == 2
    assert "--resume cannot change optim.lr" in capsys.readouterr().err
    assert main(["train", "--resume", str(run), "--epochs", "3", "--quiet"]) == 0
    rows = (run / "metrics.jsonl").read_text().splitlines()
    assert len(rows) == 3


def test_resume_of_a_folder_that_is_not_a_run(tmp_path, capsys):
    assert main(["train", "--resume", str(tmp_path)]) == 2
    assert "not a cnnzoo run directory" in capsys.readouterr().err


def test_readme_lists_every_file_a_run_writes(trained_run):
    """The README's run-folder listing names everything `cnnzoo train` writes (issue 15, item 11)."""
    readme = (ROOT / "README.md").read_text()
    block = readme[readme.index("runs/<time>-<model>-<dataset>/"):]
    block = block[:block.index("```")]
    written = {p.name for p in trained_run.iterdir()} | {p.name for p in trained_run.glob("*/*")}
    assert written and all(name in block for name in written), sorted(n for n in written if n not in block)
