"""Sweeps: one recipe trained over a grid of ``--set`` values (or searched by Optuna), each point with its seeds.

``cnnzoo sweep --model resnet --set optim.lr=0.05,0.1,0.2 data.batch_size=64,128 --seeds 2`` trains
the 3 x 2 grid, each point twice, and writes compare's leaderboard of means (report/seeds.py) plus
``sweep_<key>.png`` for every swept key: the mean test accuracy (95% interval as an error bar)
against that key's values, one line per setting of the other keys. A ``--set`` whose value has a
comma outside brackets is swept; one without is fixed for every point (``[0.9, 0.99]`` stays one
list value).

Where the grid is too large, ``--trials N`` lets Optuna choose N points instead (its default TPE
sampler, seeded with ``train.seed``). A swept key is then a list of choices (``a,b,c``) or a range
``lo:hi`` (integers when both ends are, floats otherwise; ``lo:hi:log`` for a log scale). Optuna
maximizes the mean *validation* accuracy (best epoch) over the seeds, so the test split plays no part
in the choice; the leaderboard still reports test accuracy. The study lives in ``DIR/optuna.db``
(SQLite, no server), and each trial's runs in ``DIR/runs/<its settings>``, so a sweep that was
interrupted continues with the same command: finished trials are kept, the trial that was cut off
is asked again with the same values and resumes its runs from their checkpoints.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import CnnzooError, ConfigError
from .seeds import (
    Arm,
    Group,
    SeedsResult,
    folder_name,
    group_runs,
    train_arms,
    write_seeds_leaderboard,
)

STUDY_FILE = "optuna.db"
STUDY_NAME = "cnnzoo-sweep"
OPTUNA_MISSING = ("--trials needs Optuna, which is not installed: pip install 'cnnzoo[sweep]' "
                  "(or pip install optuna)")


@dataclass(frozen=True)
class Axis:
    """A swept key: its choices (``values``), or a numeric range ``low``..``high`` for Optuna."""

    key: str
    values: tuple[Any, ...] = ()
    low: float | None = None
    high: float | None = None
    log: bool = False
    integer: bool = False

    @property
    def is_range(self) -> bool:
        return self.low is not None

    @property
    def short(self) -> str:
        return self.key.rsplit(".", 1)[-1]


def _split_top_level(text: str) -> list[str]:
    """Split on commas outside brackets and quotes."""
    parts, depth, quote, cur = [], 0, "", ""
    for ch in text:
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in "[{(":
            depth += 1
        elif ch in "]})":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
            continue
        cur += ch
    return [*parts, cur]


def _number(text: str) -> float | int | None:
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return None


def parse_sweep(sets: Sequence[str]) -> tuple[list[str], list[Axis]]:
    """``--set`` strings -> (the fixed ones, the swept axes). Each value is read as ``--set`` reads it."""
    from ..config import parse_override

    fixed, axes = [], []
    for text in sets:
        key, _ = parse_override(text)  # checks the key's form
        raw = text.partition("=")[2]
        pieces = _split_top_level(raw)
        if len(pieces) > 1:
            if any(not p.strip() for p in pieces):
                raise ConfigError(f"--set {text}: an empty value in the list; write the values as a,b,c")
            values = tuple(parse_override(f"{key}={p.strip()}")[1] for p in pieces)
            if len(set(map(repr, values))) != len(values):
                raise ConfigError(f"--set {text}: a value is listed twice")
            axes.append(Axis(key, values))
            continue
        bounds = raw.split(":")
        if len(bounds) in (2, 3) and all(_number(b) is not None for b in bounds[:2]) and \
                (len(bounds) == 2 or bounds[2] == "log"):
            low, high = _number(bounds[0]), _number(bounds[1])
            assert low is not None and high is not None
            if not low < high:
                raise ConfigError(f"--set {text}: a range needs low < high")
            if len(bounds) == 3 and low <= 0:
                raise ConfigError(f"--set {text}: a log range needs a positive low end")
            axes.append(Axis(key, low=low, high=high, log=len(bounds) == 3,
                             integer=isinstance(low, int) and isinstance(high, int)))
            continue
        fixed.append(text)
    if len({a.key for a in axes}) != len(axes):
        raise ConfigError("a key is swept twice; give each swept key once, its values separated by commas")
    return fixed, axes


def _show(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def point_arm(model: str, point: Mapping[str, Any], exact: bool = False) -> Arm:
    """The arm of one point of a sweep. Its folder is the readable settings, with a short hash of the
    exact values when Optuna chose them (two lrs that print alike must not share runs)."""
    readable = ",".join(f"{k}={_show(v)}" for k, v in point.items())
    key = folder_name(readable)
    if exact:
        key += "-" + hashlib.sha1(repr(sorted(point.items())).encode()).hexdigest()[:6]
    sets = tuple(f"{k}={json.dumps(v)}" for k, v in point.items())  # JSON is YAML: --set reads it back exactly
    label = " ".join(f"{k.rsplit('.', 1)[-1]}={_show(v)}" for k, v in point.items())
    return Arm(key, model, sets, label)


def plot_sweep_axis(groups: Sequence[Group], points: Mapping[str, Mapping[str, Any]], axis: str,
                    path: Path) -> bool:
    """Mean test accuracy (95% interval) against one swept key, a line per setting of the other keys."""
    from .plots import _plt, _save

    rows = [(g, points[g.arm.key], s) for g in groups if g.arm.key in points
            for s in [g.stat("test_acc")] if s is not None and axis in points[g.arm.key]]
    if not rows:
        return False
    values = [p[axis] for _, p, _ in rows]
    numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
    cats = sorted({repr(v) for v in values}) if not numeric else []
    x_of = (lambda v: float(v)) if numeric else (lambda v: float(cats.index(repr(v))))
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    lines: dict[str, list] = {}
    for _, p, s in rows:
        rest = " ".join(f"{k.rsplit('.', 1)[-1]}={_show(v)}" for k, v in p.items() if k != axis)
        lines.setdefault(rest, []).append((x_of(p[axis]), 100 * s.mean, s))
    for rest, pts in sorted(lines.items()):
        pts.sort(key=lambda t: t[0])
        err = [[100 * (s.mean - max(0.0, s.low)) if s.n > 1 else 0 for _, _, s in pts],
               [100 * (min(1.0, s.high) - s.mean) if s.n > 1 else 0 for _, _, s in pts]]
        ax.errorbar([x for x, _, _ in pts], [y for _, y, _ in pts], yerr=err, fmt="-o", ms=4, capsize=3,
                    label=rest or None)
    if numeric and min(values) > 0 and max(values) / min(values) >= 10:
        ax.set_xscale("log")
    if not numeric:
        ax.set_xticks(range(len(cats)), cats)
    ax.set(xlabel=axis, ylabel="test accuracy (%), mean and 95% interval", title=f"test accuracy vs {axis}")
    ax.grid(alpha=0.3, which="both")
    if any(lines):
        ax.legend(fontsize=8, loc="best")
    _save(fig, path)
    return True


def _finish(groups: list[Group], points: Mapping[str, Mapping[str, Any]], axes: Sequence[Axis], out: Path,
            extra: Mapping[str, Any]) -> SeedsResult:
    plots = []
    for axis in axes:
        p = out / f"sweep_{folder_name(axis.key)}.png"
        if plot_sweep_axis(groups, points, axis.key, p):
            plots.append((p, f"test accuracy vs {axis.key}"))
    return SeedsResult(out, groups, write_seeds_leaderboard(groups, out, title="Sweep", extra=extra, plots=plots))


def sweep(model: str, sets: Sequence[str], out: str | Path, *, seeds: int = 1, trials: int | None = None,
          overrides: Mapping[str, Any] | None = None, quiet: bool = False,
          say: Callable[[str], None] = print) -> SeedsResult:
    """Train ``model``'s recipe over the swept ``sets`` (a grid, or ``trials`` Optuna trials) into ``out``."""
    fixed, axes = parse_sweep(sets)
    if not axes:
        raise ConfigError("nothing to sweep: give a key several values, e.g. --set optim.lr=0.05,0.1,0.2")
    out = Path(out)
    if trials is not None:
        return _search(model, fixed, axes, out, trials, seeds, overrides, quiet, say)
    ranges = [a.key for a in axes if a.is_range]
    if ranges:
        raise ConfigError(f"--set {ranges[0]}=low:high is a range: give --trials N to search it, or list "
                          "the values to try (a,b,c)")
    keys = [a.key for a in axes]
    grid = [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*(a.values for a in axes))]
    arms = [point_arm(model, p) for p in grid]
    say(f"sweep: {len(arms)} point{'s' if len(arms) != 1 else ''} x {seeds} seed{'s' if seeds != 1 else ''}")
    dirs = train_arms(arms, out, seeds, overrides=overrides, sets=fixed, quiet=quiet, say=say)
    groups = group_runs(arms, dirs)
    points = {a.key: p for a, p in zip(arms, grid, strict=True)}
    extra = {"sweep": {"model": model, "fixed": fixed, "axes": [a.key for a in axes], "seeds": seeds}}
    return _finish(groups, points, axes, out, extra)


