"""Seeds and error bars: every experiment trained N times, reported as a mean with its spread.

One run per model cannot tell a real difference from noise: two seeds of the same recipe differ by
a few tenths of a point on Fashion-MNIST, as much as two architectures often do. ``cnnzoo compare
--models a,b --seeds 3``, ``cnnzoo sweep`` and ``cnnzoo ablate`` train each *arm* (a model, or a
model with some ``--set`` values) with seeds ``s, s+1, ..., s+N-1`` (``s``: the recipe's
``train.seed``, or ``--seed``) into ``DIR/runs/<arm>/seed-<k>``, and report per arm:

- the mean test accuracy and training time, their sample standard deviation (n - 1), and the 95%
  confidence interval of the mean: ``mean +- t(0.975, n-1) * std / sqrt(n)``, Student's t, because
  with three seeds the normal 1.96 would claim far too much (t = 4.30 at n = 3);
- the Pareto fronts of the means (compare.py's definition);
- every per-seed run, kept and listed (``test_accs`` in the CSV, the run folders in the Markdown).

Written into ``DIR``: ``leaderboard.md .csv .html``, ``acc_vs_params.png acc_vs_macs.png
acc_vs_time.png`` (mean with its 95% interval as an error bar; the time's standard deviation as a
horizontal one), ``curves.png`` (every run), ``results.json`` (what the tables hold, per seed, for
scripts such as benchmarks/ablations.py) and ``compare.json``. Training is resumable like compare's:
a finished run is reused, an interrupted one resumed, and a run folder holding another experiment
(its recipe changed) is refused by name.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from .compare import (
    COSTS,
    FORMAT,
    MARKER,
    RUNS,
    check_out_dir,
    claim_folder,
    config_differences,
    pareto_front,
    starred_markdown,
    train_or_reuse,
    write_text,
)
from .runs import RunRecord, read_run

RESULTS = "results.json"
RESULTS_FORMAT = "cnnzoo-seeds/1"

# Student's t at 0.975 (two-sided 95%) by degrees of freedom; above 30 the next smaller entry is
# used (slightly conservative) and past 120 the normal 1.96.
T975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262, 10: 2.228,
        11: 2.201, 12: 2.179, 13: 2.160, 14: 2.145, 15: 2.131, 16: 2.120, 17: 2.110, 18: 2.101, 19: 2.093,
        20: 2.086, 21: 2.080, 22: 2.074, 23: 2.069, 24: 2.064, 25: 2.060, 26: 2.056, 27: 2.052, 28: 2.048,
        29: 2.045, 30: 2.042, 40: 2.021, 60: 2.000, 120: 1.980}


def t975(df: float) -> float:
    """Student's t quantile at 0.975 for ``df`` degrees of freedom (floored to the table's entries)."""
    if df < 1:
        return math.nan
    if df > 120:
        return 1.960
    return T975[max(k for k in T975 if k <= df)]


@dataclass(frozen=True)
class Stat:
    """A sample's mean, standard deviation (n - 1), size and 95% confidence half-width of the mean."""

    mean: float
    std: float
    n: int
    ci: float  # mean +- ci is the 95% interval; nan for one value

    @classmethod
    def of(cls, values: Sequence[float | None]) -> Stat | None:
        xs = [float(v) for v in values if v is not None and not math.isnan(float(v))]
        if not xs:
            return None
        n = len(xs)
        mean = sum(xs) / n
        std = math.sqrt(sum((x - mean) ** 2 for x in xs) / (n - 1)) if n > 1 else math.nan
        return cls(mean, std, n, t975(n - 1) * std / math.sqrt(n) if n > 1 else math.nan)

    @property
    def low(self) -> float:
        return self.mean - self.ci

    @property
    def high(self) -> float:
        return self.mean + self.ci


def difference(a: Stat, b: Stat) -> tuple[float, float]:
    """``a.mean - b.mean`` and its 95% half-width (Welch: unequal variances, Welch-Satterthwaite df)."""
    va, vb = a.std ** 2 / a.n, b.std ** 2 / b.n
    se = math.sqrt(va + vb)
    if se == 0 or math.isnan(se):
        return a.mean - b.mean, (0.0 if se == 0 else math.nan)
    df = (va + vb) ** 2 / ((va ** 2 / (a.n - 1) if a.n > 1 else 0) + (vb ** 2 / (b.n - 1) if b.n > 1 else 0))
    return a.mean - b.mean, t975(df) * se


