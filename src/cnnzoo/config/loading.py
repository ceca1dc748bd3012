"""Resolving a run configuration: recipes, ``base:`` chains, layering and ``--set`` overrides.

Layering, lowest first: the schema defaults, ``configs/defaults.yaml``, the model's recipe
(``configs/<model>.yaml``) or the ``base:`` a file names, the ``--config`` file, then command-line
shortcuts and ``--set a.b=c`` overrides. The resolved configuration is written into the run
directory, and ``cnnzoo train --config RUN/config.yaml`` reproduces the run.
An image folder trains at :data:`FOLDER_LR` unless the ``--config`` file itself or a flag sets
``optim.lr``: the recipes' rates were tuned on their own datasets.

Every YAML text (files and ``--set`` values alike) is read by :mod:`cnnzoo.config.yaml_reader`,
which bounds its size and refuses duplicate keys; the merged mapping is checked by
:mod:`cnnzoo.config.validation`.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from ..errors import ConfigError, did_you_mean, short_repr, short_text
from .schema import SECTIONS, Config
from .validation import Source, all_keys, validate
from .yaml_reader import parse_yaml, read_yaml_file

# The default job: `cnnzoo train` with no arguments.
DEFAULT_RECIPE = "resnet"

# Image folders train at this peak learning rate unless the user's --config file or a flag sets
# optim.lr: the recipes' 0.1 was tuned on 54,000 Fashion-MNIST images, and on a small folder (a few
# steps per epoch) it diverges. Measured with the resnet recipe (5 epochs, batch 128, --image-size 64)
# on folders of 6 Fashion-MNIST classes, one seed: 360 images: lr 0.1 19%, 0.03 61%, 0.01 44% val
# accuracy; 600 images: 83%, 87%, 78% (docs/data.md, "Your own images").
FOLDER_LR = 0.03


def is_folder_dataset(name: Any) -> bool:
    """Whether ``data.dataset`` names an image folder ("folder", or a path) rather than a built-in."""
    import os

    if not isinstance(name, str):
        return False
    key = name.strip().lower()
    return key == "folder" or os.sep in name or name.startswith((".", "~")) or (
        key.replace("_", "-") not in _builtin_datasets() and Path(name).is_dir())


def _builtin_datasets() -> set[str]:
    from ..data.catalog import DATASETS

    return set(DATASETS)

# --------------------------------------------------------------------------------------------------
# Where recipes live: configs/ at the repository root (also shipped inside the package).


def recipe_dirs() -> list[Path]:
    package = Path(__file__).resolve().parents[1]  # src/cnnzoo
    dirs = [package / "configs", package.parents[1] / "configs"]
    return [d for d in dirs if d.is_dir()]


def list_recipes() -> list[str]:
    names: set[str] = set()
    for d in recipe_dirs():
        names.update(p.stem for p in d.glob("*.yaml") if p.stem != "defaults")
    return sorted(names)


def find_recipe(name: str) -> Path | None:
    for d in recipe_dirs():
        p = d / f"{name}.yaml"
        if p.is_file():
            return p
    return None


# --------------------------------------------------------------------------------------------------
# Files


def _read_yaml(path: Path, source: Source) -> dict[str, Any]:
    data, lines = read_yaml_file(path)
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a config file must be a mapping of sections (model, data, ...), "
                          f"got {type(data).__name__}")
    source.where.update(lines)
    return data


def _merge(base: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in over.items():
        if isinstance(v, Mapping) and isinstance(out.get(k), Mapping) and k != "kwargs":
            out[k] = _merge(dict(out[k]), v)
        elif isinstance(v, Mapping) and k == "kwargs" and isinstance(out.get(k), Mapping):
            out[k] = {**out[k], **v}
        else:
            out[k] = copy.deepcopy(v)
    return out


def _load_layers(path: Path, source: Source, seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    """A file and the chain of `base:` files below it, merged."""
    path = path.resolve()
    if path in seen:
        raise ConfigError(f"{path}: 'base' chain loops back to itself")
    data = _read_yaml(path, source)
    base = data.get("base")
    merged: dict[str, Any] = {}
    if base is not None:
        if not isinstance(base, str):
            raise ConfigError(f"{source.of('base') or path}: 'base' must name a recipe or a YAML file, "
                              f"got {short_repr(base)}")
        candidate = (path.parent / base) if base.endswith((".yaml", ".yml")) else find_recipe(base)
        if candidate is None or not candidate.is_file():
            hint = did_you_mean(short_text(base), list_recipes())
            raise ConfigError(f"{source.of('base') or path}: base recipe '{short_text(base)}' not found{hint}")
        merged = _load_layers(candidate, source, seen + (path,))
    return _merge(merged, {k: v for k, v in data.items() if k not in ("base",)})


# --------------------------------------------------------------------------------------------------
# --set overrides


def parse_override(text: str) -> tuple[str, Any]:
    """``'optim.lr=0.1'`` -> ``('optim.lr', 0.1)``; the value is read as YAML (so 3, 0.1, true, null,
    [0.9, 0.99] and plain words all work)."""
    if "=" not in text:
        raise ConfigError(f"--set '{short_text(text)}' needs the form key=value, e.g. --set train.epochs=3")
    key, _, raw = text.partition("=")
    key = key.strip()
    if not key or not re.fullmatch(r"[A-Za-z_][\w\-]*(\.[A-Za-z_][\w\-]*)*", key):
        raise ConfigError(f"--set '{short_text(text)}': '{short_text(key)}' is not a dotted key like train.epochs")
    try:
        value = parse_yaml(raw, f"--set {short_text(key)}", show_lines=False)[0] if raw.strip() else None
    except ConfigError as e:
        if "invalid YAML" not in str(e):
            raise  # too large, too deep, a duplicate key: not a plain word either
        value = raw
    if isinstance(value, (dict, list)) and not raw.strip().startswith(("[", "{")):
        value = raw
    return key, value


def _nest(key: str, value: Any) -> dict[str, Any]:
    parts = key.split(".")
    # Free-form model builder arguments: model.kwargs.width=0.5
    out: dict[str, Any] = {}
    cur = out
    for p in parts[:-1]:
        cur = cur.setdefault(p, {})
    cur[parts[-1]] = value
    return out


def _check_override_key(key: str) -> None:
    if key.startswith("model.kwargs.") and len(key.split(".")) == 3:
        return
    if key not in all_keys():
        raise ConfigError(f"--set: unknown key '{short_text(key)}'" + (did_you_mean(key, all_keys(), n=1) or ""))
    if key in (*SECTIONS, "data.augment"):
        raise ConfigError(f"--set: '{key}' is a section; set one of its keys, e.g. {key}."
                          f"{[k for k in all_keys() if k.startswith(key + '.')][0].rpartition('.')[2]}=...")


# --------------------------------------------------------------------------------------------------
# Putting it together


def load_config(
    config: str | Path | None = None,
    *,
    model: str | None = None,
    overrides: Mapping[str, Any] | None = None,
    sets: Iterable[str] = (),
) -> Config:
    """Resolve a run configuration.

    Args:
        config: a YAML file (a recipe, a run's config.yaml, or your own file with ``base:``).
        model: a model name; its recipe ``configs/<model>.yaml`` is used when there is one.
        overrides: dotted keys from command-line shortcuts, e.g. ``{"train.epochs": 3}``.
        sets: ``key=value`` strings from ``--set``.
    """
    source = Source()
    merged: dict[str, Any] = {}
    defaults = find_recipe("defaults")
    if defaults is not None:
        merged = _read_yaml(defaults, source)
    # `--model resnet` names a recipe (configs/resnet.yaml): the recipe's own choice of network
    # (say resnet18 at a quarter width) stands. `--model resnet50` names a network: it trains with
    # its family's recipe, without that recipe's builder arguments.
    chosen, names_recipe = model, False
    if model is not None:
        recipe = find_recipe(_recipe_name(model))
        if recipe is not None:
            layer = _load_layers(recipe, source)
            merged = _merge(merged, layer)
            names_recipe = recipe.stem == model
            if names_recipe and isinstance(layer.get("model"), dict) and "name" in layer["model"]:
                chosen = str(layer["model"]["name"])
    elif config is None:
        recipe = find_recipe(DEFAULT_RECIPE)
        if recipe is not None:
            merged = _merge(merged, _load_layers(recipe, source))
    if config is not None:
        merged = _merge(merged, _load_layers(Path(config), source))
    merged.pop("notes", None)
    layered: dict[str, Any] = {}
    if chosen is not None:
        layered = _merge(layered, _nest("model.name", chosen))
        source.where["model.name"] = "--model"
    for key, value in (overrides or {}).items():
        if value is None:
            continue
        _check_override_key(key)
        layered = _merge(layered, _nest(key, value))
        source.where[key] = f"--{key.rpartition('.')[2].replace('_', '-')}"
    for text in sets:
        key, value = parse_override(text)
        _check_override_key(key)
        layered = _merge(layered, _nest(key, value))
        source.where[key] = f"--set {key}"
    final_data = _merge(merged, layered).get("data")
    user_lr = "optim.lr" in source.where and source.where["optim.lr"].startswith("--") or (
        config is not None and _sets_lr(Path(config)))
    if isinstance(final_data, dict) and is_folder_dataset(final_data.get("dataset")) and not user_lr \
            and isinstance(merged.get("optim", {}), dict):
        merged = _merge(merged, {"optim": {"lr": FOLDER_LR}})
        source.where["optim.lr"] = f"the image-folder default ({FOLDER_LR})"
    if model is not None and not names_recipe and isinstance(merged.get("model"), dict):
        # A network named by --model: the recipe's builder arguments were for its own choice and do
        # not carry over (--set model.kwargs.NAME=VALUE sets them).
        merged["model"] = {k: v for k, v in merged["model"].items() if k != "kwargs"}
    return validate(_merge(merged, layered), source)


def _sets_lr(path: Path) -> bool:
    """Whether the file itself (not a recipe it names with ``base:``) sets optim.lr."""
    try:
        own = _read_yaml(path, Source())
    except ConfigError:
        return False
    return isinstance(own.get("optim"), dict) and "lr" in own["optim"]


def _recipe_name(model: str) -> str:
    """The recipe file for a model name: its own, else its alias/family recipe."""
    if find_recipe(model) is not None:
        return model
    try:
        from ..models.registry import model_info

        info = model_info(model)
    except Exception:  # noqa: BLE001 - an unknown model is reported later, by create_model
        return model
    for candidate in (info.name, *info.aliases, info.family):
        if find_recipe(candidate) is not None:
            return candidate
    return model


def config_yaml(cfg: Config) -> str:
    """The resolved configuration as YAML text (what ``--print-config`` shows and config.yaml holds)."""
    return yaml.safe_dump(cfg.to_dict(), sort_keys=False, default_flow_style=False, width=100)


def dump_config(cfg: Config, path: Path, header: str = "") -> None:
    """Write the resolved configuration as YAML (readable back by load_config)."""
    path.write_text((header + "\n" if header else "") + config_yaml(cfg), encoding="utf-8")
