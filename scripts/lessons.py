"""Write docs/zoo/<family>.md, one lesson page per family of the seed and of those that followed, and their diagrams.

Everything on a page comes from the code and from committed results, nothing is typed in by hand:
the problem and the idea are the family module's docstring; the pictures are drawn from the models
by ``cnnzoo draw`` (cnnzoo.report.draw) into docs/zoo/img/; the shape walk-through is the same
trace at 1x28x28 and 3x224x224; the recipe is configs/<seed>.yaml, and what it measured is its
header and benchmarks/results/time_to_accuracy.json; the training curves are drawn from the per-epoch
history (the rows of the run's metrics.jsonl) that a committed result of that file holds, with the
machine, device and command that produced it. tests/report/test_lessons.py regenerates everything
in memory and compares.

    python scripts/lessons.py            # rewrite the pages and pictures
    python scripts/lessons.py --check    # exit 1 if any is stale
"""

from __future__ import annotations

import argparse
import importlib
import json
import re
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs" / "zoo"
IMG = DOCS / "img"
RESULTS = ROOT / "benchmarks" / "results" / "time_to_accuracy.json"
CURVES = ROOT / "benchmarks" / "results" / "recipe_curves.json"  # benchmarks/recipe_curves.py
ABLATION_RESULTS = ROOT / "benchmarks" / "results" / "ablations"  # benchmarks/ablations.py

sys.path.insert(0, str(ROOT / "src"))


@dataclass(frozen=True)
class Lesson:
    seed: str                                    # the seed's name: configs/<seed>.yaml
    family: str                                  # the registry family: the page's name
    blocks: tuple[tuple[str, str], ...] = ()     # (model, block class) pictures of the key block


LESSONS = (
    Lesson("cnn", "convnet"),
    Lesson("alexnet", "alexnet"),
    Lesson("vgg", "vgg", (("vgg16", "VGGBlock"),)),
    Lesson("nin", "nin", (("nin", "NiNBlock"),)),
    Lesson("googlenet", "googlenet", (("googlenet", "Inception"),)),
    Lesson("batchnorm", "batchnorm"),
    Lesson("resnet", "resnet", (("resnet18", "BasicBlock"), ("resnet50", "Bottleneck"))),
    Lesson("densenet", "densenet", (("densenet121", "DenseBlock"),)),
    Lesson("senet", "senet", (("seresnet50", "Bottleneck"),)),
    Lesson("mlpmixer", "mixer", (("mixer_b16", "MixerBlock"),)),
    Lesson("mobilenet", "mobilenet", (("mobilenet_v2", "InvertedResidual"),
                                      ("mobilenet_v1", "DepthwiseSeparable"))),
    Lesson("resnext", "resnext", (("resnext50_32x4d", "Bottleneck"),)),
    Lesson("wrn", "wide_resnet", (("wrn28_10", "WideBasic"),)),
    Lesson("squeezenet", "squeezenet", (("squeezenet1_0", "Fire"),)),
    Lesson("shufflenet", "shufflenet", (("shufflenet_v2_x1_0", "ShuffleUnit"),)),
    Lesson("efficientnet", "efficientnet", (("efficientnet_b0", "MBConv"), ("efficientnet_v2_s", "FusedMBConv"))),
    Lesson("vit", "vit", (("vit_b_16", "EncoderBlock"),)),
    Lesson("convnext", "convnext", (("convnext_tiny", "CNBlock"),)),
    Lesson("inception_v3", "inception_v3", (("inception_v3", "InceptionC"), ("inception_v3", "InceptionE"))),
    Lesson("xception", "xception", (("xception", "Block"),)),
    Lesson("darknet", "darknet", (("darknet53", "DarkBlock"),)),
    Lesson("resmlp", "resmlp", (("resmlp_12", "ResMLPBlock"),)),
    Lesson("gmlp", "gmlp", (("gmlp_s16", "GMLPBlock"),)),
)
SEED_LESSONS = 11                       # the first eleven: the seed project's families, in its order
FOLLOWING = LESSONS[SEED_LESSONS:]      # the families that followed them (issue 21)
ALL_LESSONS = LESSONS

SMALL, LARGE = (1, 28, 28), (3, 224, 224)