# --------------------------------------------------------------------------------------------------
# Arms and their training


@dataclass(frozen=True)
class Arm:
    """One experiment of a comparison: ``model`` (a model or recipe name) with ``sets`` (``key=value``)."""

    key: str                 # its folder under DIR/runs (letters, digits, . _ = , -)
    model: str
    sets: tuple[str, ...] = ()
    label: str = ""

    @property
    def name(self) -> str:
        return self.label or self.key


def folder_name(text: str) -> str:
    """``text`` made safe as one folder name (``optim.lr=0.1`` stays readable)."""
    return re.sub(r"[^A-Za-z0-9._=,+-]+", "_", text).strip("_") or "arm"


def seed_list(base: int, seeds: int) -> list[int]:
    if seeds < 1:
        raise ConfigError(f"--seeds must be at least 1, got {seeds}")
    return [base + i for i in range(seeds)]


def train_arms(arms: Sequence[Arm], out: str | Path, seeds: int, *, overrides: Mapping[str, Any] | None = None,
               sets: Sequence[str] = (), quiet: bool = False, say: Callable[[str], None] = print
               ) -> dict[str, list[Path]]:
    """Train every arm with ``seeds`` seeds into ``out/runs/<arm>/seed-<k>`` (reusing finished runs and
    resuming interrupted ones); return each arm's run directories. Every configuration is resolved
    (and so checked) before the first run trains."""
    from ..config import load_config

    out = Path(out)
    check_out_dir(out)
    if len({a.key for a in arms}) != len(arms):
        raise ConfigError("two experiments of this comparison share a folder name; give them different names")
    plans = []
    for arm in arms:
        base = load_config(model=arm.model, overrides=dict(overrides or {}), sets=[*sets, *arm.sets]).train.seed
        for seed in seed_list(base, seeds):
            cfg = load_config(model=arm.model, overrides=dict(overrides or {}),
                              sets=[*sets, *arm.sets, f"train.seed={seed}"])
            run_dir = out / RUNS / arm.key / f"seed-{seed}"
            if (run_dir / "config.yaml").is_file():
                diffs = config_differences(load_config(run_dir / "config.yaml"), cfg)
                if diffs:
                    raise ConfigError(f"{run_dir} holds a run of another experiment ({'; '.join(diffs[:3])}"
                                      f"{'; ...' if len(diffs) > 3 else ''}); use another --out, or delete that "
                                      "folder to train it again")
            plans.append((arm, seed, cfg, run_dir))
    claim_folder(out)
    done: dict[str, list[Path]] = {a.key: [] for a in arms}
    for i, (arm, seed, cfg, run_dir) in enumerate(plans, 1):
        train_or_reuse(f"[{i}/{len(plans)}] {arm.name} seed {seed}", cfg, run_dir, say=say, quiet=quiet)
        done[arm.key].append(run_dir)
    return done


# --------------------------------------------------------------------------------------------------
# Groups: an arm's runs, summarized


@dataclass
class Group:
    """One arm's runs and their statistics; ``pareto`` is judged on the means."""

    arm: Arm
    runs: list[RunRecord]
    pareto: dict[str, bool] = field(default_factory=dict)

    def values(self, key: str) -> list[Any]:
        return [r.summary.get(key) for r in self.runs]

    def stat(self, key: str) -> Stat | None:
        return Stat.of(self.values(key))

    def first(self, key: str) -> Any:
        return next((v for v in self.values(key) if v is not None), None)

    @property
    def label(self) -> str:
        return self.arm.name

    def cost(self, field_: str) -> float | None:
        """The cost the Pareto front weighs: params and MACs are the same for every seed; time is a mean."""
        if field_ == "train_time_s":
            s = self.stat(field_)
            return s.mean if s else None
        return self.first(field_)

    def to_dict(self) -> dict[str, Any]:
        def stat(key: str) -> dict[str, Any] | None:
            s = self.stat(key)
            return None if s is None else {"mean": s.mean, "std": _num(s.std), "n": s.n, "ci95": _num(s.ci),
                                           "values": self.values(key)}
        return {"key": self.arm.key, "label": self.label, "model": self.first("model"), "recipe": self.arm.model,
                "sets": list(self.arm.sets), "params": self.first("params"), "macs": self.first("macs"),
                "dataset": self.first("dataset"), "epochs": self.first("epochs"), "device": self.first("device"),
                "test_acc": stat("test_acc"), "best_val_acc": stat("best_val_acc"),
                "train_time_s": stat("train_time_s"), "pareto": dict(self.pareto),
                "runs": [str(r.path) for r in self.runs]}


