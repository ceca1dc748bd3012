"""Xception: separable convolutions, the residual Block, the three flows at 299 and 28 px."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
import torch
from torch import nn

from cnnzoo.errors import ModelError
from cnnzoo.models import create_model, meta_model
from cnnzoo.models.xception import Block, SeparableConv2d
from cnnzoo.report.draw import diagram

SVG = "{http://www.w3.org/2000/svg}"


def texts(svg: str) -> list[str]:
    """The text elements of a diagram's SVG, in drawing order."""
    return [t.text or "" for t in ET.fromstring(svg.encode("utf-8")).iter(f"{SVG}text")]


def _outputs(model, size: int, channels: int) -> dict[str, tuple[int, ...]]:
    shapes = {}
    hooks = [getattr(model, n).register_forward_hook(lambda m, i, o, n=n: shapes.__setitem__(n, tuple(o.shape[1:])))
             for n in ("act2", "block1", "block3", "block11", "block12", "act4")]
    model.eval()
    with torch.no_grad():
        model(torch.zeros(1, channels, size, size, device="meta"))
    for h in hooks:
        h.remove()
    return shapes


def test_entry_middle_and_exit_flows_at_299px_and_at_28px():
    assert _outputs(meta_model("xception", 1000, 3, 299), 299, 3) == {
        "act2": (64, 147, 147), "block1": (128, 74, 74), "block3": (728, 19, 19), "block11": (728, 19, 19),
        "block12": (1024, 10, 10), "act4": (2048, 10, 10)}
    assert _outputs(meta_model("xception", 10, 1, 28), 28, 1) == {
        "act2": (64, 28, 28), "block1": (128, 14, 14), "block3": (728, 4, 4), "block11": (728, 4, 4),
        "block12": (1024, 2, 2), "act4": (2048, 2, 2)}


def test_separable_convolution_is_depthwise_then_pointwise():
    sep = SeparableConv2d(16, 32)
    assert sep.conv1.groups == 16 and sep.conv1.kernel_size == (3, 3) and sep.pointwise.kernel_size == (1, 1)
    assert sum(p.numel() for p in sep.parameters()) == 16 * 9 + 16 * 32  # vs 16 * 32 * 9 for a full 3x3


def test_blocks_shortcuts_and_widths_follow_the_flows():
    model = meta_model("xception", 1000, 3, 299)
    middle, entry, exit_ = model.block4, model.block2, model.block12
    assert middle.skip is None and sum(isinstance(m, SeparableConv2d) for m in middle.rep) == 3
    assert entry.skip.stride == (2, 2) and entry.skip.kernel_size == (1, 1)
    assert isinstance(entry.rep[-1], nn.MaxPool2d)
    # The exit block widens last (728, 728 -> 1024); the entry blocks widen first.
    assert [m.pointwise.out_channels for m in exit_.rep if isinstance(m, SeparableConv2d)] == [728, 1024]
    assert [m.pointwise.out_channels for m in entry.rep if isinstance(m, SeparableConv2d)] == [256, 256]
    # The first block starts with a convolution: its input has just been through the stem's ReLU.
    assert isinstance(model.block1.rep[0], SeparableConv2d) and isinstance(entry.rep[0], nn.ReLU)


def test_a_block_leaves_its_input_for_the_shortcut():
    block = Block(8, 8, reps=2).eval()
    x = torch.randn(1, 8, 5, 5)
    before = x.clone()
    y = block(x)
    assert torch.equal(x, before)  # the first ReLU is not in place
    with torch.no_grad():
        assert torch.allclose(y, block.rep(before) + before)


def test_parameter_count_is_timms():
    assert sum(p.numel() for p in meta_model("xception", 1000, 3, 299).parameters()) == 22_855_952


def test_trains_at_28px_on_one_channel():
    torch.manual_seed(0)
    model = create_model("xception", num_classes=10, in_channels=1, image_size=28).train()
    loss = nn.functional.cross_entropy(model(torch.randn(2, 1, 28, 28)), torch.tensor([1, 2]))
    loss.backward()
    assert model.conv1.weight.grad is not None and model.block1.rep[0].conv1.weight.grad is not None


def test_dropout_is_off_as_in_timm_and_can_be_set():
    assert isinstance(meta_model("xception", 10, 1, 28).dropout, nn.Identity)
    assert create_model("xception", dropout=0.5).dropout.p == 0.5
    with pytest.raises(ModelError, match=r"dropout must be in \[0, 1\)"):
        create_model("xception", dropout=1.0)


def test_the_diagram_names_the_flows_and_the_shortcut():
    words = texts(diagram("xception").svg())
    assert words.count("Block (entry flow)") == 3
    assert {"Block ×8 (middle flow)", "Block (exit flow)", "identity shortcut",
            "3×3 separable conv, 2048 · BN · ReLU"} <= set(words)
    opened = texts(diagram("xception", block="Block").svg())
    assert {"1×1 conv, 128, stride 2 · BN", "3×3 separable conv, 128 · BN", "+"} <= set(opened)
