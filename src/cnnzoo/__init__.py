"""cnnzoo: learn, build, train and compare the classic convolutional networks.

The public API is imported lazily so that ``import cnnzoo`` and ``cnnzoo --help`` stay instant:
torch is loaded only when a model, a dataset or the trainer is first used.

    >>> import cnnzoo
    >>> model = cnnzoo.create_model("resnet18", num_classes=10, in_channels=1, image_size=28)
    >>> cnnzoo.list_models("resnet*")[:3]
    ['resnet18', 'resnet34', 'resnet50']
"""

# Nothing here may import more than the interpreter already has (no typing, no difflib): until this
# package is imported, a Ctrl-C cannot be turned into a quiet exit 130 (see cnnzoo.__main__).
from __future__ import annotations

import importlib

from .errors import (
    CheckpointError,
    CnnzooError,
    ConfigError,
    DataError,
    DeviceError,
    ModelError,
    OutputError,
    TrainingError,
)

__version__ = "0.1.0"

# public name -> module that defines it (imported on first use)
_LAZY = {
    "create_model": "cnnzoo.models.registry",
    "list_models": "cnnzoo.models.registry",
    "model_info": "cnnzoo.models.registry",
    "load_dataset": "cnnzoo.data",
    "list_datasets": "cnnzoo.data",
    "load_config": "cnnzoo.config",
    "train": "cnnzoo.training",
    "Trainer": "cnnzoo.engine.trainer",
    "Callback": "cnnzoo.engine.callbacks",
    "load_run": "cnnzoo.engine.inference",
    "resolve_trained": "cnnzoo.trained",
}

__all__ = [
    "CheckpointError",
    "CnnzooError",
    "ConfigError",
    "DataError",
    "DeviceError",
    "ModelError",
    "OutputError",
    "TrainingError",
    "__version__",
    *_LAZY,
]


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'cnnzoo' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
