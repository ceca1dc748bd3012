"""docs/deploy.md's onnxruntime example, run as written (in a fresh interpreter that cannot import
cnnzoo), gives the class `cnnzoo predict` gives."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from .conftest import run_cli

ROOT = Path(__file__).resolve().parents[2]


def doc_example() -> str:
    text = (ROOT / "docs" / "deploy.md").read_text()
    section = text.split("## Run it with onnxruntime, without cnnzoo")[1]
    return re.search(r"```python\n(.*?)```", section, re.DOTALL).group(1)


def test_the_ten_line_example_runs_without_cnnzoo_and_agrees_with_predict(cnn_run, tmp_path, capsys):
    pytest.importorskip("onnxruntime")
    code = doc_example()
    assert len([line for line in code.splitlines() if line.strip()]) <= 12
    onnx_file = tmp_path / "model.onnx"
    assert run_cli(capsys, "export", cnn_run, "--format", "onnx", "--out", onnx_file)[0] == 0
    (tmp_path / "classify.py").write_text(code)
    (tmp_path / "cnnzoo.py").write_text("raise ImportError('the example must not need cnnzoo')\n")
    rng = np.random.default_rng(0)
    for i in range(4):
        img = tmp_path / f"img{i}.png"
        a = rng.integers(0, 80, (28, 28), dtype=np.uint8)
        a[6 + 3 * i: 14 + 3 * i, 4:24] = 230
        Image.fromarray(a).save(img)
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        proc = subprocess.run([sys.executable, "classify.py", img.name], cwd=tmp_path, env=env, check=False,
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
        _, out, _ = run_cli(capsys, "predict", cnn_run, img, "--json", "--topk", "1")
        assert proc.stdout.strip() == json.loads(out)[0]["predictions"][0]["label"]
