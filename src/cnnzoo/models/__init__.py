"""The model zoo: classic CNN families behind one registry and one uniform surface.

    >>> from cnnzoo.models import create_model, list_models, profile
    >>> model = create_model("resnet18", num_classes=10, in_channels=1, image_size=28)
    >>> profile(model, (1, 28, 28)).macs

Each family lives in its own file (docstring -> blocks -> network -> registered variants); see
docs/models.md for the table of models and the small-image adaptations.
"""

from __future__ import annotations

# Importing the family modules registers their models. The order is the teaching order that
# list_models() follows: the order the course (and the seed) meets the families in.
# isort: off
from . import convnet, alexnet, vgg, nin, googlenet, batchnorm, resnet, densenet, senet, mixer, mobilenet  # noqa: F401,E401,I001
from . import resnext, wide_resnet, squeezenet, shufflenet  # noqa: F401,E401  (the families that followed)
from . import efficientnet  # noqa: F401
from . import vit, convnext  # noqa: F401,E401  (attention, and the ConvNet it inspired)
from . import inception_v3, xception  # noqa: F401,E401
from . import darknet, resmlp, gmlp  # noqa: F401,E401  (YOLOv3's backbone; the Mixer's successors)
# isort: on
from .base import SMALL_INPUT_BELOW, InputTooSmallError, ZooModel
from .profile import LayerProfile, Profile, count_params, meta_model, profile
from .registry import (
    CIFAR10,
    FASHION_MNIST,
    IMAGENET,
    Design,
    ModelInfo,
    Paper,
    Reference,
    Variant,
    create_model,
    display_name,
    list_models,
    model_info,
    register_model,
    resolve_name,
)

__all__ = [
    "CIFAR10", "FASHION_MNIST", "IMAGENET", "SMALL_INPUT_BELOW", "Design", "InputTooSmallError", "LayerProfile",
    "ModelInfo", "Paper", "Profile", "Reference", "Variant", "ZooModel", "count_params", "create_model", "display_name",
    "list_models", "meta_model", "model_info", "profile", "register_model", "resolve_name",
]
