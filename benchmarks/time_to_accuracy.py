"""Time to accuracy: run ``cnnzoo train --config configs/<recipe>.yaml`` and record how long the
command took, from its start to its exit, and the test accuracy it reached.

    python benchmarks/time_to_accuracy.py RECIPE [RECIPE ...] [--device cpu] [--repeats 1] [--seeds]
                                          [--set KEY=VALUE ...]

Each recipe runs in a fresh process, one at a time, with nothing else of ours running. "Wall" is
the time from launching the command to its exit, as a user's stopwatch would see it (Python and
torch start-up, data loading, training, every validation, the final test, plots). The trainer's own
``wall_time_s`` (from the start of training setup) and ``train_time_s`` (training and validation
epochs only) are kept too. Test accuracy is ``summary.json``'s ``test_acc`` (the weights the recipe's
``train.test_weights`` names); each run keeps its per-epoch ``history`` (the run's metrics.jsonl rows,
which the lesson pages draw as training curves). Writes benchmarks/results/time_to_accuracy.json (merged by recipe).

Targets (CPU, this machine): 93% test accuracy on Fashion-MNIST within 5 minutes from the
command's start, and at least 94% from a run of at most 10 minutes. On one H100: 94% in 10 s.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import ROOT, command, loadavg, log, machine, read_result, write_result


def recipe_path(recipe: str) -> Path:
    p = Path(recipe)
    if p.suffix in (".yaml", ".yml") and p.is_file():
        return p
    p = ROOT / "configs" / f"{recipe}.yaml"
    if not p.is_file():
        raise SystemExit(f"no recipe {recipe}: expected {p}")
    return p


def run_recipe(recipe: str, *, device: str | None = None, sets: list[str] = (), keep: Path | None = None
               ) -> dict[str, Any]:
    """Run one recipe with the real command line; return wall time from the command's start,
    test accuracy and the run's summary."""
    path = recipe_path(recipe)
    exe = Path(sys.executable).with_name("cnnzoo")
    with tempfile.TemporaryDirectory() as tmp:
        out = keep or Path(tmp) / "run"
        args = ["train", "--config", str(path), "--offline", "--quiet", "--out", str(out)]
        if keep is not None:
            args.append("--overwrite")
        if device:
            args += ["--device", device]
        if sets:
            args += ["--set", *sets]
        cmd = [str(exe), *args] if exe.exists() else [sys.executable, "-m", "cnnzoo", *args]
        load0 = loadavg()
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True)
        wall = time.perf_counter() - t0
        if proc.returncode != 0:
            raise SystemExit(f"{recipe} failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
        summary = json.loads((out / "summary.json").read_text())
        metrics = out / "metrics.jsonl"
        history = [json.loads(line) for line in metrics.read_text().splitlines() if line.strip()] \
            if metrics.is_file() else []
    shown = " ".join(a if a != str(out) else "<run dir>" for a in args)
    shown = shown.replace(str(path), str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path))
    return run_record(recipe, summary, history, command=f"cnnzoo {shown}", wall=wall, load_before=load0)


def run_record(recipe: str, summary: dict[str, Any], history: list[dict[str, Any]], *, command: str,
               wall: float | None, load_before: list[float] | None) -> dict[str, Any]:
    """What the result files keep of one run of ``recipe``: its summary's figures and per-epoch history."""
    from recipes_table import recipe_digest

    return {"recipe": recipe, "recipe_sha256": recipe_digest(recipe_path(recipe)), "command": command,
            "wall_s": None if wall is None else round(wall, 1),
            "test_acc": summary.get("test_acc"), "best_val_acc": summary.get("best_val_acc"),
            "epochs": summary.get("epochs"), "steps": summary.get("steps"),
            "trainer_wall_s": summary.get("wall_time_s"), "train_time_s": summary.get("train_time_s"),
            "model": summary.get("model"), "device": summary.get("device"),
            "peak_memory_mb": summary.get("peak_memory_mb"), "load_before": load_before,
            "load_after": loadavg() if load_before is not None else None, "history": history}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("recipes", nargs="+", help="names in configs/ (or paths of YAML files)")
    ap.add_argument("--device", default=None)
    ap.add_argument("--repeats", type=int, default=1, help="runs per recipe (medians are reported)")
    ap.add_argument("--seeds", action="store_true",
                    help="run i of --repeats trains with train.seed=i (a median over seeds, not over one seed)")
    ap.add_argument("--set", nargs="+", default=[], dest="sets", metavar="KEY=VALUE")
    args = ap.parse_args()
    old = read_result("time_to_accuracy") or {}
    runs = dict(old.get("recipes", {}))
    for recipe in args.recipes:
        rows = []
        for i in range(args.repeats):
            log(f"{recipe} run {i + 1}/{args.repeats} (load {loadavg()})")
            seed = [f"train.seed={i}"] if args.seeds else []
            rows.append(run_recipe(recipe, device=args.device, sets=[*args.sets, *seed]))
            log(f"  {rows[-1]['wall_s']:.1f}s wall, test acc {rows[-1]['test_acc']}")
        runs[recipe] = {"runs": rows, "command": command(), "machine": machine()}
    write_result("time_to_accuracy", {"recipes": runs})


if __name__ == "__main__":
    main()
