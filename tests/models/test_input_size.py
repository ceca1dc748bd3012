"""Any input size: the small-image configurations, and a clear error (never a shape traceback) below the minimum."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from cnnzoo.errors import ModelError
from cnnzoo.models import SMALL_INPUT_BELOW, create_model, meta_model

from .conftest import ALL_MODELS, HEAVY

# The patch networks (MLP-Mixer, its successors ResMLP and gMLP, ViT): patches, not a small-image stem.
MIXERS = [n for n in ALL_MODELS if n.startswith(("mixer", "resmlp", "gmlp", "vit"))]
CNNS = [n for n in ALL_MODELS if n not in MIXERS]


def _meta_forward(model: nn.Module, shape: tuple[int, int, int]) -> torch.Tensor:
    model.eval()
    return model(torch.empty(2, *shape, device="meta"))


@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32)], ids=["28", "32"])
@pytest.mark.parametrize("name", sorted(HEAVY))
def test_heavy_models_take_the_native_sizes(name, shape):
    """The shapes of the models whose real passes are slow-marked (test_forward.py runs the others)."""
    model = meta_model(name, num_classes=10, in_channels=shape[0], image_size=shape[1])
    assert model.image_size == shape[1]
    assert _meta_forward(model, shape).shape == (2, 10)


@pytest.mark.parametrize("image_size", [28, 224], ids=["small", "paper"])
@pytest.mark.parametrize("name", ALL_MODELS)
def test_minimum_size_works_and_one_less_is_an_error(name, image_size):
    model = meta_model(name, num_classes=10, in_channels=3, image_size=image_size)
    smallest = model.min_size
    if model.fixed_input_size:  # a Mixer takes exactly its image size; the minimum is one patch
        assert smallest == model.patch_size
        small = meta_model(name, num_classes=10, in_channels=3, image_size=smallest)
        assert _meta_forward(small, (3, smallest, smallest)).shape == (2, 10)
    else:
        assert _meta_forward(model, (3, smallest, smallest)).shape == (2, 10)
        assert _meta_forward(model, (3, smallest, smallest + 7)).shape == (2, 10)  # not square is fine
    with pytest.raises(ModelError, match=rf"needs inputs of at least {smallest}x{smallest}, got "
                                         rf"{smallest - 1}x{smallest}"):
        model(torch.empty(1, 3, smallest - 1, smallest, device="meta"))


@pytest.mark.parametrize("name", ALL_MODELS)
def test_create_model_rejects_an_image_size_below_the_minimum(name):
    smallest = meta_model(name, num_classes=10, in_channels=1, image_size=28).min_size
    assert smallest <= 16, f"{name} cannot take 16x16 inputs"
    with pytest.raises(ModelError, match=rf"^{name} needs inputs of at least {smallest}x{smallest}, "
                                         rf"got {smallest - 1}x{smallest - 1}$"):
        create_model(name, num_classes=10, in_channels=1, image_size=smallest - 1)


def test_the_error_message_of_the_issue():
    model = meta_model("resnet50", num_classes=1000, in_channels=3, image_size=224)
    with pytest.raises(ModelError, match=r"^resnet50 needs inputs of at least 32x32, got 16x16 \(it was built "
                                         r"for 224x224; create it with image_size=16 for the small-image "
                                         r"configuration\)$"):
        model(torch.empty(1, 3, 16, 16, device="meta"))


@pytest.mark.parametrize("name", [n for n in CNNS if n not in ("convnet", "lenet5", "lenet5_bn")])
def test_small_configuration_is_chosen_below_64_px(name):
    below = meta_model(name, num_classes=10, in_channels=3, image_size=SMALL_INPUT_BELOW - 1)
    # NiN's paper configuration needs 67 px; Inception-v3's 75 (torchvision's own minimum)
    above = meta_model(name, num_classes=10, in_channels=3,
                       image_size=max(SMALL_INPUT_BELOW, 75 if name == "inception_v3" else 67))
    assert below.small_input and not above.small_input
    assert below.min_size < above.min_size
    if name == "nin":   # its 11x11 stride-4 stem and three pools need 67 px, hence the wider rule
        assert above.min_size == 67


def test_resnet_stems():
    small = create_model("resnet18", image_size=28)
    paper = create_model("resnet18", image_size=64)
    assert [type(m) for m in small.stem] == [nn.Conv2d, nn.BatchNorm2d, nn.ReLU]
    assert small.stem[0].kernel_size == (3, 3) and small.stem[0].stride == (1, 1)
    assert paper.stem[0].kernel_size == (7, 7) and isinstance(paper.stem[-1], nn.MaxPool2d)
    # small_input overrides the choice either way
    assert create_model("resnet18", image_size=96, small_input=True).stem[0].kernel_size == (3, 3)
    with pytest.raises(ModelError, match="resnet18 needs inputs of at least 32x32, got 28x28"):
        create_model("resnet18", image_size=28, small_input=False)


def test_feature_maps_at_28_px():
    def spatial(name: str) -> int:
        return meta_model(name, 10, 1, 28).forward_features(torch.empty(1, 1, 28, 28, device="meta")).shape[-1]

    assert spatial("resnet18") == 4 and spatial("resnet20") == 7          # stride 8 and 4
    assert spatial("alexnet") == 6                                          # the paper's 6x6 head input
    assert spatial("googlenet") == 4 and spatial("mobilenet_v2") == 4
    assert spatial("densenet121") == 3 and spatial("vgg11") == 1


def test_wrong_channel_count_is_a_model_error():
    model = create_model("resnet18", in_channels=1)
    with pytest.raises(ModelError, match="resnet18 was built for 1-channel images, got 3 channels "
                                         r"\(create it with in_channels=3\)"):
        model(torch.zeros(2, 3, 28, 28))


def test_not_a_batch_of_images_is_a_model_error():
    with pytest.raises(ModelError, match=r"expects a batch of images shaped \(B, C, H, W\), got a tensor of "
                                         r"shape \(28, 28\)"):
        create_model("convnet")(torch.zeros(28, 28))


def test_mixer_takes_exactly_its_size():
    model = create_model("mixer_t4", image_size=28)
    assert model.patch_size == 4 and model.num_tokens == 49
    with pytest.raises(ModelError, match=r"mixer_t4 was built for 28x28 inputs and takes no other size, got "
                                         r"32x32 \(create it with image_size=32\)"):
        model(torch.zeros(1, 1, 32, 32))


def test_mixer_patch_size_follows_the_image():
    assert meta_model("mixer_b16", 1000, 3, 224).patch_size == 16
    assert meta_model("mixer_b16", 10, 1, 28).patch_size == 4
    assert meta_model("mixer_b16", 10, 1, 28, patch_size=7).num_tokens == 16
    with pytest.raises(ModelError, match=r"image_size must be a multiple of 16, got 100 \(patch_size=20 would fit\)"):
        create_model("mixer_b16", image_size=100)
