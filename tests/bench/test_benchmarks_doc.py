"""docs/benchmarks.md is generated: it must be exactly what benchmarks/run_all.py renders from the
committed result files, so no figure on it is typed by hand."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(not (ROOT / "docs" / "benchmarks.md").is_file(), reason="no docs/benchmarks.md yet")
def test_benchmarks_page_matches_its_result_files():
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "run_all.py"), "--check"],
                          capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr


def test_page_without_results_says_what_was_not_measured(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    import run_all

    page = run_all.render({"cpu_targets": None, "levers": None, "gpu_targets": None, "time_to_accuracy": None})
    assert "**Not measured yet.**" in page and "gpu_session.sh" in page  # the GPU section says how
    assert "Not measured yet" in page and "time_to_accuracy.py" in page
