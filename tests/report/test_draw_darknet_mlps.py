"""`cnnzoo draw` names Darknet-53's DarkBlocks and draws the insides of ResMLP's and gMLP's blocks."""

from __future__ import annotations

from cnnzoo.report.draw import diagram

from .test_draw import texts


def test_darknet53_shows_its_dark_blocks_per_stage_with_the_skip():
    words = texts(diagram("darknet53").svg())
    assert [w for w in words if w.startswith("DarkBlock")] == [
        "DarkBlock", "DarkBlock ×2", "DarkBlock ×8", "DarkBlock ×8", "DarkBlock ×4"]
    assert "1×1 conv, 512 → 3×3 conv, 1024" in words and "add: the skip connection" in words
    assert words.count("+") == 5 + 1  # five stages and the legend


def test_the_mixers_successors_draw_their_blocks_paths():
    resmlp = texts(diagram("resmlp_12", block="ResMLPBlock").svg())
    for w in ("Affine", "cross-patch linear", "196 patches → 196, per channel", "LayerScale", "cross-channel MLP"):
        assert w in resmlp, (w, resmlp)
    assert resmlp.count("+") == 2 + 1
    gmlp = texts(diagram("gmlp_s16", block="GMLPBlock").svg())
    for w in ("Spatial Gating Unit", "U: channels 1–768", "V: channels 769–1536", "spatial linear", "×",
              "linear 256→1536 · GELU", "linear 768→256"):
        assert w in gmlp, (w, gmlp)
    closed = texts(diagram("gmlp_ti4", (1, 28, 28)).svg())
    assert "GMLPBlock ×30" in closed and "49 tokens × 128" in closed
