"""ResMLP: Affine instead of LayerNorm, one linear layer across the patches, LayerScale."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from cnnzoo.errors import ModelError
from cnnzoo.models import create_model, meta_model, model_info
from cnnzoo.models.resmlp import Affine, ResMLPBlock


def test_affine_scales_and_shifts_each_channel_without_statistics():
    aff = Affine(3)
    with torch.no_grad():
        aff.alpha.copy_(torch.tensor([1.0, 2.0, 3.0]).view(1, 1, 3))
        aff.beta.fill_(0.5)
    x = torch.randn(2, 4, 3)
    assert torch.allclose(aff(x), x * torch.tensor([1.0, 2.0, 3.0]) + 0.5)
    assert torch.equal(aff(x[:1]), aff(x)[:1])  # no batch or token statistics: a sample alone gives the same


def test_the_cross_patch_sublayer_is_one_linear_layer_shared_by_every_channel():
    torch.manual_seed(0)
    block = ResMLPBlock(num_tokens=4, dim=3, layer_scale=1.0)
    nn.init.zeros_(block.layer_scale2)  # only the cross-patch sublayer
    x = torch.randn(1, 4, 3)
    out = block(x)
    w, b = block.cross_patch.weight, block.cross_patch.bias
    for c in range(3):  # each channel's column of 4 patch values goes through the same 4x4 matrix
        assert torch.allclose(out[0, :, c], x[0, :, c] + w @ x[0, :, c] + b, atol=1e-6)


def test_resmlp_12_is_timms_size_and_starts_with_the_papers_layer_scale():
    model = meta_model("resmlp_12", 1000, 3, 224)
    blocks = [m for m in model.modules() if isinstance(m, ResMLPBlock)]
    assert len(blocks) == 12 and blocks[0].cross_patch.in_features == 196
    assert blocks[0].cross_channel[0].out_features == 4 * 384
    assert sum(p.numel() for p in model.parameters()) == model_info("resmlp_12").reference_params == 15_350_872
    small = create_model("resmlp_t4")
    assert small.num_tokens == 49 and torch.all(small.blocks[0].layer_scale1 == 0.1)


def test_the_token_count_is_part_of_the_weights():
    model = create_model("resmlp_t4", num_classes=10, in_channels=1, image_size=28)
    with pytest.raises(ModelError, match=r"built for 28x28 inputs and takes no other size"):
        model(torch.randn(1, 1, 32, 32))
    with pytest.raises(ModelError, match=r"ResMLP cuts the image into 4x4 patches.*got 30 \(patch_size=3 would fit\)"):
        create_model("resmlp_t4", image_size=30)


@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32)])
def test_resmlp_t4_trains_on_small_images(shape):
    torch.manual_seed(0)
    model = create_model("resmlp_t4", num_classes=10, in_channels=shape[0], image_size=shape[1])
    x, y = torch.randn(4, *shape), torch.tensor([0, 1, 2, 3])
    with torch.no_grad():  # the head starts at zero (timm's init): give it weights so that gradients reach the stem
        model.classifier.weight.normal_()
    loss = nn.functional.cross_entropy(model(x), y)
    loss.backward()
    assert loss.isfinite() and model.stem[1].weight.grad.abs().sum() > 0
    assert model.forward_features(x).shape == (4, (shape[1] // 4) ** 2, 128)
