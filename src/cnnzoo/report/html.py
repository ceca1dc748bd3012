"""Self-contained HTML pages: a run's report (``cnnzoo report RUN``) and the pieces the leaderboard uses.

A page is one file that opens anywhere, offline, forever: hand-written HTML and CSS, every picture
inlined as a base64 PNG ``data:`` URI, no JavaScript, no fonts or styles from a CDN. A Content
Security Policy in the page itself (``default-src 'none'``) makes the browser refuse any request
for something outside the file, so a slip would show up as a console error, not as a silent
network call (the browser test in tests/report checks exactly that).

``cnnzoo report RUN`` writes ``RUN/report.html``: summary (with the published figures of the
network and, for a run of ``cnnzoo compare``, the path of its leaderboard), configuration,
training curves (the loss within epochs and the learning-rate schedule), the confusion matrix,
per-class accuracy, sample predictions, the most confident mistakes (the test images, rebuilt from
the run's dataset and seed, with what the model said), and the model's block diagram (inline SVG,
drawn by :mod:`cnnzoo.report.draw`) with its layer table.
"""

from __future__ import annotations

import base64
import html as _html
import io
import logging
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from ..errors import CnnzooError, OutputError
from .runs import RunRecord, read_predictions, read_run, read_spec, tested_split

log = logging.getLogger("cnnzoo.report")

# Requests for anything but inline images and styles are refused by the browser itself.
CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"

# How many of the most confident mistakes the report shows (three rows of eight).
MISTAKES = 24

CSS = """
:root { --fg: #1d232b; --muted: #5b6775; --line: #d9dee5; --accent: #2f6fb5; --bad: #b3261e; --good: #1b7a3d; }
* { box-sizing: border-box; }
body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg);
       margin: 0 auto; max-width: 1160px; padding: 0 24px 48px; }
header { border-bottom: 1px solid var(--line); margin-bottom: 8px; padding: 20px 0 8px; }
h1 { font-size: 26px; margin: 0 0 4px; }
h2 { font-size: 20px; margin: 32px 0 8px; border-bottom: 1px solid var(--line); padding-bottom: 4px; }
nav a { margin-right: 14px; color: var(--accent); text-decoration: none; font-size: 14px; }
a { color: var(--accent); }
.muted { color: var(--muted); }
.note { color: var(--muted); font-size: 13px; }
table { border-collapse: collapse; margin: 8px 0; font-size: 14px; }
th, td { border-bottom: 1px solid var(--line); padding: 4px 10px; text-align: left; vertical-align: top; }
th { background: #f3f5f8; font-weight: 600; }
td.r, th.r { text-align: right; font-variant-numeric: tabular-nums; }
.kv th { background: none; width: 210px; }
.bar { display: inline-block; height: 10px; background: var(--accent); vertical-align: middle; margin-right: 6px; }
img.fig { max-width: 100%; height: auto; display: block; margin: 8px 0; }
pre { background: #f6f8fa; border: 1px solid var(--line); padding: 12px; overflow: auto; font-size: 13px;
      max-height: 460px; }
.grid { display: flex; flex-wrap: wrap; gap: 10px; }
.card { width: 124px; font-size: 12px; text-align: center; }
.card img { width: 112px; height: 112px; image-rendering: pixelated; border: 1px solid var(--line); }
.card .pred { color: var(--bad); font-weight: 600; }
.card .true { color: var(--good); }
details summary { cursor: pointer; color: var(--accent); margin: 6px 0; }
.warn { background: #fdecea; border: 1px solid #f1b5ae; color: var(--bad); padding: 8px 12px; border-radius: 4px; }
"""


class Html(str):
    """Markup that is already safe: passed through by :func:`esc` and :func:`table` unchanged."""


def esc(value: Any) -> Html:
    return value if isinstance(value, Html) else Html(_html.escape(str(value), quote=True))


