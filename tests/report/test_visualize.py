"""`cnnzoo visualize`: first-layer filters, feature maps and Grad-CAM, and their errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from PIL import Image
from torch import nn

from cnnzoo.cli import main
from cnnzoo.models import create_model
from cnnzoo.report.visualize import _as_map, _minmax, default_layer, feature_layers, first_layer, grad_cam

from .conftest import one_error_line

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def written(out: str) -> Path:
    """The path a visualize command printed (its last line: 'wrote PATH')."""
    last = out.strip().splitlines()[-1]
    assert last.startswith("wrote "), out
    path = Path(last[len("wrote "):])
    assert path.read_bytes().startswith(PNG_MAGIC)
    with Image.open(path) as im:
        assert im.size[0] > 200 and im.size[1] > 150
    return path


# --------------------------------------------------------------------------------------------------
# Through the command line, on a trained run


def test_filters(cnn_run, capsys):
    assert main(["visualize", str(cnn_run), "--what", "filters"]) == 0
    out = capsys.readouterr().out
    assert written(out) == cnn_run / "plots" / "filters.png"
    assert "features.0.conv: 32 filters 3x3 over 1 channel" in out


def test_features_of_the_default_and_of_a_named_layer(cnn_run, capsys):
    assert main(["visualize", str(cnn_run), "--what", "features"]) == 0
    out = capsys.readouterr().out
    # the default is a block half-way through: the second of ConvNet's two conv blocks
    assert written(out) == cnn_run / "plots" / "features-features.2-test0.png"
    assert main(["visualize", str(cnn_run), "--what", "features", "--layer", "features.0.conv", "--index", "3"]) == 0
    out = capsys.readouterr().out
    assert written(out).name == "features-features.0.conv-test3.png"
    assert "32 of 32 channels at 28x28" in out


def test_cam_for_a_test_image_and_for_an_image_file(cnn_run, tmp_path, capsys):
    assert main(["visualize", str(cnn_run), "--what", "cam", "--index", "5"]) == 0
    out = capsys.readouterr().out
    assert written(out) == cnn_run / "plots" / "cam-test5.png"
    assert "true: " in out
    # any image file, converted as `cnnzoo predict` converts it (RGBA, another size)
    photo = tmp_path / "my shoe.png"
    Image.new("RGBA", (60, 40), (250, 250, 250, 255)).save(photo)
    assert main(["visualize", str(cnn_run), "--what", "cam", "--image", str(photo), "--class", "trouser"]) == 0
    out = capsys.readouterr().out
    assert written(out) == cnn_run / "plots" / "cam-my-shoe.png"
    assert out.startswith("'Trouser' ")


@pytest.mark.parametrize("args, expected", [
    (["--what", "featurs"], "did you mean 'features'"),
    (["--what", "features", "--layer", "features.0.cnv"], "did you mean 'features.0.conv'"),
    (["--what", "cam", "--class", "Trousr"], "did you mean 'Trouser'"),
    (["--what", "cam", "--index", "100000"], "out of range"),
    (["--what", "cam", "--image", "IMAGE"], "cannot read"),
    (["--what", "cam", "--image", "MISSING"], "image not found"),
])
def test_errors_are_one_line(cnn_run, tmp_path, capsys, args, expected):
    junk = tmp_path / "junk.png"
    junk.write_bytes(b"not an image")
    args = [str(junk) if a == "IMAGE" else str(tmp_path / "nope.png") if a == "MISSING" else a for a in args]
    assert main(["visualize", str(cnn_run), *args]) == 2
    assert expected in one_error_line(capsys.readouterr().err)


def test_not_a_run(tmp_path, capsys):
    assert main(["visualize", str(tmp_path), "--what", "filters"]) == 2
    assert "not a cnnzoo run directory" in one_error_line(capsys.readouterr().err)


def test_without_the_dataset_the_error_says_to_pass_an_image(cnn_run, tmp_path, capsys):
    import re
    import shutil

    run = tmp_path / "run"
    shutil.copytree(cnn_run, run)
    cfg = (run / "config.yaml").read_text()
    (run / "config.yaml").write_text(re.sub(r"data_dir: .*", f"data_dir: {tmp_path / 'gone'}", cfg))
    assert main(["visualize", str(run), "--what", "cam"]) == 2
    assert "--image PATH" in one_error_line(capsys.readouterr().err)


# --------------------------------------------------------------------------------------------------
# What the pictures show


def test_first_layer_is_the_stem_convolution_and_tiles_are_scaled_per_filter():
    torch.manual_seed(0)
    model = create_model("cnn").eval()
    spec = type("Spec", (), {"model": "convnet", "in_channels": 1, "input_size": [28, 28]})
    name, w, _ = first_layer(model, spec)
    assert name == "features.0.conv" and torch.equal(w, model.features[0].conv.weight)
    tiles = _minmax(w * torch.arange(1, 33).view(-1, 1, 1, 1), (1, 2, 3))
    assert torch.allclose(tiles.amin((1, 2, 3)), torch.zeros(32))
    assert torch.allclose(tiles.amax((1, 2, 3)), torch.ones(32))


def test_mixer_patch_embedding_rows_are_shown_as_the_patches_they_read():
    torch.manual_seed(0)
    model = create_model("mlpmixer", num_classes=10, in_channels=3, image_size=28).eval()
    spec = type("Spec", (), {"model": "mixer_t4", "in_channels": 3, "input_size": [28, 28]})
    name, w, what = first_layer(model, spec)
    p = model.patch_size
    assert name == "stem.1" and w.shape == (model.num_features, 3, p, p) and "patch" in what
    # filter k, laid over the top-left patch, gives token 0's channel k (up to the bias)
    x = torch.randn(1, 3, 28, 28)
    tokens = model.stem(x)  # (1, N, C)
    direct = (w * x[:, :, :p, :p]).sum((1, 2, 3)) + model.stem[1].bias
    assert torch.allclose(tokens[0, 0], direct, atol=1e-5)


def test_mixer_tokens_map_to_their_patch_grid_row_by_row():
    model = create_model("mlpmixer").eval()
    g = 28 // model.patch_size
    tokens = torch.arange(g * g, dtype=torch.float32).view(1, g * g, 1).expand(1, g * g, 5)
    fmap = _as_map(tokens, model)
    assert fmap.shape == (1, 5, g, g)
    assert all(fmap[0, 2, i, j] == i * g + j for i in range(g) for j in range(g))


def test_default_feature_layer_is_a_block_half_way_through():
    model = create_model("resnet18").eval()
    layers = feature_layers(model, torch.zeros(1, 1, 28, 28))
    choice = default_layer(model, list(layers))
    assert choice.startswith("stages.") and isinstance(dict(model.named_modules())[choice], nn.Module)
    assert type(dict(model.named_modules())[choice]).__name__ != "Sequential"


class TwoHalves(nn.Module):
    """Feature channel 0 is the left half of the image, channel 1 the right half; class c's score is
    the sum of channel c. So the evidence for class 0 is exactly the left half, for class 1 the right."""

    def forward_features(self, x):
        left = torch.zeros_like(x)
        left[..., : x.shape[-1] // 2] = 1
        return torch.cat([x * left, x * (1 - left)], 1) * self.scale

    def forward_head(self, f):
        return f.sum((2, 3)) * torch.tensor([1.0, 2.0])

    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(()))


def test_grad_cam_highlights_where_the_evidence_for_the_class_is():
    x = torch.ones(1, 1, 6, 6)
    model = TwoHalves()
    cam, probs, cls, tokens = grad_cam(model, x)
    assert cls == 1 and probs.argmax() == 1 and not tokens  # class 1 scores twice as high
    assert torch.equal(cam[:, 3:], torch.ones(6, 3)) and torch.equal(cam[:, :3], torch.zeros(6, 3))
    cam0, _, cls0, _ = grad_cam(model, x, cls=0)
    assert cls0 == 0
    assert torch.equal(cam0[:, :3], torch.ones(6, 3)) and torch.equal(cam0[:, 3:], torch.zeros(6, 3))
