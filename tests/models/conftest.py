"""Shared helpers for the model-zoo tests.

Parameter counts and MACs at ImageNet size are computed on PyTorch's meta device (shapes without
storage, initialization skipped), so the parity tests take seconds; forward and backward passes
run for real on the CPU at the small sizes the zoo is trained at.
"""

from __future__ import annotations

import pytest
import torch

from cnnzoo.models import list_models, meta_model, model_info

ALL_MODELS = list_models()

# Deeper variants of classes that a cheaper model already exercises (VGG-11 for VGG, ResNet-18 and
# ResNet-50 for both block types, DenseNet-121 and DenseNet-BC-100, SE-ResNet-18, Mixer-T/4,
# ResNeXt-50 for grouped Bottlenecks, WRN-16-8 for WideBasic). Their
# real-CPU forward+backward passes run with `pytest -m slow` (make test-all); by default their
# shapes at 28 and 32 px are checked on the meta device and their counts at 224 px.
HEAVY = {"vgg13", "vgg13_bn", "vgg16", "vgg16_bn", "vgg19", "vgg19_bn", "resnet34", "resnet101", "resnet152",
         "densenet169", "densenet201", "densenet161", "seresnet34", "seresnet50", "seresnet101", "seresnet152",
         "mixer_s32", "mixer_s16", "mixer_b32", "mixer_b16", "mixer_s4",
         "resnext101_32x8d", "wide_resnet50_2", "wrn28_10"}


def model_params(models: list[str] | None = None) -> list:
    """``pytest.param`` per model, the heavy ones marked slow."""
    return [pytest.param(n, marks=pytest.mark.slow) if n in HEAVY else n for n in (models or ALL_MODELS)]


def reference_model(name: str) -> torch.nn.Module:
    """The model at its design configuration (usually 3x224x224, 1000 classes), on the meta device."""
    info = model_info(name)
    return meta_model(name, info.default_num_classes, info.default_in_channels, info.default_image_size)


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)
