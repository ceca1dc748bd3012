"""The Vision Transformer family: patch tokens, class token, position embedding, pre-norm encoder blocks."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from cnnzoo.errors import ModelError
from cnnzoo.models import create_model, meta_model, model_info, profile
from cnnzoo.models.vit import EncoderBlock, MultiHeadSelfAttention


def test_self_attention_computes_what_nn_multihead_attention_computes():
    torch.manual_seed(0)
    ours = MultiHeadSelfAttention(16, 4).double()
    ref = nn.MultiheadAttention(16, 4, batch_first=True).double()
    with torch.no_grad():
        ref.in_proj_weight.copy_(ours.qkv.weight)
        ref.in_proj_bias.copy_(ours.qkv.bias)
        ref.out_proj.weight.copy_(ours.proj.weight)
        ref.out_proj.bias.copy_(ours.proj.bias)
    x = torch.randn(2, 7, 16, dtype=torch.float64)
    torch.testing.assert_close(ours(x), ref(x, x, x, need_weights=False)[0], rtol=1e-12, atol=1e-12)


def test_encoder_block_is_two_pre_norm_residual_steps():
    block = EncoderBlock(8, 2, 16).eval()
    x = torch.randn(1, 5, 8)
    with torch.no_grad():
        attn = block.self_attention(block.ln_1(x))
        assert torch.allclose(block(x), x + attn + block.mlp(block.ln_2(x + attn)))


def test_vit_b_16_has_197_positions_and_torchvision_parameter_count():
    model = meta_model("vit_b_16", 1000, 3, 224)
    assert model.patch_size == 16 and model.num_patches == 196 and model.num_tokens == 197
    assert tuple(model.pos_embedding.shape) == (1, 197, 768) and tuple(model.class_token.shape) == (1, 1, 768)
    assert len(model.blocks) == 12 and model.blocks[0].self_attention.num_heads == 12
    assert sum(p.numel() for p in model.parameters()) == model_info("vit_b_16").reference_params == 86_567_656


def test_small_images_get_4x4_patches_and_vit_lite_has_its_published_size():
    assert meta_model("vit_b_16", 10, 1, 28).num_patches == 49
    info = model_info("vit_lite_7_4")
    assert info.params_match(profile(meta_model("vit_lite_7_4", 10, 3, 32), (3, 32, 32)).params)
    assert meta_model("vit_lite_7_4", 10, 3, 32).pos_embedding.shape[1] == 65


def test_image_size_must_be_a_multiple_of_the_patch():
    with pytest.raises(ModelError, match=r"ViT cuts the image into 4x4 patches.*got 30 \(patch_size=3 would fit\)"):
        create_model("vit_lite_7_4", image_size=30)
    assert create_model("vit_lite_7_4", image_size=30, patch_size=5).num_patches == 36


def test_a_vit_takes_only_its_own_image_size():
    model = create_model("vit_lite_7_4", num_classes=10, in_channels=1, image_size=28)
    with pytest.raises(ModelError, match=r"was built for 28x28 inputs and takes no other size, got 32x32"):
        model(torch.zeros(1, 1, 32, 32))


@pytest.mark.parametrize("channels,size", [(1, 28), (3, 32)])
def test_vit_lite_trains_at_small_sizes_and_classifies_from_the_class_token(channels, size):
    torch.manual_seed(0)
    model = create_model("vit_lite_7_4", num_classes=10, in_channels=channels, image_size=size)
    x = torch.randn(2, channels, size, size)
    tokens = model.forward_features(x)
    assert tokens.shape == (2, 1 + (size // 4) ** 2, 256)
    assert torch.equal(model.forward_head(tokens, pre_logits=True), tokens[:, 0])
    nn.init.normal_(model.classifier.weight)  # the head starts at zero (torchvision): give it a gradient path
    model(x).square().sum().backward()
    assert model.stem[1].weight.grad.abs().sum() > 0 and model.class_token.grad.abs().sum() > 0
