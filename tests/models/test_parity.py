"""Faithfulness: at ImageNet configuration the zoo matches the published parameter counts and MACs.

Counts are computed on the meta device (no weights allocated), MACs with one meta-device forward.
Regenerate the table in docs/models.md with `python benchmarks/zoo_table.py`.
"""

from __future__ import annotations

import pytest

from cnnzoo.models import count_params, meta_model, model_info, profile

from .conftest import ALL_MODELS, reference_model

# The parity table: exact parameter counts at 3x224x224 with 1000 classes.
PARAMS_224 = {
    "resnet18": 11_689_512, "resnet34": 21_797_672, "resnet50": 25_557_032,
    "vgg11": 132_863_336, "vgg16": 138_357_544,
    "alexnet": 62_378_344,        # paper widths, one tower, 6x6x256 into the first linear layer
    "densenet121": 7_978_856,
    "googlenet": 6_624_904,       # with BatchNorm, without auxiliary heads, as torchvision counts it
    "mobilenet_v2": 3_504_872, "seresnet50": 28_088_024, "mixer_b16": 59_880_472,
}
# torchvision's published GMACs at 224 px; ours must be within 5%.
MACS_224 = {"resnet18": 1.81e9, "resnet50": 4.09e9, "vgg16": 15.47e9, "mobilenet_v2": 0.30e9,
            "densenet121": 2.83e9, "googlenet": 1.50e9}


@pytest.mark.parametrize("name,expected", sorted(PARAMS_224.items()))
def test_parameter_count_equals_reference(name, expected):
    assert count_params(meta_model(name, num_classes=1000, in_channels=3, image_size=224)) == expected


@pytest.mark.parametrize("name,expected", sorted(MACS_224.items()))
def test_macs_within_five_percent(name, expected):
    macs = profile(meta_model(name, num_classes=1000, in_channels=3, image_size=224), (3, 224, 224)).macs
    assert abs(macs - expected) <= 0.05 * expected, f"{name}: {macs / 1e9:.3f}G vs {expected / 1e9:.2f}G"


@pytest.mark.parametrize("name", ALL_MODELS)
def test_every_published_reference_matches(name):
    """Each model's metadata reference (exact, or rounded as the paper prints it) agrees with the model."""
    info = model_info(name)
    prof = profile(reference_model(name), info.default_input)
    assert info.params_match(prof.params) in (None, True), f"{name}: {prof.params:,} vs {info.reference_params:,}"
    assert info.macs_match(prof.macs) in (None, True), f"{name}: {prof.macs:,} vs {info.reference_macs:,}"
    assert prof.output_shape == (info.default_num_classes,)


def test_cifar_resnets_match_the_paper_table():
    # He et al. 2015, Table 6: 0.27M, 0.46M, 0.66M, 0.85M, 1.7M parameters (10 classes, 32x32).
    published = {"resnet20": 0.27, "resnet32": 0.46, "resnet44": 0.66, "resnet56": 0.85, "resnet110": 1.7}
    for name, millions in published.items():
        params = count_params(meta_model(name, num_classes=10, in_channels=3, image_size=32))
        digits = 1 if name == "resnet110" else 2
        assert round(params / 1e6, digits) == millions, name


def test_googlenet_paper_five_by_five_branch():
    # The paper's 5x5 convolutions in the third Inception branch, instead of torchvision's 3x3.
    model = meta_model("googlenet", num_classes=1000, in_channels=3, image_size=224, branch3_kernel=5)
    assert count_params(model) == 7_005_832


def test_googlenet_auxiliary_heads_add_their_parameters():
    plain = count_params(meta_model("googlenet", 1000, 3, 224))
    with_aux = count_params(meta_model("googlenet", 1000, 3, 224, aux_logits=True))
    # Each head: 1x1 conv to 128 (+BN), fc 2048->1024, fc 1024->1000 (torchvision: 13,004,888 in all).
    assert with_aux == 13_004_888 and with_aux > plain
