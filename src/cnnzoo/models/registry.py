"""The model registry: one decorator to add a model, three functions to find and build one.

A family file registers each variant with :func:`register_model`, a decorator for a builder
function whose name is the model's name and whose signature is the model's options::

    @register_model(family="resnet", paper=PAPER, reference_params=11_689_512, ...)
    def resnet18(num_classes: int = 10, in_channels: int = 1, image_size: int = 28, *,
                 zero_init_residual: bool = False, small_input: bool | None = None) -> ResNet:
        ...

:func:`create_model` resolves a name (or one of the seed's aliases), checks the options against
that signature and builds the model; :func:`list_models` and :func:`model_info` describe the zoo.
Importing this module registers every family (``cnnzoo.models`` imports them all).
"""

from __future__ import annotations

import fnmatch
import inspect
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from ..errors import ModelError, did_you_mean
from .base import InputTooSmallError, ZooModel

# The three arguments every builder takes, in this order, with create_model's defaults: the
# dataset the zoo is taught on is Fashion-MNIST (1x28x28, 10 classes).
BASE_ARGS = ("num_classes", "in_channels", "image_size")


# Published MAC figures are rounded and counted by slightly different tools (some count the
# additions of biases and normalization, some do not): 5% is the agreement we promise.
MACS_TOLERANCE = 0.05


def _agrees_to_precision(value: int, published: int) -> bool:
    """``value`` rounded or truncated to ``published``'s last non-zero digit equals ``published``."""
    unit = 1
    while published % (unit * 10) == 0:
        unit *= 10
    return round(value / unit) * unit == published or value // unit * unit == published


@dataclass(frozen=True)
class Paper:
    """Where a model comes from."""

    title: str
    authors: str
    year: int
    url: str


@dataclass(frozen=True)
class ModelInfo:
    """What the zoo knows about a registered model (see :func:`model_info`).

    ``default_*`` describe the configuration the model was designed for (ImageNet's 3x224x224 and
    1000 classes for most); ``reference_params`` / ``reference_macs`` are the published figures at
    that configuration, from ``reference_source``. ``reference_params_exact`` is False when the
    source only gives a rounded figure ("0.27M"): then it matches to the digits it gives.
    """

    name: str
    family: str
    description: str
    paper: str | None
    authors: str | None
    year: int | None
    url: str | None
    default_in_channels: int
    default_image_size: int
    default_num_classes: int
    reference_params: int | None
    reference_macs: int | None
    reference_source: str | None
    reference_params_exact: bool
    aliases: tuple[str, ...]
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def default_input(self) -> tuple[int, int, int]:
        return (self.default_in_channels, self.default_image_size, self.default_image_size)

    def params_match(self, params: int) -> bool | None:
        """Whether ``params`` agrees with the published count (None when none is published).

        Exact references must be equal; a rounded one ("0.27M", "18M") must agree to the digits it
        gives, rounded or truncated (papers do both).
        """
        if self.reference_params is None:
            return None
        if self.reference_params_exact:
            return params == self.reference_params
        return _agrees_to_precision(params, self.reference_params)

    def macs_match(self, macs: int) -> bool | None:
        """Whether ``macs`` is within 5% of the published figure, or equal to it at its precision."""
        if self.reference_macs is None:
            return None
        return abs(macs - self.reference_macs) <= MACS_TOLERANCE * self.reference_macs or \
            _agrees_to_precision(macs, self.reference_macs)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["aliases"] = list(self.aliases)
        out["default_input"] = list(self.default_input)
        return out


@dataclass(frozen=True)
class _Entry:
    builder: Callable[..., ZooModel]
    info: ModelInfo
    order: int


_MODELS: dict[str, _Entry] = {}
_ALIASES: dict[str, str] = {}
_FAMILY_ORDER: dict[str, int] = {}


def register_model(*, family: str, paper: Paper | None, default_input: tuple[int, int, int] = (3, 224, 224),
                   default_num_classes: int = 1000, reference_params: int | None = None,
                   reference_macs: float | None = None, reference_source: str | None = None,
                   reference_params_exact: bool = True, aliases: tuple[str, ...] = ()
                   ) -> Callable[[Callable[..., ZooModel]], Callable[..., ZooModel]]:
    """Register a builder function under its own name (see the module docstring)."""

    def decorate(builder: Callable[..., ZooModel]) -> Callable[..., ZooModel]:
        name = builder.__name__
        params = list(inspect.signature(builder).parameters.values())
        if tuple(p.name for p in params[:3]) != BASE_ARGS:
            raise TypeError(f"builder {name} must start with (num_classes, in_channels, image_size)")
        if name in _MODELS or name in _ALIASES:
            raise ValueError(f"model {name} is registered twice")
        for alias in aliases:
            if alias in _MODELS or alias in _ALIASES:
                raise ValueError(f"alias {alias} of {name} is already taken")
            _ALIASES[alias] = name
        _FAMILY_ORDER.setdefault(family, len(_FAMILY_ORDER))
        doc = inspect.getdoc(builder) or ""
        info = ModelInfo(
            name=name, family=family, description=doc.split("\n\n")[0].replace("\n", " "),
            paper=paper.title if paper else None, authors=paper.authors if paper else None,
            year=paper.year if paper else None, url=paper.url if paper else None,
            default_in_channels=default_input[0], default_image_size=default_input[1],
            default_num_classes=default_num_classes, reference_params=reference_params,
            reference_macs=int(reference_macs) if reference_macs is not None else None,
            reference_source=reference_source, reference_params_exact=reference_params_exact,
            aliases=tuple(aliases),
            options={p.name: p.default for p in params[3:] if p.kind == p.KEYWORD_ONLY},
        )
        _MODELS[name] = _Entry(builder, info, len(_MODELS))
        return builder

    return decorate


