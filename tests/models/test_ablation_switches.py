"""Ablation switches: each removes its paper's key idea, and only that, and defaults to the paper's network."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from cnnzoo.errors import ModelError
from cnnzoo.models import create_model, meta_model, model_info
from cnnzoo.models.densenet import DenseBlock
from cnnzoo.models.resnet import BasicBlock, Bottleneck


def _params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def _projection_params(model: nn.Module) -> int:
    return sum(_params(m.shortcut) for m in model.modules() if isinstance(m, (BasicBlock, Bottleneck)))


def _adds(model: nn.Module, x: torch.Tensor) -> int:
    """How many tensor additions (``a + b``, ``add``, ``add_``) one forward pass makes."""
    count = 0

    class Count(torch.overrides.TorchFunctionMode):
        def __torch_function__(self, func, types, args=(), kwargs=None):
            nonlocal count
            if func in (torch.Tensor.__add__, torch.Tensor.__radd__, torch.add, torch.Tensor.add,
                        torch.Tensor.add_, torch.Tensor.__iadd__):
                count += 1
            return func(*args, **(kwargs or {}))

    with Count(), torch.no_grad():
        model.eval()(x)
    return count


def _cats(model: nn.Module, x: torch.Tensor) -> int:
    count = 0

    class Count(torch.overrides.TorchFunctionMode):
        def __torch_function__(self, func, types, args=(), kwargs=None):
            nonlocal count
            count += func in (torch.cat, torch.concat)
            return func(*args, **(kwargs or {}))

    with Count(), torch.no_grad():
        model.eval()(x)
    return count


def test_switches_are_listed_apart_from_options_with_the_papers_default():
    assert model_info("resnet18").switches == {"residual": True, "attention": True}
    assert "residual" not in model_info("resnet18").options
    assert model_info("densenet_bc_40").switches == {"connection": "concat"}
    assert model_info("mobilenet_v2").switches == {"depthwise": True}
    assert model_info("mobilenet_v1").switches == {"depthwise": True}
    assert model_info("mixer_t4").switches == {"token_mixing": True}
    # VGG, NiN and GoogLeNet already had their switches as options (batch_norm, init, aux_logits).
    assert {"batch_norm", "init"} <= set(model_info("vgg11_quarter").options)
    assert {"batch_norm", "init"} <= set(model_info("nin").options)
    assert "aux_logits" in model_info("googlenet").options


def test_a_switch_is_type_checked_and_a_typo_names_the_switches():
    with pytest.raises(ModelError, match=r"resnet18 option 'residual' must be bool, got 'no'"):
        create_model("resnet18", residual="no")
    with pytest.raises(ModelError, match=r"has no option 'residul' \(did you mean 'residual'.*"
                                         r"its ablation switches: residual, attention$"):
        create_model("resnet18", residul=False)
    with pytest.raises(ModelError, match="DenseNet connection must be 'concat' or 'add'"):
        create_model("densenet_bc_40", connection="sum")
    with pytest.raises(ModelError, match="this ResNet has none"):
        create_model("resnet18", attention=False)


@pytest.mark.parametrize("name", ["resnet18", "resnet50", "resnet20"])
def test_resnet_without_shortcut_is_the_plain_network_of_the_same_depth(name):
    residual, plain = meta_model(name, 10, 1, 28), meta_model(name, 10, 1, 28, residual=False)
    def convs(m):
        return [c for c in m.modules() if isinstance(c, nn.Conv2d)]
    # Same depth: the same convolutions on the main path; only the projections are gone.
    assert len(convs(plain)) == len(convs(residual)) - sum(
        isinstance(c, nn.Conv2d) for b in residual.modules() if isinstance(b, (BasicBlock, Bottleneck))
        for c in b.shortcut.modules())
    assert _params(plain) == _params(residual) - _projection_params(residual)
    if name == "resnet18":
        assert _projection_params(residual) > 0


def test_resnet_plain_makes_no_addition():
    x = torch.randn(2, 1, 28, 28)
    kw = {"width_mult": 0.25}
    assert _adds(create_model("resnet18", **kw), x) >= 8   # one per block
    assert _adds(create_model("resnet18", residual=False, **kw), x) == 0


def test_seresnet_with_the_gate_off_is_the_resnet():
    off = create_model("seresnet18", attention=False, width_mult=0.25)
    on = create_model("seresnet18", width_mult=0.25)
    plain = create_model("resnet18", width_mult=0.25)
    assert _params(off) == _params(plain) < _params(on)
    assert [k for k in off.state_dict()] == [k for k in plain.state_dict()]


def test_densenet_add_keeps_the_width_and_makes_no_concatenation():
    concat = create_model("densenet_bc_40")
    add = create_model("densenet_bc_40", connection="add")
    def widths(m):
        return [b.out_channels for b in m.modules() if isinstance(b, DenseBlock)]
    assert widths(add) == widths(concat)
    assert add.num_features == concat.num_features
    x = torch.randn(2, 1, 28, 28)
    assert _cats(add, x) == 0 and _cats(concat, x) > 0
    assert add(x).shape == (2, 10)
    # Each additive layer reads and writes the block's full width (the docstring's cost note).
    assert _params(add) > _params(concat)


@pytest.mark.parametrize("name", ["mobilenet_v1", "mobilenet_v2"])
def test_mobilenet_full_convolutions_have_no_grouped_convolution(name):
    dw, full = meta_model(name, 10, 1, 28), meta_model(name, 10, 1, 28, depthwise=False)
    def grouped(m):
        return sum(isinstance(c, nn.Conv2d) and c.groups > 1 for c in m.modules())
    assert grouped(dw) > 0 and grouped(full) == 0
    assert _params(full) > 3 * _params(dw)


def test_mobilenet_v1_full_is_one_3x3_conv_per_block():
    dw, full = meta_model("mobilenet_v1", 10, 1, 28), meta_model("mobilenet_v1", 10, 1, 28, depthwise=False)
    def convs(m):
        return [c for c in m.modules() if isinstance(c, nn.Conv2d)]
    assert len(convs(dw)) == 1 + 2 * 13 and len(convs(full)) == 1 + 13
    assert all(c.kernel_size == (3, 3) for c in convs(full))


def test_mixer_without_token_mixing_never_mixes_patches():
    model = create_model("mixer_t4", token_mixing=False).eval()
    reference = create_model("mixer_t4").eval()
    assert _params(model) < _params(reference)
    # Changing one patch moves only that patch's token: nothing looks across patches.
    x = torch.randn(1, 1, 28, 28)
    y = x.clone()
    y[:, :, :4, :4] += 1.0
    with torch.no_grad():
        a, b = model.forward_features(x), model.forward_features(y)
        ra, rb = reference.forward_features(x), reference.forward_features(y)
    changed = (a - b).abs().amax(dim=2) > 1e-6
    assert changed[0, 0] and not changed[0, 1:].any()
    assert ((ra - rb).abs().amax(dim=2) > 1e-6)[0, 1:].any()
