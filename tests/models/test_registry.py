"""The registry: names, the seed's aliases, metadata, option validation and errors."""

from __future__ import annotations

import pytest

import cnnzoo
from cnnzoo.errors import ModelError
from cnnzoo.models import create_model, list_models, model_info, resolve_name

REQUIRED = ["resnet18", "resnet34", "resnet50", "vgg11", "vgg16", "alexnet", "densenet121", "googlenet",
            "mobilenet_v2", "seresnet50", "mixer_b16"]

# The seed's model names and what they build now.
SEED_ALIASES = {"cnn": "convnet", "alexnet": "alexnet", "vgg": "vgg11_quarter", "nin": "nin",
                "googlenet": "googlenet", "batchnorm": "lenet5_bn", "resnet": "resnet18", "densenet": "densenet_bc_100",
                "senet": "seresnet18", "mlpmixer": "mixer_t4", "mobilenet": "mobilenet_v2"}


def test_required_variants_are_registered():
    assert set(REQUIRED) <= set(list_models())


@pytest.mark.parametrize("alias,canonical", sorted(SEED_ALIASES.items()))
def test_seed_names_resolve_and_build(alias, canonical):
    assert resolve_name(alias) == canonical
    model = create_model(alias, num_classes=10, in_channels=1, image_size=28)
    assert model.model_name == canonical
    assert alias == canonical or alias in model_info(canonical).aliases


def test_names_are_case_and_dash_insensitive():
    assert resolve_name("ResNet18") == "resnet18"
    assert resolve_name("mobilenet-v2") == "mobilenet_v2"


def test_unknown_name_suggests_the_closest():
    with pytest.raises(ModelError, match=r"unknown model 'resnet19' \(did you mean 'resnet18'"):
        create_model("resnet19")
    with pytest.raises(ModelError, match="did you mean 'densenet121'"):
        model_info("densenet12")


def test_public_api_is_lazy_and_the_same():
    assert cnnzoo.create_model is create_model
    assert cnnzoo.list_models is list_models
    assert cnnzoo.model_info is model_info


def test_list_models_order_and_patterns():
    names = list_models()
    assert len(names) == len(set(names))
    # Teaching order: families as the course meets them, variants as registered.
    assert names[0] == "convnet"
    assert names.index("alexnet") < names.index("vgg11") < names.index("resnet18") < names.index("mixer_b16")
    assert list_models("resnet*")[:3] == ["resnet18", "resnet34", "resnet50"]
    assert list_models("vgg1?") == ["vgg11", "vgg13", "vgg16", "vgg19"]
    # Plain text matches anywhere, in names, families and aliases.
    assert set(list_models("mobilenet")) == {n for n in names if n.startswith("mobilenet")}
    assert "seresnet50" in list_models("senet")
    assert list_models("no-such-model") == []


@pytest.mark.parametrize("name", list_models())
def test_metadata_is_complete(name):
    info = model_info(name)
    assert info.name == name and info.family and info.description
    assert info.default_in_channels in (1, 3) and info.default_image_size >= 28
    assert info.default_num_classes in (10, 1000)
    if info.paper is not None:
        assert info.year and info.url.startswith("https://")
    if info.reference_params is not None or info.reference_macs is not None:
        assert info.reference_source
    for key in info.options:
        assert key not in ("num_classes", "in_channels", "image_size")
    assert info.to_dict()["default_input"] == list(info.default_input)


def test_unknown_option_names_the_valid_ones():
    with pytest.raises(ModelError, match=r"resnet18 has no option 'zero_init_resid' \(did you mean "
                                         r"'zero_init_residual'\?\); its options are: "
                                         r"zero_init_residual, width_mult, small_input"):
        create_model("resnet18", zero_init_resid=True)
    with pytest.raises(ModelError, match="convnet has no option 'width'.*its options are: none"):
        create_model("convnet", width=2)


def test_option_types_are_checked():
    with pytest.raises(ModelError, match="resnet18 option 'zero_init_residual' must be bool, got 'yes'"):
        create_model("resnet18", zero_init_residual="yes")
    with pytest.raises(ModelError, match="vgg11 option 'width_mult' must be float"):
        create_model("vgg11", width_mult="half")
    create_model("vgg11_quarter", width_mult=1)  # an int where a float is expected is fine


@pytest.mark.parametrize("arg,value", [("num_classes", 0), ("in_channels", -1), ("image_size", 2.5),
                                       ("num_classes", True)])
def test_base_arguments_are_checked(arg, value):
    with pytest.raises(ModelError, match=f"{arg} must be a positive integer"):
        create_model("convnet", **{arg: value})


def test_invalid_option_values_are_model_errors():
    with pytest.raises(ModelError, match="init must be 'kaiming' or 'xavier'"):
        create_model("vgg11", init="orthogonal")
    with pytest.raises(ModelError, match="NiN init must be 'xavier' or 'kaiming'"):
        create_model("nin", init="he")
    with pytest.raises(ModelError, match="branch3_kernel must be 3 or 5"):
        create_model("googlenet", branch3_kernel=7)
    with pytest.raises(ModelError, match="width_mult must be positive"):
        create_model("mobilenet_v2", width_mult=0.0)


def test_create_args_rebuild_the_same_model():
    model = create_model("vgg11_quarter", num_classes=7, in_channels=3, image_size=32, batch_norm=True)
    twin = create_model(**model.create_args)
    assert model.create_args == {"name": "vgg11_quarter", "num_classes": 7, "in_channels": 3, "image_size": 32,
                                 "batch_norm": True}
    assert [tuple(p.shape) for p in model.parameters()] == [tuple(p.shape) for p in twin.parameters()]


def test_resnet_width_mult_scales_every_stage():
    from cnnzoo.errors import ModelError

    quarter = create_model("resnet18", width_mult=0.25)
    assert [s[0].conv1.out_channels for s in quarter.stages] == [16, 32, 64, 128]
    assert quarter.num_features == 128
    se = create_model("seresnet50", width_mult=0.5)
    assert se.num_features == 1024
    with pytest.raises(ModelError, match="width_mult must be in"):
        create_model("resnet18", width_mult=0)
