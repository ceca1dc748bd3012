"""Checking a nested mapping against the schema: types, ranges, keys, and the checks that involve
more than one key. Every problem is one :class:`~cnnzoo.errors.ConfigError` line naming the key and,
when it came from a file, ``file:line``::

    error: configs/resnet.yaml:12: unknown key 'optim.lr_rate' (did you mean 'optim.lr'?)

A value put into a message goes through :func:`~cnnzoo.errors.short_repr`, so a huge value never
becomes huge text.
"""

from __future__ import annotations

import dataclasses
import math
import re
import types
import typing
from collections.abc import Mapping
from typing import Any, Literal, Union

from ..errors import ConfigError, did_you_mean, short_repr, short_text
from .schema import META_KEYS, Config, ScheduleConfig

# --------------------------------------------------------------------------------------------------
# Where values came from


class Source:
    """Where values came from: dotted key -> 'file:line' (or '--set KEY'), for error messages, and
    which layer that was (``kind``: defaults, recipe, --config, base, flag), for --print-config."""

    def __init__(self) -> None:
        self.where: dict[str, str] = {}
        self.kind: dict[str, str] = {}

    def add(self, lines: Mapping[str, str], kind: str) -> None:
        """Keys read from one file (``lines``: key -> 'file:line'), a layer of the given kind."""
        self.where.update(lines)
        self.kind.update(dict.fromkeys(lines, kind))

    def set(self, key: str, where: str) -> None:
        """A key given on the command line (``where``: '--lr', '--set optim.lr', ...)."""
        self.forget(key)
        self.where[key] = where
        self.kind[key] = "flag"

    def forget(self, prefix: str) -> None:
        """Drop ``prefix`` and the keys below it (a layer's values that were dropped)."""
        for key in [k for k in self.where if k == prefix or k.startswith(prefix + ".")]:
            self.where.pop(key, None)
            self.kind.pop(key, None)

    def origin(self, key: str) -> str:
        """Where ``key``'s value came from, as --print-config says it: 'schema default',
        'defaults configs/defaults.yaml:12', 'recipe configs/resnet.yaml:16', '--config my.yaml:2', '--lr'."""
        if key not in self.where:
            return "schema default"
        where, kind = self.where[key], self.kind.get(key, "")
        return where if kind in ("flag", "") else f"{kind} {where}"

    def of(self, key: str) -> str:
        while key:
            if key in self.where:
                return self.where[key]
            key = key.rpartition(".")[0]
        return ""


# --------------------------------------------------------------------------------------------------
# The schema's keys and types


_HINTS: dict[type, dict[str, Any]] = {}


def hints(cls: type) -> dict[str, Any]:
    if cls not in _HINTS:
        _HINTS[cls] = typing.get_type_hints(cls)
    return _HINTS[cls]


def all_keys(cls: type = Config, prefix: str = "") -> list[str]:
    """Every valid dotted key of the schema (``data.augment.flip``, ...)."""
    keys = []
    types_ = hints(cls)
    for f in dataclasses.fields(cls):
        key = prefix + f.name
        keys.append(key)
        sub = types_[f.name]
        if isinstance(sub, type) and dataclasses.is_dataclass(sub):
            keys.extend(all_keys(sub, key + "."))
    return keys


def describe(tp: Any) -> str:
    """A type as a user reads it: 'an integer or null', 'one of sgd, adam, adamw'."""
    origin = typing.get_origin(tp)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) if not isinstance(a, str) else a for a in typing.get_args(tp))
    if origin in (Union, types.UnionType):
        return " or ".join(describe(a) for a in typing.get_args(tp))
    if origin is list:
        return f"a list of {describe(typing.get_args(tp)[0])}s"
    return {int: "an integer", float: "a number", bool: "true or false", str: "a string",
            dict: "a mapping", type(None): "null"}.get(tp, getattr(tp, "__name__", str(tp)))


def key_hint(key: str) -> str:
    """`` (did you mean 'optim.lr'?)`` for an unknown dotted key: first the keys of the same name in
    another section (``train.lr`` -> ``optim.lr``: the common mistake is the section, not the
    spelling), else the closest spelling."""
    leaf = key.rpartition(".")[2]
    if "." in key:
        moved = [k for k in all_keys() if k.rpartition(".")[2] == leaf and k != key and not _is_section(k)]
        if moved:
            return f" (did you mean {' or '.join(repr(k) for k in moved)}?)"
    return did_you_mean(key, all_keys() + list(META_KEYS), n=1)