# --------------------------------------------------------------------------------------------------
# Optuna


def _optuna() -> Any:
    try:
        import optuna
    except ImportError:
        raise CnnzooError(OPTUNA_MISSING) from None
    return optuna


def _distributions(optuna: Any, axes: Sequence[Axis]) -> dict[str, Any]:
    d = optuna.distributions
    out = {}
    for a in axes:
        if not a.is_range:
            out[a.key] = d.CategoricalDistribution(list(a.values))
        elif a.integer:
            out[a.key] = d.IntDistribution(int(a.low), int(a.high), log=a.log)  # type: ignore[arg-type]
        else:
            out[a.key] = d.FloatDistribution(float(a.low), float(a.high), log=a.log)  # type: ignore[arg-type]
    return out


def _space_text(model: str, fixed: Sequence[str], axes: Sequence[Axis], seeds: int) -> str:
    return json.dumps({"model": model, "fixed": list(fixed), "seeds": seeds,
                       "axes": [[a.key, [repr(v) for v in a.values], a.low, a.high, a.log] for a in axes]})


def _objective(group: Group) -> float:
    """What Optuna maximizes: the mean best validation accuracy (test accuracy when there is no validation)."""
    s = group.stat("best_val_acc") or group.stat("test_acc")
    return s.mean if s is not None else math.nan


