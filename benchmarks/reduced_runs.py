"""Recipes at reduced length: ``cnnzoo train --config configs/<recipe>.yaml`` for fewer epochs than
the recipe's own (default one), for recipes whose full length does not fit a session on a 2-core CPU.

    python benchmarks/reduced_runs.py RECIPE [RECIPE ...] [--epochs 1] [--device cpu]

The one-cycle schedule is compressed into the shorter run (``train.epochs`` is what it follows), so
the figure is what the recipe's schedule reaches in that many epochs, not the recipe's result at
epoch N of its full length. Writes benchmarks/results/reduced_runs.json (merged by recipe; each
record keeps the epochs, the test accuracy, the per-epoch history, the wall time from the command's
start and the load before and after); docs/results.md's table quotes it beside a recipe that has no
full-length result yet (benchmarks/recipes_table.py).
"""

from __future__ import annotations

import argparse

from _common import command, log, machine, read_result, write_result
from time_to_accuracy import run_recipe


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("recipes", nargs="+", help="names in configs/")
    ap.add_argument("--epochs", type=int, default=1, help="epochs of each run (default 1)")
    ap.add_argument("--device", default=None)
    args = ap.parse_args()
    for recipe in args.recipes:
        log(f"{recipe}: {args.epochs} epoch(s) ...")
        run = run_recipe(recipe, device=args.device, sets=[f"train.epochs={args.epochs}"])
        log(f"  test acc {run['test_acc']}, {run['wall_s']:.1f} s")
        old = read_result("reduced_runs") or {}
        recipes = dict(old.get("recipes", {}))
        recipes[recipe] = {"run": run, "command": command(), "machine": machine()}
        write_result("reduced_runs", {"recipes": recipes})


if __name__ == "__main__":
    main()
