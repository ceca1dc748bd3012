"""Stochastic depth (``drop_path``) for the residual families: the linear rule, identity at
evaluation, whole-image drops in training, the same weights, and the option from a config."""

from __future__ import annotations

import pytest
import torch

from cnnzoo.errors import ModelError
from cnnzoo.models import create_model
from cnnzoo.models.layers import DropPath, drop_path_rates


def test_rates_rise_linearly_from_zero_to_the_rate():
    assert drop_path_rates(0.2, 5) == pytest.approx([0.0, 0.05, 0.1, 0.15, 0.2])
    assert drop_path_rates(0.0, 3) == [0.0, 0.0, 0.0]
    with pytest.raises(ModelError, match="drop_path"):
        drop_path_rates(1.0, 3)


def test_drop_path_drops_whole_images_and_keeps_the_expectation():
    torch.manual_seed(0)
    dp = DropPath(0.5)
    x = torch.ones(2000, 3, 4, 4)
    out = dp(x)
    per_image = out.flatten(1)
    # every image is either all zero or all 1 / (1 - p)
    assert set(per_image.unique().tolist()) == {0.0, 2.0}
    assert bool((per_image == per_image[:, :1]).all())
    assert abs(float(out.mean()) - 1.0) < 0.1
    dp.eval()
    assert torch.equal(dp(x), x)


# blocks that get a DropPath: those with a residual branch and a rate above 0 (the first has 0);
# MobileNets' blocks without a shortcut have nothing to drop
@pytest.mark.parametrize("name,count", [("resnet18", 7), ("seresnet18", 7), ("resnet50", 15),
                                        ("mobilenet_v2", 10)])
def test_residual_families_take_drop_path(name, count):
    plain = create_model(name, num_classes=10, in_channels=1, image_size=28)
    model = create_model(name, num_classes=10, in_channels=1, image_size=28, drop_path=0.2)
    rates = [m.p for m in model.modules() if isinstance(m, DropPath)]
    assert len(rates) == count and 0.15 < max(rates) <= 0.2 + 1e-9 and rates == sorted(rates)
    assert not any(isinstance(m, DropPath) for m in plain.modules())
    # the same weights: a checkpoint trained with stochastic depth loads into the plain model
    assert [(k, v.shape) for k, v in model.state_dict().items()] == \
           [(k, v.shape) for k, v in plain.state_dict().items()]
    model.eval()
    x = torch.randn(16, 1, 28, 28)  # P(no image drops a branch in either pass) is negligible
    assert torch.equal(model(x), model(x))  # identity at evaluation
    model.train()
    torch.manual_seed(1)
    a = model(x)
    torch.manual_seed(2)
    assert not torch.allclose(a, model(x))  # random in training


def test_drop_path_from_a_config_override():
    from cnnzoo.config import load_config

    cfg = load_config(model="resnet18", sets=["model.kwargs.drop_path=0.1"])
    model = create_model(cfg.model.name, num_classes=10, in_channels=1, image_size=28, **cfg.model.kwargs)
    assert max(m.p for m in model.modules() if isinstance(m, DropPath)) == pytest.approx(0.1)
    with pytest.raises(ModelError):
        create_model("resnet18", num_classes=10, in_channels=1, image_size=28, drop_path=1.5)
