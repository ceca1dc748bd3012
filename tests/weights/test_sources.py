"""Named sources (`torchvision`, `timm:TAG`): the standard caches, then a verified download."""

from __future__ import annotations

import dataclasses
import hashlib

import pytest
import safetensors.torch
import torch

from cnnzoo.errors import CheckpointError
from cnnzoo.models import create_model
from cnnzoo.weights import catalog, download_weights, find_published, load_pretrained

from .reference import rule_state_dict
from .test_parity import write_library_file


def test_torchvision_name_finds_the_file_in_torch_hub_cache(caches):
    caches.torch_hub.mkdir(parents=True)
    write_library_file("resnet18", caches.torch_hub)  # resnet18-f37072fd.pth, as torch.hub saves it
    info = load_pretrained(create_model("resnet18", 1000, 3, 224), "torchvision")
    assert info.path == caches.torch_hub / "resnet18-f37072fd.pth" and info.meta.tag == "IMAGENET1K_V1"


def test_timm_name_finds_the_file_in_the_hugging_face_cache(caches):
    snapshot = caches.hf_hub / "models--timm--mobilenetv2_050.lamb_in1k" / "snapshots" / "0123abc"
    snapshot.mkdir(parents=True)
    write_library_file("mobilenet_v2_050", snapshot)
    info = load_pretrained(create_model("mobilenet_v2_050", 1000, 3, 224), "timm:lamb_in1k")
    assert info.path == snapshot / "model.safetensors" and info.meta.interpolation == "bicubic"


def test_offline_without_the_file_says_where_to_put_it_and_how_to_get_it(caches):
    with pytest.raises(CheckpointError) as err:
        load_pretrained(create_model("resnet50", 1000, 3, 224), "torchvision:IMAGENET1K_V2", offline=True)
    message = str(err.value)
    assert "\n" not in message and "resnet50-11ad3fa6.pth" in message
    assert str(caches.torch_hub / "resnet50-11ad3fa6.pth") in message
    assert "torch.hub.download_url_to_file('https://download.pytorch.org/models/resnet50-11ad3fa6.pth'" in message


def _serve(http_server, meta, data: bytes):
    path = http_server.root / meta.relative_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def test_download_verifies_the_sha256_prefix_and_lands_in_torch_hub_cache(caches, http_server, monkeypatch, tmp_path):
    data = write_library_file("resnet18", tmp_path).read_bytes()
    meta = dataclasses.replace(find_published("resnet18", "torchvision"),
                               sha256_prefix=hashlib.sha256(data).hexdigest()[:8])
    _serve(http_server, meta, data)
    monkeypatch.setenv("CNNZOO_WEIGHTS_MIRRORS", http_server.url)
    monkeypatch.setattr(catalog, "find_published", lambda model, source: meta)
    monkeypatch.setattr("cnnzoo.weights.loader.find_published", lambda model, source: meta)
    info = load_pretrained(create_model("resnet18", 1000, 3, 224), "torchvision", progress=False)
    assert info.path == caches.torch_hub / meta.file_name and info.path.read_bytes() == data
    assert http_server.requests == [f"/{meta.file_name}"]
    assert [p.name for p in caches.torch_hub.iterdir()] == [meta.file_name]  # no temporary file left


def test_a_download_with_the_wrong_checksum_leaves_nothing(caches, http_server, monkeypatch):
    meta = dataclasses.replace(find_published("resnet18", "torchvision"), sha256_prefix="00000000")
    _serve(http_server, meta, b"not the published file")
    monkeypatch.setenv("CNNZOO_WEIGHTS_MIRRORS", http_server.url)
    with pytest.raises(CheckpointError, match="checksum mismatch") as err:
        download_weights(meta, progress=False)
    assert "\n" not in str(err.value) and "download_url_to_file" in str(err.value)
    assert list(caches.torch_hub.iterdir()) == []


def test_a_full_sha256_goes_through_the_datasets_download(caches, http_server, monkeypatch):
    data = safetensors.torch.save(rule_state_dict("mobilenet_v2_050"))
    meta = dataclasses.replace(find_published("mobilenet_v2_050", "timm"), sha256=hashlib.sha256(data).hexdigest())
    _serve(http_server, meta, data)
    monkeypatch.setenv("CNNZOO_WEIGHTS_MIRRORS", http_server.url)
    path = download_weights(meta, progress=False)
    assert path.read_bytes() == data and http_server.requests == [f"/{meta.hf_hub_id}/model.safetensors"]
    bad = dataclasses.replace(meta, sha256="0" * 64)
    path.unlink()
    with pytest.raises(CheckpointError, match="checksum mismatch"):
        download_weights(bad, progress=False)
    assert not path.exists()


def test_an_unreachable_mirror_is_one_line_with_the_command(caches):
    meta = find_published("resnet18", "torchvision")
    with pytest.raises(CheckpointError) as err:
        download_weights(meta, progress=False)
    assert "\n" not in str(err.value) and "could not download resnet18-f37072fd.pth" in str(err.value)


def test_a_named_source_is_not_mistaken_for_a_path_and_vice_versa(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    state = {"x": torch.ones(1)}
    torch.save(state, tmp_path / "timm")  # a file literally called "timm" is a path
    assert not catalog.is_named_source("timm") and catalog.is_named_source("torchvision:IMAGENET1K_V1")


def test_a_misspelt_source_name_suggests_the_right_one(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(CheckpointError, match="did you mean 'torchvision'"):
        load_pretrained(create_model("resnet18", 1000, 3, 224), "torchvison:IMAGENET1K_V1")