def _is_section(key: str) -> bool:
    cls: Any = Config
    for part in key.split("."):
        cls = hints(cls).get(part) if isinstance(cls, type) and dataclasses.is_dataclass(cls) else None
    return isinstance(cls, type) and dataclasses.is_dataclass(cls)


_NOT = object()


def literal_choices(tp: Any) -> list[Any]:
    if typing.get_origin(tp) is Literal:
        return list(typing.get_args(tp))
    if typing.get_origin(tp) in (Union, types.UnionType):
        return [c for a in typing.get_args(tp) for c in literal_choices(a)]
    return []


def _coerce(value: Any, tp: Any) -> Any:
    """Return value converted to tp, or _NOT. No silent truncation: 2.5 is not an integer."""
    origin = typing.get_origin(tp)
    if origin is Literal:
        return _coerce_literal(value, tp)
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
        return _coerce_int(value)
    if tp is float:
        return _coerce_float(value)
    if tp is str:
        return value if isinstance(value, str) else _NOT
    if tp is dict:
        return dict(value) if isinstance(value, dict) else _NOT
    return _NOT


def _coerce_literal(value: Any, tp: Any) -> Any:
    for a in typing.get_args(tp):
        if value == a and type(value) is type(a):
            return a
        if isinstance(value, bool) and isinstance(a, str):
            # YAML 1.1 reads `on`/`off` as booleans; accept them for literal choices.
            word = "on" if value else "off"
            if word == a:
                return a
    return _NOT


def _coerce_int(value: Any) -> Any:
    if isinstance(value, bool):
        return _NOT
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    return _NOT


def _coerce_float(value: Any) -> Any:
    if isinstance(value, bool):
        return _NOT
    if isinstance(value, (int, float)):
        try:
            return float(value)
        except OverflowError:  # an integer too large for a float
            return _NOT
    if isinstance(value, str):
        # YAML 1.1 reads `1e-3` (no dot) as a string; accept what a user plainly means.
        try:
            return float(value.strip())
        except ValueError:
            return _NOT
    return _NOT


def _check_range(value: Any, meta: Mapping[str, Any]) -> str | None:
    values = value if isinstance(value, list) else [value]
    for v in values:
        if not isinstance(v, (int, float)) or isinstance(v, bool):
            continue
        if isinstance(v, float) and not math.isfinite(v):
            return f"must be a finite number, got {v}"
        if "min" in meta and v < meta["min"]:
            return f"must be at least {meta['min']}, got {short_repr(v)}"
        if "gt" in meta and v <= meta["gt"]:
            return f"must be greater than {meta['gt']}, got {short_repr(v)}"
        if "max" in meta and v > meta["max"]:
            return f"must be at most {meta['max']}, got {short_repr(v)}"
    return None


