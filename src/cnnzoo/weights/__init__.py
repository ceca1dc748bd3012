"""Pretrained weights: torchvision's and timm's published ImageNet weights in cnnzoo's networks.

    >>> from cnnzoo.models import create_model
    >>> from cnnzoo.weights import load_pretrained
    >>> model = create_model("resnet50", num_classes=10, in_channels=1, image_size=224)
    >>> info = load_pretrained(model, "torchvision:IMAGENET1K_V2")    # doctest: +SKIP
    >>> info.notes                                                  # doctest: +SKIP
    ['the stem (stem.0.weight) was adapted from RGB to 1 input channels', 'the weights' classifier has 1000 ...']

- :mod:`.files` reads weight files without unpickling anything but tensors;
- :mod:`.mapping` renames each library's keys to cnnzoo's, one table per family;
- :mod:`.catalog` holds the facts of each published set (:class:`WeightsMeta`) and finds or
  downloads its file;
- :mod:`.loader` puts the tensors into a network (:func:`load_pretrained`).

See docs/transfer.md.
"""

from __future__ import annotations

from .catalog import (
                      WeightsMeta,
                      download_weights,
                      fetch_command,
                      find_published,
                      imagenet_classes,
                      locate_weights,
                      published_weights,
)
from .files import WeightFile, read_weights
from .loader import (
                      WeightsInfo,
                      adapt_input_conv,
                      load_pretrained,
                      resolve_source,
                      transform_input,
)
from .mapping import CONVERSIONS, Conversion, conversion

__all__ = [
    "CONVERSIONS", "Conversion", "WeightFile", "WeightsInfo", "WeightsMeta", "adapt_input_conv", "conversion",
    "download_weights", "fetch_command", "find_published", "imagenet_classes", "load_pretrained",
    "locate_weights", "published_weights", "read_weights", "resolve_source", "transform_input",
]
