"""Fine-tuning as users expect it: a new head for another class count, the stem adapted to another
channel count, the facts of the weights (normalization, transform_input) carried along."""

from __future__ import annotations

import pytest
import torch

from cnnzoo.errors import CheckpointError
from cnnzoo.models import create_model
from cnnzoo.weights import (
    adapt_input_conv,
    find_published,
    imagenet_classes,
    load_pretrained,
    published_weights,
    transform_input,
)

from .test_parity import write_library_file


@pytest.fixture(scope="module")
def resnet18_file(tmp_path_factory):
    return write_library_file("resnet18", tmp_path_factory.mktemp("tv"))


def test_another_class_count_gets_a_fresh_head_and_says_so(resnet18_file):
    model = create_model("resnet18", num_classes=10, in_channels=3, image_size=224)
    fresh = model.classifier.weight.clone()
    info = load_pretrained(model, resnet18_file)
    assert info.fresh == ["classifier.weight", "classifier.bias"]
    assert torch.equal(model.classifier.weight, fresh)
    assert any("1000 classes" in n and "10" in n and "freshly initialized" in n for n in info.notes)
    reference = torch.load(resnet18_file, weights_only=True)
    assert torch.equal(model.stem[0].weight, reference["conv1.weight"])


def test_strict_head_refuses_another_class_count(resnet18_file):
    model = create_model("resnet18", num_classes=10, in_channels=3, image_size=224)
    with pytest.raises(CheckpointError, match="classifier.weight.*strict_head"):
        load_pretrained(model, resnet18_file, strict_head=True)


def test_grayscale_stem_is_the_sum_of_the_rgb_filters(resnet18_file):
    rgb = create_model("resnet18", 1000, 3, 224).double().eval()
    gray = create_model("resnet18", 1000, 1, 224).double().eval()
    load_pretrained(rgb, resnet18_file)
    info = load_pretrained(gray, resnet18_file)
    assert info.adapted == ["stem.0.weight"] and any("1 input channels" in n for n in info.notes)
    g = torch.linspace(-1, 1, 64 * 64, dtype=torch.float64).reshape(1, 1, 64, 64)
    with torch.no_grad():  # a gray image computes what the RGB image (g, g, g) computed
        torch.testing.assert_close(gray(g), rgb(g.expand(1, 3, 64, 64)), rtol=1e-9, atol=1e-9)


def test_mixer_linear_stem_is_adapted_in_the_convolution_layout(tmp_path):
    path = write_library_file("mixer_s32", tmp_path)
    rgb = create_model("mixer_s32", 1000, 3, 224).double().eval()
    gray = create_model("mixer_s32", 1000, 1, 224).double().eval()
    load_pretrained(rgb, path)
    assert load_pretrained(gray, path).adapted == ["stem.1.weight"]
    g = torch.linspace(-1, 1, 224 * 224, dtype=torch.float64).reshape(1, 1, 224, 224)
    with torch.no_grad():
        torch.testing.assert_close(gray(g), rgb(g.expand(1, 3, 224, 224)), rtol=1e-9, atol=1e-9)


def test_other_channel_counts_repeat_and_scale_the_rgb_filters():
    w = torch.arange(2 * 3 * 2 * 2, dtype=torch.float64).reshape(2, 3, 2, 2)
    five = adapt_input_conv(5, w)
    assert five.shape == (2, 5, 2, 2)
    torch.testing.assert_close(five, torch.cat([w, w[:, :2]], 1) * 3 / 5)
    torch.testing.assert_close(adapt_input_conv(1, w), w.sum(1, keepdim=True))
    assert adapt_input_conv(3, w) is w


def test_googlenet_weights_carry_transform_input():
    meta = find_published("googlenet", "torchvision")
    assert meta.transform_input and meta.model_mean == (0.5, 0.5, 0.5) and meta.model_std == (0.5, 0.5, 0.5)
    assert meta.mean == pytest.approx((0.485, 0.456, 0.406))
    raw = torch.rand(2, 3, 8, 8, dtype=torch.float64)
    mean, std = torch.tensor(meta.mean).view(1, 3, 1, 1), torch.tensor(meta.std).view(1, 3, 1, 1)
    # torchvision's transform of ImageNet-normalized input == normalizing the raw image with 0.5
    torch.testing.assert_close(transform_input((raw - mean) / std), (raw - 0.5) / 0.5)
    assert not find_published("resnet50", "torchvision").transform_input


def test_published_facts_come_with_each_set():
    v2 = find_published("resnet50", "torchvision")  # the default is torchvision's DEFAULT
    assert v2.tag == "IMAGENET1K_V2" and v2.file_name == "resnet50-11ad3fa6.pth" and v2.sha256_prefix == "11ad3fa6"
    assert v2.resize_size == 232 and v2.input_size == (3, 224, 224) and v2.num_classes == 1000
    assert find_published("resnet50", "torchvision:imagenet1k_v1").file_name == "resnet50-0676ba61.pth"
    timm = find_published("seresnet50", "timm")
    assert timm.tag == "a1_in1k" and timm.hf_hub_id == "timm/seresnet50.a1_in1k" and timm.interpolation == "bicubic"
    assert len(imagenet_classes()) == 1000 and imagenet_classes()[0] == "tench"
    assert {m.model for m in published_weights()} >= {"resnet18", "googlenet", "mixer_b16", "alexnet_owt"}


def test_unknown_tags_and_models_without_weights_are_one_line_errors():
    with pytest.raises(CheckpointError, match="IMAGENET1K_V1"):
        find_published("resnet18", "torchvision:IMAGENET1K_V9")
    with pytest.raises(CheckpointError, match="no published timm weights; it has: torchvision:IMAGENET1K_V1"):
        find_published("resnet18", "timm")
    with pytest.raises(CheckpointError, match="no published counterpart"):
        find_published("resnet20", "torchvision")