def _num(v: float) -> float | None:
    return None if math.isnan(v) else v


def group_runs(arms: Sequence[Arm], run_dirs: Mapping[str, Sequence[Path]]) -> list[Group]:
    """Each arm's finished runs, sorted by mean test accuracy (best first), Pareto fronts of the means marked."""
    groups = [Group(arm, [read_run(p) for p in run_dirs[arm.key]]) for arm in arms]

    def key(g: Group) -> tuple[bool, float]:
        s = g.stat("test_acc")
        return (s is None, -(s.mean if s else 0.0))

    groups.sort(key=key)
    for name, _, field_ in COSTS:
        accs = [g.stat("test_acc") for g in groups]
        front = pareto_front([(a.mean if a else None, g.cost(field_)) for a, g in zip(accs, groups, strict=True)])
        for g, on in zip(groups, front, strict=True):
            g.pareto[name] = on
    return groups


# --------------------------------------------------------------------------------------------------
# Tables


def pm(s: Stat | None, scale: float = 100.0, digits: int = 2, unit: str = "%") -> str:
    """``91.23 ± 0.31%`` (mean ± standard deviation); a single run shows its value alone."""
    if s is None:
        return "-"
    if s.n == 1:
        return f"{scale * s.mean:.{digits}f}{unit}"
    return f"{scale * s.mean:.{digits}f} ± {scale * s.std:.{digits}f}{unit}"


def interval(s: Stat | None, scale: float = 100.0, digits: int = 2) -> str:
    """``[90.46, 92.00]``: the 95% interval of the mean, clipped to [0, 1] times ``scale`` (what an
    accuracy can be); ``-`` with fewer than two seeds."""
    if s is None or s.n < 2:
        return "-"
    return f"[{scale * max(0.0, s.low):.{digits}f}, {scale * min(1.0, s.high):.{digits}f}]"


SEEDS_HEADER = ("#", "experiment", "seeds", "params", "MACs", "test acc (mean ± std)", "95% interval",
                "best val acc", "train time (mean ± std)", "Pareto front")
SEEDS_ALIGN = "rlrrrrrrrl"

SEEDS_CSV_COLUMNS = ("rank", "experiment", "model", "sets", "seeds", "params", "macs", "test_acc_mean",
                     "test_acc_std", "test_acc_ci95_low", "test_acc_ci95_high", "best_val_acc_mean",
                     "train_time_s_mean", "train_time_s_std", "pareto_params", "pareto_macs", "pareto_time",
                     "test_accs", "runs")


def seeds_table_rows(groups: Sequence[Group]) -> list[tuple[Any, ...]]:
    from .html import human

    out = []
    for i, g in enumerate(groups, 1):
        acc, time = g.stat("test_acc"), g.stat("train_time_s")
        pareto = ", ".join(n for (k, _, _), n in zip(COSTS, ("params", "MACs", "time"), strict=True)
                           if g.pareto.get(k)) or "-"
        out.append((i, g.label, len(g.runs), human(g.first("params")), human(g.first("macs")), pm(acc),
                    interval(acc), pm(g.stat("best_val_acc")), pm(time, 1.0, 1, " s"), pareto))
    return out


