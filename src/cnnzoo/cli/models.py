"""``cnnzoo models`` and ``cnnzoo summary``: look at the zoo.

    cnnzoo models                             every model: family, paper year, parameters
    cnnzoo models 'resnet*'                   a glob, or plain text matched anywhere
    cnnzoo summary resnet18                   layer table at the model's design input
    cnnzoo summary resnet18 --input 1,28,28 --num-classes 10
    cnnzoo summary resnet --recipe            what `cnnzoo train --model resnet` trains
    cnnzoo summary runs/RUN                   what a run trained

Parsing imports nothing heavy; the handlers import torch and :mod:`cnnzoo.models` when they run.
Models are built on PyTorch's meta device (shapes without storage), so even VGG-19 at 224 px is
described in a moment and without allocating its weights.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any, cast

from ..errors import ModelError
from .common import format_table, human, print_json

MODELS_EPILOG = """\
Parameters are counted at each model's design input (3x224x224 and 1000 classes for the ImageNet
networks); `cnnzoo summary NAME --input 1,28,28 --num-classes 10` shows a model as Fashion-MNIST
trains it. Names in the alias column are the seed's names and work everywhere a name does.
"""

SUMMARY_EPILOG = """\
MACs are multiply-accumulates in convolutions and linear layers (normalization, activations and
pooling are left out, as in torchvision's published figures); FLOPs = 2 x MACs. Inputs under 64 px
use the model's small-image configuration (see docs/models.md).
"""


def register(subparsers: Any, parents: list[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser("models", parents=parents, help="list the model zoo",
                              description="List the registered models: name, family, paper year, "
                                          "parameters at the design input, aliases.",
                              epilog=MODELS_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("pattern", nargs="?", metavar="PATTERN",
                   help="a glob ('resnet*') or text matched in names, families and aliases ('mobilenet')")
    p.add_argument("--json", action="store_true", help="print JSON (with the paper and reference figures)")
    p.set_defaults(handler=_models)

    s = subparsers.add_parser("summary", parents=parents, help="a model's layers: output shapes, parameters, MACs",
                              description="Show a model layer by layer with output shape, parameters and "
                                          "multiply-accumulates, and the totals.",
                              epilog=SUMMARY_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    s.add_argument("name", metavar="NAME|RUN|CONFIG",
                   help="a model name or alias (the network at its defaults, see 'cnnzoo models'), a run "
                        "directory or a config file (the network it trains), or with --recipe a recipe name")
    s.add_argument("--recipe", action="store_true",
                   help="NAME is a recipe (configs/NAME.yaml): show what 'cnnzoo train --model NAME' trains, "
                        "e.g. 'summary resnet --recipe' is resnet18 at a quarter width, on Fashion-MNIST's input")
    s.add_argument("--input", type=_input_shape, metavar="C,H,W",
                   help="input shape (default: the model's design input, e.g. 3,224,224)")
    s.add_argument("--num-classes", type=int, metavar="N", help="classes (default: the model's design count)")
    s.add_argument("--json", action="store_true", help="print JSON: params, macs, flops and the layers")
    s.set_defaults(handler=_summary)


def _input_shape(text: str) -> tuple[int, int, int]:
    parts = [p.strip() for p in text.replace("x", ",").split(",")]
    try:
        shape = tuple(int(p) for p in parts)
    except ValueError:
        shape = ()
    if len(shape) != 3 or min(shape) < 1:
        raise argparse.ArgumentTypeError(f"expected C,H,W as three positive integers (e.g. 1,28,28), got '{text}'")
    return shape


def _build(name: str, num_classes: int, shape: tuple[int, int, int]) -> Any:
    """The model on the meta device (no weights allocated), for an input of ``shape``."""
    from ..models import meta_model

    return meta_model(name, num_classes=num_classes, in_channels=shape[0], image_size=min(shape[1:]))


def _models(args: argparse.Namespace) -> int:
    from ..models import count_params, list_models, model_info

    names = list_models(args.pattern)
    if not names:
        from ..errors import did_you_mean

        every = [n for name in list_models() for n in (name, *model_info(name).aliases)]
        raise ModelError(f"no model matches '{args.pattern}'{did_you_mean(args.pattern, every)}; "
                         f"'cnnzoo models' lists them all")
    rows = []
    for name in names:
        info = model_info(name)
        params = count_params(_build(name, info.default_num_classes, info.default_input))
        rows.append((info, params))
    if args.json:
        print_json([{**info.to_dict(), "params": params} for info, params in rows])
        return 0
    table = [(info.name, info.family, info.year or "-", human(params),
              "x".join(map(str, info.default_input)), info.default_num_classes, ", ".join(info.aliases))
             for info, params in rows]
    print(format_table(table, ("name", "family", "year", "params", "input", "classes", "alias"),
                       align="llrrlrl"))
    recipes = _recipes_for(names)
    if recipes:
        print("\nrecipes ('cnnzoo train --model NAME' trains; 'cnnzoo summary NAME --recipe' shows it):")
        width = max(len(r) for r, _ in recipes)
        for recipe, label in recipes:
            print(f"  {recipe.ljust(width)}  {label}")
    print("\nEach model's options (model.kwargs): 'cnnzoo summary NAME' or 'cnnzoo models --json'.")
    return 0


def _recipes_for(names: list[str]) -> list[tuple[str, str]]:
    """(recipe, the network it trains, named with its options) for the recipes that train one of ``names``."""
    from ..config import list_recipes
    from ..errors import CnnzooError
    from ..trained import resolve_trained

    out = []
    for recipe in list_recipes():
        try:
            what = resolve_trained(recipe, recipe=True)
        except CnnzooError:
            continue
        if what.name in names:
            out.append((recipe, what.label))
    return out


def _summary(args: argparse.Namespace) -> int:
    from ..config import find_recipe
    from ..models import meta_model, model_info, profile
    from ..trained import resolve_trained

    what = resolve_trained(args.name, recipe=args.recipe)
    info = model_info(what.name)
    if (args.input is None and None in (what.in_channels, what.image_size)) or \
            (args.num_classes is None and what.num_classes is None):
        what.build()  # ConfigError: a folder dataset's input is known only from its images
    # build() above filled in whatever the input and class count needed
    shape = cast("tuple[int, int, int]", args.input or (what.in_channels, what.image_size, what.image_size))
    num_classes = cast(int, args.num_classes if args.num_classes is not None else what.num_classes)
    model = meta_model(info.name, num_classes=num_classes, in_channels=shape[0], image_size=min(shape[1:]),
                       **what.options)
    prof = profile(model, shape)
    label = what.label
    if args.json:
        print_json({"name": info.name, "label": label, "options": what.options, "source": what.source,
                    "family": info.family, "input": list(shape), "num_classes": num_classes,
                    "params": prof.params, "trainable_params": prof.trainable_params, "macs": prof.macs,
                    "flops": prof.flops, "flops_note": "flops = 2 x macs",
                    "output": list(prof.output_shape),
                    "layers": [{"name": r.name, "type": r.type, "output_shape": list(r.output_shape),
                                "params": r.params, "macs": r.macs} for r in prof.layers]})
        return 0
    config = ""
    if hasattr(model, "patch_size"):
        config = f", {model.patch_size}x{model.patch_size} patches ({model.num_tokens} tokens)"
    elif hasattr(model, "small_input"):
        config = ", small-image configuration" if model.small_input else ", paper configuration"
    print(f"{label} ({info.family}, {info.year or 'no paper'}) at {'x'.join(map(str, shape))}, "
          f"{num_classes} classes{config}")
    if not what.source.startswith("model "):
        print(f"as {what.source} builds it" + (f", for {what.dataset}" if what.dataset else ""))
    table = [(r.name, r.type, "x".join(map(str, r.output_shape)), f"{r.params:,}" if r.params else "-",
              human(r.macs) if r.macs else "-") for r in prof.layers]
    print(format_table(table, ("layer", "type", "output", "params", "MACs"), align="llrrr"))
    if info.options:
        shown = ", ".join(f"{k}={v!r}" for k, v in {**info.options, **what.options}.items())
        print(f"\noptions (--set model.kwargs.NAME=VALUE): {shown}")
    # the totals last: scripts read the final line
    print(f"\nparams {prof.params:,} ({human(prof.params)})   MACs {human(prof.macs)}   "
          f"FLOPs {human(prof.flops)} (FLOPs = 2 x MACs)")
    if what.source.startswith("model ") and find_recipe(args.name) is not None:
        # `resnet` is both this network's alias and a recipe that trains another width of it.
        trains = resolve_trained(args.name, recipe=True)
        if trains.label != label:
            print(f"note: this is {label} at its defaults; 'cnnzoo train --model {args.name}' trains "
                  f"{trains.label} (its recipe): 'cnnzoo summary {args.name} --recipe' shows that one")
    # A hint, on stderr like git's: the table on stdout stays the same for scripts that read it.
    given = f" --input {','.join(map(str, shape))}" if args.input else ""
    print(f"See its block diagram: cnnzoo draw {info.name}{given} (--depth 2 opens the blocks)", file=sys.stderr)
    return 0
