"""The CUDA path, on a machine with a GPU: `pytest -m gpu tests/gpu` (never in CI, which has none).

Training in each precision (fp32, bf16 autocast, fp16 with its gradient scaler), resume, EMA and
channels_last, torch.compile, torchrun (NCCL where two GPUs are), export and predict of a GPU-trained run, the
benchmark command, and parity with the installed torchvision and timm computed on the GPU (every
counterpart of scripts/make_weight_fixtures.py, from the library's own randomly initialized weights).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from cnnzoo.cli import main

# GPU_TESTS_DEVICE=cpu runs the same tests on a CPU: a dry run of this file before a GPU is lent.
DEVICE = os.environ.get("GPU_TESTS_DEVICE", "cuda")
pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(DEVICE == "cuda" and not torch.cuda.is_available(), reason="needs a CUDA GPU")]

ROOT = Path(__file__).resolve().parents[2]


def train(data: Path, out: Path, *sets: str, model: str = "cnn", epochs: int = 2) -> dict:
    args = ["train", "--model", model, "--dataset", "fashion-mnist", "--data-dir", str(data), "--offline",
            "--epochs", str(epochs), "--batch-size", "64", "--device", DEVICE, "--out", str(out), "--quiet",
            "--overwrite"]
    assert main([*args, "--set", "output.plots=false", *sets]) == 0
    return json.loads((out / "summary.json").read_text())


@pytest.mark.parametrize("precision", ["fp32", "bf16", "fp16"])
def test_trains_on_cuda_in_each_precision(fashion_dir, tmp_path, precision):
    if precision == "fp16" and DEVICE == "cpu":
        pytest.skip("fp16 training needs CUDA (the CPU refuses it, tested elsewhere)")
    s = train(fashion_dir, tmp_path / precision, f"train.precision={precision}", "optim.lr=0.03", model="lenet5_bn",
              epochs=3)
    assert s["device"].startswith(DEVICE) and s["precision"] == precision
    assert s["test_loss"] == s["test_loss"] and s["test_acc"] > 0.3  # finite, and it learned something
    assert s["peak_memory_mb"] > 0


def test_resume_on_cuda_continues_the_same_run(fashion_dir, tmp_path):
    run = tmp_path / "run"
    first = train(fashion_dir, run, "train.ema_decay=0.99", "train.channels_last=true", epochs=1)
    assert main(["train", "--resume", str(run), "--epochs", "2", "--quiet", "--device", DEVICE]) == 0
    resumed = json.loads((run / "summary.json").read_text())
    assert resumed["epochs"] == 2 and resumed["steps"] == 2 * first["steps"]
    rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2]


def test_compile_on_cuda(fashion_dir, tmp_path):
    s = train(fashion_dir, tmp_path / "compiled", "train.compile=true", "train.precision=bf16", "optim.lr=0.03",
              epochs=1)
    assert s["test_acc"] > 0.3


def _torchrun(fashion_dir: Path, out: Path, ranks: int) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={ranks}", "-m",
           "cnnzoo", "train", "--model", "cnn", "--dataset", "fashion-mnist", "--data-dir", str(fashion_dir),
           "--offline", "--epochs", "1", "--device", DEVICE, "--out", str(out), "--quiet", "--set",
           "output.plots=false"]
    env = {**os.environ, "TORCH_DISTRIBUTED_DEBUG": "INFO", "NCCL_DEBUG": "INFO"}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def test_torchrun_with_one_rank_trains_as_one_process_on_the_gpu(fashion_dir, tmp_path):
    # A world of one needs no process group (DistContext.from_env): it is a plain run on the GPU.
    out = tmp_path / "one"
    _torchrun(fashion_dir, out, 1)
    s = json.loads((out / "summary.json").read_text())
    assert s["world_size"] == 1 and s["device"].startswith(DEVICE)


@pytest.mark.skipif(DEVICE != "cuda" or torch.cuda.device_count() < 2,
                    reason="NCCL needs a GPU per rank (two ranks cannot share one)")
def test_torchrun_with_two_gpus_uses_nccl(fashion_dir, tmp_path):
    out = tmp_path / "two"
    proc = _torchrun(fashion_dir, out, 2)
    assert "NCCL INFO" in proc.stdout + proc.stderr  # the process group is NCCL's, not gloo's
    s = json.loads((out / "summary.json").read_text())
    assert s["world_size"] == 2 and s["device"].startswith("cuda")


def test_a_gpu_run_exports_and_predicts(fashion_dir, tmp_path):
    run = tmp_path / "run"
    train(fashion_dir, run, epochs=1)
    assert main(["export", str(run), "--format", "onnx", "--out", str(tmp_path / "m.onnx")]) == 0
    assert (tmp_path / "m.onnx").stat().st_size > 0
    from cnnzoo import load_run

    images = [torch.randint(0, 256, (1, 28, 28), dtype=torch.uint8, generator=torch.Generator().manual_seed(i))
              for i in range(4)]
    on_gpu = load_run(run, device=DEVICE).predict(images)
    on_cpu = load_run(run, device="cpu").predict(images)
    assert [p.label for p in on_gpu] == [p.label for p in on_cpu]


def test_bench_train_on_cuda(capsys):
    assert main(["bench", "train", "--model", "resnet18", "--dataset", "synthetic", "--device", DEVICE,
                 "--steps", "5", "--warmup", "2", "--window", "1", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["device"].startswith(DEVICE)


# --------------------------------------------------------------------------------------------------
# Parity with the libraries installed on the GPU machine, computed on the GPU


def _counterparts() -> list[str]:
    from weights.reference import script
    from weights.test_parity import DIFFERENT_OUTPUT, DIFFERENT_SHAPES

    from cnnzoo.models import list_models

    return [n for n in script().COUNTERPARTS if n not in DIFFERENT_SHAPES | DIFFERENT_OUTPUT
            and n in list_models()]


@pytest.mark.parametrize("name", _counterparts())
def test_parity_with_the_installed_library_on_cuda(name, tmp_path):
    from weights.reference import script

    from cnnzoo.models import create_model
    from cnnzoo.weights import load_pretrained
    from cnnzoo.weights.loader import transform_input
    from cnnzoo.weights.mapping import CONVERSIONS

    library, ref_name, kwargs, size = script().COUNTERPARTS[name]
    lib = pytest.importorskip(library)
    torch.manual_seed(0)
    ref = (lib.models.__dict__[ref_name](**kwargs) if library == "torchvision"
           else lib.create_model(ref_name, pretrained=False, **kwargs))
    with torch.no_grad():  # some heads start at zero (timm's Mixer): give every weight a value
        for p in ref.parameters():
            p.add_(torch.randn_like(p) * 0.02)
    path = tmp_path / f"{ref_name}.pth"
    torch.save(ref.state_dict(), path)
    ours = create_model(name, num_classes=1000, in_channels=3, image_size=224, **CONVERSIONS[name].model_kwargs)
    info = load_pretrained(ours, path)
    assert info.exact, info.summary()
    # float64, as the CI fixtures: float32 rounding, amplified by 20-150 layers, would hide nothing
    # but blur the comparison; on the GPU this runs cuDNN's and cuBLAS's double kernels.
    x = torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(1), dtype=torch.float64).to(DEVICE)
    ref, ours = ref.to(DEVICE, torch.float64).eval(), ours.to(DEVICE, torch.float64).eval()
    with torch.no_grad():
        want = ref(x)
        want = want.logits if hasattr(want, "logits") else want
        # a plain .pth says nothing of torchvision's input transform: the reference was built with it
        got = ours(transform_input(x) if kwargs.get("transform_input") else x)
    diff = ((got - want).abs().max() / want.abs().max()).item()
    assert diff < 1e-9, f"{name}: relative logit difference {diff:.2e} against {library} {lib.__version__}"