def _build(cls: type, data: Any, prefix: str, source: Source) -> Any:
    def where(key: str) -> str:
        loc = source.of(key)
        return f"{loc}: " if loc else ""

    if not isinstance(data, Mapping):
        name = prefix.rstrip(".") or "config"
        raise ConfigError(f"{where(name)}'{name}' must be a mapping of keys, got {short_repr(data)}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    types_ = hints(cls)
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        if not isinstance(key, str) or key not in fields:
            if prefix == "" and key in META_KEYS:
                continue
            # cut at 60: the message also lists the section's valid keys and must stay one short line
            full = short_text(f"{prefix}{key if isinstance(key, str) else short_repr(key)}", 60)
            valid = [prefix + k for k in fields] + ([] if prefix else list(META_KEYS))
            hint = key_hint(full) or did_you_mean(full, valid, n=1)
            if not hint:
                names = ", ".join(k.rpartition(".")[2] for k in valid)
                if len(names) > 120:  # a section with many keys (train): docs/configuration.md lists them all
                    names = names[:120].rpartition(", ")[0] + ", ..."
                hint = f" (valid keys here: {names})"
            at = where(f"{prefix}{key}" if isinstance(key, str) else prefix.rstrip("."))
            raise ConfigError(f"{at}unknown key '{full}'{hint}")
        full = f"{prefix}{key}"
        tp = types_[key]
        if isinstance(tp, type) and dataclasses.is_dataclass(tp):
            kwargs[key] = _build(tp, value if value is not None else {}, full + ".", source)
            continue
        got = _coerce(value, tp)
        if got is _NOT:
            hint = ""
            if isinstance(value, str):  # a misspelt choice: suggest the closest one
                hint = did_you_mean(short_text(value), [a for a in literal_choices(tp) if isinstance(a, str)], n=1)
            raise ConfigError(f"{where(full)}'{full}' must be {describe(tp)}, got {short_repr(value)}{hint}")
        problem = _check_range(got, fields[key].metadata)
        if problem:
            raise ConfigError(f"{where(full)}'{full}' {problem}")
        kwargs[key] = got
    return cls(**kwargs)


def schedule_problem(schedule: ScheduleConfig, epochs: int) -> tuple[str, str] | None:
    """(key, message) where the schedule's keys contradict each other or the run length, else None."""
    if schedule.name == "onecycle" and schedule.warmup_epochs > 0:
        # One-cycle rises from lr/div_factor to lr over pct_start of training: that rise is its
        # warm-up, so a second warm-up has no meaning. Refused rather than ignored.
        share = schedule.warmup_epochs / epochs
        hint = f" (pct_start: {share:.3g} rises over {schedule.warmup_epochs:g} of {epochs} epochs)" \
            if 0 < share <= 0.9 else ""
        return ("schedule.warmup_epochs",
                f"'schedule.warmup_epochs' does not apply to 'schedule.name: onecycle', whose rise to lr over "
                f"'schedule.pct_start' of training is its warm-up; set pct_start instead{hint}, or "
                "remove warmup_epochs, or use 'schedule.name: cosine' with warmup_epochs")
    if schedule.warmup_epochs >= epochs and schedule.warmup_epochs > 0:
        return ("schedule.warmup_epochs", f"'schedule.warmup_epochs' ({schedule.warmup_epochs}) must be "
                f"shorter than 'train.epochs' ({epochs})")
    return None


def _cross_checks(cfg: Config, source: Source) -> None:
    """Checks that involve more than one key."""

    def fail(key: str, msg: str) -> None:
        loc = source.of(key)
        raise ConfigError(f"{loc + ': ' if loc else ''}{msg}")

    if cfg.data.channels not in (None, 1, 3):
        fail("data.channels", f"'data.channels' must be 1, 3 or null, got {cfg.data.channels}")
    if len(cfg.optim.betas) != 2:
        fail("optim.betas", f"'optim.betas' must be a list of two numbers, got {short_repr(cfg.optim.betas)}")
    if cfg.optim.betas[0] >= 1 or cfg.optim.betas[1] >= 1:
        fail("optim.betas", "'optim.betas' must both be below 1")
    problem = schedule_problem(cfg.schedule, cfg.train.epochs)
    if problem:
        fail(*problem)
    if not re.fullmatch(r"auto|cpu|mps|cuda(:\d+)?", cfg.train.device):
        fail("train.device",
             f"'train.device' must be auto, cpu, cuda, cuda:N or mps, got {short_repr(cfg.train.device)}")
    if cfg.train.precision == "fp16" and cfg.train.device in ("cpu", "mps"):
        fail("train.precision", "'train.precision: fp16' needs a CUDA device; use bf16 on the CPU")
    for key, value, default in (("train.freeze_epochs", cfg.train.freeze_epochs, 0),
                                ("optim.backbone_lr_mult", cfg.optim.backbone_lr_mult, 1.0)):
        if value != default and not cfg.model.pretrained:
            fail(key, f"'{key}' applies to fine-tuning: set 'model.pretrained' (--pretrained SOURCE) too, or remove it")
    for k in cfg.model.kwargs:
        if not isinstance(k, str) or not k.isidentifier():
            fail("model.kwargs", f"'model.kwargs' keys must be argument names, got {short_repr(k)}")


def validate(data: Mapping[str, Any], source: Source | None = None) -> Config:
    """Turn a nested mapping into a checked :class:`Config` (ConfigError on any problem)."""
    source = source or Source()
    cfg = _build(Config, data, "", source)
    _cross_checks(cfg, source)
    return cfg


def config_from_dict(data: Mapping[str, Any]) -> Config:
    return validate(data)
