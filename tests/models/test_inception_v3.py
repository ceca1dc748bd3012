"""Inception-v3: the factorized blocks A-E, the grid ladder at 299 and 28 px, the auxiliary head and its loss."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
import torch
import torch.nn.functional as F

from cnnzoo.errors import ModelError
from cnnzoo.models import create_model, meta_model
from cnnzoo.models.inception_v3 import (
    AUX_LOSS_WEIGHT,
    InceptionA,
    InceptionB,
    InceptionC,
    InceptionD,
    InceptionE,
    InceptionOutputs,
)
from cnnzoo.report.draw import diagram

SVG = "{http://www.w3.org/2000/svg}"


def texts(svg: str) -> list[str]:
    """The text elements of a diagram's SVG, in drawing order."""
    return [t.text or "" for t in ET.fromstring(svg.encode("utf-8")).iter(f"{SVG}text")]


def _grids(model, size: int, channels: int = 3) -> dict[str, tuple[int, ...]]:
    """The output shape (C, H, W) of the stem and of each grid's blocks, on the meta device."""
    shapes = {}
    hooks = [getattr(model, name).register_forward_hook(
        lambda m, i, o, name=name: shapes.__setitem__(name, tuple(o.shape[1:])))
        for name in ("stem", "mixed5", "mixed6", "mixed7")]
    model.eval()
    with torch.no_grad():
        model(torch.zeros(1, channels, size, size, device="meta"))
    for h in hooks:
        h.remove()
    return shapes


def test_the_paper_ladder_at_299px_and_the_small_image_ladder_at_28_and_32px():
    assert _grids(meta_model("inception_v3", 1000, 3, 299), 299) == {
        "stem": (192, 35, 35), "mixed5": (288, 35, 35), "mixed6": (768, 17, 17), "mixed7": (2048, 8, 8)}
    assert _grids(meta_model("inception_v3", 10, 1, 28), 28, 1) == {
        "stem": (192, 14, 14), "mixed5": (288, 14, 14), "mixed6": (768, 6, 6), "mixed7": (2048, 2, 2)}
    assert _grids(meta_model("inception_v3", 10, 3, 32), 32) == {
        "stem": (192, 16, 16), "mixed5": (288, 16, 16), "mixed6": (768, 7, 7), "mixed7": (2048, 3, 3)}


def test_the_blocks_are_the_papers_figures_in_order():
    model = meta_model("inception_v3", 1000, 3, 299)
    kinds = [type(b) for g in (model.mixed5, model.mixed6, model.mixed7) for b in g]
    assert kinds == [InceptionA] * 3 + [InceptionB] + [InceptionC] * 4 + [InceptionD] + [InceptionE] * 2
    # Figure 6: the 7x7 factorized into 1x7 and 7x1, once and twice.
    c = model.mixed6[1]
    assert (c.branch7x7_2.conv.kernel_size, c.branch7x7_3.conv.kernel_size) == ((1, 7), (7, 1))
    assert [getattr(c, f"branch7x7dbl_{i}").conv.kernel_size for i in range(2, 6)] == [(7, 1), (1, 7)] * 2
    # Figure 7: the expanded filter bank, 1x3 and 3x1 side by side on one input.
    e = model.mixed7[1]
    assert e.branch3x3_2a.conv.kernel_size == (1, 3) and e.branch3x3_2b.conv.kernel_size == (3, 1)
    assert e.branch3x3_2a.conv.in_channels == e.branch3x3_2b.conv.in_channels == 384
    # Figure 10: grid reductions by unpadded stride-2 convolutions beside a max-pool.
    assert model.mixed6[0].branch3x3.conv.stride == (2, 2) and model.mixed6[0].branch3x3.conv.padding == (0, 0)


@pytest.mark.parametrize("block, args, out", [(InceptionA, (192, 32), 256), (InceptionB, (288,), 768),
                                              (InceptionC, (768, 128), 768), (InceptionD, (768,), 1280),
                                              (InceptionE, (1280,), 2048)])
