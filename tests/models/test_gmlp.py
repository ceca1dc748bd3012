"""gMLP: the Spatial Gating Unit, a gate whose spatial projection starts as the identity."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from cnnzoo.errors import ModelError
from cnnzoo.models import create_model, meta_model, model_info
from cnnzoo.models.gmlp import GMLPBlock, SpatialGatingUnit


def test_the_gate_starts_by_passing_u_through():
    torch.manual_seed(0)
    sgu = SpatialGatingUnit(channels=8, num_tokens=5)
    x = torch.randn(2, 5, 8)
    # Near-zero spatial weights and unit biases: f(V) is ~1 everywhere, so U * f(V) is ~U.
    assert torch.allclose(sgu(x), x[..., :4], atol=1e-4)


def test_the_gate_mixes_the_tokens_multiplicatively():
    torch.manual_seed(0)
    sgu = SpatialGatingUnit(channels=8, num_tokens=5)
    nn.init.normal_(sgu.spatial_proj.weight)
    x = torch.randn(1, 5, 8)
    out = sgu(x)
    u, v = x[..., :4], sgu.norm(x[..., 4:])
    expected = u * (sgu.spatial_proj.weight @ v[0] + sgu.spatial_proj.bias[:, None])
    assert torch.allclose(out, expected, atol=1e-5)
    y = x.clone()
    y[0, 0, 4:] += 1.0  # change token 0's V half: every token's output changes
    assert (sgu(y) - out)[0, 1:].abs().amax(dim=-1).min() > 0


def test_gmlp_s16_is_timms_size_with_thirty_six_times_wide_blocks():
    model = meta_model("gmlp_s16", 1000, 3, 224)
    blocks = [m for m in model.modules() if isinstance(m, GMLPBlock)]
    assert len(blocks) == 30
    assert (blocks[0].proj_in.out_features, blocks[0].proj_out.in_features) == (1536, 768)
    assert blocks[0].sgu.spatial_proj.in_features == 196
    assert sum(p.numel() for p in model.parameters()) == model_info("gmlp_s16").reference_params == 19_422_656


def test_small_images_get_four_pixel_patches_and_keep_their_size():
    model = create_model("gmlp_ti4", num_classes=10, in_channels=1, image_size=28)
    assert model.num_tokens == 49
    with pytest.raises(ModelError, match=r"built for 28x28 inputs"):
        model(torch.randn(1, 1, 32, 32))
    with pytest.raises(ModelError, match=r"gMLP cuts the image into 4x4 patches"):
        create_model("gmlp_ti4", image_size=30)


@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32)])
def test_gmlp_trains_on_small_images(shape):
    torch.manual_seed(0)
    model = create_model("gmlp_ti16", num_classes=10, in_channels=shape[0], image_size=shape[1])
    assert model.patch_size == 4
    x, y = torch.randn(2, *shape), torch.tensor([0, 1])
    with torch.no_grad():  # the head starts at zero (timm's init): give it weights so that gradients reach the stem
        model.classifier.weight.normal_()
    loss = nn.functional.cross_entropy(model(x), y)
    loss.backward()
    assert loss.isfinite() and model.stem[1].weight.grad.abs().sum() > 0
