"""torchvision's Inception-v3 file in a network built without the auxiliary head (cnnzoo's default)."""

from __future__ import annotations

import torch

from cnnzoo.models import create_model
from cnnzoo.weights import load_pretrained

from .reference import rule_state_dict


def test_torchvisions_file_loads_without_the_head_leaving_it_unused_and_asks_for_its_normalization(tmp_path):
    path = tmp_path / "inception_v3_google-0cc3c7bd.pth"  # the published file's name
    torch.save(rule_state_dict("inception_v3"), path)
    model = create_model("inception_v3", num_classes=1000, in_channels=3, image_size=299)
    info = load_pretrained(model, path)
    assert set(info.loaded) == set(model.state_dict())
    assert info.unused and all(k.startswith("aux.") for k in info.unused)
    assert any("auxiliary heads left unused" in note for note in info.notes)
    assert info.transform_input  # torchvision's pretrained builder sets transform_input=True
