"""benchmarks/predict_speed.py at a tiny size: it makes its run, exports it, writes its folder, times
both backends and writes a result that run_all.py renders (no timing assertions: the numbers of a
test run mean nothing)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_predict_speed_script_runs_and_renders(tmp_path, monkeypatch):
    pytest.importorskip("onnxruntime")
    env = {**os.environ, "CNNZOO_BENCH_RESULTS": str(tmp_path)}
    proc = subprocess.run([sys.executable, "benchmarks/predict_speed.py", "--images", "40", "--rounds", "1",
                           "--batch-size", "16", "--model", "cnn"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    res = json.loads((tmp_path / "predict_speed.json").read_text())
    assert set(res["images_per_s"]) == {"torch", "onnxruntime", "decode_only"}
    assert res["settings"]["images"] == 40 and res["settings"]["model"] == "convnet"
    assert res["settings"]["export_max_rel_diff"] <= 1e-4
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    import run_all

    page = run_all.render({"predict_speed": res})
    section = page.split("## Predict throughput (CPU)")[1].split("\n## ")[0]
    assert "| PyTorch eager" in section and "| onnxruntime" in section and "decode 40 files" in section
