"""`cnnzoo bench`: the command's contract (JSON keys, sane numbers, one-line errors) and that it
times the trainer's real step. No timing assertions: speed claims live in benchmarks/."""

from __future__ import annotations

import json
import math

import pytest
import torch

from cnnzoo.cli import main
from cnnzoo.config import load_config
from cnnzoo.engine.bench import TrainBench, synthetic_dataset, windows

REQUIRED = ("images_per_s", "flops_per_s", "peak_mem_mb", "device", "precision", "batch_size")
TINY = ["--model", "cnn", "--steps", "3", "--warmup", "1", "--window", "1"]


def bench_json(capsys, *args: str) -> dict:
    assert main(["bench", *args, "--json"]) == 0
    out = capsys.readouterr().out
    return json.loads(out)  # exactly one JSON object on stdout


@pytest.mark.parametrize("mode", ["train", "infer"])
def test_json_contract_on_synthetic_data(mode, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    r = bench_json(capsys, mode, *TINY, "--dataset", "synthetic", "--batch-size", "16")
    for key in REQUIRED:
        assert key in r, key
    assert r["mode"] == mode and r["model"] == "convnet" and r["dataset"] == "synthetic"
    assert r["batch_size"] == 16 and r["input"] == [1, 28, 28]
    for key in ("images_per_s", "flops_per_s", "flops_per_image", "step_ms"):
        assert math.isfinite(r[key]) and r[key] > 0, key
    assert r["peak_mem_mb"] >= 0
    assert r["timed_steps"] == 3 and r["windows"] == 3 and len(r["window_images_per_s"]) == 3
    # the rate is the median window's, and FLOP/s follow from it
    assert r["images_per_s"] == pytest.approx(sorted(r["window_images_per_s"])[1], rel=1e-3)
    assert r["flops_per_s"] == pytest.approx(r["images_per_s"] * r["flops_per_image"])
    assert r["device_type"] == "cpu" and r["precision"] in ("fp32", "bf16")
    assert not any(tmp_path.iterdir()), "a benchmark writes no run directory"


def test_training_flops_are_three_forwards(capsys):
    train = bench_json(capsys, "train", *TINY, "--dataset", "synthetic", "--batch-size", "8")
    infer = bench_json(capsys, "infer", *TINY, "--dataset", "synthetic", "--batch-size", "8")
    assert train["flops_per_image"] == pytest.approx(3 * infer["flops_per_image"])


def test_settings_reach_the_runtime(capsys):
    r = bench_json(capsys, "train", *TINY, "--dataset", "synthetic", "--batch-size", "8", "--precision", "fp32",
                   "--image-size", "32", "--channels", "3", "--set", "train.channels_last=false")
    assert r["precision"] == "fp32" and r["channels_last"] is False and r["input"] == [3, 32, 32]


def test_real_dataset_from_disk(capsys, fashion_dir):
    r = bench_json(capsys, "train", *TINY, "--data-dir", str(fashion_dir), "--offline", "--batch-size", "32")
    assert r["dataset"] == "fashion-mnist" and r["images_per_s"] > 0


def test_human_output(capsys):
    assert main(["bench", "train", *TINY, "--dataset", "synthetic", "--batch-size", "8"]) == 0
    out = capsys.readouterr().out
    assert "images/s" in out and "FLOP/s" in out and "peak memory" in out


def test_bench_runs_the_trainers_step_across_epochs(fashion_dir):
    # 1,080 training images (after validation is carved off) in batches of 256: 4 steps per epoch.
    cfg = load_config(model="cnn", overrides={"data.data_dir": str(fashion_dir), "data.offline": True,
                                              "data.batch_size": 256})
    b = TrainBench(cfg)
    t = b.trainer
    assert t.steps_per_epoch == 4
    before = [p.detach().clone() for p in t.model.parameters()]
    b.run(6)
    assert (t.epoch, t.batch, t.step) == (1, 2, 6)
    assert any(not torch.equal(a, p)
               for a, p in zip(before, t.model.parameters(), strict=True)), "the weights were trained"


def test_windows_cover_every_step():
    assert windows(30, 5) == [5] * 6
    assert windows(7, 3) == [3, 4]
    assert windows(2, 5) == [2]


def test_synthetic_dataset_shapes():
    ds = synthetic_dataset(3, 32, batch_size=64)
    assert ds.train.images.dtype == torch.uint8 and tuple(ds.train.images.shape[1:]) == (3, 32, 32)
    assert len(ds.train) >= 128 and ds.channels == 3 and ds.image_size == (32, 32)


@pytest.mark.parametrize("args, words", [
    (["train", "--model", "resnet9000", "--dataset", "synthetic"], ["resnet9000"]),
    (["train", "--model", "lenet5", "--dataset", "synthetic", "--image-size", "8", "--steps", "1"], ["8x8"]),
    (["train", "--model", "cnn", "--steps", "0"], ["--steps"]),
    (["infer", "--model", "cnn", "--dataset", "synthetic", "--precision", "fp16", "--device", "cpu"], ["fp16"]),
    (["jog", "--model", "cnn"], ["jog"]),
])
def test_errors_are_one_line(args, words, capsys):
    assert main(["bench", *args]) == 2
    captured = capsys.readouterr()
    err = captured.err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: "), captured.err
    for w in words:
        assert w in err[0]
    assert captured.out == ""


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without a CUDA GPU")
def test_cuda_without_gpu_is_one_line(capsys):
    assert main(["bench", "train", *TINY, "--dataset", "synthetic", "--device", "cuda"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and "CUDA" in err[0]


def test_infer_batch_larger_than_the_split(capsys, fashion_dir):
    assert main(["bench", "infer", *TINY, "--data-dir", str(fashion_dir), "--offline", "--batch-size", "5000"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--batch-size" in err[0]