def seeds_csv(groups: Sequence[Group]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(SEEDS_CSV_COLUMNS)
    for i, g in enumerate(groups, 1):
        acc, val, time = g.stat("test_acc"), g.stat("best_val_acc"), g.stat("train_time_s")

        def v(x: Any, name: str | None = None) -> Any:
            x = getattr(x, name) if name is not None and x is not None else x
            return "" if x is None or (isinstance(x, float) and math.isnan(x)) else x

        w.writerow([i, g.label, g.first("model"), " ".join(g.arm.sets), len(g.runs), v(g.first("params")),
                    v(g.first("macs")), v(acc, "mean"), v(acc, "std"), v(acc, "low"), v(acc, "high"),
                    v(val, "mean"), v(time, "mean"), v(time, "std"),
                    *("true" if g.pareto.get(k) else "false" for k, _, _ in COSTS),
                    ";".join("" if a is None else str(a) for a in g.values("test_acc")),
                    ";".join(str(r.path) for r in g.runs)])
    return buf.getvalue()


def seeds_markdown(groups: Sequence[Group]) -> str:
    starred = [any(g.pareto.values()) for g in groups]
    return starred_markdown(SEEDS_HEADER, SEEDS_ALIGN, seeds_table_rows(groups), starred)


# --------------------------------------------------------------------------------------------------
# Plots with error bars


def plot_tradeoff_seeds(groups: Sequence[Group], cost: str, path: Path) -> bool:
    """Mean test accuracy against one cost, the 95% interval as a vertical error bar (and the time's
    standard deviation as a horizontal one), the Pareto front of the means joined and starred."""
    from .compare import _label_points
    from .plots import _plt, _save

    label, field_ = next((lbl, f) for k, lbl, f in COSTS if k == cost)
    pts = []
    for g in groups:
        acc, c = g.stat("test_acc"), g.cost(field_)
        if acc is not None and c is not None and c > 0:
            t = g.stat(field_) if cost == "time" else None
            xerr = t.std if t is not None and t.n > 1 else 0.0
            # the interval, clipped to what an accuracy can be: (below, above) the mean
            yerr = (100 * (acc.mean - max(0.0, acc.low)), 100 * (min(1.0, acc.high) - acc.mean)) \
                if acc.n > 1 else (0.0, 0.0)
            pts.append((g, float(c), 100 * acc.mean, xerr, yerr))
    if not pts:
        return False
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    for on, color, size, marker, name in ((False, "#8a96a3", 40, "o", "dominated"),
                                          (True, "#c78a00", 140, "*", "Pareto front (means)")):
        sel = [p for p in pts if bool(p[0].pareto.get(cost)) == on]
        if not sel:
            continue
        ax.errorbar([p[1] for p in sel], [p[2] for p in sel], yerr=[[p[4][0] for p in sel], [p[4][1] for p in sel]],
                    xerr=[p[3] for p in sel], fmt="none", ecolor=color, elinewidth=1, capsize=3, zorder=2)
        ax.scatter([p[1] for p in sel], [p[2] for p in sel], s=size, marker=marker, color=color,
                   edgecolor="black" if on else None, linewidths=0.5, label=name, zorder=4)
        if on:
            front = sorted(sel, key=lambda p: (p[1], p[2]))
            ax.step([p[1] for p in front], [p[2] for p in front], where="post", color=color, lw=1.5, alpha=0.8)
    costs = [p[1] for p in pts]
    if max(costs) / min(costs) > 20:
        ax.set_xscale("log")
    if cost != "time":
        from matplotlib.ticker import FuncFormatter

        from .html import human

        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: human(v)))
    seeds = sorted({len(p[0].runs) for p in pts})
    ax.set(xlabel=label + (" (log scale)" if ax.get_xscale() == "log" else ""),
           ylabel="test accuracy (%), mean and 95% interval",
           title=f"test accuracy vs {label.split(' (')[0]} ({'/'.join(map(str, seeds))} seeds each)")
    ax.grid(alpha=0.3, which="both")
    ax.margins(x=0.15, y=0.12)
    _label_points(ax, [(p[0].label, p[1], p[2]) for p in pts])
    ax.legend(loc="best", fontsize=8)
    _save(fig, path)
    return True


# --------------------------------------------------------------------------------------------------
# The folder