def test_each_block_concatenates_to_its_declared_width(block, args, out):
    b = block(*args).eval()
    y = b(torch.zeros(1, args[0], 9, 9))
    assert y.shape[1] == b.out_channels == out


def test_parameter_counts_are_torchvisions_with_and_without_the_auxiliary_head():
    def count(**kwargs):
        return sum(p.numel() for p in meta_model("inception_v3", 1000, 3, 299, **kwargs).parameters())

    assert count() == 23_834_568
    assert count(aux_logits=True) == 27_161_264  # torchvision's published num_params


def test_small_images_below_75px_get_the_small_stem_and_tiny_ones_are_refused():
    assert create_model("inception_v3", 10, 3, 74).small_input
    assert not meta_model("inception_v3", 10, 3, 75).small_input
    assert meta_model("inception_v3", 10, 3, 75).min_size == 75  # torchvision's stated minimum
    with pytest.raises(ModelError, match="at least 13x13"):
        create_model("inception_v3", 10, 1, 12)


def test_the_auxiliary_head_trains_with_weight_0_4_and_is_silent_at_evaluation():
    torch.manual_seed(0)
    model = create_model("inception_v3", num_classes=10, in_channels=1, image_size=28, aux_logits=True)
    x, y = torch.randn(2, 1, 28, 28), torch.tensor([3, 7])
    out = model.train()(x)
    assert isinstance(out, InceptionOutputs) and out.logits.shape == out.aux.shape == (2, 10)
    loss, logits = model.training_loss(out, y, F.cross_entropy)
    expected = F.cross_entropy(out.logits, y) + 0.4 * F.cross_entropy(out.aux, y)
    assert AUX_LOSS_WEIGHT == 0.4 and torch.allclose(loss, expected) and logits is out.logits
    loss.backward()
    assert model.aux.conv1.conv.weight.grad is not None and model.stem[0].conv.weight.grad is not None
    evaluated = model.eval()(x)
    assert isinstance(evaluated, torch.Tensor) and evaluated.shape == (2, 10)


def test_without_the_head_forward_is_one_tensor_and_the_loss_is_the_criterion():
    model = create_model("inception_v3", num_classes=10, in_channels=3, image_size=32).train()
    out = model(torch.randn(2, 3, 32, 32))
    y = torch.tensor([0, 1])
    loss, logits = model.training_loss(out, y, F.cross_entropy)
    assert isinstance(out, torch.Tensor) and model.aux is None and torch.equal(loss, F.cross_entropy(out, y))


def test_the_auxiliary_head_keeps_the_papers_pooling_at_17x17_and_adapts_below():
    head = create_model("inception_v3", 10, 3, 299, aux_logits=True).aux.eval()
    assert head(torch.randn(1, 768, 17, 17)).shape == (1, 10)  # 5x5/3 average pooling -> 5x5 -> 5x5 conv -> 1x1
    assert head(torch.randn(1, 768, 6, 6)).shape == (1, 10)  # adaptive pooling to the same 5x5


def test_reset_classifier_replaces_the_auxiliary_classifier_too():
    model = create_model("inception_v3", 10, 1, 28, aux_logits=True)
    model.reset_classifier(5)
    assert model.classifier.out_features == model.aux.classifier.out_features == 5


def test_the_diagram_names_the_blocks_and_their_tensorflow_names():
    words = " | ".join(texts(diagram("inception_v3").svg()))
    for title in ("InceptionA ×3 (5b–5d)", "InceptionB (6a)", "InceptionC ×4 (6b–6e)", "InceptionD (7a)",
                  "InceptionE ×2 (7b–7c)", "1×1 128 → 1×7 128 → 7×1 192", "(1×3 384 ; 3×1 384)"):
        assert title in words, title
    opened = texts(diagram("inception_v3", block="InceptionE").svg())
    assert {"1×3 conv, 384 · BN · ReLU", "3×1 conv, 384 · BN · ReLU", "3×3 avg-pool"} <= set(opened)
    assert opened.count("concat") == 4  # the block's, each filter bank's, and the legend's