def _recipe_model(seed: str) -> tuple[str, dict]:
    import yaml

    data = yaml.safe_load((ROOT / "configs" / f"{seed}.yaml").read_text(encoding="utf-8"))
    model = data.get("model", {})
    return model["name"], dict(model.get("kwargs") or {})


def _header(seed: str) -> str:
    lines = []
    for line in (ROOT / "configs" / f"{seed}.yaml").read_text(encoding="utf-8").splitlines():
        if not line.startswith("#"):
            break
        lines.append(line[1:].strip())
    return "\n".join(lines)


def _measured(seed: str) -> str:
    """The header's paragraph that starts with "Measured:" (one line of text)."""
    paragraphs = re.split(r"\n\s*\n", _header(seed))
    for p in paragraphs:
        i = p.find("Measured:")
        if i >= 0:
            return " ".join(p[i:].split())
    return ""


def _docstring_md(family: str) -> tuple[str, str]:
    """The family module's docstring as Markdown: (first line, the rest)."""
    doc = importlib.import_module(f"cnnzoo.models.{family}").__doc__ or ""
    doc = re.sub(r":(?:class|func|data|mod):`~?([^`]+)`", lambda m: f"`{m.group(1).split('.')[-1]}`", doc)
    doc = doc.replace("``", "`")
    first, _, rest = doc.strip().partition("\n")
    out = []
    for line in rest.strip("\n").splitlines():
        # Indented code in the docstring stays a code block: Markdown needs a blank line before it.
        if line.startswith("    ") and out and out[-1].strip() and not out[-1].startswith("    ") \
                and not out[-1].lstrip().startswith("-"):
            out.append("")
        out.append(line)
    return first.strip(), "\n".join(out).strip()


def _runs(seed: str) -> dict | None:
    if not RESULTS.is_file():
        return None
    return json.loads(RESULTS.read_text(encoding="utf-8")).get("recipes", {}).get(seed)


def _machine(m: dict) -> str:
    """Where a result was measured, in one phrase: the GPU (and its host) or the CPU."""
    cpu = f"{m.get('cpu', '?')}, {m.get('logical_cpus', '?')} CPUs"
    if m.get("gpu"):
        return f"{m['gpu']}" + (f" (CUDA {m['cuda']})" if m.get("cuda") else "") + f", host {cpu}"
    return cpu


def _pct(acc: float | None) -> str:
    return "?" if acc is None else f"{100 * acc:.2f}%"


def _smoothing_note(seed: str) -> str:
    """Why the training loss sits above the validation loss in a recipe with label smoothing."""
    from cnnzoo.config import load_config

    eps = load_config(ROOT / "configs" / f"{seed}.yaml").train.label_smoothing
    if not eps:
        return ""
    return (f" The training loss is the smoothed loss the recipe trains with (label smoothing {eps:g}), which "
            "cannot reach zero, so it sits above the validation loss (plain cross-entropy).")


def _curves_record(seed: str) -> tuple[dict | None, str]:
    """The result whose per-epoch history the page draws, and its file's name: a timed run of
    time_to_accuracy.json where one holds a history, else recipe_curves.json's run of the recipe."""
    record = _runs(seed)
    if _curves_run(record) is not None:
        return record, RESULTS.name
    if CURVES.is_file():
        c = json.loads(CURVES.read_text(encoding="utf-8")).get("recipes", {}).get(seed)
        if c and c.get("run", {}).get("history"):
            return {"runs": [c["run"]], "command": c.get("command"), "machine": c.get("machine", {})}, CURVES.name
    return None, ""


