"""benchmarks/augment_cost.py at a tiny size: it times every augmentation side on both inputs and
writes a result that run_all.py renders (no timing assertions: the numbers of a test run mean nothing)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_augment_cost_script_runs_and_renders(tmp_path, monkeypatch):
    env = {**os.environ, "CNNZOO_BENCH_RESULTS": str(tmp_path), "PYTHONPATH": str(ROOT / "src")}
    proc = subprocess.run([sys.executable, "benchmarks/augment_cost.py", "--batches", "1", "--rounds", "1",
                           "--batch-size", "8", "--data-dir", str(tmp_path / "none")],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    res = json.loads((tmp_path / "augment_cost.json").read_text())
    assert set(res["images_per_s"]) == {"noise 1x28x28", "noise 3x32x32"}
    for rates in res["images_per_s"].values():
        assert "crop+flip" in rates and "mixup (alpha=0.2)" in rates and len(rates) == 9
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    import run_all

    page = run_all.render({"augment_cost": res})
    section = page.split("## Augmentation cost (CPU)")[1].split("\n## ")[0]
    assert "| randaugment (N=2, M=9) |" in section and "**noise 3x32x32**" in section and "1.00x" in section
    assert "Not measured yet" in run_all.render({}).split("## Augmentation cost (CPU)")[1].split("\n## ")[0]
