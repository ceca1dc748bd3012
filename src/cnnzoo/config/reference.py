"""docs/configuration.md, generated from the schema and the environment variables of
:mod:`cnnzoo.env`: ``python -m cnnzoo.config > docs/configuration.md``. A test fails when the file
and the code disagree."""

from __future__ import annotations

import dataclasses
from typing import Any

import yaml

from .. import env
from .schema import SECTIONS, Config
from .validation import describe, hints
from .yaml_reader import MAX_BYTES, MAX_DEPTH, MAX_NODES


def reference_markdown() -> str:
    """docs/configuration.md: every key with its type, default and meaning, from the schema."""
    lines = [
        "# Configuration reference",
        "",
        "Generated from the schema in `src/cnnzoo/config/schema.py` by",
        "`python -m cnnzoo.config > docs/configuration.md` (a test fails when this file and the schema disagree).",
        "",
        "A recipe is a YAML file with these sections; a key left out keeps its default. Layering, lowest",
        "first: these defaults, `configs/defaults.yaml`, a recipe `configs/<name>.yaml` (or the file a",
        "`--config` file names with `base:`), the `--config` file, then command-line shortcuts and",
        "`--set key=value`. The recipe is the one `--model` names; else, for a `--config` file without",
        "`base:`, the one its `model.name` names; else the default job's (`resnet`). A name is a name",
        "however it is spelt: `--model RESNET` is `--model resnet`, and an alias (`cnn`) gets the recipe",
        "of its network (`convnet`). A recipe's `model.kwargs` stand only when the name is the recipe's",
        "own: `--model resnet` trains resnet18 at width 0.25, `--model resnet18` the full-width network",
        "with the ResNet recipe's training settings.",
        "",
        "`cnnzoo train --print-config` shows the result without training, each value with where it came",
        "from: `schema default`, `defaults configs/defaults.yaml:LINE`, `recipe configs/NAME.yaml:LINE`,",
        "`--config FILE:LINE`, `base FILE:LINE`, or the flag (`--lr`, `--set optim.lr`, `--model NAME`).",
        "Model and dataset names are checked there too, and written one way (`Fashion_MNIST` and",
        "`fashionmnist` are `fashion-mnist`, which names the run folder).",
        "",
        f"A config file is read strictly: at most {MAX_BYTES >> 20} MiB, at most {MAX_NODES:,} values with every YAML",
        f"alias expanded, at most {MAX_DEPTH} levels deep, and a key given twice in one mapping is an error",
        "naming both lines (YAML would silently keep the later one).",
        "",
    ]
    defaults = Config()
    for section in SECTIONS:
        cls = type(getattr(defaults, section))
        lines += [f"## `{section}`", "", "| key | type | default | meaning |", "|---|---|---|---|"]
        lines += _reference_rows(cls, getattr(defaults, section), section + ".")
        lines.append("")
        if section == "schedule":
            lines += [
                "`onecycle` rises from `lr / div_factor` to `lr` over the first `pct_start` of training, then",
                "anneals (cosine) to `min_lr_factor * lr`: the rise is its warm-up. So `warmup_epochs` with",
                "`onecycle` is refused (one line naming both keys and the `pct_start` that gives the same rise),",
                "rather than silently ignored; `constant`, `step` and `cosine` warm up for `warmup_epochs`.",
                "",
                "**Extending a run.** `cnnzoo train --resume RUN --epochs N` on a run whose schedule has ended",
                "(a finished run) never restarts the schedule: the added epochs continue at the learning rate of",
                "its last step (the `lr` of the last line of `metrics.jsonl`), held constant, and the training",
                "output says so. With the default `onecycle`, which anneals to `min_lr_factor * lr` = 0, that",
                "rate is small: the added epochs fine-tune. To train with a fresh schedule, start a new run",
                "(`--config RUN/config.yaml --epochs N`). A run that has not finished is laid out again over",
                "the N epochs. `--resume` of a finished run without a larger `--epochs` changes nothing.",
                "",
            ]
    lines += [env.reference_markdown(), ""]
    return "\n".join(lines)


def _reference_rows(cls: type, obj: Any, prefix: str) -> list[str]:
    rows = []
    types_ = hints(cls)
    for f in dataclasses.fields(cls):
        tp = types_[f.name]
        value = getattr(obj, f.name)
        if isinstance(tp, type) and dataclasses.is_dataclass(tp):
            rows += _reference_rows(tp, value, f"{prefix}{f.name}.")
            continue
        meta = f.metadata
        bounds = []
        if "min" in meta:
            bounds.append(f">= {meta['min']}")
        if "gt" in meta:
            bounds.append(f"> {meta['gt']}")
        if "max" in meta:
            bounds.append(f"<= {meta['max']}")
        kind = describe(tp) + (f" ({', '.join(bounds)})" if bounds else "")
        shown = yaml.safe_dump(value, default_flow_style=True).strip().removesuffix("...").strip()
        rows.append(f"| `{prefix}{f.name}` | {kind} | `{shown}` | {meta.get('help', '')} |")
    return rows
