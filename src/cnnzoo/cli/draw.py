"""``cnnzoo draw``: a model's block diagram, drawn from the model itself.

    cnnzoo draw resnet50                           resnet50.svg at the design input (3x224x224)
    cnnzoo draw resnet18 --input 1,28,28           the small-image configuration (3x3 stem)
    cnnzoo draw googlenet --depth 2 --out g.png    blocks opened: the four Inception branches
    cnnzoo draw seresnet50 --block Bottleneck      one block, opened to its layers and paths

Parsing imports nothing heavy; the handler imports torch and :mod:`cnnzoo.report.draw` when it runs.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from .models import _input_shape

EPILOG = """\
Each box is a step of the model's forward pass, in order; consecutive blocks of one kind and one
output shape are one box with their count ("Bottleneck ×6"). The column on the right is the output
shape after each step (height×width×channels; tokens×channels for MLP-Mixer) and its parameters.
--depth 2 opens every block to show its layers and paths, --depth 3 the blocks inside those.
SVG keeps the text as text (searchable, crisp at any zoom); PNG is for slides.
"""


def register(subparsers: Any, parents: list[argparse.ArgumentParser]) -> None:
    d = subparsers.add_parser("draw", parents=parents, help="a model's block diagram (SVG or PNG)",
                              description="Draw a model's block diagram from the model itself: the stem, "
                                          "the paper's blocks with their repeat counts, skips, branches, "
                                          "concatenations and gates, and the shape after each step.",
                              epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    d.add_argument("name", metavar="NAME", help="a model name or alias (see 'cnnzoo models'), a run directory or a "
                                                "config file: what it trained, at its input")
    d.add_argument("--recipe", action="store_true",
                   help="NAME is a recipe: draw what `cnnzoo train --model NAME` trains (e.g. resnet: a quarter width)")
    d.add_argument("--input", type=_input_shape, metavar="C,H,W",
                   help="input shape (default: the model's design input, e.g. 3,224,224)")
    d.add_argument("--num-classes", type=int, metavar="N", help="classes (default: the model's design count)")
    d.add_argument("--depth", type=int, default=1, metavar="N",
                   help="1: blocks closed (default); 2: blocks opened to their layers; 3: nested blocks too")
    d.add_argument("--block", metavar="CLASS", help="draw only the first block of this class, opened "
                                                     "(e.g. Bottleneck, Inception, DenseBlock, MixerBlock)")
    d.add_argument("--out", "-o", metavar="FILE", help="FILE.svg or FILE.png (default: NAME.svg)")
    d.set_defaults(handler=_draw)


def _draw(args: argparse.Namespace) -> int:
    from ..errors import OutputError
    from ..models import model_info
    from ..report.draw import FORMATS, diagram, write

    target = Path(args.name)
    if args.recipe or target.is_dir() or target.suffix in (".yaml", ".yml"):
        from ..trained import resolve_trained

        trained = resolve_trained(args.name, recipe=args.recipe)  # the network a recipe or run trains
        name, options = trained.name, dict(trained.options)
        c, s = trained.in_channels, trained.image_size
        shape = args.input or ((c, s, s) if c is not None and s is not None else None)
        classes = args.num_classes or trained.num_classes
    else:
        name, options, shape, classes = model_info(args.name).name, {}, args.input, args.num_classes
    out = args.out or f"{name}.svg"
    if Path(out).suffix.lower() not in FORMATS:   # before the work, not after it
        raise OutputError(f"cannot draw to '{out}': unknown extension '{Path(out).suffix or '(none)'}'; "
                          f"use .svg (the default) or .png")
    d = diagram(name, shape, classes, depth=args.depth, block=args.block, **options)
    path = write(d, out)
    print(f"wrote {path}")
    return 0