def _search(model: str, fixed: list[str], axes: list[Axis], out: Path, trials: int, seeds: int,
            overrides: Mapping[str, Any] | None, quiet: bool, say: Callable[[str], None]) -> SeedsResult:
    from ..config import load_config
    from .compare import check_out_dir

    if trials < 1:
        raise ConfigError(f"--trials must be at least 1, got {trials}")
    optuna = _optuna()
    check_out_dir(out)
    base = load_config(model=model, overrides=dict(overrides or {}), sets=fixed)  # checks the fixed sets now
    out.mkdir(parents=True, exist_ok=True)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = f"sqlite:///{(out / STUDY_FILE).resolve().as_posix()}"
    study = optuna.create_study(study_name=STUDY_NAME, storage=storage, load_if_exists=True, direction="maximize",
                                sampler=optuna.samplers.TPESampler(seed=base.train.seed))
    space = _space_text(model, fixed, axes, seeds)
    saved = study.user_attrs.get("space")
    if saved is None:
        study.set_user_attr("space", space)
    elif saved != space:
        raise ConfigError(f"{out / STUDY_FILE} holds a search of another space (model, --set or --seeds "
                          "changed); use another --out, or delete that folder to search again")
    state = optuna.trial.TrialState
    for t in study.get_trials(deepcopy=False, states=(state.RUNNING,)):  # cut off last time: ask again
        study.tell(t.number, state=state.FAIL)
        study.enqueue_trial(t.params, skip_if_exists=False)
        say(f"trial {t.number} was interrupted; its values are asked again and its runs resumed")
    dists = _distributions(optuna, axes)
    done = len(study.get_trials(deepcopy=False, states=(state.COMPLETE,)))
    if done:
        say(f"{out / STUDY_FILE}: {done} of {trials} trials already finished")
    while done < trials:
        trial = study.ask(dists)
        arm = point_arm(model, trial.params, exact=True)
        say(f"trial {trial.number} ({done + 1}/{trials}): {arm.label}")
        trial.set_user_attr("arm", arm.key)
        try:
            dirs = train_arms([arm], out, seeds, overrides=overrides, sets=fixed, quiet=quiet, say=say)
        except CnnzooError:  # these values make no valid run (say a batch size the data cannot fill)
            study.tell(trial, state=state.FAIL)
            raise
        value = _objective(group_runs([arm], dirs)[0])
        if math.isnan(value):
            study.tell(trial, state=state.FAIL)
        else:
            study.tell(trial, value)
            done += 1
    finished = [t for t in study.get_trials(deepcopy=False, states=(state.COMPLETE,))]
    arms, points, seen = [], {}, set()
    for t in finished:
        arm = point_arm(model, t.params, exact=True)
        if arm.key not in seen:
            seen.add(arm.key)
            arms.append(arm)
            points[arm.key] = t.params
    dirs = train_arms(arms, out, seeds, overrides=overrides, sets=fixed, quiet=True, say=lambda _: None)
    groups = group_runs(arms, dirs)
    best = study.best_trial
    extra = {"sweep": {"model": model, "fixed": fixed, "axes": [a.key for a in axes], "seeds": seeds,
                       "trials": trials, "objective": "mean best validation accuracy", "storage": STUDY_FILE,
                       "best": {"trial": best.number, "params": best.params, "value": best.value}}}
    say(f"best trial {best.number}: {point_arm(model, best.params).label} (mean best val acc {100 * best.value:.2f}%)")
    return _finish(groups, points, axes, out, extra)
