"""Compare architectures: a leaderboard of finished runs, and the pictures that show the trade-offs.

``cnnzoo compare RUN... --out DIR`` reads finished runs; ``cnnzoo compare --models a,b,c --out DIR``
first trains what is missing, one model after another, through the very path ``cnnzoo train``
takes, into ``DIR/runs/<model>``. A model whose run is already finished there is reused, and one
that was interrupted is resumed, so a compare that stopped halfway continues where it stopped.

Written into ``DIR``::

    leaderboard.md  .csv  .html     one row per run, sorted by test accuracy
    acc_vs_params.png  acc_vs_macs.png  acc_vs_time.png   accuracy against each cost
    curves.png                      validation accuracy and training loss, every run overlaid
    compare.json                    which runs the leaderboard holds (marks DIR as a compare folder)

The Pareto front. For one cost (parameters, MACs or training time) a run is on the front when no
other run is at least as accurate and at most as costly, and strictly better in one of the two.
Those are the only runs worth choosing on that axis; every other run is beaten by one of them. The
tables mark them (``pareto_*`` columns in the CSV, a star in the others) and the plots join them.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import logging
import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, TypeGuard

from ..errors import CnnzooError, ConfigError, OutputError
from ..paths import describe
from .runs import RunRecord, read_run

log = logging.getLogger("cnnzoo.report")

MARKER = "compare.json"
FORMAT = "cnnzoo-compare/1"
RUNS = "runs"  # where `compare --models` trains, inside the compare folder

# The costs accuracy is weighed against: key, axis label, summary field.
COSTS = (("params", "parameters", "params"), ("macs", "multiply-accumulates per image", "macs"),
         ("time", "training time (s)", "train_time_s"))

COST_NAMES = {"params": "params", "macs": "MACs", "time": "time"}

# Keys that may differ between a run found in the compare folder and the one asked for, without it
# being another experiment: where the data is and what the run is computed on.
SAME_EXPERIMENT_IGNORES = ("output.", "data.data_dir", "data.offline", "data.num_workers", "train.device",
                           "train.threads")

CSV_COLUMNS = ("rank", "model", "label", "dataset", "params", "macs", "test_acc", "best_val_acc", "epochs",
               "train_time_s", "samples_per_s", "pareto_params", "pareto_macs", "pareto_time", "test_split",
               "device", "run")


@dataclass
class Row:
    """One leaderboard line: a run and whether it is on each Pareto front."""

    run: RunRecord
    label: str
    pareto: dict[str, bool] = field(default_factory=dict)

    def get(self, key: str, default: Any = None) -> Any:
        return self.run.summary.get(key, default)

    @property
    def pareto_text(self) -> str:
        return ", ".join(COST_NAMES[k] for k, _, _ in COSTS if self.pareto.get(k)) or "-"


@dataclass
class CompareResult:
    out: Path
    rows: list[Row]
    files: list[Path]


# --------------------------------------------------------------------------------------------------
# The leaderboard


def pareto_front(points: Sequence[tuple[float | None, float | None]]) -> list[bool]:
    """For ``(accuracy, cost)`` points: which are on the front (no other point is at least as accurate
    and at most as costly, and strictly better in one). Points with a missing value are never on it."""
    def ok(p: tuple[float | None, float | None]) -> TypeGuard[tuple[float, float]]:
        return p[0] is not None and p[1] is not None and not (math.isnan(p[0]) or math.isnan(p[1]))

    out = []
    for i, p in enumerate(points):
        if not ok(p):
            out.append(False)
            continue
        acc, cost = p
        dominated = any(ok(q) and j != i and q[0] >= acc and q[1] <= cost and (q[0] > acc or q[1] < cost)
                        for j, q in enumerate(points))
        out.append(not dominated)
    return out


def leaderboard(runs: Sequence[RunRecord]) -> list[Row]:
    """Rows sorted by test accuracy (best first; runs without one last), Pareto fronts marked."""
    def key(r: RunRecord) -> tuple[int, float, float]:
        acc = r.summary.get("test_acc")
        return (acc is None, -(acc or 0.0), r.summary.get("params") or 0)

    ordered = sorted(runs, key=key)
    rows = [Row(r, label) for r, label in zip(ordered, _labels(ordered), strict=True)]
    for name, _, field_ in COSTS:
        front = pareto_front([(r.get("test_acc"), r.get(field_)) for r in rows])
        for row, on in zip(rows, front, strict=True):
            row.pareto[name] = on
    datasets = sorted({str(r.get("dataset")) for r in rows})
    if len(datasets) > 1:
        log.warning("the runs were trained on different datasets (%s): their accuracies are not comparable",
                    ", ".join(datasets))
    splits = sorted({str(r.get("test_split", "test")) for r in rows})
    if len(splits) > 1:
        log.warning("some runs were tested on the test split and some on the validation split")
    return rows


def _labels(runs: Sequence[RunRecord]) -> list[str]:
    """The network's name (with its non-default options: resnet18 (width_mult=0.25)); where two runs
    share it, the run folder's name too (and its parent's)."""
    labels = [r.label for r in runs]
    for widen in (lambda r: f"{r.label} ({r.name})", lambda r: f"{r.label} ({r.path.parent.name}/{r.name})"):
        labels = [widen(r) if labels.count(lab) > 1 else lab for r, lab in zip(runs, labels, strict=True)]
    seen: dict[str, int] = {}
    out = []
    for lab in labels:  # still the same (the same folder name under the same parent name): number them
        seen[lab] = seen.get(lab, 0) + 1
        out.append(lab if labels.count(lab) == 1 else f"{lab} #{seen[lab]}")
    return out


def _fmt_time(seconds: Any) -> str:
    from .html import duration

    return duration(seconds)


def table_rows(rows: Sequence[Row]) -> list[tuple[Any, ...]]:
    """Human-readable cells: rank, model, params, MACs, test acc, best val acc, epochs, time, img/s, Pareto."""
    from .html import human, pct

    return [(i, r.label, human(r.get("params")), human(r.get("macs")), pct(r.get("test_acc")),
             pct(r.get("best_val_acc")), r.get("epochs") if r.get("epochs") is not None else "-",
             _fmt_time(r.get("train_time_s")),
             f"{r.get('samples_per_s'):,.0f}" if r.get("samples_per_s") else "-", r.pareto_text)
            for i, r in enumerate(rows, 1)]


TABLE_HEADER = ("#", "model", "params", "MACs", "test acc", "best val acc", "epochs", "train time", "images/s",
                "Pareto front")
TABLE_ALIGN = "rlrrrrrrrl"


def csv_text(rows: Sequence[Row]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    for i, r in enumerate(rows, 1):
        s = r.run.summary
        w.writerow([i, s.get("model"), r.label, s.get("dataset"), s.get("params"), s.get("macs"),
                    _csv_num(s.get("test_acc")), _csv_num(s.get("best_val_acc")), s.get("epochs"),
                    _csv_num(s.get("train_time_s")), _csv_num(s.get("samples_per_s")),
                    *("true" if r.pareto.get(k) else "false" for k, _, _ in COSTS),
                    s.get("test_split", "test"), s.get("device"), str(r.run.path)])
    return buf.getvalue()


def _csv_num(v: Any) -> Any:
    return "" if v is None else v


def markdown_table(rows: Sequence[Row]) -> str:
    """The leaderboard as a GitHub-flavoured Markdown table (Pareto runs starred)."""
    return starred_markdown(TABLE_HEADER, TABLE_ALIGN, table_rows(rows), [any(r.pareto.values()) for r in rows])


def claim_folder(out: Path) -> None:
    """Create ``out`` and mark it as a comparison at once, so that a later call continues in it."""
    from ..engine.checkpoint import atomic_write

    out.mkdir(parents=True, exist_ok=True)
    if not (out / MARKER).is_file():
        atomic_write(out / MARKER, (json.dumps({"format": FORMAT, "runs": []}, indent=2) + "\n").encode())


def train_or_reuse(head: str, cfg: Any, run_dir: Path, *, say: Callable[[str], None], quiet: bool) -> None:
    """A finished run in ``run_dir`` is reused, an interrupted one resumed, else ``cfg`` trained there."""
    from ..training import train

    if (run_dir / "summary.json").is_file():
        say(f"{head}: finished run found in {run_dir}, reused")
    elif (run_dir / "checkpoints" / "last.safetensors").is_file():
        say(f"{head}: resuming the interrupted run in {run_dir}")
        train(cfg, resume=run_dir, quiet=quiet)
    else:
        say(f"{head}: training into {run_dir}")
        train(cfg, run_dir=run_dir, overwrite=True, quiet=quiet)


def write_text(path: Path, text: str) -> Path:
    """``text`` into ``path`` atomically (UTF-8); a disk error is an OutputError naming the file."""
    from ..engine.checkpoint import atomic_write

    try:
        atomic_write(path, text.encode("utf-8"))
    except OSError as e:
        raise OutputError(f"cannot write {path}: {e.strerror or e}") from None
    return path


def starred_markdown(header: Sequence[str], align: str, rows: Sequence[Sequence[Any]],
                     starred: Sequence[bool]) -> str:
    """A Markdown table whose second cell gets a star where ``starred`` (on a Pareto front)."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---:" if a == "r" else "---" for a in align) + "|"]
    for row, star in zip(rows, starred, strict=True):
        cells = list(row)
        if star:
            cells[1] = f"{cells[1]} ★"
        lines.append("| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------------
# Plots


def plot_tradeoff(rows: Sequence[Row], cost: str, path: Path) -> bool:
    """Test accuracy against one cost, the Pareto front joined and starred; False when nothing to plot."""
    from .plots import _plt, _save

    label, field_ = next((lbl, f) for k, lbl, f in COSTS if k == cost)
    pts = [(r, r.get(field_), r.get("test_acc")) for r in rows]
    pts = [(r, float(c), 100 * float(a)) for r, c, a in pts if c is not None and a is not None and c > 0]
    if not pts:
        return False
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    on = [(c, a, r) for r, c, a in pts if r.pareto.get(cost)]
    off = [(c, a, r) for r, c, a in pts if not r.pareto.get(cost)]
    if off:
        ax.scatter([c for c, _, _ in off], [a for _, a, _ in off], s=40, color="#8a96a3", label="dominated",
                   zorder=3)
    if on:
        front = sorted(on, key=lambda t: (t[0], t[1]))
        ax.step([c for c, _, _ in front], [a for _, a, _ in front], where="post", color="#c78a00", lw=1.5,
                alpha=0.8, zorder=2)
        ax.scatter([c for c, _, _ in front], [a for _, a, _ in front], s=140, marker="*", color="#c78a00",
                   edgecolor="black", linewidths=0.5, label="Pareto front", zorder=4)
    costs = [c for _, c, _ in pts]
    if max(costs) / min(costs) > 20:
        ax.set_xscale("log")
    if cost != "time":
        from matplotlib.ticker import FuncFormatter

        from .html import human

        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: human(v)))
    ax.set(xlabel=label + (" (log scale)" if ax.get_xscale() == "log" else ""), ylabel="test accuracy (%)",
           title=f"test accuracy vs {label.split(' (')[0]}")
    ax.grid(alpha=0.3, which="both")
    ax.margins(x=0.15, y=0.12)
    _label_points(ax, [(r.label, c, a) for r, c, a in pts])
    ax.legend(loc="best", fontsize=8)
    _save(fig, path)
    return True


