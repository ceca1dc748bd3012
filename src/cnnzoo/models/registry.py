"""The model registry: one call to add a model, three functions to find and build one.

A model is a *variant* of a family's network class: the class, the few arguments that make it
this variant, and what the zoo knows about it. A family file registers its variants under the
network class, one :func:`register_model` call each (timm's ``model_args``, as data)::

    register_model("resnet18", ResNet, dict(block=BasicBlock, layers=(2, 2, 2, 2)),
                   family="resnet", paper=PAPER, aliases=("resnet",),
                   reference=Reference(11_689_512, 1.81e9, "torchvision"),
                   doc="ResNet-18: BasicBlocks, 2-2-2-2 per stage.")

The class's constructor is the one signature. Its arguments before the ``*`` describe the
architecture (a variant gives the required ones); its keyword-only arguments are the options a
user may set (``width_mult``, ``small_input``, ...), with their types and defaults. The arguments
a variant gives are fixed: ``vgg13_bn`` fixes ``batch_norm=True``, so ``batch_norm`` is not among
its options and ``create_model("vgg13_bn", batch_norm=False)`` is refused, naming ``vgg13``.
``defaults=`` changes an option's default and leaves it settable (``vgg11_quarter``'s
``width_mult=0.25``). ``design=`` is the input the model was designed for (ImageNet's
3x224x224 and 1000 classes unless said), where its ``reference`` figures hold.

An *ablation switch* is a keyword-only argument that the class names in its
``ablation_switches``: it removes the paper's key idea (ResNet's ``residual=False`` is a plain
network of the same depth). Its default is the paper's network, so a model built without it is the
one registered. A switch is set like an option (``create_model("resnet18", residual=False)``,
``--set model.kwargs.residual=false``) but listed apart (``ModelInfo.switches``): it is an
experiment on the idea, not a knob to tune. ``cnnzoo ablate`` runs each family's pair.

:func:`create_model` resolves a name (or one of the seed's aliases), checks the options against
the variant and builds the model; :func:`list_models` and :func:`model_info` describe the zoo.
Importing this module registers every family (``cnnzoo.models`` imports them all).
"""

from __future__ import annotations

import fnmatch
import inspect
import re
import types
import typing
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from ..errors import ModelError, did_you_mean, short_repr
from .base import InputTooSmallError, ZooModel

# The three arguments every network class takes, with create_model's defaults: the
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
class Design:
    """The input and classes a model was designed for (where its published figures hold)."""

    in_channels: int
    image_size: int
    num_classes: int


IMAGENET = Design(3, 224, 1000)
CIFAR10 = Design(3, 32, 10)
FASHION_MNIST = Design(1, 28, 10)


@dataclass(frozen=True)
class Reference:
    """Published figures at the model's design input: parameters, MACs, where from.

    ``exact=False`` when the source only gives a rounded count ("0.27M"): then it must match to
    the digits given.
    """

    params: int | None = None
    macs: float | None = None
    source: str | None = None
    exact: bool = True


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
    switches: dict[str, Any] = field(default_factory=dict)  # ablation switches and their (paper's) defaults

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
class Variant:
    """A registered model: its family's network class, the arguments it fixes, its facts.

    ``fixed`` are the constructor arguments that make the variant (the user cannot change them);
    ``defaults`` are the options whose default the variant changes; ``options`` are the class's
    keyword-only arguments it does not fix, with the defaults this variant builds with, and
    ``option_types`` the types their annotations allow. ``switches`` are the class's ablation
    switches (keyword-only too, settable like options, kept apart from them).
    """

    cls: type[ZooModel]
    fixed: Mapping[str, Any]
    defaults: Mapping[str, Any]
    options: Mapping[str, inspect.Parameter]
    option_types: Mapping[str, tuple[type, ...]]
    info: ModelInfo
    order: int
    switches: Mapping[str, inspect.Parameter] = field(default_factory=dict)

    def build(self, num_classes: int, in_channels: int, image_size: int, **options: Any) -> ZooModel:
        defaults = {key: param.default for key, param in self.options.items()}
        return self.cls(num_classes=num_classes, in_channels=in_channels, image_size=image_size,
                        **self.fixed, **{**defaults, **options})


_MODELS: dict[str, Variant] = {}
_ALIASES: dict[str, str] = {}
_FAMILY_ORDER: dict[str, int] = {}


