"""Small runs in the real run format for the export and predict tests, without training.

A run here is what `cnnzoo train` leaves that export and predict read: ``config.yaml`` (which names
the dataset and where it is) and ``checkpoints/best.safetensors`` (weights + ModelSpec). The weights
are the model's initialization plus seeded noise: several families start with a zero classifier,
whose constant logits would make any comparison of outputs pass.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
import yaml

FASHION_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                   "Ankle boot"]


def make_run(folder: Path, model: str, data_dir: Path | None, *, seed: int = 0, dataset: str = "fashion-mnist",
             classes: list[str] = FASHION_CLASSES, **model_kwargs: Any) -> Path:
    """A run directory of ``model`` (1x28x28, by default Fashion-MNIST's 10 classes) with noisy
    initial weights."""
    from cnnzoo.config import load_config
    from cnnzoo.engine.checkpoint import ModelSpec, save_weights
    from cnnzoo.models.registry import create_model

    torch.manual_seed(seed)
    net = create_model(model, num_classes=len(classes), in_channels=1, image_size=28, **model_kwargs)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    spec = ModelSpec(model=net.model_name, num_classes=len(classes), in_channels=1, input_size=[28, 28],
                     native_size=[28, 28], classes=list(classes), mean=[0.286], std=[0.353],
                     dataset=dataset, model_kwargs=dict(model_kwargs))
    (folder / "checkpoints").mkdir(parents=True)
    save_weights(folder / "checkpoints" / "best.safetensors", net.state_dict(), spec)
    overrides = {"data.dataset": dataset, "data.data_dir": str(data_dir) if data_dir else None}
    cfg = load_config(None, model="cnn", overrides=overrides)
    (folder / "config.yaml").write_text(yaml.safe_dump(cfg.to_dict(), sort_keys=False))
    return folder


@pytest.fixture(scope="session")
def cnn_run(tmp_path_factory: pytest.TempPathFactory, fashion_dir: Path) -> Path:
    return make_run(tmp_path_factory.mktemp("deploy") / "cnn", "convnet", fashion_dir)


def run_cli(capsys: pytest.CaptureFixture, *argv: Any) -> tuple[int, str, str]:
    from cnnzoo.cli import main

    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code: int, err: str, *fragments: str) -> None:
    lines = err.strip().splitlines()
    assert code == 2, (code, err)
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    for f in fragments:
        assert f in lines[0], (f, lines[0])
