"""`cnnzoo export`: every family to ONNX (checked with onnxruntime), a few to TorchScript and
torch.export; the metadata a deployer needs; the self-check that refuses a wrong file."""

from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from cnnzoo.engine import export as export_mod
from cnnzoo.engine.checkpoint import load_run

from .conftest import FASHION_CLASSES, assert_one_line_error, make_run, run_cli

pytest.importorskip("onnxruntime")

# One small member of each family (1x28x28): the whole zoo would take minutes.
FAMILY_MODELS = {
    "convnet": "convnet", "alexnet": "alexnet", "vgg": "vgg11_quarter", "nin": "nin", "googlenet": "googlenet",
    "batchnorm": "lenet5_bn", "resnet": "resnet20", "densenet": "densenet_bc_40", "senet": "seresnet18",
    "mixer": "mixer_t4", "mobilenet": "mobilenet_v1_050", "resnext": "resnext50_32x4d", "wide_resnet": "wrn16_8",
    "squeezenet": "squeezenet1_1", "shufflenet": "shufflenet_v2_x0_5", "inception_v3": "inception_v3",
    "xception": "xception", "efficientnet": "efficientnet_b0", "vit": "vit_lite_7_4", "convnext": "convnext_atto",
    "darknet": "darknet53", "resmlp": "resmlp_t4", "gmlp": "gmlp_ti4",
}
MORE = ["mobilenet_v2_050", "mobilenet_v3_small"]  # MobileNet's three versions are three networks


def test_every_family_has_a_model_in_the_export_tests():
    from cnnzoo.models.registry import list_models, model_info

    assert {model_info(m).family for m in list_models()} == set(FAMILY_MODELS)
    assert all(model_info(m).family == fam for fam, m in FAMILY_MODELS.items())


def ort_outputs(path: Path, x: torch.Tensor) -> np.ndarray:
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return sess.run(None, {sess.get_inputs()[0].name: x.numpy()})[0]