def _label_points(ax: Any, points: Sequence[tuple[str, float, float]], fontsize: float = 8) -> None:
    """Name every point without labels overprinting each other: each label goes to the right of its
    point, moved up or down by a line (with a thin leader) until it clears the labels placed before."""
    fig = ax.figure
    fig.canvas.draw()  # settle limits and scales so that data -> points is final
    to_pt = 72.0 / fig.dpi
    height, placed = fontsize * 1.3, list[tuple[float, float, float, float]]()
    for label, c, a in sorted(points, key=lambda t: -t[2]):
        x, y = ax.transData.transform((c, a)) * to_pt
        width = 0.62 * fontsize * len(label)
        for k in range(25):
            dy = 2 + (-1) ** k * ((k + 1) // 2) * height  # 2, 2 - h, 2 + h, 2 - 2h, ...
            box = (x + 6, y + dy, x + 6 + width, y + dy + height)
            if not any(box[0] < b[2] and b[0] < box[2] and box[1] < b[3] and b[1] < box[3] for b in placed):
                break
        placed.append(box)
        leader = {"arrowstyle": "-", "lw": 0.5, "color": "#8a96a3"} if k else None
        ax.annotate(label, (c, a), textcoords="offset points", xytext=(6, dy), fontsize=fontsize,
                    va="bottom", arrowprops=leader)


def plot_curves(rows: Sequence[Row], path: Path) -> bool:
    """Validation accuracy and training loss per epoch, one line per run."""
    from .plots import _plt, _save

    runs = [r for r in rows if r.run.history]
    if not runs:
        return False
    plt = _plt()
    fig, (ax_acc, ax_loss) = plt.subplots(1, 2, figsize=(11, 4.2))
    for r in runs:
        ep = [h["epoch"] for h in r.run.history]
        val = [h.get("val_acc") for h in r.run.history]
        if any(v is not None for v in val):
            ax_acc.plot(ep, [float("nan") if v is None else 100 * v for v in val], "-o", ms=3, label=r.label)
        loss = [h.get("train_loss") for h in r.run.history]
        ax_loss.plot(ep, [float("nan") if v is None else v for v in loss], "-o", ms=3, label=r.label)
    ax_acc.set(xlabel="epoch", ylabel="validation accuracy (%)", title="validation accuracy")
    ax_loss.set(xlabel="epoch", ylabel="training loss", title="training loss")
    from matplotlib.ticker import MaxNLocator

    for ax in (ax_acc, ax_loss):
        ax.grid(alpha=0.3)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax_acc.legend(fontsize=8)
    _save(fig, path)
    return True


# --------------------------------------------------------------------------------------------------
# The compare folder


def check_out_dir(out: Path) -> None:
    """``out`` may be new, empty, or a compare folder written before; anything else is refused."""
    kind = describe(out)
    if kind not in ("is a folder", "does not exist"):  # a file, a symlink loop, a named pipe...
        raise OutputError(f"--out {out} {kind}; choose a folder for the leaderboard")
    if out.is_dir() and any(out.iterdir()) and not (out / MARKER).is_file():
        raise OutputError(f"--out {out} exists and is not a compare folder (no {MARKER}); choose a new or "
                          "empty folder, or one an earlier `cnnzoo compare` wrote")


def write_leaderboard(rows: Sequence[Row], out: Path) -> list[Path]:
    """Write the tables and plots into ``out``; return the files written."""
    from .html import Html, esc, img, page, table, write_page

    out.mkdir(parents=True, exist_ok=True)
    files: list[Path] = []
    plots: list[tuple[str, str]] = []
    for cost, label, _ in COSTS:
        p = out / f"acc_vs_{cost}.png"
        if plot_tradeoff(rows, cost, p):
            files.append(p)
            plots.append((p.name, f"test accuracy vs {label}"))
    p = out / "curves.png"
    if plot_curves(rows, p):
        files.append(p)
        plots.append((p.name, "training curves, overlaid"))

    def write(name: str, text: str) -> None:
        files.append(write_text(out / name, text))

    write("leaderboard.csv", csv_text(rows))
    datasets = ", ".join(sorted({str(r.get("dataset")) for r in rows}))
    intro = (f"{len(rows)} run{'s' if len(rows) != 1 else ''} on {datasets}, sorted by test accuracy. "
             "★ marks the Pareto front: no other run is both more accurate and cheaper in parameters, "
             "MACs or training time (the last column says which).")
    md = [f"# Leaderboard: {datasets}", "", intro, "", markdown_table(rows), ""]
    for name, alt in plots:
        md += [f"![{alt}]({name})", ""]
    # Every path in the page relative to it, as the plots are: the folder can move with its runs.
    md += ["Runs (relative to this folder):", ""] + [
        f"- `{r.label}`: [{_relative(r.run.path, out)}]({_relative(r.run.path, out)})" for r in rows] + [""]
    write("leaderboard.md", "\n".join(md))

    cells = table_rows(rows)
    html_rows = [list(c) for c in cells]
    for r, c in zip(rows, html_rows, strict=True):
        report = r.run.path / "report.html"
        name = esc(c[1]) + (" ★" if any(r.pareto.values()) else "")
        if report.is_file():  # a relative link: the folder can move with its runs
            c[1] = Html(f'<a href="{esc(_relative(report, out))}">{name}</a>')
        else:
            c[1] = Html(name)
    tbl = table(TABLE_HEADER, html_rows, align=TABLE_ALIGN)
    figs = "".join(img((out / name).read_bytes(), alt) for name, alt in plots)
    details = table(("model", "device", "test split", "run"),
                    [(r.label, r.get("device") or "-", r.get("test_split") or "test", str(r.run.path)) for r in rows],
                    align="llll")
    write_page(out / "leaderboard.html", page(f"Leaderboard: {datasets}", [
        ("leaderboard", "Leaderboard", f"<p>{esc(intro)}</p>{tbl}"),
        ("tradeoffs", "Accuracy against cost", figs or '<p class="note">Nothing to plot.</p>'),
        ("runs", "Runs", details)]))
    files.append(out / "leaderboard.html")
    marker = {"format": FORMAT, "written_at": datetime.now().isoformat(timespec="seconds"),
              "runs": [str(r.run.path) for r in rows]}
    write(MARKER, json.dumps(marker, indent=2) + "\n")
    return files


def _relative(path: Path, start: Path) -> str:
    try:
        return Path(os.path.relpath(path.resolve(), start.resolve())).as_posix()
    except ValueError:  # another drive (Windows)
        return path.resolve().as_uri()


def compare(runs: Sequence[str | Path], out: str | Path) -> CompareResult:
    """The leaderboard of finished runs ``runs``, written into the compare folder ``out``."""
    out = Path(out)
    check_out_dir(out)
    if not runs:
        raise ConfigError("nothing to compare: name at least one run directory, or --models a,b,c to train them")
    records, seen = [], set()
    for target in runs:
        rec = read_run(target)
        key = rec.path.resolve()
        if key not in seen:
            seen.add(key)
            records.append(rec)
    rows = leaderboard(records)
    return CompareResult(out, rows, write_leaderboard(rows, out))


# --------------------------------------------------------------------------------------------------
# Training what is missing


def parse_models(text: str) -> list[str]:
    """``"cnn, resnet,vgg"`` -> the names, each checked against the registry (did-you-mean on a typo);
    two names for the same model are kept once."""
    from ..models.registry import resolve_name

    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise ConfigError("--models needs a comma-separated list of model names, e.g. --models cnn,resnet,vgg")
    out, seen = [], dict[str, str]()
    for n in names:
        canonical = resolve_name(n)  # ModelError: "unknown model 'x' (did you mean ...)"
        if canonical in seen:
            log.warning("--models names %s twice ('%s' and '%s'); training it once", canonical, seen[canonical], n)
            continue
        seen[canonical] = n
        out.append(n)
    return out


def _flat(d: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, Mapping) and k != "kwargs":
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def config_differences(saved: Any, wanted: Any) -> list[str]:
    """Keys (with both values) where two configurations make different experiments."""
    from ..models.registry import resolve_name

    a, b = _flat(saved.to_dict()), _flat(wanted.to_dict())
    diffs = []
    for k in sorted(set(a) | set(b)):
        if k.startswith(SAME_EXPERIMENT_IGNORES):
            continue
        va, vb = a.get(k), b.get(k)
        if k == "model.name":  # an alias and its model are the same experiment
            with contextlib.suppress(CnnzooError):
                va, vb = resolve_name(str(va)), resolve_name(str(vb))
        if va != vb:
            diffs.append(f"{k} {va!r} there, {vb!r} asked")
    return diffs


def train_models(models: Sequence[str], out: str | Path, *, overrides: Mapping[str, Any] | None = None,
                 sets: Sequence[str] = (), quiet: bool = False, say: Callable[[str], None] = print
                 ) -> list[Path]:
    """Train each model into ``out/runs/<model>`` unless a finished run of the same experiment is there
    (an interrupted one is resumed); return the run directories, in the order given.

    Every configuration is resolved (and so checked) before the first model trains, so a typo in a
    ``--set`` fails at once rather than after hours of training.
    """
    from ..config import load_config

    out = Path(out)
    check_out_dir(out)
    plans = [(name, load_config(model=name, overrides=dict(overrides or {}), sets=list(sets))) for name in models]
    runs_dir = out / RUNS
    todo = []
    for name, cfg in plans:
        run_dir = runs_dir / name
        if (run_dir / "config.yaml").is_file():
            saved = load_config(run_dir / "config.yaml")
            diffs = config_differences(saved, cfg)
            if diffs:
                raise ConfigError(f"{run_dir} holds a {name} run of another experiment ({'; '.join(diffs[:3])}"
                                  f"{'; ...' if len(diffs) > 3 else ''}); use another --out, or delete that folder "
                                  "to train it again")
        todo.append((name, cfg, run_dir))
    claim_folder(out)
    done = []
    for i, (name, cfg, run_dir) in enumerate(todo, 1):
        train_or_reuse(f"[{i}/{len(todo)}] {name}", cfg, run_dir, say=say, quiet=quiet)
        done.append(run_dir)
    return done
