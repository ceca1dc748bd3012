"""Bring a GPU session's results (what benchmarks/gpu_session.sh leaves in $OUT) into benchmarks/results/.

    python benchmarks/gpu_ingest.py FOLDER      # the folder the device tool returned the files to

- ``time_to_accuracy.json`` (phase 1: the frontier recipes timed on the quiet GPU) is merged by recipe
  into benchmarks/results/gpu_time_to_accuracy.json, which docs/results.md's GPU table reads.
- Each ablation pair's result file (``runs.tar.gz``: ablation-results/) goes to
  benchmarks/results/ablations/, which docs/ablations.md is generated from.
- Each lesson recipe run to its full length (``runs.tar.gz``: curve-RECIPE/) is merged into
  benchmarks/results/recipe_curves.json, from which the lesson pages draw their training curves.
  These runs shared the GPU, so only their accuracy and loss per epoch are figures, not their times.

Ingest right after the session, before the recipes change: the digest recorded for a run is that of
configs/RECIPE.yaml as it stands (the run folders carry no copy of it). Then regenerate the pages:
``python benchmarks/ablations.py page``, ``python scripts/lessons.py``, ``python benchmarks/recipes_table.py``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tarfile
import tempfile
from pathlib import Path
from typing import Any

from _common import RESULTS, log, read_result, write_result
from time_to_accuracy import recipe_path, run_record


def read_run(folder: Path) -> tuple[dict[str, Any], list[dict[str, Any]]] | None:
    """A finished run's summary and metrics.jsonl rows (None for a run cut off before its end)."""
    summary = folder / "summary.json"
    if not summary.is_file():
        return None
    metrics = folder / "metrics.jsonl"
    history = [json.loads(line) for line in metrics.read_text().splitlines() if line.strip()] \
        if metrics.is_file() else []
    return json.loads(summary.read_text()), history


def ingest(folder: Path, jobs_file: Path) -> None:
    timed = folder / "time_to_accuracy.json"
    host: dict[str, Any] = {}  # the GPU machine, as benchmarks/_common.machine() described it there
    if timed.is_file():
        new = json.loads(timed.read_text()).get("recipes", {})
        host = next((r["machine"] for r in new.values() if r.get("machine")), {})
        merged = dict((read_result("gpu_time_to_accuracy") or {}).get("recipes", {}))
        merged.update(new)
        write_result("gpu_time_to_accuracy", {"recipes": merged})
        log(f"gpu_time_to_accuracy.json: {', '.join(new)}")
    runs_tar = folder / "runs.tar.gz"
    if not runs_tar.is_file():
        return
    commands = {line.split("\t", 1)[0]: line.split("\t", 1)[1].strip()
                for line in jobs_file.read_text().splitlines() if "\t" in line and not line.startswith("#")}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        with tarfile.open(runs_tar) as tar:
            tar.extractall(root, filter="data")
        ablations = sorted((root / "ablation-results").glob("*.json"))
        if ablations:
            (RESULTS / "ablations").mkdir(parents=True, exist_ok=True)
            for f in ablations:
                shutil.copyfile(f, RESULTS / "ablations" / f.name)
            log(f"ablations/: {', '.join(f.stem for f in ablations)}")
        curves = dict((read_result("recipe_curves") or {}).get("recipes", {}))
        added = []
        for run_dir in sorted(root.glob("curve-*")):
            recipe = run_dir.name.removeprefix("curve-")
            found = read_run(run_dir)
            if found is None or not recipe_path(recipe).is_file():
                log(f"{run_dir.name}: not finished, skipped")
                continue
            summary, history = found
            command = commands.get(run_dir.name, "?").replace("$PY", "python").replace("$RUNS/", "")
            run = run_record(recipe, summary, history, command=command, wall=None, load_before=None)
            curves[recipe] = {"run": run, "command": "benchmarks/gpu_session.sh (phase 2, runs sharing the GPU)",
                              "machine": {**host, "torch": summary.get("torch_version"),
                                          "date": str(summary.get("finished_at", "?")).replace("T", " ")[:16]}}
            added.append(f"{recipe} {100 * summary['test_acc']:.2f}%")
        if added:
            write_result("recipe_curves", {"recipes": curves})
            log(f"recipe_curves.json: {', '.join(added)}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("folder", type=Path, help="where the session's files were returned")
    ap.add_argument("--jobs", type=Path, default=Path(__file__).with_name("gpu_jobs.txt"),
                    help="the jobs file the session ran (for the commands recorded)")
    args = ap.parse_args()
    ingest(args.folder, args.jobs)


if __name__ == "__main__":
    main()
