"""Training curves of the recipes: run ``cnnzoo train --config configs/<recipe>.yaml`` to its full
length and keep the run's per-epoch history (metrics.jsonl) for the lesson pages.

    python benchmarks/recipe_curves.py RECIPE [RECIPE ...] [--device cpu] [--set KEY=VALUE ...]

Accuracy and loss per epoch do not depend on how busy the machine is, so this may run beside
other work (``nice``); the wall time it records is then not a speed figure, and the file says the
load. Speed figures come from benchmarks/time_to_accuracy.py on a quiet machine. Writes
benchmarks/results/recipe_curves.json (merged by recipe); scripts/lessons.py draws
docs/zoo/img/<family>-curves.png from it.
"""

from __future__ import annotations

import argparse

from _common import command, log, machine, read_result, write_result
from time_to_accuracy import run_recipe


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("recipes", nargs="+", help="names in configs/")
    ap.add_argument("--device", default=None)
    ap.add_argument("--set", nargs="+", default=[], dest="sets", metavar="KEY=VALUE")
    args = ap.parse_args()
    for recipe in args.recipes:
        log(f"{recipe} ...")
        run = run_recipe(recipe, device=args.device, sets=args.sets)
        log(f"  test acc {run['test_acc']}, {len(run['history'])} epochs")
        # Re-read before writing: several of these may run one after another or side by side.
        old = read_result("recipe_curves") or {}
        recipes = dict(old.get("recipes", {}))
        recipes[recipe] = {"run": run, "command": command(), "machine": machine()}
        write_result("recipe_curves", {"recipes": recipes})


if __name__ == "__main__":
    main()
