"""`cnnzoo models` and `cnnzoo summary`: output, JSON, and one-line errors with exit status 2."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from cnnzoo import cli


@pytest.fixture
def run(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture):
    """Run the CLI with only this module's commands registered; return (status, stdout, stderr)."""
    monkeypatch.setattr(cli, "COMMAND_MODULES", ("models",))

    def invoke(*argv: str) -> tuple[int, str, str]:
        code = cli.main(list(argv))
        out, err = capsys.readouterr()
        return code, out, err

    return invoke


def test_models_module_is_registered():
    assert "models" in cli.COMMAND_MODULES


def test_models_table(run):
    code, out, err = run("models")
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert lines[0].split() == ["name", "family", "year", "params", "input", "classes", "alias"]
    row = next(line.split() for line in lines if line.startswith("resnet18 "))
    assert row == ["resnet18", "resnet", "2015", "11.69M", "3x224x224", "1000", "resnet"]


def test_models_pattern_and_json(run):
    code, out, _ = run("models", "resnet*", "--json")
    assert code == 0
    data = json.loads(out)
    assert [d["name"] for d in data][:3] == ["resnet18", "resnet34", "resnet50"]
    r50 = data[2]
    assert r50["params"] == r50["reference_params"] == 25_557_032
    assert r50["year"] == 2015 and r50["paper"] == "Deep Residual Learning for Image Recognition"
    assert r50["default_input"] == [3, 224, 224] and r50["family"] == "resnet"


def test_models_no_match_is_an_error(run):
    code, out, err = run("models", "resnett")
    assert code == 2 and out == ""
    assert err.startswith("error: no model matches 'resnett' (did you mean 'resnet")
    assert err.endswith("'cnnzoo models' lists them all\n") and err.count("\n") == 1


def test_summary_json(run):
    code, out, _ = run("summary", "resnet", "--input", "1,28,28", "--num-classes", "10", "--json")
    assert code == 0
    data = json.loads(out)
    assert data["name"] == "resnet18" and data["input"] == [1, 28, 28] and data["num_classes"] == 10
    assert data["params"] == 11_172_810 and data["flops"] == 2 * data["macs"]
    assert data["macs"] == sum(layer["macs"] for layer in data["layers"])
    assert data["layers"][0] == {"name": "stem.0", "type": "Conv2d", "output_shape": [64, 28, 28],
                                 "params": 576, "macs": 28 * 28 * 64 * 9}
    assert data["output"] == [10]


def test_summary_defaults_to_the_design_input(run):
    code, out, _ = run("summary", "googlenet", "--json")
    data = json.loads(out)
    assert (data["input"], data["num_classes"], data["params"]) == ([3, 224, 224], 1000, 6_624_904)


def test_summary_table(run):
    code, out, _ = run("summary", "convnet")
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "convnet (convnet, no paper) at 1x28x28, 10 classes"
    assert lines[1].split() == ["layer", "type", "output", "params", "MACs"]
    assert lines[-1].startswith("params 50,282 (50.28K)   MACs 3.87M   FLOPs 7.74M (FLOPs = 2 x MACs)")


@pytest.mark.parametrize("argv,message", [
    (["summary", "resnt18"], "error: unknown model 'resnt18' (did you mean 'resnet18'"),
    (["summary", "resnet18", "--input", "1,28"], "error: argument --input: expected C,H,W as three positive "
                                                 "integers (e.g. 1,28,28), got '1,28'"),
    (["summary", "resnet18", "--input", "a,b,c"], "error: argument --input: expected C,H,W"),
    (["summary", "resnet50", "--input", "3,7,7"], "error: resnet50 needs inputs of at least 8x8, got 7x7"),
    (["summary", "mixer_b16", "--input", "3,100,100"], "error: MLP-Mixer cuts the image into 16x16 patches"),
    (["summary", "vgg", "--num-classes", "0"], "error: num_classes must be a positive integer, got 0"),
])
def test_summary_errors_are_one_line(run, argv, message):
    code, out, err = run(*argv)
    assert code == 2 and out == ""
    assert err.startswith(message) and err.count("\n") == 1


def test_parsing_imports_nothing_heavy():
    # `cnnzoo --help` must stay instant: the models CLI module must not import torch.
    code = "import sys, cnnzoo.cli.models; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
