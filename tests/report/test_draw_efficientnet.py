"""`cnnzoo draw` names EfficientNet's blocks: MBConv with its SE gate, FusedMBConv's full convolution."""

from __future__ import annotations

from cnnzoo.report.draw import diagram

from .test_draw import texts


def test_closed_blocks_name_mbconv_and_fused_mbconv_with_their_steps():
    b0 = texts(diagram("efficientnet_b0", input_shape=(1, 28, 28)).svg())
    assert "MBConv ×2" in b0 and "1×1 expand 96 → 3×3 depthwise → SE → 1×1 project 24" in b0
    v2 = texts(diagram("efficientnet_v2_s").svg())
    assert "FusedMBConv ×4" in v2 and "3×3 fused expand 96/2 → 1×1 project 48" in v2 and "MBConv ×15" in v2


def test_opened_mbconv_draws_the_gate_inside_the_skip():
    words = texts(diagram("efficientnet_b0", block="MBConv").svg())
    for w in ("1×1 expand conv, 144 · BN · SiLU", "3×3 depthwise conv · BN · SiLU", "excite: linear 144→6 · SiLU",
              "1×1 project conv, 24 · BN (linear)", "identity", "×", "+"):
        assert w in words, (w, words)