def png_uri(data: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


def img(data: bytes, alt: str, cls: str = "fig") -> Html:
    return Html(f'<img class="{cls}" alt="{esc(alt)}" src="{png_uri(data)}">')


def table(header: Sequence[Any], rows: Iterable[Sequence[Any]], align: str = "", cls: str = "",
          row_classes: Sequence[str] | None = None) -> Html:
    """An HTML table; ``align`` holds one 'l' or 'r' per column (numbers right)."""
    def cell(tag: str, i: int, value: Any) -> str:
        right = ' class="r"' if i < len(align) and align[i] == "r" else ""
        return f"<{tag}{right}>{esc(value)}</{tag}>"

    def attr(name: str) -> str:
        return f' class="{esc(name)}"' if name else ""

    out = [f"<table{attr(cls)}><thead><tr>" + "".join(cell("th", i, h) for i, h in enumerate(header))
           + "</tr></thead><tbody>"]
    for n, row in enumerate(rows):
        rc = row_classes[n] if row_classes else ""
        out.append(f"<tr{attr(rc)}>" + "".join(cell("td", i, v) for i, v in enumerate(row)) + "</tr>")
    out.append("</tbody></table>")
    return Html("".join(out))


def page(title: str, sections: Sequence[tuple[str, str, str]], subtitle: str = "") -> str:
    """A complete document: ``sections`` are ``(id, heading, body HTML)``, linked from the top."""
    from .. import __version__

    nav = "".join(f'<a href="#{sid}">{esc(heading)}</a>' for sid, heading, _ in sections)
    body = "".join(f'<section id="{sid}"><h2>{esc(heading)}</h2>{content}</section>'
                   for sid, heading, content in sections)
    return (
        "<!doctype html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)}</title><style>{CSS}</style></head>\n<body>"
        f"<header><h1>{esc(title)}</h1>"
        + (f'<div class="muted">{esc(subtitle)}</div>' if subtitle else "")
        + f"<nav>{nav}</nav></header>\n{body}\n"
        f'<footer class="note"><p>Written by cnnzoo {esc(__version__)}.</p></footer>'
        "</body></html>\n"
    )


def write_page(path: Path, text: str) -> None:
    from ..engine.checkpoint import atomic_write

    try:
        atomic_write(path, text.encode("utf-8"))
    except OSError as e:
        raise OutputError(f"cannot write {path}: {e.strerror or e}") from None


# --------------------------------------------------------------------------------------------------
# Formatting


def pct(v: Any, digits: int = 2) -> str:
    return "-" if v is None or v != v else f"{100 * float(v):.{digits}f}%"


def human(n: Any) -> str:
    if n is None:
        return "-"
    for div, suffix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "K")):
        if abs(n) >= div:
            return f"{n / div:.2f}{suffix}"
    return f"{n:g}"


def duration(seconds: Any) -> str:
    """``12.3 s`` under a minute, else ``m:ss`` or ``h:mm:ss``."""
    if seconds is None:
        return "-"
    from ..engine.progress import fmt_time

    return f"{float(seconds):.1f} s" if float(seconds) < 59.95 else fmt_time(float(seconds))


def image_png(image: Any) -> bytes:
    """A uint8 ``(C, H, W)`` tensor as PNG bytes (grey for one channel, RGB for three)."""
    from PIL import Image

    arr = image.cpu().numpy()
    pil = Image.fromarray(arr[0], "L") if arr.shape[0] == 1 else Image.fromarray(arr.transpose(1, 2, 0), "RGB")
    buf = io.BytesIO()
    pil.save(buf, format="PNG")
    return buf.getvalue()


# --------------------------------------------------------------------------------------------------
# The run report


def write_report(target: str | Path, *, out: str | Path | None = None, data_dir: str | Path | None = None
                 ) -> Path:
    """Write the report of the finished run ``target`` (default ``RUN/report.html``); return its path."""
    run = read_run(target)
    dest = Path(out) if out else run.path / "report.html"
    if dest.is_dir():
        dest = dest / "report.html"
    write_page(dest, render_report(run, data_dir=data_dir))
    return dest