@pytest.mark.parametrize("model", [*FAMILY_MODELS.values(), *MORE])
def test_each_family_exports_to_onnx_and_onnxruntime_matches_pytorch(model, fashion_dir, tmp_path, capsys):
    import onnx

    # GoogLeNet with its auxiliary heads on: eval mode, and so the file, has the main logits only
    run = make_run(tmp_path / "run", model, fashion_dir, **({"aux_logits": True} if model == "googlenet" else {}))
    out = tmp_path / f"{model}.onnx"
    code, stdout, err = run_cli(capsys, "export", run, "--format", "onnx", "--out", out)
    assert code == 0, err
    assert "16 test images of fashion-mnist" in stdout and "largest relative difference" in stdout
    assert out.is_file() and not list(tmp_path.glob(".*.tmp*"))
    # our own check, on another batch size than export used: the batch dimension is dynamic
    net, spec = load_run(run)
    x = torch.randn(5, 1, 28, 28, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = net(x).numpy()
    got = ort_outputs(out, x)
    assert got.shape == (5, 10)
    assert np.abs(got - expected).max() <= 1e-4 * np.abs(expected).max()
    proto = onnx.load(str(out))
    assert proto.graph.input[0].type.tensor_type.shape.dim[0].dim_param  # symbolic, not a fixed number
    assert len(proto.graph.output) == 1  # GoogLeNet: no auxiliary heads
    assert spec.model_kwargs == ({"aux_logits": True} if model == "googlenet" else {})
    meta = {p.key: p.value for p in proto.metadata_props}
    assert json.loads(meta["classes"]) == FASHION_CLASSES
    assert json.loads(meta["mean"]) == pytest.approx([0.286]) and json.loads(meta["std"]) == pytest.approx([0.353])
    assert json.loads(meta["input_size"]) == [28, 28] and meta["channels"] == "1"
    assert meta["model"] == spec.model and meta["cnnzoo_version"] == __import__("cnnzoo").__version__


@pytest.mark.parametrize("model", ["convnet", "resnet20"])
def test_torchscript_and_pt2_carry_the_metadata_and_match(model, fashion_dir, tmp_path, capsys):
    run = make_run(tmp_path / "run", model, fashion_dir)
    net, spec = load_run(run)
    x = torch.randn(3, 1, 28, 28, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        expected = net(x)
    for fmt, suffix in (("torchscript", ".pt"), ("pt2", ".pt2")):
        out = tmp_path / f"m{suffix}"
        code, stdout, err = run_cli(capsys, "export", run, "--out", out)  # the format from the suffix
        assert code == 0, err
        assert f"({fmt}," in stdout
        extra = {"cnnzoo.json": ""}
        if fmt == "torchscript":
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)  # torch.jit is deprecated in torch 2.13
                module = torch.jit.load(str(out), _extra_files=extra)
        else:
            module = torch.export.load(str(out), extra_files=extra).module()
        meta = json.loads(extra["cnnzoo.json"])
        assert json.loads(meta["classes"]) == FASHION_CLASSES and meta["model"] == spec.model
        with torch.no_grad():
            got = module(x)
        assert got.shape == (3, 10)
        assert (got - expected).abs().max() <= 1e-4 * expected.abs().max()


def test_default_out_is_in_the_run_and_json_reports_the_check(cnn_run, capsys):
    code, stdout, err = run_cli(capsys, "export", cnn_run, "--format", "onnx", "--json", "--overwrite")
    assert code == 0, err
    res = json.loads(stdout)
    assert res["path"] == str(cnn_run / "export" / "model.onnx") and Path(res["path"]).is_file()
    assert res["check_images"] == 16 and 0 <= res["max_rel_diff"] <= 1e-4
    assert res["check_data"] == "16 test images of fashion-mnist"


def test_without_the_dataset_the_check_uses_a_seeded_random_batch_and_says_so(tmp_path, capsys):
    run = make_run(tmp_path / "run", "convnet", tmp_path / "nowhere")
    code, stdout, err = run_cli(capsys, "export", run, "--format", "onnx", "--out", tmp_path / "m.onnx")
    assert code == 0, err
    assert "a seeded random batch of 16 (fashion-mnist is not on disk)" in stdout


def test_a_folder_run_without_a_test_split_is_checked_on_its_validation_images(tmp_path, capsys):
    from PIL import Image

    root = tmp_path / "shapes"
    for c, name in enumerate(("circle", "square", "star")):
        (root / name).mkdir(parents=True)
        for i in range(8):
            Image.new("L", (28, 28), 40 * c + 5 * i).save(root / name / f"{i}.png")
    run = make_run(tmp_path / "run", "convnet", root, dataset="folder", classes=["circle", "square", "star"])
    code, stdout, err = run_cli(capsys, "export", run, "--format", "torchscript", "--out", tmp_path / "m.pt")
    assert code == 0, err
    assert "validation images of" in stdout and "random" not in stdout


def test_a_file_that_differs_from_pytorch_is_refused_and_removed(cnn_run, tmp_path, monkeypatch, capsys):
    out = tmp_path / "m.onnx"
    out.write_bytes(b"the previous export")
    real = export_mod.run_exported
    monkeypatch.setattr(export_mod, "run_exported", lambda p, f, *xs: [y * 1.01 for y in real(p, f, *xs)])
    code, _, err = run_cli(capsys, "export", cnn_run, "--format", "onnx", "--out", out, "--overwrite")
    assert_one_line_error(code, err, "differs from PyTorch by 1.0", "more than 0.0001", "not written")
    assert out.read_bytes() == b"the previous export"  # neither replaced nor deleted
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx"]  # no temporary file left


def test_export_mistakes_are_one_line_errors(cnn_run, tmp_path, monkeypatch, capsys):
    code, _, err = run_cli(capsys, "export", cnn_run, "--format", "onxx", "--out", tmp_path / "m.onnx")
    assert_one_line_error(code, err, "unknown export format 'onxx'", "did you mean 'onnx'")
    code, _, err = run_cli(capsys, "export", cnn_run, "--out", tmp_path / "m.bin")
    assert_one_line_error(code, err, "cannot tell the format from m.bin", "--format")
    code, _, err = run_cli(capsys, "export", tmp_path, "--format", "onnx", "--out", tmp_path / "m.onnx")
    assert_one_line_error(code, err, "not a cnnzoo run directory")
    code, _, err = run_cli(capsys, "export", cnn_run, "--format", "pt2", "--weights", "last",
                           "--out", tmp_path / "m.pt2")
    assert_one_line_error(code, err, "has no last weights")
    existing = tmp_path / "taken.pt"
    existing.write_text("mine")
    code, _, err = run_cli(capsys, "export", cnn_run, "--format", "torchscript", "--out", existing)
    assert_one_line_error(code, err, f"{existing} already exists", "--overwrite")
    assert existing.read_text() == "mine"
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # as if it were not installed
    code, _, err = run_cli(capsys, "export", cnn_run, "--format", "onnx", "--out", tmp_path / "m.onnx")
    assert_one_line_error(code, err, "onnxruntime", "pip install 'cnnzoo[export]'")
    assert not (tmp_path / "m.onnx").exists()


def test_the_dynamo_onnx_exporter_also_passes_the_check(cnn_run, tmp_path):
    pytest.importorskip("onnxscript")
    res = export_mod.export_run(cnn_run, "onnx", tmp_path / "d.onnx", exporter="dynamo")
    assert res.max_rel_diff <= 1e-4
    x = torch.randn(4, 1, 28, 28)
    assert ort_outputs(res.path, x).shape == (4, 10)
    meta = export_mod.read_onnx_metadata(res.path)
    assert json.loads(meta["classes"]) == FASHION_CLASSES
