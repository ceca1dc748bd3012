"""Run configuration: a typed schema, YAML recipes, layering and ``--set`` overrides.

A run is described by one nested mapping with six sections::

    model:    which network and its builder arguments
    data:     dataset, input size, batch size, augmentation
    optim:    optimizer, learning rate, weight decay, gradient clipping
    schedule: learning-rate schedule and warm-up
    train:    epochs, device, precision, seed, determinism, checkpoints
    output:   where the run directory goes and what it holds

Every value is checked against the schema below. A mistake ends with one line naming the file, the
key, the line (when it came from YAML) and, for unknown keys, the closest valid key::

    error: configs/resnet.yaml:12: unknown key 'optim.lr_rate' (did you mean 'optim.lr'?)

Layering, lowest first: the schema defaults, ``configs/defaults.yaml``, the model's recipe
(``configs/<model>.yaml``) or the ``base:`` a file names, the ``--config`` file, then command-line
shortcuts and ``--set a.b=c`` overrides. The resolved configuration is written into the run
directory, and ``cnnzoo train --config RUN/config.yaml`` reproduces the run.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import re
import types
import typing
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Union

import yaml

from .errors import ConfigError, did_you_mean
from .paths import describe

# --------------------------------------------------------------------------------------------------
# The schema. `meta` on a field: help text, and the checks `min`/`max` (inclusive), `gt` (exclusive).


def _f(default: Any, help: str, **checks: Any) -> Any:
    if isinstance(default, (dict, list)):
        return field(default_factory=lambda: copy.deepcopy(default), metadata={"help": help, **checks})
    return field(default=default, metadata={"help": help, **checks})


@dataclass
class ModelConfig:
    name: str = _f("resnet18", "registered model name or alias (see `cnnzoo models`)")
    kwargs: dict = _f({}, "keyword arguments for the model builder (e.g. width_mult: 0.5; `cnnzoo models` lists them)")


@dataclass
class AugmentConfig:
    crop_padding: int = _f(0, "random crop after padding by this many pixels (0 = off)", min=0, max=64)
    flip: Literal["auto", "on", "off"] = _f("auto", "horizontal flip: auto = where the dataset allows it")


@dataclass
class DataConfig:
    dataset: str = _f("fashion-mnist", "mnist, fashion-mnist, kmnist, cifar10, cifar100 or folder")
    data_dir: Union[str, None] = _f(None, "where the files are (else the search order in docs/data.md)")
    offline: bool = _f(False, "never touch the network")
    image_size: Union[int, None] = _f(None, "resize inputs to this square size (null = native)", min=8, max=1024)
    channels: Union[int, None] = _f(None, "convert images to 1 or 3 channels (null = native)", min=1, max=3)
    val_fraction: float = _f(0.1, "share of train carved off for validation when there is no val split", min=0.0, max=0.5)
    batch_size: int = _f(128, "training batch size, per rank under torchrun (N ranks: a global batch of N x this)", min=1, max=65536)
    eval_batch_size: int = _f(512, "batch size for validation and test", min=1, max=65536)
    num_workers: Union[int, None] = _f(None, "worker processes of the streaming loader (null = auto)", min=0, max=64)
    augment: AugmentConfig = field(default_factory=AugmentConfig, metadata={"help": "training-time augmentation"})


@dataclass
class OptimConfig:
    name: Literal["sgd", "adam", "adamw"] = _f("sgd", "optimizer")
    lr: float = _f(0.1, "peak learning rate", gt=0.0, max=100.0)
    momentum: float = _f(0.9, "SGD momentum", min=0.0, max=0.9999)
    nesterov: bool = _f(True, "Nesterov momentum (SGD)")
    betas: list[float] = _f([0.9, 0.999], "Adam/AdamW betas", min=0.0, max=0.99999)
    eps: float = _f(1e-8, "Adam/AdamW epsilon", gt=0.0, max=1.0)
    weight_decay: float = _f(5e-4, "weight decay (L2 for SGD/Adam, decoupled for AdamW)", min=0.0, max=1.0)
    decay_norm_and_bias: bool = _f(False, "also decay normalization and bias parameters")
    grad_clip: Union[float, None] = _f(None, "clip the global gradient norm to this (null = off)", gt=0.0)


@dataclass
class ScheduleConfig:
    name: Literal["constant", "step", "cosine", "onecycle"] = _f("onecycle", "learning-rate schedule")
    warmup_epochs: float = _f(0.0, "linear warm-up from warmup_start_factor * lr (epochs, may be fractional)", min=0.0)
    warmup_start_factor: float = _f(0.01, "warm-up starts at this fraction of lr", min=0.0, max=1.0)
    step_epochs: int = _f(30, "step: decay every this many epochs", min=1)
    gamma: float = _f(0.1, "step: multiply lr by this at each step", gt=0.0, max=1.0)
    min_lr_factor: float = _f(0.0, "cosine/onecycle: final lr as a fraction of lr", min=0.0, max=1.0)
    pct_start: float = _f(0.25, "onecycle: share of training spent rising to lr", gt=0.0, max=0.9)
    div_factor: float = _f(25.0, "onecycle: initial lr = lr / div_factor", min=1.0)


@dataclass
class TrainConfig:
    epochs: int = _f(10, "training epochs", min=1, max=100000)
    seed: int = _f(0, "random seed (data order, augmentation, initialization)", min=0, max=2**63 - 1)
    device: str = _f("auto", "auto, cpu, cuda, cuda:N or mps")
    precision: Literal["auto", "fp32", "bf16", "fp16"] = _f(
        "auto", "auto = bf16 autocast where the hardware has it (CPU or GPU), else fp32; fp16 is GPU-only")
    channels_last: Union[bool, Literal["auto"]] = _f("auto", "NHWC memory layout (auto = on where it is faster)")
    compile: bool = _f(False, "torch.compile the model (pays off on long GPU runs)")
    deterministic: bool = _f(False, "bit-reproducible on CPU: deterministic algorithms, fixed threads")
    threads: Union[int, None] = _f(None, "CPU threads (null = physical cores); where other work keeps cores busy, "
                                            "set the free cores (docs/benchmarks.md: 1 thread ran 1.55x faster than 2 "
                                            "with one of two cores busy)", min=1, max=1024)
    label_smoothing: float = _f(0.0, "label smoothing of the cross-entropy loss", min=0.0, max=0.5)
    tta_flip: bool = _f(False, "average predictions over the image and its mirror at evaluation")
    ema_decay: Union[float, None] = _f(None, "evaluate an exponential moving average of the weights (e.g. 0.999)", gt=0.0, max=0.99999)
    checkpoint_every: int = _f(0, "also checkpoint every N steps inside an epoch (0 = end of epoch only)", min=0)
    test_weights: Literal["best", "last"] = _f("best", "which weights the final test uses")
    sync_bn: bool = _f(False, "under torchrun, BatchNorm statistics over the global batch (SyncBatchNorm; CUDA only)")
    max_steps: Union[int, None] = _f(None, "stop after this many optimizer steps (for smoke tests and benchmarks)", min=1)


@dataclass
class OutputConfig:
    dir: Union[str, None] = _f(None, "run directory (null = runs/<time>-<model>-<dataset>)")
    root: str = _f("runs", "parent of default run directories")
    plots: bool = _f(True, "write plots/curves.png, confusion.png, samples.png")
    tensorboard: bool = _f(False, "also log to TensorBoard (needs the tensorboard extra)")
    save_best: bool = _f(True, "keep checkpoints/best.safetensors (best validation accuracy)")


@dataclass
class Config:
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    output: OutputConfig = field(default_factory=OutputConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def get(self, dotted: str) -> Any:
        obj: Any = self
        for part in dotted.split("."):
            obj = obj[part] if isinstance(obj, dict) else getattr(obj, part)
        return obj


SECTIONS = tuple(f.name for f in dataclasses.fields(Config))

# Keys a file may hold besides the sections: `base` names a recipe or file to start from.
META_KEYS = ("base", "notes")

# --------------------------------------------------------------------------------------------------
# Where recipes live: configs/ at the repository root (also shipped inside the package).


def recipe_dirs() -> list[Path]:
    here = Path(__file__).resolve().parent
    dirs = [here / "configs", here.parents[1] / "configs"]
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
# YAML with line numbers


class _Source:
    """Where values came from: dotted key -> 'file:line', for error messages."""

    def __init__(self) -> None:
        self.where: dict[str, str] = {}

    def of(self, key: str) -> str:
        while key:
            if key in self.where:
                return self.where[key]
            key = key.rpartition(".")[0]
        return ""


def _read_yaml(path: Path, source: _Source) -> dict[str, Any]:
    kind = describe(path)  # stat, not open: a named pipe would block the read below forever
    if kind not in ("is a file", "is a folder", "does not exist"):
        raise ConfigError(f"config file {path} {kind}; give a YAML file")
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except IsADirectoryError:
        raise ConfigError(f"{path} is a folder, not a YAML file (did you mean {path}/config.yaml?)") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"cannot read config file {path}: {e}") from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = f":{mark.line + 1}" if mark else ""
        problem = e.problem or e.context or "invalid YAML"
        raise ConfigError(f"{path}{line}: invalid YAML: {problem}") from None
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: invalid YAML: {e}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a config file must be a mapping of sections (model, data, ...), "
                          f"got {type(data).__name__}")
    _record_lines(node, "", str(path), source)
    return data


def _record_lines(node: Any, prefix: str, filename: str, source: _Source) -> None:
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = f"{prefix}{key_node.value}"
            source.where[key] = f"{filename}:{key_node.start_mark.line + 1}"
            _record_lines(value_node, key + ".", filename, source)


# --------------------------------------------------------------------------------------------------
# Merging and validation


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


def all_keys(cls: type = Config, prefix: str = "") -> list[str]:
    """Every valid dotted key of the schema (``data.augment.flip``, ...)."""
    keys = []
    hints = _hints(cls)
    for f in dataclasses.fields(cls):
        key = prefix + f.name
        keys.append(key)
        sub = hints[f.name]
        if isinstance(sub, type) and dataclasses.is_dataclass(sub):
            keys.extend(all_keys(sub, key + "."))
    return keys


_HINTS: dict[type, dict[str, Any]] = {}


def _hints(cls: type) -> dict[str, Any]:
    if cls not in _HINTS:
        _HINTS[cls] = typing.get_type_hints(cls)
    return _HINTS[cls]


def _describe(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) if not isinstance(a, str) else a for a in typing.get_args(tp))
    if origin in (Union, types.UnionType):
        return " or ".join(_describe(a) for a in typing.get_args(tp))
    if origin is list:
        return f"a list of {_describe(typing.get_args(tp)[0])}s"
    return {int: "an integer", float: "a number", bool: "true or false", str: "a string",
            dict: "a mapping", type(None): "null"}.get(tp, getattr(tp, "__name__", str(tp)))


_NOT = object()


def _literal_choices(tp: Any) -> list[Any]:
    if typing.get_origin(tp) is Literal:
        return list(typing.get_args(tp))
    if typing.get_origin(tp) in (Union, types.UnionType):
        return [c for a in typing.get_args(tp) for c in _literal_choices(a)]
    return []


def _coerce(value: Any, tp: Any) -> Any:
    """Return value converted to tp, or _NOT. No silent truncation: 2.5 is not an integer."""
    origin = typing.get_origin(tp)
    if origin is Literal:
        for a in typing.get_args(tp):
            if value == a and type(value) is type(a):
                return a
            if isinstance(value, bool) and isinstance(a, str):
                # YAML 1.1 reads `on`/`off` as booleans; accept them for literal choices.
                word = "on" if value else "off"
                if word == a:
                    return a
        return _NOT
    if origin in (Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None:
            return None if type(None) in args else _NOT
        # Try the most specific first: bool before int before float before str.
        for a in sorted(args, key=lambda t: 0 if typing.get_origin(t) is Literal else 1):
            if a is type(None):
                continue
            got = _coerce(value, a)
            if got is not _NOT:
                return got
        return _NOT
    if origin is list:
        if not isinstance(value, (list, tuple)):
            return _NOT
        (item,) = typing.get_args(tp)
        items = [_coerce(v, item) for v in value]
        return _NOT if any(i is _NOT for i in items) else items
    if tp is bool:
        return value if isinstance(value, bool) else _NOT
    if tp is int:
        if isinstance(value, bool):
            return _NOT
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
            return int(value)
        return _NOT
    if tp is float:
        if isinstance(value, bool):
            return _NOT
        if isinstance(value, (int, float)):
            return float(value)
        if isinstance(value, str):
            # YAML 1.1 reads `1e-3` (no dot) as a string; accept what a user plainly means.
            try:
                return float(value.strip())
            except ValueError:
                return _NOT
        return _NOT
    if tp is str:
        return value if isinstance(value, str) else _NOT
    if tp is dict:
        return dict(value) if isinstance(value, dict) else _NOT
    return _NOT


def _check_range(value: Any, meta: Mapping[str, Any]) -> str | None:
    values = value if isinstance(value, list) else [value]
    for v in values:
        if not isinstance(v, (int, float)) or isinstance(v, bool):
            continue
        if isinstance(v, float) and not math.isfinite(v):
            return f"must be a finite number, got {v}"
        if "min" in meta and v < meta["min"]:
            return f"must be at least {meta['min']}, got {v}"
        if "gt" in meta and v <= meta["gt"]:
            return f"must be greater than {meta['gt']}, got {v}"
        if "max" in meta and v > meta["max"]:
            return f"must be at most {meta['max']}, got {v}"
    return None


def _build(cls: type, data: Any, prefix: str, source: _Source) -> Any:
    def where(key: str) -> str:
        loc = source.of(key)
        return f"{loc}: " if loc else ""

    if not isinstance(data, Mapping):
        name = prefix.rstrip(".") or "config"
        raise ConfigError(f"{where(name)}'{name}' must be a mapping of keys, got {_short(data)}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = _hints(cls)
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        full = f"{prefix}{key}"
        if not isinstance(key, str) or key not in fields:
            if prefix == "" and key in META_KEYS:
                continue
            valid = [prefix + k for k in fields] + ([] if prefix else list(META_KEYS))
            hint = did_you_mean(str(full), all_keys() + list(META_KEYS), n=1) or did_you_mean(full, valid, n=1)
            if not hint:
                hint = f" (valid keys here: {', '.join(k.rpartition('.')[2] for k in valid)})"
            raise ConfigError(f"{where(full)}unknown key '{full}'{hint}")
        tp = hints[key]
        if isinstance(tp, type) and dataclasses.is_dataclass(tp):
            kwargs[key] = _build(tp, value if value is not None else {}, full + ".", source)
            continue
        got = _coerce(value, tp)
        if got is _NOT:
            hint = ""
            if isinstance(value, str):  # a misspelt choice: suggest the closest one
                hint = did_you_mean(value, [a for a in _literal_choices(tp) if isinstance(a, str)], n=1)
            raise ConfigError(f"{where(full)}'{full}' must be {_describe(tp)}, got {_short(value)}{hint}")
        problem = _check_range(got, fields[key].metadata)
        if problem:
            raise ConfigError(f"{where(full)}'{full}' {problem}")
        kwargs[key] = got
    cfg = cls(**kwargs)
    return cfg


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _cross_checks(cfg: Config, source: _Source) -> None:
    """Checks that involve more than one key."""

    def fail(key: str, msg: str) -> None:
        loc = source.of(key)
        raise ConfigError(f"{loc + ': ' if loc else ''}{msg}")

    if cfg.data.channels not in (None, 1, 3):
        fail("data.channels", f"'data.channels' must be 1, 3 or null, got {cfg.data.channels}")
    if len(cfg.optim.betas) != 2:
        fail("optim.betas", f"'optim.betas' must be a list of two numbers, got {cfg.optim.betas}")
    if cfg.optim.betas[0] >= 1 or cfg.optim.betas[1] >= 1:
        fail("optim.betas", "'optim.betas' must both be below 1")
    if cfg.schedule.warmup_epochs >= cfg.train.epochs and cfg.schedule.warmup_epochs > 0:
        fail("schedule.warmup_epochs", f"'schedule.warmup_epochs' ({cfg.schedule.warmup_epochs}) must be "
             f"shorter than 'train.epochs' ({cfg.train.epochs})")
    if not re.fullmatch(r"auto|cpu|mps|cuda(:\d+)?", cfg.train.device):
        fail("train.device", f"'train.device' must be auto, cpu, cuda, cuda:N or mps, got '{cfg.train.device}'")
    if cfg.train.precision == "fp16" and cfg.train.device in ("cpu", "mps"):
        fail("train.precision", "'train.precision: fp16' needs a CUDA device; use bf16 on the CPU")
    for k in cfg.model.kwargs:
        if not isinstance(k, str) or not k.isidentifier():
            fail("model.kwargs", f"'model.kwargs' keys must be argument names, got {k!r}")


def validate(data: Mapping[str, Any], source: _Source | None = None) -> Config:
    """Turn a nested mapping into a checked :class:`Config` (ConfigError on any problem)."""
    source = source or _Source()
    cfg = _build(Config, data, "", source)
    _cross_checks(cfg, source)
    return cfg


# --------------------------------------------------------------------------------------------------
# --set overrides


def parse_override(text: str) -> tuple[str, Any]:
    """``'optim.lr=0.1'`` -> ``('optim.lr', 0.1)``; the value is read as YAML (so 3, 0.1, true, null,
    [0.9, 0.99] and plain words all work)."""
    if "=" not in text:
        raise ConfigError(f"--set '{text}' needs the form key=value, e.g. --set train.epochs=3")
    key, _, raw = text.partition("=")
    key = key.strip()
    if not key or not re.fullmatch(r"[A-Za-z_][\w\-]*(\.[A-Za-z_][\w\-]*)*", key):
        raise ConfigError(f"--set '{text}': '{key}' is not a dotted key like train.epochs")
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError:
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
        raise ConfigError(f"--set: unknown key '{key}'" + (did_you_mean(key, all_keys(), n=1) or ""))
    if key in ("model", "data", "optim", "schedule", "train", "output", "data.augment"):
        raise ConfigError(f"--set: '{key}' is a section; set one of its keys, e.g. {key}."
                          f"{[k for k in all_keys() if k.startswith(key + '.')][0].rpartition('.')[2]}=...")


# --------------------------------------------------------------------------------------------------
# Putting it together


def _load_layers(path: Path, source: _Source, seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    """A file and the chain of `base:` files below it, merged."""
    try:
        path = path.resolve()
    except (RuntimeError, OSError):  # a symlink loop
        raise ConfigError(f"config file {path} {describe(path)}; give a YAML file") from None
    if path in seen:
        raise ConfigError(f"{path}: 'base' chain loops back to itself")
    data = _read_yaml(path, source)
    base = data.get("base")
    merged: dict[str, Any] = {}
    if base is not None:
        if not isinstance(base, str):
            raise ConfigError(f"{source.of('base')}: 'base' must name a recipe or a YAML file")
        candidate = (path.parent / base) if base.endswith((".yaml", ".yml")) else find_recipe(base)
        if candidate is None or not candidate.is_file():
            hint = did_you_mean(base, list_recipes())
            raise ConfigError(f"{source.of('base')}: base recipe '{base}' not found{hint}")
        merged = _load_layers(candidate, source, seen + (path,))
    return _merge(merged, {k: v for k, v in data.items() if k not in ("base",)})


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
    source = _Source()
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
    if model is not None and not names_recipe and isinstance(merged.get("model"), dict):
        # A network named by --model: the recipe's builder arguments were for its own choice and do
        # not carry over (--set model.kwargs.NAME=VALUE sets them).
        merged["model"] = {k: v for k, v in merged["model"].items() if k != "kwargs"}
    return validate(_merge(merged, layered), source)


# The default job: `cnnzoo train` with no arguments.
DEFAULT_RECIPE = "resnet"


def _recipe_name(model: str) -> str:
    """The recipe file for a model name: its own, else its alias/family recipe."""
    if find_recipe(model) is not None:
        return model
    try:
        from .models.registry import model_info

        info = model_info(model)
    except Exception:  # noqa: BLE001 - an unknown model is reported later, by create_model
        return model
    for candidate in (info.name, *info.aliases, info.family):
        if find_recipe(candidate) is not None:
            return candidate
    return model


def dump_config(cfg: Config, path: Path, header: str = "") -> None:
    """Write the resolved configuration as YAML (readable back by load_config)."""
    text = yaml.safe_dump(cfg.to_dict(), sort_keys=False, default_flow_style=False, width=100)
    path.write_text((header + "\n" if header else "") + text, encoding="utf-8")


def config_from_dict(data: Mapping[str, Any]) -> Config:
    return validate(data)


def reference_markdown() -> str:
    """docs/configuration.md: every key with its type, default and meaning, from the schema."""
    lines = [
        "# Configuration reference",
        "",
        "Generated from the schema in `src/cnnzoo/config.py` by `python -m cnnzoo.config > docs/configuration.md`",
        "(a test fails when this file and the schema disagree).",
        "",
        "A recipe is a YAML file with these sections; a key left out keeps its default. Layering, lowest",
        "first: these defaults, `configs/defaults.yaml`, the model's recipe `configs/<model>.yaml` (or the",
        "file a recipe names with `base:`), the `--config` file, then command-line shortcuts and",
        "`--set key=value`. `cnnzoo train --print-config` shows the result without training.",
        "",
    ]
    defaults = Config()
    for section in SECTIONS:
        cls = type(getattr(defaults, section))
        lines += [f"## `{section}`", "", "| key | type | default | meaning |", "|---|---|---|---|"]
        lines += _reference_rows(cls, getattr(defaults, section), section + ".")
        lines.append("")
    return "\n".join(lines)


def _reference_rows(cls: type, obj: Any, prefix: str) -> list[str]:
    rows = []
    hints = _hints(cls)
    for f in dataclasses.fields(cls):
        tp = hints[f.name]
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
        kind = _describe(tp) + (f" ({', '.join(bounds)})" if bounds else "")
        shown = yaml.safe_dump(value, default_flow_style=True).strip().removesuffix("...").strip()
        rows.append(f"| `{prefix}{f.name}` | {kind} | `{shown}` | {meta.get('help', '')} |")
    return rows


if __name__ == "__main__":
    print(reference_markdown())
