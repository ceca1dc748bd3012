"""`cnnzoo draw` names the ViT's and ConvNeXt's blocks and the steps their forward passes take outside modules."""

from __future__ import annotations

from cnnzoo.models import meta_model
from cnnzoo.report.draw import build


def _svg(name, shape, **kwargs):
    c, h, _ = shape
    return build(meta_model(name, 10 if h < 64 else 1000, c, h), shape, **kwargs).svg()


def test_vit_diagram_shows_the_class_token_the_encoder_blocks_and_the_head_reading_the_class_token():
    svg = _svg("vit_lite_7_4", (1, 28, 28))
    assert "EncoderBlock ×7" in svg and "4 heads × 64" in svg
    assert "prepend the class token · add the position embedding" in svg and "take the class token" in svg
    assert "average over the tokens" not in svg
    opened = _svg("vit_b_16", (3, 224, 224), block="EncoderBlock")
    assert "multi-head self-attention" in opened and "MLP (per token)" in opened


def test_convnext_diagram_shows_downsampling_between_runs_of_cnblocks_and_a_global_average_pool():
    svg = _svg("convnext_tiny", (3, 224, 224))
    assert svg.count("Downsample") == 3 and "CNBlock ×9" in svg and "stochastic depth" in svg
    assert "global average pool" in svg and "flatten" not in svg
    opened = _svg("convnext_tiny", (3, 224, 224), block="CNBlock")
    assert "7×7 depthwise conv" in opened and "layer scale" in opened
    # the channels-last inside of the block gets no (misread) shapes: only the block's output has one
    assert "56×96×56" not in opened