def render_report(run: RunRecord, data_dir: str | Path | None = None) -> str:
    s = run.summary
    preds = read_predictions(run)
    classes = run.classes
    sections = [
        ("summary", "Summary", _summary(run)),
        ("configuration", "Configuration", _configuration(run)),
        ("curves", "Training curves", _curves(run)),
        ("confusion", "Confusion matrix", _confusion(run, preds, classes)),
        ("per-class", "Per-class accuracy", _per_class(preds, classes) + _samples(run, preds, data_dir)),
        ("mistakes", "Most confident mistakes", _mistakes(run, preds, data_dir)),
        ("layers", "Layers", _layers(run)),
    ]
    title = f"{network_label(run)} on {s.get('dataset', '?')}"
    epochs = s.get("epochs", "?")
    subtitle = (f"{s.get('test_split', 'test')} accuracy {pct(s.get('test_acc'))} after {epochs} "
                f"epoch{'' if epochs == 1 else 's'} · run {run.path.resolve()}")
    return page(title, sections, subtitle)


def network_label(run: RunRecord) -> str:
    """The network as it was built, e.g. ``resnet18 (width_mult=0.25)`` (:attr:`RunRecord.label`)."""
    return run.label


def leaderboard_link(run: RunRecord) -> str:
    """A link back to the leaderboard of the ``cnnzoo compare`` folder the run belongs to (relative,
    so that the folder can move), or nothing."""
    from .compare import MARKER

    folder = run.path.resolve().parent.parent
    if run.path.resolve().parent.name != "runs" or not (folder / MARKER).is_file():
        return ""
    board = "leaderboard.html" if (folder / "leaderboard.html").is_file() else "leaderboard.md"
    # the path as text, not a link: the page links to nothing outside itself (tests/report pins it)
    return (f'<p class="note">One of the runs of a comparison; its leaderboard: <code>{esc(folder / board)}</code> '
            f"(<code>../../{board}</code> from this file).</p>")


def _warnings(run: RunRecord) -> str:
    warnings = run.summary.get("warnings") or []
    return "".join(f'<p class="warn"><b>Warning:</b> {esc(w)}</p>' for w in warnings if isinstance(w, str))


def _published(run: RunRecord) -> str:
    """The paper's parameter and MAC counts beside this run's: what the recipe changed (input size,
    classes, width) shows as the difference."""
    s = run.summary
    try:
        from ..models import model_info

        info = model_info(run.model)
    except CnnzooError:
        return ""
    if info.reference_params is None and info.reference_macs is None:
        return ""
    (c, h, w), k = info.default_input, info.default_num_classes
    published = ", ".join(filter(None, [
        f"{human(info.reference_params)} parameters" if info.reference_params else "",
        f"{human(info.reference_macs)} MACs" if info.reference_macs else ""]))
    ours = f"{human(s.get('params'))} parameters, {human(s.get('macs'))} MACs"
    label = network_label(run)
    return (f'<p class="note">Published: {esc(published)} for {esc(info.name)} at {c}x{h}x{w} with {k} classes '
            f"({esc(info.reference_source or 'the paper')}). This run: {esc(ours)} for {esc(label)} at "
            f"{esc('x'.join(map(str, s.get('input', []))))} with {esc(s.get('classes', '?'))} classes; the input "
            "size, the number of classes and the width change the count (cnnzoo summary NAME --input C,H,W "
            "shows any configuration).</p>")


