"""Weight files from strangers: read without running anything, refused in one line when not plain."""

from __future__ import annotations

import os
import pickle
import zipfile

import pytest
import safetensors.torch
import torch

from cnnzoo.engine.checkpoint import ModelSpec, save_weights
from cnnzoo.errors import CheckpointError
from cnnzoo.models import create_model
from cnnzoo.weights import load_pretrained, read_weights


class _RunsCode:
    """Unpickling this calls os.system: what a hostile weight file does."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _one_line_naming(err: pytest.ExceptionInfo, path) -> None:
    message = str(err.value)
    assert str(path) in message and "\n" not in message


def test_a_pickle_that_would_run_code_is_refused_and_nothing_runs(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "resnet18-f37072fd.pth"
    torch.save({"conv1.weight": torch.zeros(1), "evil": _RunsCode(marker)}, path)
    with pytest.raises(CheckpointError, match="Python objects besides tensors") as err:
        read_weights(path)
    _one_line_naming(err, path)
    assert not marker.exists()


def test_a_plain_pickle_with_code_is_refused_too(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "pytorch_model.bin"
    path.write_bytes(pickle.dumps(_RunsCode(marker), protocol=2))
    with pytest.raises(CheckpointError) as err:
        read_weights(path)
    _one_line_naming(err, path)
    assert not marker.exists()


@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
def test_a_truncated_file_is_refused(tmp_path, suffix):
    path = tmp_path / f"weights{suffix}"
    state = {"a.weight": torch.ones(64, 64)}
    torch.save(state, path) if suffix == ".pth" else safetensors.torch.save_file(state, path)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(CheckpointError, match="truncated or damaged") as err:
        read_weights(path)
    _one_line_naming(err, path)


@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
def test_non_finite_weights_are_refused_naming_the_tensor(tmp_path, suffix):
    path = tmp_path / f"weights{suffix}"
    state = {"a.weight": torch.ones(3), "b.weight": torch.tensor([1.0, float("nan")])}
    torch.save(state, path) if suffix == ".pth" else safetensors.torch.save_file(state, path)
    with pytest.raises(CheckpointError, match="'b.weight' holds NaN") as err:
        read_weights(path)
    _one_line_naming(err, path)


def test_something_else_than_a_state_dict_is_refused(tmp_path):
    path = tmp_path / "list.pth"
    torch.save([torch.ones(2)], path)
    with pytest.raises(CheckpointError, match="not a state dict"):
        read_weights(path)


def test_a_training_checkpoint_wrapping_the_state_dict_is_unwrapped(tmp_path):
    path = tmp_path / "checkpoint.pth"
    torch.save({"state_dict": {"a.weight": torch.ones(2)}, "epoch": 3}, path)
    assert list(read_weights(path).state) == ["a.weight"]


def test_a_zip_that_is_not_a_torch_file_is_refused(tmp_path):
    path = tmp_path / "weights.pth"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("hello.txt", "not weights")
    with pytest.raises(CheckpointError) as err:
        read_weights(path)
    _one_line_naming(err, path)


def test_a_missing_file_is_one_line(tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        read_weights(tmp_path / "nope.pth")


def test_weights_of_another_network_are_refused_before_copying_anything(tmp_path):
    source = create_model("resnet18", 1000, 3, 224)
    path = tmp_path / "resnet18.pth"
    torch.save({("conv1." + k[len("stem.0."):] if k.startswith("stem.0.") else k): v
                for k, v in source.state_dict().items()}, path)  # half-renamed: not torchvision's names
    target = create_model("resnet34", 1000, 3, 224)
    before = {k: v.clone() for k, v in target.state_dict().items()}
    with pytest.raises(CheckpointError) as err:
        load_pretrained(target, path)
    _one_line_naming(err, path)
    assert all(torch.equal(before[k], v) for k, v in target.state_dict().items())


def test_a_cnnzoo_checkpoint_and_run_directory_load_as_they_are(tmp_path):
    trained = create_model("resnet18", 10, 1, 32)
    spec = ModelSpec(model="resnet18", num_classes=10, in_channels=1, input_size=[32, 32], native_size=[28, 28],
                     classes=[str(i) for i in range(10)], mean=[0.5], std=[0.25])
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    save_weights(run / "checkpoints" / "best.safetensors", trained.state_dict(), spec)
    for source in (run, run / "checkpoints" / "best.safetensors"):
        model = create_model("resnet18", 10, 1, 32)
        info = load_pretrained(model, source)
        assert info.format == "cnnzoo" and info.library is None and not info.fresh
        assert all(torch.equal(a, b)
                   for a, b in zip(model.state_dict().values(), trained.state_dict().values(), strict=True))
