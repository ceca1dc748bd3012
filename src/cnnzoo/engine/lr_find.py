"""The learning-rate range test (Smith, 2015, "Cyclical Learning Rates"; fastai's ``lr_find``).

Train from the recipe's starting point (its model, data, augmentation, optimizer and batch size)
for up to ``steps`` steps while the learning rate grows exponentially from ``start_lr`` to
``end_lr``, and record the loss of each step. The loss first stays flat (lr too small to matter),
then falls (the useful range), then explodes; the test stops once the smoothed loss exceeds four
times its minimum (fastai's ``stop_div``) or is not finite.

The suggestion is the **steepest descent** of the smoothed loss: the lr where the loss, plotted
against log10(lr), falls fastest (fastai's ``steep``), looked for below the lr of the lowest
smoothed loss. The older rule of thumb, the lr of the
lowest smoothed loss divided by ten (``min/10``), is reported beside it. Both are hints for the
*peak* lr of a schedule (``optim.lr``); with one-cycle the peak is often a few times higher.

Nothing is written: the trainer runs with ``output=False`` (no run directory, no checkpoints) and
its model is thrown away afterwards.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import ConfigError

SMOOTHING = 0.98  # fastai's exponential moving average of the loss (debiased)
DIVERGE = 4.0  # stop once the smoothed loss exceeds this multiple of its minimum


@dataclass
class LRFindResult:
    lrs: list[float]
    losses: list[float]  # raw loss of each step
    smoothed: list[float]
    suggestion: float  # steepest descent of the smoothed loss
    min_div_10: float  # the lr of the lowest smoothed loss / 10
    stopped_early: bool  # the loss diverged before the last step
    info: dict[str, Any] = field(default_factory=dict)


def smooth(losses: list[float], beta: float = SMOOTHING) -> list[float]:
    avg, out = 0.0, []
    for i, loss in enumerate(losses, 1):
        avg = beta * avg + (1 - beta) * loss
        out.append(avg / (1 - beta ** i))
    return out


def suggest(lrs: list[float], smoothed: list[float]) -> tuple[float, float]:
    """(steepest descent, min/10) of a recorded range test."""
    if len(lrs) < 3:
        raise ConfigError(f"the lr range test recorded only {len(lrs)} steps before the loss diverged; "
                          "lower --start-lr or raise --steps")
    sm = np.asarray(smoothed)
    grads = np.gradient(sm, np.log10(np.asarray(lrs)))
    # search up to the lowest smoothed loss (past it the loss rises: a fall there is a rebound
    # from divergence, not a useful lr), skipping the first tenth, where the debiased average
    # has seen few steps
    best = int(np.argmin(sm))
    lo = min(max(1, len(lrs) // 10), max(0, best - 1))
    steep = lrs[lo + int(np.argmin(grads[lo:best + 1]))]
    return float(steep), float(lrs[best] / 10)


def lr_find(cfg: Any, *, start_lr: float = 1e-7, end_lr: float = 10.0, steps: int = 100,
            console: Any = None) -> LRFindResult:
    """Run the range test for ``cfg`` and return what it recorded (see the module docstring)."""
    from .progress import Console
    from .trainer import Trainer

    if not 0 < start_lr < end_lr:
        raise ConfigError(f"the lr range must rise: --start-lr {start_lr:g} must be below --end-lr {end_lr:g}, "
                          "both above 0")
    if steps < 5:
        raise ConfigError(f"--steps must be at least 5, got {steps}")
    t = Trainer(cfg, output=False, console=console or Console(quiet=True))
    t.setup()
    ratio = (end_lr / start_lr) ** (1 / (steps - 1))
    t.schedule = lambda step: start_lr * ratio ** step  # type: ignore[assignment]
    lrs: list[float] = []
    losses: list[float] = []
    best, stopped = math.inf, False
    t.net.train()
    epoch = 0
    while len(losses) < steps and not stopped:
        t.train_loader.set_epoch(epoch)
        for x, y in t.train_loader:
            lr = t.schedule(t.state.step)
            loss = float(t.train_step(x, y).detach().float().item())
            lrs.append(lr)
            losses.append(loss)
            if not math.isfinite(loss):  # a non-finite loss is no data point
                lrs.pop()
                losses.pop()
                stopped = True
                break
            s = smooth(losses)[-1]
            best = min(best, s)
            if s > DIVERGE * best:
                stopped = True
                break
            if len(losses) >= steps:
                break
        epoch += 1
    smoothed = smooth(losses)
    steep, low = suggest(lrs, smoothed)
    info = {"model": t.model_name, "dataset": t.ds.name, "batch_size": cfg.data.batch_size,
            "optimizer": cfg.optim.name, "device": t.rt.describe(), "recipe_lr": cfg.optim.lr}
    return LRFindResult(lrs, losses, smoothed, steep, low, stopped, info)
