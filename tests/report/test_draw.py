"""`cnnzoo draw`: diagrams drawn from the models, for every model, checked as SVG and in a browser."""

from __future__ import annotations

import re
import shutil
import subprocess
import xml.etree.ElementTree as ET

import pytest
from PIL import Image

from cnnzoo.cli import main
from cnnzoo.models import list_models, model_info
from cnnzoo.report.draw import diagram

SVG = "{http://www.w3.org/2000/svg}"


def texts(svg: str) -> list[str]:
    """The text elements of a well-formed SVG document, in drawing order."""
    root = ET.fromstring(svg.encode("utf-8"))
    assert root.tag == f"{SVG}svg"
    return [t.text or "" for t in root.iter(f"{SVG}text")]


@pytest.mark.parametrize("name", list_models())
def test_every_model_draws_at_its_design_input_and_at_28px(name):
    info = model_info(name)
    for shape in (info.default_input, (1, 28, 28)):
        d = diagram(name, shape)
        words = texts(d.svg())
        assert words[0] == name
        assert any("class scores" in w for w in words)
        # the output shape column starts with the input, as height×width×channels
        assert f"{shape[1]}×{shape[2]}×{shape[0]}" in words


def test_resnet50_shows_the_papers_bottleneck_counts_and_the_skip():
    words = texts(diagram("resnet50").svg())
    blocks = [w for w in words if w.startswith("Bottleneck")]
    assert blocks == ["Bottleneck ×3", "Bottleneck ×4", "Bottleneck ×6", "Bottleneck ×3"]
    assert words.count("+") == 4 + 1 and "add: the skip connection" in words   # four stages and the legend
    assert ["56×56×256", "28×28×512", "14×14×1024", "7×7×2048"] == [w for w in words if re.fullmatch(
        r"(56×56×256|28×28×512|14×14×1024|7×7×2048)", w)]


def test_densenet121_shows_dense_blocks_of_6_12_24_16_with_transitions_and_concat():
    words = texts(diagram("densenet121").svg())
    dense = [w for w in words if w.startswith("DenseBlock")]
    assert dense == [f"DenseBlock: DenseLayer ×{n}" for n in (6, 12, 24, 16)]
    assert words.count("Transition") == 3
    assert words.count("concat") >= 4


def test_the_small_image_stem_is_visible():
    small = " | ".join(texts(diagram("resnet18", (1, 28, 28)).svg()))
    large = " | ".join(texts(diagram("resnet18").svg()))
    assert "Stem (small-image)" in small and "3×3 conv, 64 · BN · ReLU" in small and "max-pool" not in small
    assert "small-image configuration" in small
    assert "7×7 conv, 64, stride 2" in large and "3×3 max-pool, stride 2" in large and "small-image" not in large


@pytest.mark.parametrize("name, block, expected", [
    ("googlenet", "Inception", ["1×1 conv, 64 · BN · ReLU", "3×3 max-pool", "concat"]),
    ("seresnet50", "Bottleneck", ["squeeze: global average pool", "×", "+", "multiply: the gate scales each channel"]),
    ("mixer_t4", "MixerBlock", ["token-mixing MLP (across the tokens, per channel)",
                                "channel-mixing MLP (across the channels, per token)", "+"]),
    ("mobilenet_v2", "InvertedResidual", ["1×1 expand conv, 144 · BN · ReLU6", "3×3 depthwise conv · BN · ReLU6",
                                          "1×1 project conv, 24 · BN (linear)", "identity"]),
    ("mobilenet_v1", "DepthwiseSeparable", ["3×3 depthwise conv · BN · ReLU", "1×1 pointwise conv, 64 · BN · ReLU"]),
    ("densenet121", "DenseBlock", ["the layer's input", "concat", "DenseLayer"]),
    ("resnet50", "Bottleneck", ["1×1 conv, 256 · BN", "+", "ReLU"]),
])
def test_opened_blocks_draw_their_paths(name, block, expected):
    words = texts(diagram(name, block=block).svg())
    for w in expected:
        assert w in words, (w, words)


def test_depth_opens_the_blocks():
    closed = texts(diagram("googlenet").svg())
    opened = texts(diagram("googlenet", depth=2).svg())
    assert "concat" not in closed and opened.count("concat") == 3 + 1   # three Inception groups and the legend
    assert "Inception ×5 (4a–4e)  (one drawn)" in opened


def test_png_is_the_same_drawing(tmp_path):
    d = diagram("convnet")
    path = d.write(tmp_path / "c.png")
    with Image.open(path) as im:
        assert im.format == "PNG"
        grey = im.convert("L")
        assert grey.getextrema() == (grey.getextrema()[0], 255) and grey.getextrema()[0] < 80


def test_svg_is_deterministic():
    assert diagram("mobilenet_v2").svg() == diagram("mobilenet_v2").svg()


# -- the command line ---------------------------------------------------------------------------