def _summary(run: RunRecord) -> str:
    s = run.summary
    about = ""
    try:
        from ..models import model_info

        info = model_info(run.model)
        paper = (f' From <a href="{esc(info.url)}">{esc(info.paper)}</a> ({esc(info.authors)}, {info.year}).'
                 if info.paper and info.url else "")
        about = f"<p>{esc(info.description)}{paper}</p>"
    except CnnzooError:
        pass
    best = f"{pct(s.get('best_val_acc'))} (epoch {s.get('best_epoch')})" if s.get("best_epoch") else "-"
    rows = [
        ("model", run.label), ("dataset", s.get("dataset")),
        ("input", "x".join(map(str, s.get("input", []))) or "-"), ("classes", s.get("classes", "-")),
        ("parameters", f"{s['params']:,} ({human(s['params'])})" if s.get("params") else "-"),
        ("MACs per image", human(s.get("macs"))),
        ("epochs / steps", f"{s.get('epochs', '-')} / {s.get('steps', '-')}"),
        (f"{s.get('test_split', 'test')} accuracy", pct(s.get("test_acc"))),
        (f"{s.get('test_split', 'test')} loss", "-" if s.get("test_loss") is None else f"{s['test_loss']:.4f}"),
        ("best validation accuracy", best),
        ("weights tested", s.get("test_weights", "-")),
        ("training time", duration(s.get("train_time_s"))), ("wall time", duration(s.get("wall_time_s"))),
        ("throughput", f"{s['samples_per_s']:,.0f} images/s" if s.get("samples_per_s") else "-"),
        ("device", s.get("device", "-")), ("precision", s.get("precision", "-")),
        ("peak memory", f"{s['peak_memory_mb']:,.0f} MB" if s.get("peak_memory_mb") else "-"),
        ("seed", s.get("seed", "-")),
        ("software", f"cnnzoo {s.get('cnnzoo_version', '?')}, torch {s.get('torch_version', '?')}"),
        ("finished", s.get("finished_at", "-")),
    ]
    body = "".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in rows)
    return (_warnings(run) + leaderboard_link(run) + about + f'<table class="kv"><tbody>{body}</tbody></table>'
            + _published(run))


def _configuration(run: RunRecord) -> str:
    return (f'<p class="note">The resolved configuration (config.yaml); '
            f"<code>cnnzoo train --config {esc(run.path / 'config.yaml')}</code> reproduces the run.</p>"
            f"<pre>{esc(run.config_text)}</pre>")


def _plot_file(run: RunRecord, name: str, draw: Any) -> bytes | None:
    """``RUN/plots/NAME``, drawn first when the run was trained without plots."""
    path = run.path / "plots" / name
    if not path.is_file():
        try:
            path.parent.mkdir(exist_ok=True)
            draw(path)
        except OSError as e:
            log.warning("cannot write %s: %s", path, e.strerror or e)
            return None
    return path.read_bytes()


def _curves(run: RunRecord) -> str:
    from . import plots

    if not run.history:
        return '<p class="note">No epochs were recorded (metrics.jsonl is empty).</p>'
    title = f"{run.label} on {run.summary.get('dataset', '')}"
    data = _plot_file(run, "curves.png", lambda p: plots.curves(run.history, p, title=title, steps=run.steps,
                                                                  lr=_lr_points(run)))
    rows = [(r.get("epoch"), _num(r.get("train_loss")), pct(r.get("train_acc")), _num(r.get("val_loss")),
             pct(r.get("val_acc")), f"{r['lr']:.3g}" if r.get("lr") is not None else "-",
             duration(r.get("epoch_time_s")), f"{r['samples_per_s']:,.0f}" if r.get("samples_per_s") else "-")
            for r in run.history]
    tbl = table(("epoch", "train loss", "train acc", "val loss", "val acc", "lr", "time", "images/s"), rows,
                align="rrrrrrrr")
    note = ('<p class="note">Loss and accuracy per epoch (markers) and, as a thin line, the training loss '
            "within epochs (steps.jsonl); right: the learning rate as the schedule set it, step by step.</p>")
    return note + (img(data, "training curves") if data else "") + \
        f"<details><summary>per-epoch numbers ({len(rows)} epoch{'' if len(rows) == 1 else 's'})</summary>" \
        f"{tbl}</details>"


