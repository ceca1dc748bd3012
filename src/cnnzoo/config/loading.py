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
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from ..errors import ConfigError, did_you_mean, short_repr, short_text
from ..paths import describe
from .schema import SECTIONS, Config
from .validation import Source, all_keys, key_hint, validate
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
    """``configs/<name>.yaml``; the name in any case (``RESNET`` finds resnet.yaml)."""
    for candidate in dict.fromkeys((name, name.strip().lower())):
        if not candidate or "/" in candidate or "\\" in candidate:
            continue
        for d in recipe_dirs():
            p = d / f"{candidate}.yaml"
            if p.is_file():
                return p
    return None


# --------------------------------------------------------------------------------------------------
# Files


def _read_yaml(path: Path) -> tuple[dict[str, Any], dict[str, str]]:
    """A file's mapping and the 'file:line' of each of its keys."""
    data, lines = read_yaml_file(path)
    if data is None:
        return {}, lines
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a config file must be a mapping of sections (model, data, ...), "
                          f"got {type(data).__name__}")
    return data, lines


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


def _load_layers(path: Path, source: Source, kind: str, seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    """A file and the chain of `base:` files below it, merged. ``kind`` says what the file is to the
    user (a recipe, the --config file), for --print-config; the files below it are recipes or bases."""
    try:
        path = path.resolve()
    except (RuntimeError, OSError):  # a symlink loop
        raise ConfigError(f"config file {path} {describe(path)}; give a YAML file") from None
    if path in seen:
        raise ConfigError(f"{path}: 'base' chain loops back to itself")
    data, lines = _read_yaml(path)
    base = data.get("base")
    merged: dict[str, Any] = {}
    if base is not None:
        at = lines.get("base") or str(path)
        if not isinstance(base, str):
            raise ConfigError(f"{at}: 'base' must name a recipe or a YAML file, got {short_repr(base)}")
        by_name = not base.endswith((".yaml", ".yml"))
        candidate = find_recipe(base) if by_name else (path.parent / base)
        if candidate is None or not candidate.is_file():
            hint = did_you_mean(short_text(base), list_recipes())
            raise ConfigError(f"{at}: base recipe '{short_text(base)}' not found{hint}")
        merged = _load_layers(candidate, source, "recipe" if by_name else "base", seen + (path,))
    source.add(lines, kind)  # after its bases: this file's lines are the ones that count
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
        raise ConfigError(f"--set: unknown key '{short_text(key)}'{key_hint(key)}")
    if key in (*SECTIONS, "data.augment"):
        raise ConfigError(f"--set: '{key}' is a section; set one of its keys, e.g. {key}."
                          f"{[k for k in all_keys() if k.startswith(key + '.')][0].rpartition('.')[2]}=...")


# --------------------------------------------------------------------------------------------------
# Putting it together


def _layer_recipe(merged: dict[str, Any], name: str, source: Source) -> tuple[dict[str, Any], str | None]:
    """``merged`` with the recipe that ``name`` picks layered above it, and the network that recipe
    chooses (None when there is no recipe, or it does not name the network)."""
    chosen: str | None = None
    recipe = find_recipe(_recipe_name(name))
    if recipe is not None:
        layer = _load_layers(recipe, source, "recipe")
        merged = _merge(merged, layer)
        network = layer.get("model", {}).get("name") if isinstance(layer.get("model"), dict) else None
        if _same_name(recipe.stem, name):
            # `--model resnet` names a recipe (configs/resnet.yaml): its own choice of network
            # (resnet18 at a quarter width) stands.
            chosen = str(network) if network is not None else None
        elif isinstance(merged.get("model"), dict):
            # A network named by itself (resnet50): the recipe's builder arguments were for the
            # recipe's own choice and do not carry over (--set model.kwargs.NAME=VALUE sets them).
            merged["model"] = {k: v for k, v in merged["model"].items() if k != "kwargs"}
            source.forget("model.kwargs")
    return merged, chosen


def load_config(
    config: str | Path | None = None,
    *,
    model: str | None = None,
    overrides: Mapping[str, Any] | None = None,
    sets: Iterable[str] = (),
    origins: dict[str, str] | None = None,
) -> Config:
    """Resolve a run configuration.

    Args:
        config: a YAML file (a recipe, a run's config.yaml, or your own file with ``base:``).
        model: a model name; its recipe ``configs/<model>.yaml`` is used when there is one.
        overrides: dotted keys from command-line shortcuts, e.g. ``{"train.epochs": 3}``.
        sets: ``key=value`` strings from ``--set``.
        origins: if given, filled with where each value came from (dotted key -> 'recipe
            configs/resnet.yaml:16', '--lr', ...; keys left at the schema default are absent).

    Which recipe: the one ``model`` names, else (for a ``config`` file without ``base:``) the one
    its ``model.name`` names, else the default job's. A name is a name however it is spelt:
    ``RESNET`` and ``resnet`` are the same recipe, and so is an alias (``cnn``) and its network
    (``convnet``). A recipe's builder arguments (``model.kwargs``) stand only when the name is the
    recipe's own (``resnet``: resnet18 at a quarter width); a network of the family named by its
    own name (``resnet18``, ``resnet50``) trains with the family's settings at its own defaults.
    """
    source = Source()
    merged: dict[str, Any] = {}
    defaults = find_recipe("defaults")
    if defaults is not None:
        merged = _load_layers(defaults, source, "defaults")
    # The --config file is read first (its model.name may pick the recipe) and layered above it.
    mine, file_source = None, Source()
    if config is not None:
        mine = _load_layers(Path(config), file_source, "--config")
    name, from_file = model, False
    if name is None and (mine is None or not _has_base(Path(config))):  # type: ignore[arg-type]
        file_model = mine.get("model") if mine is not None else None
        file_name = file_model.get("name") if isinstance(file_model, dict) else None
        name, from_file = (file_name, True) if isinstance(file_name, str) else (DEFAULT_RECIPE, False)
    chosen: str | None = None
    if name is not None:
        merged, chosen = _layer_recipe(merged, name, source)
        if chosen is None and model is not None:
            chosen = model
    if mine is not None:
        if from_file and chosen is not None and isinstance(mine.get("model"), dict):
            mine["model"]["name"] = chosen  # `model.name: resnet` in a file means what --model resnet means
        merged = _merge(merged, mine)
        source.where.update(file_source.where)
        source.kind.update(file_source.kind)
    merged.pop("notes", None)
    layered: dict[str, Any] = {}
    if model is not None and chosen is not None:
        layered = _merge(layered, _nest("model.name", chosen))
        source.set("model.name", f"--model {short_text(model)}")
    for key, value in (overrides or {}).items():
        if value is None:
            continue
        _check_override_key(key)
        layered = _merge(layered, _nest(key, value))
        source.set(key, f"--{key.rpartition('.')[2].replace('_', '-')}")
    for text in sets:
        key, value = parse_override(text)
        _check_override_key(key)
        layered = _merge(layered, _nest(key, value))
        source.set(key, f"--set {key}")
    final_data = _merge(merged, layered).get("data")
    user_lr = "lr" in (layered.get("optim") or {}) or (config is not None and _sets_lr(Path(config)))
    if isinstance(final_data, dict) and is_folder_dataset(final_data.get("dataset")) and not user_lr \
            and isinstance(merged.get("optim", {}), dict):
        # An image folder is usually small: the recipes' lr (tuned on 60,000 images) diverges there.
        merged = _merge(merged, {"optim": {"lr": FOLDER_LR}})
        source.set("optim.lr", f"the image-folder default ({FOLDER_LR})")
    cfg = validate(_merge(merged, layered), source)
    _canonical_names(cfg, source)
    if origins is not None:
        origins.update({key: source.origin(key) for key in source.where})
    return cfg


def _has_base(path: Path) -> bool:
    data, _ = _read_yaml(path)
    return data.get("base") is not None


def _same_name(recipe: str, name: str) -> bool:
    return recipe.lower() == name.strip().lower()


def _canonical_names(cfg: Config, source: Source) -> None:
    """Check the model and dataset names and write them the one way (``RESNET18`` -> ``resnet18``,
    ``Fashion_MNIST`` -> ``fashion-mnist``): the run folder is named after them, and a typo fails
    here, before any data is read, naming where it was written."""
    from ..data.catalog import canonical_dataset
    from ..errors import CnnzooError
    from ..models.registry import resolve_name

    for key, resolve in (("model.name", resolve_name), ("data.dataset", canonical_dataset)):
        try:
            value = resolve(cfg.get(key))
        except CnnzooError as err:
            loc = source.of(key)  # at the end: the message is about the name, wherever it was written
            if key == "data.dataset" and source.kind.get(key) not in (None, "flag") and "did you mean" not in str(err):
                # A file's dataset may be a folder relative to where it was trained (a run's config.yaml
                # read back from elsewhere): loading the data judges it, as it always has.
                continue
            raise ConfigError(f"{err} ({loc})" if loc else str(err)) from None
        section, _, field_ = key.partition(".")
        setattr(getattr(cfg, section), field_, value)


def _sets_lr(path: Path) -> bool:
    """Whether the file itself (not a recipe it names with ``base:``) sets optim.lr."""
    try:
        own, _ = _read_yaml(path)
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
    except Exception:  # noqa: BLE001 - an unknown model is reported later, by _canonical_names
        return model
    for candidate in (info.name, *info.aliases, info.family):
        if find_recipe(candidate) is not None:
            return candidate
    return model


def config_yaml(cfg: Config) -> str:
    """The resolved configuration as YAML text (what config.yaml holds)."""
    return yaml.safe_dump(cfg.to_dict(), sort_keys=False, default_flow_style=False, width=100)


def short_path(text: str | Path) -> str:
    """A recipe's path as configs/NAME.yaml (where it lives in the repository), another path
    relative to the current folder when it is under it (also inside a longer text)."""
    text = str(text)
    for d in recipe_dirs():
        for form in dict.fromkeys((str(d.resolve()), str(d))):
            text = text.replace(form + os.sep, "configs/")
    return text.replace(os.getcwd() + os.sep, "")


def annotated_yaml(cfg: Config, origins: Mapping[str, str]) -> str:
    """The resolved configuration as YAML with, beside each value, where it came from (what
    ``--print-config`` shows): ``# schema default``, ``# defaults configs/defaults.yaml:9``,
    ``# recipe configs/resnet.yaml:16``, ``# --config my.yaml:2``, ``# --lr``, ``# --set optim.lr``.
    Comments aside it is :func:`config_yaml`'s content, readable back by load_config."""
    def origin(key: str) -> str:
        return short_path(origins.get(key, "schema default"))

    lines: list[str] = []

    def walk(d: Mapping[str, Any], prefix: str, indent: str) -> None:
        for k, v in d.items():
            key = prefix + k
            if isinstance(v, dict) and v:  # a section, or the model's builder arguments
                lines.append(f"{indent}{k}:")
                walk(v, key + ".", indent + "  ")
                continue
            text = yaml.safe_dump(v, default_flow_style=True, width=10**6).strip()
            text = text.removesuffix("...").strip()  # a scalar document ends with '...'
            lines.append(f"{indent}{k}: {text}".ljust(34) + f"  # {origin(key)}")

    walk(cfg.to_dict(), "", "")
    return "\n".join(lines) + "\n"


def dump_config(cfg: Config, path: Path, header: str = "") -> None:
    """Write the resolved configuration as YAML (readable back by load_config)."""
    path.write_text((header + "\n" if header else "") + config_yaml(cfg), encoding="utf-8")