def _curves_run(record: dict | None) -> tuple[int, dict] | None:
    """(index, run) of the run whose curves the page shows: of the runs that hold a per-epoch
    history, the one with the median test accuracy (the lower one of an even count)."""
    runs = [(i, r) for i, r in enumerate((record or {}).get("runs", [])) if r.get("history")]
    if not runs:
        return None
    ranked = sorted(runs, key=lambda ir: (ir[1].get("test_acc") or 0.0, ir[0]))
    return ranked[(len(ranked) - 1) // 2]


def _rows(diagram) -> list[tuple[str, str, str]]:
    """(key, step, output) of each top-level step of a diagram."""
    from cnnzoo.report.draw import Box, Frame, Skip

    out = []
    for item in diagram.rows:
        box = item.body if isinstance(item, Skip) else item
        if isinstance(box, (Box, Frame)):
            out.append((box.key or box.title, box.title.replace("  (one drawn)", ""), box.shape or ""))
    return out


def walkthrough(model: str) -> str:
    """The table of output shapes after each step at 28 px and at 224 px."""
    from cnnzoo.report.draw import diagram

    small = _rows(diagram(model, SMALL, 10))
    large = _rows(diagram(model, LARGE, 1000))
    by_key = {k: (t, s) for k, t, s in small}
    keys_large = {k for k, _, _ in large}
    lines = ["| step | output at 3×224×224 | output at 1×28×28 |", "|---|---:|---:|"]
    order: list[tuple[str, str, str | None, str | None]] = []
    for k, t, s in large:
        st = by_key.get(k)
        cell = "–"
        if st is not None:
            cell = st[1] if st[0] == t else f"{st[1]} ({st[0]})"
        order.append((t, s, cell, k))
    # Steps only the small network has go after the step before them.
    for i, (k, t, s) in enumerate(small):
        if k not in keys_large:
            before = small[i - 1][0] if i else None
            pos = next((j + 1 for j, row in enumerate(order) if row[3] == before), len(order))
            order.insert(pos, (f"({t})", "–", s, k))
    for t, s, cell, _ in order:
        lines.append(f"| {t} | {s} | {cell} |")
    return "\n".join(lines)


def _recipe_section(lesson: Lesson, model: str, kwargs: dict) -> str:
    config = (ROOT / "configs" / f"{lesson.seed}.yaml").read_text(encoding="utf-8")
    parts = [f"The recipe is [`configs/{lesson.seed}.yaml`](../../configs/{lesson.seed}.yaml): `{model}`"
             + (" with " + ", ".join(f"`{k}={v}`" for k, v in kwargs.items()) if kwargs else "")
             + ", on Fashion-MNIST (1×28×28, 10 classes).", "", "```yaml", config.rstrip(), "```", ""]
    measured = _measured(lesson.seed)
    parts.append("### What it measured")
    parts.append("")
    if measured:
        parts.append(f"From the recipe's header: {measured.removeprefix('Measured: ')}")
        parts.append("")
    record = _runs(lesson.seed)
    if record and record.get("runs"):
        runs = record["runs"]
        acc = statistics.median(r["test_acc"] for r in runs)
        wall = statistics.median(r["wall_s"] for r in runs)
        m = record.get("machine", {})
        parts += ["| runs | test accuracy (median) | epochs | wall time (median) | machine | torch | date |",
                  "|---:|---:|---:|---:|---|---|---|",
                  (f"| {len(runs)} | {100 * acc:.2f}% | {runs[0].get('epochs', '-')} | {wall:.1f} s | "
                  f"{_machine(m)} | {m.get('torch', '?')} | {m.get('date', '?')} |"), "",
                  (f"Recorded in [`benchmarks/results/time_to_accuracy.json`](../../benchmarks/results/"
                  f"time_to_accuracy.json) by `{record.get('command', '?')}`."), ""]
    else:
        parts += ["No committed result records a full run of this recipe yet.", ""]
    parts.append("### Training curves")
    parts.append("")
    record, source = _curves_record(lesson.seed)
    shown = _curves_run(record)
    if shown is not None and record is not None:
        i, run = shown
        m = record.get("machine", {})
        n = len(record.get("runs", []))
        which = "its only run" if n == 1 else f"run {i + 1} of {n}, the one with the median test accuracy"
        parts += [(f"Loss and accuracy after each epoch, on the training images and on the validation images "
                   f"held out of them, and the learning rate at each epoch's end: {which} "
                   f"({_pct(run.get('test_acc'))} test accuracy, {len(run['history'])} epochs), recorded in "
                   f"[`benchmarks/results/{source}`](../../benchmarks/results/{source}) "
                   f"(its `history`: the rows of the run's `metrics.jsonl`). Measured on {_machine(m)}, device "
                   f"`{run.get('device', '?')}`, torch {m.get('torch', '?')}, {m.get('date', '?')}, by "
                   f"`{record.get('command', '?')}`, which ran `{run.get('command', '?')}`."
                   + _smoothing_note(lesson.seed)), "",
                  f"![training curves of {run.get('model', lesson.seed)}](img/{lesson.family}-curves.png)"]
    else:
        parts.append("No committed result holds this recipe's per-epoch history yet (`python "
                     f"benchmarks/recipe_curves.py {lesson.seed}` records one), so no curves are shown here. Every "
                     f"`cnnzoo train --model {lesson.seed}` run draws its own in `runs/<run>/plots/curves.png` "
                     "and `runs/<run>/report.html`.")
    parts.append("")
    return "\n".join(parts)


def render(lesson: Lesson) -> tuple[str, dict[str, bytes]]:
    """The page's Markdown and its pictures ({file name: bytes})."""
    from cnnzoo.models import model_info
    from cnnzoo.report.draw import diagram

    model, kwargs = _recipe_model(lesson.seed)
    info = model_info(model)
    first, body = _docstring_md(lesson.family)
    images: dict[str, bytes] = {}
    fam = lesson.family

    def picture(name: str, d) -> str:
        images[name] = d.svg().encode("utf-8")
        return f"img/{name}"

    parts = [f"# {first}", "",
             "<!-- Generated by scripts/lessons.py from the code and the committed results; do not edit. -->", ""]
    if info.paper:
        parts += [(f"Paper: [{info.paper}]({info.url}) ({info.authors}, {info.year}). "
                  f"Code: [`src/cnnzoo/models/{fam}.py`](../../src/cnnzoo/models/{fam}.py)."), ""]
    else:
        parts += [f"Code: [`src/cnnzoo/models/{fam}.py`](../../src/cnnzoo/models/{fam}.py).", ""]
    parts += ["## Try it", "", "```sh",
              f"cnnzoo train --model {lesson.seed}          # the recipe below: {model} on Fashion-MNIST",
              f"cnnzoo draw {model}                # this page's diagram, as {model}.svg",
              "```", "", "## The problem and the idea", "", body, ""]
    parts += ["## The key block", ""]
    if lesson.blocks:
        for bmodel, cls in lesson.blocks:
            d = diagram(bmodel, None, None, block=cls)
            name = f"{fam}-{cls.lower()}.svg"
            # the block --block opens: the first of its class, or the first of the paper's figure's form
            path = re.search(r"\(module ([^)]+)\)", d.subtitle[0])
            which = "the first one" if d.subtitle[0].startswith("the first") or not path else \
                f"the one at module `{path.group(1)}`"
            parts += [(f"`{cls}`, {which} in `{bmodel}` at its design input, opened "
                      f"(`cnnzoo draw {bmodel} --block {cls}`):"), "", f"![{cls}]({picture(name, d)})", ""]
    else:
        parts += [(f"`{model}` has no repeated block of its own: its layers are the lesson, so the whole network "
                  "below is the picture to read."), ""]
    parts += ["## The whole network", "",
              (f"`{model}` at 1×28×28 with 10 classes, as Fashion-MNIST trains it (`cnnzoo draw {model} "
              "--input 1,28,28 --num-classes 10`):"), "",
              f"![{model} at 28 px]({picture(f'{fam}-28.svg', diagram(model, SMALL, 10))})", "",
              (f"and at 3×224×224 with 1000 classes, the input size of the ImageNet papers (`cnnzoo draw {model} "
              "--input 3,224,224`):"), "",
              f"![{model} at 224 px]({picture(f'{fam}-224.svg', diagram(model, LARGE, 1000))})", ""]
    parts += ["## Shapes, step by step", "",
              (f"The output of each step of `{model}` (height×width×channels), at both sizes; a step in "
              "parentheses exists at that size only. Under 64 px the zoo builds the small-image configuration "
              "(see [models.md](../models.md))."), "", walkthrough(model), ""]
    parts += ["## The recipe", "", _recipe_section(lesson, model, kwargs)]
    parts += _ablation_section(fam, lesson.seed)
    shown = _curves_run(_curves_record(lesson.seed)[0])
    if shown is not None:
        images[f"{fam}-curves.png"] = curves_png(shown[1], lesson.seed)
    return "\n".join(parts).rstrip() + "\n", images


def curves_png(run: dict, seed: str) -> bytes:
    """The training curves of one run of time_to_accuracy.json (its ``history``), drawn by the run
    directory's own plot (cnnzoo.report.plots.curves): loss, accuracy and learning rate per epoch."""
    import tempfile

    from cnnzoo.report import plots

    title = f"{run.get('model', seed)}: configs/{seed}.yaml, {run.get('device', '?')}"
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "curves.png"
        plots.curves(run["history"], path, title=title)
        return path.read_bytes()


def _ablation_section(fam: str, seed: str | None = None) -> list[str]:
    """The family's ablations (cnnzoo.report.ablations) with what they measured, and the lesson's claims they
    test with their verdicts, from the committed result files that docs/ablations.md is made of."""
    from cnnzoo.report.ablations import ABLATIONS, diff_interval, pct, result_arm, result_stat, result_verdict

    own = [a for a in ABLATIONS if a.family == fam]
    # a claim names its lesson by family (vgg) or by the seed's recipe name (mlpmixer)
    tested = [(a, c) for a in ABLATIONS for c in a.claims if c.source in (f"lesson: {fam}", f"lesson: {seed}")]
    if not own and not tested:
        return []

    def result(key: str) -> dict | None:
        path = ABLATION_RESULTS / f"{key}.json"
        return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None

    out = ["## What the key idea is worth", ""]
    if own:
        out += [(f"`cnnzoo ablate {fam}` trains the recipe with the idea and without it, with seeds; "
                 "[ablations.md](../ablations.md) holds every family's measurements and how to read them:"), ""]
        for a in own:
            line = f"- `{a.name}`: {a.idea} ({a.paper_setting} against {a.ablated_setting})"
            data = result(a.key)
            paper, ablated = result_stat(result_arm(data, "paper")), result_stat(result_arm(data, "ablated"))
            if paper is not None and ablated is not None:
                g = result_arm(data, "paper") or {}
                line += (f": {pct(paper)}% against {pct(ablated)}% test accuracy, a difference of "
                         f"{diff_interval(paper, ablated)} points (95% interval; {g.get('epochs', '?')} epoch(s), "
                         f"{paper.n} seeds per arm, {g.get('device', '?')})")
            else:
                line += ": not measured yet"
            out.append(line + ".")
        out += [""]
    if tested:
        out += ["This lesson's claims, checked in [ablations.md](../ablations.md):", ""]
        out += [f"- *{c.text}* (`cnnzoo ablate {a.family} --switch {a.name}`): "
                f"**{result_verdict(a, c, result(a.key))}**" for a, c in tested]
        out += [""]
    return out


def index() -> str:
    rows = ["# The zoo, one lesson per family", "",
            "<!-- Generated by scripts/lessons.py; do not edit. -->", "",
            ("Each page: the problem and the idea, the key block and the whole network drawn from the code, "
            "the shapes at 28 and 224 px, the recipe and what it measured, its training curves where a committed "
            "result holds them, and the commands to try it. The first eleven are the seed's families; the rest "
            "followed them."), "",
            "| family | recipe (`cnnzoo train --model NAME`) | lesson |", "|---|---|---|"]
    for lesson in LESSONS:
        first, _ = _docstring_md(lesson.family)
        name = re.split(r":| \(|, taught", first)[0].rstrip(".")
        rows.append(f"| {lesson.family} | `{lesson.seed}` | [{name}]({lesson.family}.md) |")
    return "\n".join(rows) + "\n"


def expected() -> dict[Path, bytes]:
    """Every file this script writes, with its content."""
    out: dict[Path, bytes] = {DOCS / "README.md": index().encode("utf-8")}
    for lesson in ALL_LESSONS:
        text, images = render(lesson)
        out[DOCS / f"{lesson.family}.md"] = text.encode("utf-8")
        for name, data in images.items():
            out[IMG / name] = data
    return out


def stale(files: dict[Path, bytes]) -> list[Path]:
    return [p for p, data in files.items() if not p.is_file() or p.read_bytes() != data]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--check", action="store_true", help="exit 1 if a page or picture is stale")
    args = ap.parse_args(argv)
    files = expected()
    old = stale(files)
    if args.check:
        for p in old:
            print(f"stale: {p.relative_to(ROOT)}")
        return 1 if old else 0
    IMG.mkdir(parents=True, exist_ok=True)
    for p in old:
        p.write_bytes(files[p])
        print(f"wrote {p.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