def write_seeds_leaderboard(groups: Sequence[Group], out: Path, *, title: str = "Leaderboard",
                            extra: Mapping[str, Any] | None = None,
                            plots: Sequence[tuple[Path, str]] = ()) -> list[Path]:
    """Tables, plots, results.json and compare.json for ``groups`` in ``out``; the files written.
    ``plots`` are more (png, caption) pairs to show (a sweep's metric against each key)."""
    from .compare import Row, plot_curves
    from .html import Html, esc, img, page, table, write_page

    out.mkdir(parents=True, exist_ok=True)
    files: list[Path] = []
    shown: list[tuple[str, str]] = [(p.name, cap) for p, cap in plots]
    files += [p for p, _ in plots]
    for cost, label, _ in COSTS:
        p = out / f"acc_vs_{cost}.png"
        if plot_tradeoff_seeds(groups, cost, p):
            files.append(p)
            shown.append((p.name, f"test accuracy vs {label}, mean and 95% interval"))
    runs = [Row(r, f"{g.label} ({r.name})") for g in groups for r in g.runs]
    p = out / "curves.png"
    if plot_curves(runs, p):
        files.append(p)
        shown.append((p.name, "training curves, every seed"))

    def write(name: str, text: str) -> None:
        files.append(write_text(out / name, text))

    datasets = ", ".join(sorted({str(r.summary.get("dataset")) for g in groups for r in g.runs}))
    seeds = sorted({len(g.runs) for g in groups})
    intro = (f"{len(groups)} experiment{'s' if len(groups) != 1 else ''} on {datasets}, "
             f"{'/'.join(map(str, seeds))} seed{'s' if seeds != [1] else ''} each, sorted by mean test accuracy. "
             "± is the standard deviation over the seeds; the 95% interval is that of the mean (Student's t). "
             "★ marks the Pareto front of the means (parameters, MACs or training time).")
    write("leaderboard.csv", seeds_csv(groups))
    md = [f"# {title}: {datasets}", "", intro, "", seeds_markdown(groups), ""]
    md += [f"![{alt}]({name})" for name, alt in shown] + [""]
    md += ["Runs:", ""] + [f"- `{g.label}`: " + ", ".join(str(r.path) for r in g.runs) for g in groups] + [""]
    write("leaderboard.md", "\n".join(md))
    tbl = table(SEEDS_HEADER, [list(c) for c in seeds_table_rows(groups)], align=SEEDS_ALIGN)
    figs = "".join(img((out / name).read_bytes(), alt) for name, alt in shown)
    details = table(("experiment", "settings", "runs"),
                    [(g.label, " ".join(g.arm.sets) or "-", Html("<br>".join(esc(str(r.path)) for r in g.runs)))
                     for g in groups], align="lll")
    write_page(out / "leaderboard.html", page(f"{title}: {datasets}", [
        ("leaderboard", title, f"<p>{esc(intro)}</p>{tbl}"),
        ("plots", "Plots", figs or '<p class="note">Nothing to plot.</p>'),
        ("runs", "Runs", details)]))
    files.append(out / "leaderboard.html")
    results = {"format": RESULTS_FORMAT, "written_at": datetime.now().isoformat(timespec="seconds"),
               **dict(extra or {}), "groups": [g.to_dict() for g in groups]}
    write(RESULTS, json.dumps(results, indent=2) + "\n")
    marker = {"format": FORMAT, "written_at": results["written_at"], "seeds": seeds,
              "runs": [str(r.path) for g in groups for r in g.runs]}
    write(MARKER, json.dumps(marker, indent=2) + "\n")
    return files


@dataclass
class SeedsResult:
    out: Path
    groups: list[Group]
    files: list[Path]


def compare_seeds(arms: Sequence[Arm], out: str | Path, seeds: int, *, overrides: Mapping[str, Any] | None = None,
                  sets: Sequence[str] = (), quiet: bool = False, say: Callable[[str], None] = print,
                  title: str = "Leaderboard", extra: Mapping[str, Any] | None = None) -> SeedsResult:
    """Train every arm with ``seeds`` seeds (what is missing) and write the leaderboard of means."""
    out = Path(out)
    dirs = train_arms(arms, out, seeds, overrides=overrides, sets=sets, quiet=quiet, say=say)
    groups = group_runs(arms, dirs)
    return SeedsResult(out, groups, write_seeds_leaderboard(groups, out, title=title, extra=extra))