def _normalize(name: str) -> str:
    return name.strip().lower().replace("-", "_")


def resolve_name(name: str) -> str:
    """The registered name for ``name`` (a name or an alias, case-insensitive); ModelError if unknown."""
    if not isinstance(name, str):
        raise ModelError(f"a model name must be a string, got {name!r}")
    key = _normalize(name)
    if key in _MODELS:
        return key
    if key in _ALIASES:
        return _ALIASES[key]
    raise ModelError(f"unknown model '{name}'{did_you_mean(key, [*_MODELS, *_ALIASES])}; "
                     f"'cnnzoo models' lists them all")


def model_info(name: str) -> ModelInfo:
    """Metadata of a registered model (by name or alias)."""
    return _MODELS[resolve_name(name)].info


def _sort_key(name: str) -> tuple[int, int]:
    entry = _MODELS[name]
    return (_FAMILY_ORDER[entry.info.family], entry.order)


def list_models(pattern: str | None = None) -> list[str]:
    """Registered model names, optionally filtered, in teaching order.

    The order is the zoo's: families as the course meets them (basic ConvNet, AlexNet, VGG, NiN,
    GoogLeNet, BatchNorm, ResNet, DenseNet, SENet, MLP-Mixer, MobileNet), and within a family the
    paper's variants from small to large, then the small-image ones. ``pattern`` is matched
    case-insensitively against the name, the family and the aliases; a glob (``resnet*``) matches
    whole words, plain text (``mobilenet``) matches anywhere.
    """
    names = sorted(_MODELS, key=_sort_key)
    if pattern is None:
        return names
    pattern = _normalize(pattern)
    if not any(ch in pattern for ch in "*?["):
        pattern = f"*{pattern}*"
    regex = re.compile(fnmatch.translate(pattern))
    return [n for n in names
            if any(regex.match(word) for word in (n, _MODELS[n].info.family, *_MODELS[n].info.aliases))]


def _check_options(name: str, builder: Callable[..., ZooModel], kwargs: dict[str, Any]) -> None:
    params = inspect.signature(builder).parameters
    options = {k: p for k, p in params.items() if p.kind == p.KEYWORD_ONLY}
    for key, value in kwargs.items():
        if key not in options:
            valid = ", ".join(options) or "none"
            raise ModelError(f"{name} has no option '{key}'{did_you_mean(key, options)}; "
                             f"its options are: {valid}")
        default = options[key].default
        if value is None or default is None or default is inspect.Parameter.empty:
            continue
        # A light type check, so that a config typo ("true" for True) fails here, by name.
        expected = type(default)
        ok = isinstance(value, expected) and (expected is bool or not isinstance(value, bool))
        if expected is float and isinstance(value, int) and not isinstance(value, bool):
            ok = True
        if not ok:
            raise ModelError(f"{name} option '{key}' must be {expected.__name__}, "
                             f"got {value!r} ({type(value).__name__})")


def check_options(name: str, kwargs: dict[str, Any]) -> None:
    """A ModelError unless registered model ``name`` accepts options ``kwargs`` (nothing is built)."""
    canonical = resolve_name(name)
    _check_options(canonical, _MODELS[canonical].builder, kwargs)


def create_model(name: str, num_classes: int = 10, in_channels: int = 1, image_size: int = 28,
                 **kwargs: Any) -> ZooModel:
    """Build a registered model.

    ``image_size`` is the side of the square input the model will see; it picks the small-image
    configuration below 64 px (see docs/models.md) and must be at least the model's minimum.
    ``kwargs`` are the model's own options (``model_info(name).options``).
    """
    canonical = resolve_name(name)
    entry = _MODELS[canonical]
    for arg, value in (("num_classes", num_classes), ("in_channels", in_channels), ("image_size", image_size)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ModelError(f"{arg} must be a positive integer, got {value!r}")
    _check_options(canonical, entry.builder, kwargs)
    try:
        model = entry.builder(num_classes, in_channels, image_size, **kwargs)
    except InputTooSmallError as err:
        raise ModelError(f"{canonical} needs inputs of at least {err.min_size}x{err.min_size}, "
                         f"got {image_size}x{image_size}") from None
    model.model_name = canonical
    model.create_args = {"name": canonical, "num_classes": num_classes, "in_channels": in_channels,
                         "image_size": image_size, **kwargs}
    return model
