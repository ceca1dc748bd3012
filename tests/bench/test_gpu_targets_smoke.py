"""benchmarks/gpu_targets.py has only ever run where a GPU was lent; its CPU smoke mode runs every
code path that does not need CUDA or torchvision (tiny settings, no timing assertions), so a GPU
session does not spend its minutes finding a Python error."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import write_fashion_like

ROOT = Path(__file__).resolve().parents[2]


def test_gpu_targets_script_runs_in_cpu_smoke_mode(tmp_path):
    write_fashion_like(tmp_path / "data" / "fashion-mnist", n_train=600, n_test=100)
    env = {**os.environ, "CNNZOO_DATA": str(tmp_path / "data"), "CNNZOO_BENCH_RESULTS": str(tmp_path / "results")}
    proc = subprocess.run([sys.executable, "benchmarks/gpu_targets.py", "--device", "cpu", "--rounds", "1",
                           "--steps", "1", "--warmup", "1", "--image-size", "32", "--batch-size", "2",
                           "--recipe", "no-such-recipe"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads((tmp_path / "results" / "gpu_targets_smoke.json").read_text())
    assert not (tmp_path / "results" / "gpu_targets.json").exists()  # a smoke run never poses as GPU results
    assert "does not exist" in out["time_to_94"]["skipped"]
    assert set(out["classic"]["ratio"]) == {"classic_4w", "classic_0w"}
    assert all(v > 0 for v in out["classic"]["ratio"].values())
    assert out["resnet50"]["image_size"] == 32 and out["resnet50"]["rates"]["cnnzoo"]["median"] > 0


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_gpu_targets_script_refuses_cuda_without_a_gpu(tmp_path):
    env = {**os.environ, "CNNZOO_BENCH_RESULTS": str(tmp_path)}
    proc = subprocess.run([sys.executable, "benchmarks/gpu_targets.py"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0 and "no CUDA GPU here" in proc.stderr
    assert not list(tmp_path.iterdir())