def test_draw_writes_an_svg_named_after_the_model(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["draw", "resnet", "--input", "1,28,28", "--num-classes", "10"]) == 0
    assert capsys.readouterr().out.strip() == "wrote resnet18.svg"
    words = texts((tmp_path / "resnet18.svg").read_text(encoding="utf-8"))
    assert "Stem (small-image)" in words and "10 class scores" in words


def test_draw_png_and_depth(tmp_path):
    out = tmp_path / "g.png"
    assert main(["draw", "googlenet", "--depth", "2", "--out", str(out)]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("argv, message", [
    (["draw", "resnt50"], "error: unknown model 'resnt50' (did you mean 'resnet50'"),
    (["draw", "resnet50", "--input", "1,28"], "error: argument --input: expected C,H,W"),
    (["draw", "resnet50", "--out", "r.jpg"], "error: cannot draw to 'r.jpg': unknown extension '.jpg'; use .svg"),
    (["draw", "resnet50", "--input", "3,7,7"], "error: resnet50 needs inputs of at least 8x8, got 7x7"),
    (["draw", "resnet50", "--depth", "0"], "error: --depth must be at least 1, got 0"),
    (["draw", "resnet50", "--block", "Inceptoin"], "error: resnet50 has no block 'Inceptoin'"),
    (["draw", "resnet50", "--out", "no/such/dir/r.svg"], "error: cannot write no/such/dir/r.svg"),
])
def test_draw_errors_are_one_line_with_exit_2(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(message), err
    assert not list(tmp_path.iterdir())


def test_summary_points_to_draw(capsys):
    assert main(["summary", "resnet18", "--input", "1,28,28"]) == 0
    captured = capsys.readouterr()
    # the last line the user sees; on stderr, so the table on stdout is unchanged for scripts
    assert captured.out.strip().splitlines()[-1].startswith("params ")
    assert captured.err.strip().splitlines()[-1].startswith(
        "See its block diagram: cnnzoo draw resnet18 --input 1,28,28")


# -- in a real browser ------------------------------------------------------------------------


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("/usr/bin/chromium")


@pytest.mark.skipif(chromium() is None, reason="needs Debian's chromium package (apt-get install chromium)")
def test_svg_renders_in_headless_chromium(tmp_path):
    svg = tmp_path / "resnet50.svg"
    diagram("resnet50").write(svg)
    shot = tmp_path / "shot.png"
    cmd = [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-sync",
           f"--user-data-dir={tmp_path / 'profile'}", f"--screenshot={shot}", "--window-size=900,1400",
           svg.resolve().as_uri()]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0 and shot.is_file(), proc.stderr[-2000:]
    with Image.open(shot) as im:
        grey = im.convert("L")
        lo, hi = grey.getextrema()
        assert hi - lo > 100                                  # not blank
        dark = sum(grey.histogram()[:160])
        assert dark > 0.005 * im.size[0] * im.size[1]       # boxes, lines and text were drawn
        # the boxes' colours are there: the Bottleneck orange and the stem's blue-grey
        colours = {c for _, c in im.convert("RGB").getcolors(1 << 20)}
        assert (0xfd, 0xe6, 0xcc) in colours and (0xdf, 0xe6, 0xef) in colours


def test_blocks_that_differ_inside_are_not_collapsed():
    # at 28 px VGG-11's last block keeps its resolution (no pool): five blocks, not "×2" at the end
    words = texts(diagram("vgg11", (1, 28, 28)).svg())
    assert [w for w in words if w.startswith("VGG block")] == ["VGG block"] * 5
    assert words.count("2×2 max-pool, stride 2") == 4


def test_png_without_matplotlib_is_a_one_line_error_saying_how_to_install_it(monkeypatch, tmp_path):
    import sys

    from cnnzoo.errors import CnnzooError

    monkeypatch.setitem(sys.modules, "matplotlib", None)     # as if it were not installed
    d = diagram("convnet")
    with pytest.raises(CnnzooError, match=r"PNG output needs matplotlib: pip install matplotlib"):
        d.write(tmp_path / "c.png")
    assert d.write(tmp_path / "c.svg").is_file()               # SVG needs nothing


def test_depth_3_opens_the_blocks_inside_blocks():
    two = texts(diagram("seresnet50", depth=2).svg())
    three = texts(diagram("seresnet50", depth=3).svg())
    assert "SqueezeExcite" in two and "squeeze: global average pool" not in two
    assert three.count("squeeze: global average pool") == 4 and three.count("×") == 4 + 1   # and the legend


def test_draw_shows_what_a_recipe_or_a_config_trains(tmp_path, capsys):
    """`--model resnet` trains resnet18 at a quarter width on 1x28x28: the recipe's drawing says so,
    not the full-width network's (issue 15: the same name must not hide two networks)."""
    from cnnzoo.models import count_params, meta_model

    quarter = count_params(meta_model("resnet18", num_classes=10, in_channels=1, image_size=28, width_mult=0.25))
    full = count_params(meta_model("resnet18", num_classes=10, in_channels=1, image_size=28))
    assert main(["draw", "resnet", "--recipe", "--out", str(tmp_path / "r.svg")]) == 0
    text = (tmp_path / "r.svg").read_text()
    assert f"{quarter:,} parameters" in text and f"{full:,} parameters" not in text
    assert "1×28×28" in text
    cfg = tmp_path / "mine.yaml"
    cfg.write_text("model:\n  name: resnet18\n  kwargs:\n    width_mult: 0.25\ndata:\n  dataset: fashion-mnist\n")
    assert main(["draw", str(cfg), "--out", str(tmp_path / "c.svg")]) == 0
    assert f"{quarter:,} parameters" in (tmp_path / "c.svg").read_text()


# -- the families added after the seed: their blocks, named and counted as in the papers ----------


def test_squeezenet_shows_the_papers_fire_modules_and_their_two_expand_branches():
    for shape in ((3, 224, 224), (1, 28, 28)):
        words = texts(diagram("squeezenet1_0", shape).svg())
        fires = [w for w in words if w.startswith("Fire")]
        assert fires == ["Fire ×2 (fire2–fire3)", "Fire (fire4)", "Fire (fire5)", "Fire ×2 (fire6–fire7)",
                         "Fire (fire8)", "Fire (fire9)"]
        assert "squeeze 1×1, 16 → expand 1×1, 64 | 3×3, 64" in words
        assert words.count("3×3 max-pool, stride 2") == (3 if shape[1] == 224 else 2)   # no stem pool at 28 px
        assert any(w.endswith("1×1 conv, 10 · ReLU") or w.endswith("1×1 conv, 1000 · ReLU") for w in words)
    opened = texts(diagram("squeezenet1_0", block="Fire").svg())
    assert {"squeeze: 1×1 conv, 16 · ReLU", "expand: 1×1 conv, 64 · ReLU", "expand: 3×3 conv, 64 · ReLU",
            "concat"} <= set(opened)


def test_shufflenet_v2_shows_the_downsampling_unit_then_the_split_units_of_each_stage():
    words = texts(diagram("shufflenet_v2_x1_0").svg())
    units = [w for w in words if w.startswith("ShuffleUnit")]
    assert units == ["ShuffleUnit, stride 2", "ShuffleUnit ×3", "ShuffleUnit, stride 2", "ShuffleUnit ×7",
                     "ShuffleUnit, stride 2", "ShuffleUnit ×3"]                 # paper Table 5: 4, 8, 4 units
    assert ["28×28×116", "14×14×232", "7×7×464"] == sorted({w for w in words if re.fullmatch(
        r"28×28×116|14×14×232|7×7×464", w)}, key=words.index)
    # the head averages with x.mean((2, 3)): a global average pool, not a flatten
    assert "global average pool" in words and "flatten" not in words
    opened = texts(diagram("shufflenet_v2_x1_0", depth=2).svg())
    assert opened.count("channel split: 2 halves of 58") == 1 and "identity" in opened
    assert opened.count("channel shuffle (2 groups)") == 6 and opened.count("concat") == 6 + 1   # and the legend
    assert "3×3 depthwise conv, stride 2 · BN" in opened


def test_wide_resnet_shows_groups_of_pre_activation_wide_blocks():
    words = texts(diagram("wrn28_10").svg())
    assert [w for w in words if w.startswith("WideBasic")] == ["WideBasic ×4"] * 3      # (28 - 4) / 6 = 4
    assert "BN · ReLU → 3×3, 160 → BN · ReLU → 3×3, 160" in words
    assert words.count("+") == 3 + 1 and "BN · ReLU" in words                            # the head's F.relu
    block = texts(diagram("wrn28_10", block="WideBasic").svg())
    assert block[:3] == ["WideBasic, in wrn28_10", "a WideBasic of wrn28_10 (module stages.0.1) at input "
                         "3×32×32: 461,440 parameters", "output"]
    assert block.count("BN · ReLU") == 2 and "identity" in block and "+" in block
    opened = texts(diagram("wrn16_8", depth=2).svg())
    assert "1×1 conv, 256, stride 2" in opened and "first block only" in opened


def test_resnext_shows_the_cardinality_of_its_grouped_bottlenecks():
    words = texts(diagram("resnext50_32x4d").svg())
    assert [w for w in words if w.startswith("Bottleneck")] == ["Bottleneck ×3", "Bottleneck ×4",
                                                                "Bottleneck ×6", "Bottleneck ×3"]
    assert "1×1, 128 → 3×3, 128, 32 groups → 1×1, 256" in words
    assert [w for w in words if w.startswith("cardinality")] == [
        f"cardinality 32: 32 paths of {d} channels in the 3×3" for d in (4, 8, 16, 32)]
    assert "3×3 conv, 128, 32 groups · BN · ReLU" in texts(diagram("resnext50_32x4d", block="Bottleneck").svg())
    assert not any("groups" in w or "cardinality" in w for w in texts(diagram("resnet50").svg()))
