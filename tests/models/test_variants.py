"""Variants as data: a registered model is its family's class plus the arguments that make it that variant."""

from __future__ import annotations

import hashlib
import inspect
import json
from pathlib import Path

import pytest
from torch import nn

from cnnzoo.errors import ModelError
from cnnzoo.models import create_model, list_models, meta_model, model_info, register_model
from cnnzoo.models.mobilenet import MobileNetV3
from cnnzoo.models.vgg import ARCHS, VGG

# Parameter count and a SHA-1 of the state_dict's (key, shape) list of every model at 1x28x28 with
# 10 classes, recorded before the builders became data. A weight file saved by one version loads
# into the next only if these stay put; a new model adds its line here.
FINGERPRINTS_FILE = Path(__file__).parent / "state_dict_fingerprints.json"
FINGERPRINTS = json.loads(FINGERPRINTS_FILE.read_text(encoding="utf-8"))


@pytest.mark.parametrize("name", sorted(FINGERPRINTS))
def test_state_dict_keys_and_parameter_counts_are_stable(name):
    fingerprint = _fingerprint(name)
    assert fingerprint["params"] == FINGERPRINTS[name]["params"]
    assert fingerprint["state_dict"] == FINGERPRINTS[name]["state_dict"], \
        f"{name}'s state_dict keys or shapes changed: saved weights would no longer load"


def _fingerprint(name: str) -> dict:
    model = meta_model(name, 10, 1, 28)
    keys = [(key, tuple(value.shape)) for key, value in model.state_dict().items()]
    return {"params": sum(p.numel() for p in model.parameters()),
            "state_dict": hashlib.sha1(repr(keys).encode()).hexdigest()}


def test_every_registered_model_has_a_fingerprint():
    missing = {name: _fingerprint(name) for name in list_models() if name not in FINGERPRINTS}
    assert not missing, f"add to {FINGERPRINTS_FILE.name}: {json.dumps(missing)}"
    assert sorted(FINGERPRINTS) == sorted(list_models())


def test_a_fixed_option_is_refused_with_the_variant_to_use_instead():
    with pytest.raises(ModelError, match=r"^vgg13_bn fixes batch_norm=True: it is part of the variant, not an "
                                         r"option; use vgg13 for batch_norm=False$"):
        create_model("vgg13_bn", batch_norm=False)
    with pytest.raises(ModelError, match=r"mobilenet_v3_small fixes arch='small'.*use mobilenet_v3_large for "
                                         r"arch='large'"):
        create_model("mobilenet_v3_small", arch="large")
    # No variant to point to: the message lists what can be set instead.
    with pytest.raises(ModelError, match=r"resnet20 fixes width_mult=1.0.*its options are: zero_init_residual, "
                                         r"small_input, drop_path$"):
        create_model("resnet20", width_mult=0.5)
    with pytest.raises(ModelError, match=r"resnet18 fixes block=BasicBlock"):
        create_model("resnet18", block=nn.Identity)
    # An architecture argument the variant sets and another variant leaves at the class default.
    with pytest.raises(ModelError, match=r"seresnet18 fixes attn_layer=SqueezeExcite.*use resnet18 for "
                                         r"attn_layer=None"):
        create_model("seresnet18", attn_layer=None)


def test_repeating_what_the_variant_fixes_is_harmless():
    model = create_model("vgg11_bn", batch_norm=True)
    assert sum(isinstance(m, nn.BatchNorm2d) for m in model.modules()) == 8
    assert "batch_norm" not in model.create_args


def test_options_are_the_class_keyword_arguments_the_variant_leaves_free():
    for name in list_models():
        info = model_info(name)
        cls = type(meta_model(name, 10, 1, 28))
        keyword_only = [key for key, p in inspect.signature(cls).parameters.items() if p.kind == p.KEYWORD_ONLY]
        assert list(info.options) == [key for key in keyword_only if key in info.options], name
    assert "batch_norm" in model_info("vgg13").options and "batch_norm" not in model_info("vgg13_bn").options
    assert list(model_info("densenet121").options) == ["drop_rate", "small_input"]
    assert list(model_info("densenet_bc_100").options) == ["growth_rate", "compression", "drop_rate", "small_input"]
    assert list(model_info("mixer_t4").options) == ["patch_size"]
    assert model_info("lenet5").options == {} and model_info("mobilenet_v3_large").options == {
        "width_mult": 1.0, "dropout": 0.2, "small_input": None}


def test_option_types_come_from_the_class_annotations():
    """Options whose default is None are checked too (``small_input: bool | None``), and None only where allowed."""
    with pytest.raises(ModelError, match=r"^resnet18 option 'small_input' must be bool or None, got 'yes' \(str\)$"):
        create_model("resnet18", small_input="yes")
    with pytest.raises(ModelError, match=r"mixer_t4 option 'patch_size' must be int or None, got 4.5"):
        create_model("mixer_t4", patch_size=4.5)
    with pytest.raises(ModelError, match=r"vgg11 option 'width_mult' must be float, got None"):
        create_model("vgg11", width_mult=None)
    assert create_model("resnet18", small_input=None, width_mult=1).small_input is True


def test_a_variant_may_change_a_default_and_leave_it_settable():
    assert model_info("vgg11_quarter").options["width_mult"] == 0.25
    assert model_info("vgg11_quarter").options["init"] == "xavier"
    assert model_info("mobilenet_v2_050").options["width_mult"] == 0.5
    assert model_info("densenet_bc_40").options["growth_rate"] == 12
    full = create_model("vgg11_quarter", width_mult=1.0)
    assert [b[0].out_channels for b in full.features] == [64, 128, 256, 512, 512]


def test_registration_mistakes_fail_at_import_time():
    with pytest.raises(TypeError, match="fixes 'batchnorm', which VGG does not take"):
        register_model("vgg_typo", VGG, dict(arch=ARCHS[11], batchnorm=True), doc="x", family="vgg", paper=None)
    with pytest.raises(TypeError, match="must give VGG's argument 'arch'"):
        register_model("vgg_noarch", VGG, doc="x", family="vgg", paper=None)
    with pytest.raises(TypeError, match="sets a default for 'arch', which is not an option"):
        register_model("vgg_bad", VGG, dict(arch=ARCHS[11]), defaults=dict(arch=ARCHS[13]), doc="x", family="vgg",
                       paper=None)
    with pytest.raises(ValueError, match="registered twice"):
        register_model("vgg11", VGG, dict(arch=ARCHS[11]), doc="x", family="vgg", paper=None)
    assert "vgg_typo" not in list_models() and "vgg_noarch" not in list_models()


@pytest.mark.parametrize("arch,hint", [("larg", " (did you mean 'large'?)"), ("tiny", ""), (None, "")])
def test_mobilenet_v3_rejects_an_unknown_arch_by_name(arch, hint):
    """Defect 4: any string was accepted and failed later with a KeyError."""
    message = f"MobileNetV3 arch must be one of 'large', 'small', got {arch!r}{hint}"
    with pytest.raises(ModelError) as err:
        MobileNetV3(arch, num_classes=10, in_channels=1, image_size=28)
    assert str(err.value) == message
