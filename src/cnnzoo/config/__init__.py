"""Run configuration: a typed schema, YAML recipes, layering and ``--set`` overrides.

A run is described by one nested mapping with six sections::

    model:    which network and its builder arguments
    data:     dataset, input size, batch size, augmentation
    optim:    optimizer, learning rate, weight decay, gradient clipping
    schedule: learning-rate schedule and warm-up
    train:    epochs, device, precision, seed, determinism, checkpoints
    output:   where the run directory goes and what it holds

The package, in reading order:

* :mod:`.schema`: the dataclasses a user reads (types, ranges, help); nothing else.
* :mod:`.validation`: checking a mapping against the schema; one-line errors naming file, key, line.
* :mod:`.yaml_reader`: reading YAML bounded in size and expansion, refusing duplicate keys.
* :mod:`.loading`: recipes, ``base:`` chains, layering, ``--set``; :func:`load_config`.
* :mod:`.reference`: docs/configuration.md, generated (``python -m cnnzoo.config``).

Everything a caller needs is importable from here: ``from cnnzoo.config import Config, load_config``.
"""

from __future__ import annotations

from .loading import (
    DEFAULT_RECIPE,
    annotated_yaml,
    config_yaml,
    dump_config,
    find_recipe,
    list_recipes,
    load_config,
    parse_override,
    recipe_dirs,
    short_path,
)
from .reference import reference_markdown
from .schema import (
    META_KEYS,
    OPTIMIZERS,
    SCHEDULES,
    SECTIONS,
    AugmentConfig,
    Config,
    DataConfig,
    EarlyStoppingConfig,
    ModelConfig,
    OptimConfig,
    OptimizerName,
    OutputConfig,
    ScheduleConfig,
    ScheduleName,
    TrainConfig,
)
from .validation import all_keys, config_from_dict, validate

__all__ = [
    "DEFAULT_RECIPE", "META_KEYS", "OPTIMIZERS", "SCHEDULES", "SECTIONS",
    "AugmentConfig", "Config", "DataConfig", "EarlyStoppingConfig", "ModelConfig", "OptimConfig", "OptimizerName",
    "OutputConfig",
    "ScheduleConfig", "ScheduleName", "TrainConfig",
    "all_keys", "annotated_yaml", "config_from_dict", "config_yaml", "dump_config", "find_recipe", "list_recipes",
    "load_config",
    "parse_override", "recipe_dirs", "reference_markdown", "short_path", "validate",
]
