"""Which network a recipe, a config file or a run trains, and under which name it is shown.

``resnet`` names two things: an alias of the network ``resnet18`` (full width, what ``cnnzoo
models`` lists) and the recipe ``configs/resnet.yaml``, which trains resnet18 at a quarter width.
:func:`resolve_trained` turns a recipe, a config file or a run directory into the network it
trains (registered name, builder options, input and classes), and :attr:`TrainedModel.label`
names it unambiguously (``resnet18 (width_mult=0.25)``), the way the banner, summary.json,
leaderboards and reports name it. ``cnnzoo summary`` (and any command that shows a network)
starts from here::

    >>> resolve_trained("resnet", recipe=True).label
    'resnet18 (width_mult=0.25)'
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ConfigError


@dataclass(frozen=True)
class TrainedModel:
    """A network as a recipe or run builds it. ``in_channels``/``image_size``/``num_classes`` are
    None where only the data could say (a folder dataset not yet trained on)."""

    name: str  # the registered name (resnet18)
    options: dict[str, Any] = field(default_factory=dict)  # builder arguments (model.kwargs)
    in_channels: int | None = None
    image_size: int | None = None
    num_classes: int | None = None
    dataset: str | None = None
    source: str = ""  # what it was resolved from: "recipe configs/resnet.yaml", "run runs/x", ...

    @property
    def label(self) -> str:
        from .models.registry import display_name

        return display_name(self.name, self.options)

    def build(self, *, meta: bool = True) -> Any:
        """The network (on the meta device unless ``meta=False``); ConfigError when its input is unknown."""
        if None in (self.in_channels, self.image_size, self.num_classes):
            raise ConfigError(f"{self.source}: the input of a '{self.dataset}' dataset is known only from its "
                              "images; give it (cnnzoo summary: --input C,H,W --num-classes N)")
        from .models import create_model, meta_model

        assert self.num_classes is not None and self.in_channels is not None and self.image_size is not None
        make = meta_model if meta else create_model
        return make(self.name, num_classes=self.num_classes, in_channels=self.in_channels,
                    image_size=self.image_size, **self.options)


def resolve_trained(target: str | Path, *, recipe: bool = False) -> TrainedModel:
    """The network that ``target`` trains (or trained).

    ``target`` is a run directory (its config.yaml, and summary.json's input when it finished), a
    YAML config file, or with ``recipe=True`` a recipe name (``resnet``: what ``cnnzoo train --model
    resnet`` trains). A plain model name (``resnet18``) is that network at its defaults, at its
    design input. ConfigError / ModelError name what was wrong.
    """
    from .config import find_recipe, load_config, short_path

    path = Path(target)
    if recipe:
        file = find_recipe(str(target))
        if file is None:
            from .config import list_recipes
            from .errors import did_you_mean

            raise ConfigError(f"no recipe '{target}'{did_you_mean(str(target), list_recipes())}; "
                              f"recipes: {', '.join(list_recipes())}")
        return _from_config(load_config(model=str(target)), f"recipe {short_path(file)}")
    if path.is_dir():
        if not (path / "config.yaml").is_file():
            raise ConfigError(f"{path} is not a cnnzoo run directory (no config.yaml)")
        got = _from_config(load_config(path / "config.yaml"), f"run {path}")
        summary = _read_summary(path)
        shape = summary.get("input")
        if isinstance(shape, list) and len(shape) == 3 and isinstance(summary.get("classes"), int):
            got = TrainedModel(got.name, got.options, int(shape[0]), int(min(shape[1:])), summary["classes"],
                               got.dataset, got.source)
        return got
    if path.suffix in (".yaml", ".yml") and path.is_file():
        return _from_config(load_config(path), f"config {path}")
    from .models.registry import model_info

    info = model_info(str(target))  # ModelError with suggestions for a typo
    return TrainedModel(info.name, {}, info.default_in_channels, info.default_image_size,
                        info.default_num_classes, None, f"model {info.name}")


def _from_config(cfg: Any, source: str) -> TrainedModel:
    from .data.catalog import DATASETS

    spec = DATASETS.get(cfg.data.dataset)
    shape = spec.shape if spec is not None else None
    channels = cfg.data.channels or (shape[0] if shape else None)
    size = cfg.data.image_size or (min(shape[1:]) if shape else None)
    classes = (spec.num_classes or len(spec.classes) or None) if spec is not None else None
    from .models.registry import resolve_name

    return TrainedModel(resolve_name(cfg.model.name), dict(cfg.model.kwargs), channels, size, classes,
                        cfg.data.dataset, source)


def _read_summary(path: Path) -> dict[str, Any]:
    try:
        data = json.loads((path / "summary.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}