def _lr_points(run: RunRecord) -> tuple[list[float], list[float]] | None:
    """The run's learning-rate schedule as (epoch, lr) points, rebuilt from config.yaml: the schedule
    is a pure function of the step. None when it cannot be rebuilt."""
    from ..engine.optim import LRSchedule
    from .plots import schedule_points

    first = run.history[0] if run.history else {}
    if first.get("epoch") != 1 or not first.get("step"):
        return None
    try:
        cfg = run.config()
        per_epoch = int(first["step"])
        schedule = LRSchedule.from_config(cfg.schedule, cfg.optim.lr, per_epoch, cfg.train.epochs)
    except (CnnzooError, TypeError, ValueError):
        return None
    return schedule_points(schedule, per_epoch, int(run.summary.get("steps") or run.history[-1].get("step", 0)))


def _samples(run: RunRecord, preds: Any, data_dir: str | Path | None) -> str:
    """plots/samples.png under its own heading: a grid of predictions, half of them mistakes on purpose."""
    from . import plots

    if preds is None:
        return ""
    split_name = run.summary.get("test_split", "test")

    def draw(path: Path) -> None:
        split, classes = tested_split(run, data_dir)
        plots.samples(lambda k: split.image(int(preds.index[k])), preds.targets, preds.preds, preds.probs, classes,
                      path, split=split_name)

    head = '<h3 id="samples">Sample predictions</h3>'
    try:
        data = _plot_file(run, "samples.png", draw)
    except CnnzooError as e:
        return head + f'<p class="note">The sample predictions are not shown: {esc(e)}</p>'
    wrong = int((preds.preds != preds.targets).sum())
    why = ("Up to half of the tiles are mistakes (red, with the true class), chosen on purpose because they teach "
           "more: the grid is not a fair sample." if wrong else "The model made no mistakes: a random sample.")
    return head + (f'<p class="note">{split_name.capitalize()} images with the predicted class and its probability. '
                   f"{why} Overall accuracy: {pct(run.summary.get('test_acc'))} ({wrong:,} mistakes in "
                   f"{len(preds.preds):,} images).</p>"
            + (img(data, "sample predictions") if data else ""))


def _num(v: Any) -> str:
    return "-" if v is None else f"{v:.4f}"


def _confusion(run: RunRecord, preds: Any, classes: list[str]) -> str:
    from . import plots

    if preds is None:
        return '<p class="note">This run has no test predictions (no test or validation split).</p>'
    split = run.summary.get("test_split", "test")
    data = _plot_file(run, "confusion.png", lambda p: plots.confusion(
        preds.confusion, classes, p, title=f"{run.label} on {run.summary.get('dataset', '')} ({split})"))
    return (f'<p class="note">Rows are the true classes, columns what the model predicted, each row in % '
            f"of its class ({split} split, {int(preds.confusion.sum())} images).</p>"
            + (img(data, "confusion matrix") if data else ""))


def _per_class(preds: Any, classes: list[str]) -> str:
    if preds is None:
        return '<p class="note">No test predictions.</p>'
    m = preds.confusion.double()
    rows = []
    for i, name in enumerate(classes):
        n = int(m[i].sum())
        acc = float(m[i, i] / n) if n else float("nan")
        off = m[i].clone()
        off[i] = -1
        j = int(off.argmax())
        confused = f"{classes[j]} ({pct(m[i, j] / n, 1)})" if n and m[i, j] > 0 else "-"
        bar = Html(f'<span class="bar" style="width:{0 if acc != acc else round(120 * acc)}px"></span>'
                   f"{esc(pct(acc))}")
        rows.append((name, n, int(m[i, i]), bar, confused))
    return table(("class", "images", "correct", "accuracy", "most often mistaken for"), rows, align="lrrll")


