"""Does a recipe's loss spike in its first epoch? The largest training-batch loss of epoch 1.

    python benchmarks/first_epoch_loss.py RECIPE [RECIPE ...] [--steps N] [--set KEY=VALUE ...]

Each recipe trains exactly as ``cnnzoo train --model RECIPE`` would (its own schedule over its
full length: ``--steps`` only stops early, it does not shorten the warm-up), for its first epoch
or the first ``--steps`` batches, and this prints the largest batch loss once the loss has first
gone below the chance level ln(classes) (the loss of a model that predicts every class alike; a
freshly initialized network starts a little above it), and where it occurred. A recipe whose loss
climbs back above chance has let its weights blow up; warm-up (``onecycle``'s
``schedule.pct_start``, ``schedule.warmup_epochs``) is the usual cure. Nothing is written to disk.

This is a check of training dynamics, not a timing: it runs wherever the data is.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from cnnzoo.config import load_config
from cnnzoo.engine.callbacks import Callback
from cnnzoo.engine.trainer import Trainer


class BatchLosses(Callback):
    """Every batch loss, with the learning rate it was taken at."""

    def __init__(self) -> None:
        self.rows: list[tuple[int, float, float]] = []

    def on_train_batch_end(self, trainer, loss) -> None:
        step = trainer.state.step - 1
        self.rows.append((step, float(loss.item()), trainer.schedule(step)))


def first_epoch(recipe: str, steps: int | None, sets: list[str]) -> dict:
    cfg = load_config(model=recipe, sets=sets)
    losses = BatchLosses()
    trainer = Trainer(cfg, output=False, callbacks=[losses])
    trainer.setup()
    n = trainer.steps_per_epoch if steps is None else min(steps, trainer.steps_per_epoch)
    trainer.run_steps(n)
    chance = math.log(len(trainer.ds.classes))
    rows = losses.rows
    below = next((i for i, r in enumerate(rows) if r[1] < chance), len(rows) - 1)  # learning has begun
    step, worst, lr = max(rows[below:], key=lambda r: r[1])
    return {"recipe": recipe, "steps": n, "of": trainer.steps_per_epoch, "max_loss": worst, "at_step": step,
            "lr_there": lr, "chance": chance, "first_loss": rows[0][1], "below_at": rows[below][0],
            "last_loss": rows[-1][1], "last_lr": rows[-1][2]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("recipes", nargs="+")
    ap.add_argument("--steps", type=int, default=None, help="stop after this many batches of epoch 1")
    ap.add_argument("--set", nargs="*", default=[], dest="sets", metavar="KEY=VALUE")
    args = ap.parse_args()
    for recipe in args.recipes:
        r = first_epoch(recipe, args.steps, args.sets)
        flag = "ABOVE CHANCE" if r["max_loss"] > r["chance"] else "ok"
        print(f"{r['recipe']}: {r['steps']}/{r['of']} steps of epoch 1: loss {r['first_loss']:.3f} at step 0, "
              f"below chance ln(C) = {r['chance']:.3f} from step {r['below_at']}, then at most "
              f"{r['max_loss']:.3f} (step {r['at_step']}, lr {r['lr_there']:.3g}): {flag}; "
              f"last batch {r['last_loss']:.3f} at lr {r['last_lr']:.3g}", flush=True)


if __name__ == "__main__":
    main()