def _split_signature(name: str, cls: type[ZooModel], fixed: Mapping[str, Any],
                     defaults: Mapping[str, Any]) -> dict[str, inspect.Parameter]:
    """The variant's options (``cls``'s keyword-only arguments it leaves free); TypeError for a wrong entry."""
    params = inspect.signature(cls).parameters
    if any(arg not in params for arg in BASE_ARGS):
        raise TypeError(f"{cls.__name__} must take {', '.join(BASE_ARGS)} (model {name})")
    for key in fixed:
        if key not in params or key in BASE_ARGS:
            raise TypeError(f"model {name} fixes '{key}', which {cls.__name__} does not take")
    for key, param in params.items():
        if param.default is param.empty and param.kind != param.VAR_KEYWORD and key not in fixed:
            raise TypeError(f"model {name} must give {cls.__name__}'s argument '{key}'")
    options = {key: p for key, p in params.items() if p.kind == p.KEYWORD_ONLY and key not in fixed}
    for key, value in defaults.items():
        if key not in options:
            raise TypeError(f"model {name} sets a default for '{key}', which is not an option of it")
        options[key] = options[key].replace(default=value)
    return options


def register_model(name: str, cls: type[ZooModel], args: Mapping[str, Any] | None = None, *, doc: str,
                   family: str, paper: Paper | None, defaults: Mapping[str, Any] | None = None,
                   design: Design = IMAGENET, reference: Reference | None = None,
                   aliases: tuple[str, ...] = ()) -> Variant:
    """Register ``name`` as ``cls`` built with ``args`` (see the module docstring).

    ``doc``'s first paragraph is the model's description; ``design`` is the input and classes it
    was designed for, where its ``reference`` figures were published; ``aliases`` are other names
    users already know it by.
    """
    fixed = dict(args or {})
    options = _split_signature(name, cls, fixed, defaults or {})
    switches = {key: options.pop(key) for key in getattr(cls, "ablation_switches", ()) if key in options}
    if name in _MODELS or name in _ALIASES:
        raise ValueError(f"model {name} is registered twice")
    for alias in aliases:
        if alias in _MODELS or alias in _ALIASES:
            raise ValueError(f"alias {alias} of {name} is already taken")
        _ALIASES[alias] = name
    _FAMILY_ORDER.setdefault(family, len(_FAMILY_ORDER))
    doc = inspect.cleandoc(doc)
    ref = reference or Reference()
    info = ModelInfo(
        name=name, family=family, description=doc.split("\n\n")[0].replace("\n", " "),
        paper=paper.title if paper else None, authors=paper.authors if paper else None,
        year=paper.year if paper else None, url=paper.url if paper else None,
        default_in_channels=design.in_channels, default_image_size=design.image_size,
        default_num_classes=design.num_classes, reference_params=ref.params,
        reference_macs=int(ref.macs) if ref.macs is not None else None,
        reference_source=ref.source, reference_params_exact=ref.exact,
        aliases=tuple(aliases), options={key: p.default for key, p in options.items()},
        switches={key: p.default for key, p in switches.items()},
    )
    variant = Variant(cls, fixed, dict(defaults or {}), options, _option_types(cls), info, len(_MODELS),
                      switches)
    _MODELS[name] = variant
    return variant


def _normalize(name: str) -> str:
    return name.strip().lower().replace("-", "_")


def resolve_name(name: str) -> str:
    """The registered name for ``name`` (a name or an alias, case-insensitive); ModelError if unknown."""
    if not isinstance(name, str):
        raise ModelError(f"a model name must be a string, got {short_repr(name)}")
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


def display_name(name: str, options: Mapping[str, Any] | None = None) -> str:
    """The name a network is shown under: its registered name, and the options it was built with
    where they differ from the variant's defaults, as ``--set model.kwargs.KEY=VALUE`` writes them:
    ``resnet18 (width_mult=0.25)``. Two networks that differ get two names; ``resnet18`` alone is
    the network at its defaults (``cnnzoo models``, ``cnnzoo summary resnet18``)."""
    canonical = resolve_name(name)
    variant = _MODELS[canonical]
    changed = []
    for key, value in (options or {}).items():
        param = variant.options.get(key)
        if (param is not None and param.default == value) or variant.fixed.get(key, object()) == value:
            continue
        changed.append(f"{key}={_show(value) if not isinstance(value, float) else f'{value:g}'}")
    return f"{canonical} ({', '.join(changed)})" if changed else canonical


def _sort_key(name: str) -> tuple[int, int]:
    variant = _MODELS[name]
    return (_FAMILY_ORDER[variant.info.family], variant.order)


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


def _builds_with(variant: Variant, key: str) -> Any:
    """The value of constructor argument ``key`` that ``variant`` builds with by default."""
    if key in variant.fixed:
        return variant.fixed[key]
    if key in variant.options:
        return variant.options[key].default
    return inspect.signature(variant.cls).parameters[key].default