def _mistakes(run: RunRecord, preds: Any, data_dir: str | Path | None) -> str:
    import torch

    if preds is None:
        return '<p class="note">No test predictions.</p>'
    wrong = (preds.preds != preds.targets).nonzero().flatten()
    if len(wrong) == 0:
        return "<p>No mistakes: every test image was classified correctly.</p>"
    order = wrong[torch.argsort(preds.probs[wrong].float(), descending=True, stable=True)][:MISTAKES]
    try:
        split, classes = tested_split(run, data_dir)
    except CnnzooError as e:
        return (f'<p class="note">{len(wrong)} mistakes; their images are not shown because the dataset '
                f"could not be loaded ({esc(e)}). Run <code>cnnzoo report {esc(run.path)} --data-dir DIR</code> "
                "to include them.</p>")
    if len(split) != preds.split_size:
        return (f'<p class="note">The dataset on disk has {len(split)} test images but the run was tested on '
                f"{preds.split_size}: it is not the data this run was tested on, so no images are shown.</p>")
    cards = []
    for i in order.tolist():
        p, t, at = int(preds.preds[i]), int(preds.targets[i]), int(preds.index[i])  # at: position in the split
        if int(split.labels[at]) != t:
            return ('<p class="note">The test images on disk are labelled differently from the ones the run '
                    "was tested on, so no images are shown.</p>")
        cards.append(f'<div class="card">{img(image_png(split.image(at)), f"test image {at}", cls="")}'
                     f'<div class="pred">{esc(classes[p])} {esc(pct(preds.probs[i], 0))}</div>'
                     f'<div class="true">true: {esc(classes[t])}</div>'
                     f'<div class="muted">#{at}</div></div>')
    split_name = run.summary.get("test_split", "test")
    return (f"<p>The {len(cards)} {esc(split_name)} images the model got wrong with the highest confidence, out of "
            f"{len(wrong)} mistakes in {len(preds.preds)} images: predicted class and probability in red, "
            f"the true class in green.</p>" + '<div class="grid">' + "".join(cards) + "</div>")


def _diagram(model: Any, shape: tuple[int, int, int], name: str) -> str:
    """The model's block diagram (``cnnzoo draw``) as inline SVG: text stays text, nothing is fetched."""
    from .draw import build

    try:
        svg = build(model, shape).svg(inline=True)
    except CnnzooError as e:
        return f'<p class="note">The block diagram is not available: {esc(e)}</p>'
    return (f'<p class="note">The block diagram, drawn from the model (<code>cnnzoo draw {esc(name)} --input '
            f'{",".join(map(str, shape))} --depth 2</code> opens the blocks):</p>'
            f'<div class="diagram">{svg}</div>')


def _layers(run: RunRecord) -> str:
    from ..models import meta_model, profile

    try:
        spec = read_spec(run.path)
        model = meta_model(spec.model, spec.num_classes, spec.in_channels, int(spec.input_size[0]),
                           **spec.model_kwargs)
        shape = (spec.in_channels, int(spec.input_size[0]), int(spec.input_size[1]))
        prof = profile(model, shape)
    except CnnzooError as e:
        return f'<p class="note">The layer table is not available: {esc(e)}</p>'
    rows = [(r.name, r.type, "x".join(map(str, r.output_shape)), f"{r.params:,}" if r.params else "-",
             human(r.macs) if r.macs else "-") for r in prof.layers]
    tbl = table(("layer", "type", "output", "params", "MACs"), rows, align="llrrr")
    return (_diagram(model, shape, spec.model)
            + f"<p>{esc(run.label)} at {'x'.join(map(str, shape))}: {prof.params:,} parameters, {human(prof.macs)} "
            f"multiply-accumulates per image (convolutions and linear layers; FLOPs = 2 x MACs).</p>"
            f'<details open><summary>{len(rows)} layers</summary>{tbl}</details>')