def _instead(name: str, key: str, value: Any) -> str:
    """The registered variant that is ``name`` with ``key=value``: it builds with that value, and
    fixes and defaults everything else as ``name`` does."""
    variant = _MODELS[name]
    others = {k: v for k, v in variant.fixed.items() if k != key}
    for other, candidate in _MODELS.items():
        if candidate.cls is not variant.cls or candidate.defaults != variant.defaults:
            continue
        if {k: v for k, v in candidate.fixed.items() if k != key} == others and \
                _builds_with(candidate, key) == value:
            return other
    return ""


def _option_types(cls: type[ZooModel]) -> dict[str, tuple[type, ...]]:
    """The types each keyword-only argument of ``cls`` is annotated with, where they are plain classes
    (``float``, ``bool | None``, ...): a light check, so that a config typo ("true" for True) fails by name."""
    hints = typing.get_type_hints(cls.__init__)
    out: dict[str, tuple[type, ...]] = {}
    for key, param in inspect.signature(cls).parameters.items():
        hint = hints.get(key)
        if param.kind != param.KEYWORD_ONLY or hint is None:
            continue
        members = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
        if all(isinstance(t, type) for t in members):
            out[key] = tuple(members)
    return out


def _is_a(value: Any, expected: type) -> bool:
    """isinstance, except that a bool is no number and an int is a fine float."""
    if isinstance(value, bool) and expected is not bool:
        return False
    return isinstance(value, expected) or (expected is float and isinstance(value, int))


def _show(value: Any) -> str:
    return getattr(value, "__name__", None) or short_repr(value)


def _check_options(name: str, variant: Variant, kwargs: dict[str, Any]) -> dict[str, Any]:
    """``kwargs`` checked against ``name``'s options, less any that repeat what the variant fixes."""
    options = variant.options
    valid = ", ".join(options) or "none"
    checked = {}
    for key, value in kwargs.items():
        if key in variant.fixed:
            if variant.fixed[key] == value:
                continue
            other = _instead(name, key, value)
            fix = f"use {other} for {key}={_show(value)}" if other else f"its options are: {valid}"
            raise ModelError(f"{name} fixes {key}={_show(variant.fixed[key])}: it is part of the variant, "
                             f"not an option; {fix}")
        checked[key] = value
        if key not in options and key not in variant.switches:
            switches = f"; its ablation switches: {', '.join(variant.switches)}" if variant.switches else ""
            raise ModelError(f"{name} has no option '{key}'{did_you_mean(key, [*options, *variant.switches])}; "
                             f"its options are: {valid}{switches}")
        expected = variant.option_types.get(key)
        if expected is not None and not any(_is_a(value, t) for t in expected):
            names = " or ".join("None" if t is type(None) else t.__name__ for t in expected)
            raise ModelError(f"{name} option '{key}' must be {names}, got {short_repr(value)} ({type(value).__name__})")
    return checked


def check_options(name: str, kwargs: dict[str, Any]) -> None:
    """A ModelError unless registered model ``name`` accepts options ``kwargs`` (nothing is built)."""
    canonical = resolve_name(name)
    _check_options(canonical, _MODELS[canonical], kwargs)


def create_model(name: str, num_classes: int = 10, in_channels: int = 1, image_size: int = 28,
                 *, pretrained: Any = None, **kwargs: Any) -> ZooModel:
    """Build a registered model.

    ``image_size`` is the side of the square input the model will see; it picks the small-image
    configuration below 64 px (see docs/models.md) and must be at least the model's minimum.
    ``kwargs`` are the model's own options (``model_info(name).options``).

    ``pretrained``: a weights source (a file, a run directory, ``torchvision``, ``timm:TAG``; see
    docs/transfer.md): the model keeps the weights' architecture (the ImageNet stem whatever
    ``image_size``), gets a fresh head for another ``num_classes`` and an adapted stem for another
    ``in_channels``; ``model.pretrained_info`` says what was loaded (its ``notes``, its ``meta``'s
    normalization).
    """
    if pretrained is not None:
        from ..weights.pretrained import Pretrained

        weights = pretrained if isinstance(pretrained, Pretrained) else Pretrained.read(name, pretrained)
        model, _ = weights.build(num_classes, in_channels, image_size, **kwargs)
        return model
    canonical = resolve_name(name)
    variant = _MODELS[canonical]
    for arg, value in (("num_classes", num_classes), ("in_channels", in_channels), ("image_size", image_size)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ModelError(f"{arg} must be a positive integer, got {short_repr(value)}")
    kwargs = _check_options(canonical, variant, kwargs)
    try:
        model = variant.build(num_classes, in_channels, image_size, **kwargs)
    except InputTooSmallError as err:
        raise ModelError(f"{canonical} needs inputs of at least {err.min_size}x{err.min_size}, "
                         f"got {image_size}x{image_size}") from None
    model.model_name = canonical
    model.create_args = {"name": canonical, "num_classes": num_classes, "in_channels": in_channels,
                         "image_size": image_size, **kwargs}
    return model
