"""Fine-tuning as users expect it: create_model(pretrained=), `cnnzoo train --pretrained`, the weights'
architecture and normalization carried into the run, freeze-then-unfreeze, a lower backbone rate."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml

from cnnzoo import create_model, load_config, train
from cnnzoo.cli import main
from cnnzoo.cli.train import RESUME_CHANGEABLE
from cnnzoo.engine.callbacks import Callback
from cnnzoo.engine.checkpoint import ModelSpec, load_weights, save_weights
from cnnzoo.engine.finetune import is_head
from cnnzoo.engine.optim import param_groups, set_lr
from cnnzoo.errors import CheckpointError, ConfigError, ModelError
from cnnzoo.weights import published_weights
from cnnzoo.weights.pretrained import IMAGENET_MEAN, IMAGENET_STD, Pretrained

from .test_parity import write_library_file

# A source run's normalization, unlike the synthetic dataset's, so that a test sees which one is used.
SOURCE_MEAN, SOURCE_STD = [0.5], [0.25]
STEM = "features.0.conv.weight"


def fake_run(folder: Path, name: str = "cnn", num_classes: int = 4, size: int = 28, **kwargs) -> Path:
    """A cnnzoo run directory holding only checkpoints/best.safetensors (weights from the seed)."""
    torch.manual_seed(123)
    model = create_model(name, num_classes=num_classes, in_channels=1, image_size=size, **kwargs)
    spec = ModelSpec(model=model.model_name, num_classes=num_classes, in_channels=1, input_size=[size, size],
                     native_size=[size, size], classes=[f"c{i}" for i in range(num_classes)],
                     mean=SOURCE_MEAN, std=SOURCE_STD, dataset="source", model_kwargs=dict(kwargs))
    (folder / "checkpoints").mkdir(parents=True)
    save_weights(folder / "checkpoints" / "best.safetensors", model.state_dict(), spec)
    return folder


def finetune_args(data: Path, source: Path, out: Path, *extra: str) -> list[str]:
    return ["train", "--model", "cnn", "--dataset", "fashion-mnist", "--data-dir", str(data), "--offline",
            "--batch-size", "64", "--out", str(out), "--pretrained", str(source), "--set", "output.plots=false",
            "schedule.name=constant", "optim.lr=0.05", *extra]


# --------------------------------------------------------------------------------------------------
# create_model(pretrained=...)

def test_create_model_with_imagenet_weights_keeps_the_imagenet_stem_and_says_what_changed(tmp_path):
    path = write_library_file("resnet18", tmp_path)
    model = create_model("resnet18", num_classes=5, in_channels=1, image_size=32, pretrained=path)
    info = model.pretrained_info
    assert model.small_input is False  # 32 px alone would have picked the small-image stem
    assert model.create_args["small_input"] is False
    assert any("adapted from RGB to 1" in n for n in info.notes) and any("freshly initialized" in n for n in info.notes)
    state = torch.load(path, weights_only=True)
    assert torch.equal(model.state_dict()["stages.0.0.conv1.weight"], state["layer1.0.conv1.weight"])
    assert torch.equal(model.state_dict()["stem.0.weight"], state["conv1.weight"].sum(1, keepdim=True))
    with pytest.raises(ModelError) as err:  # too small for the ImageNet stem: one line with a size to use
        create_model("resnet18", num_classes=5, in_channels=3, image_size=16, pretrained=path)
    msg = str(err.value)
    assert "\n" not in msg and "at least 32x32, got 16x16" in msg
    assert "224 (the size the weights were trained at)" in msg


def test_a_cnnzoo_checkpoint_brings_its_own_options_stem_and_statistics(tmp_path):
    run = fake_run(tmp_path / "src", "resnet18", num_classes=4, width_mult=0.25)
    weights = Pretrained.read("resnet18", run)
    assert weights.model_kwargs == {"width_mult": 0.25, "small_input": True}
    assert (weights.channels, weights.image_size) == (1, 28)
    assert weights.mean_std(1) == (SOURCE_MEAN, SOURCE_STD)
    model = create_model("resnet18", num_classes=7, in_channels=1, image_size=64, pretrained=run)
    assert model.small_input is True and model.create_args["width_mult"] == 0.25  # the source's network at 64 px
    assert any("1000" not in n and "freshly initialized" in n for n in model.pretrained_info.notes)
    with pytest.raises(CheckpointError, match="holds resnet18 weights, not resnet34's; use --model resnet18"):
        Pretrained.read("resnet34", run)


def test_normalization_travels_with_published_weights():
    googlenet = next(m for m in published_weights("googlenet") if m.default)
    resnet = next(m for m in published_weights("resnet18") if m.default)
    assert googlenet.transform_input and googlenet.model_mean == (0.5, 0.5, 0.5)
    fake = Pretrained.__new__(Pretrained)
    fake.file = type("F", (), {"spec": None})()
    fake.meta = googlenet
    assert fake.mean_std(3) == ([0.5] * 3, [0.5] * 3) and fake.image_size == 224
    fake.meta = resnet
    assert fake.mean_std(3) == (list(IMAGENET_MEAN), list(IMAGENET_STD))
    # one channel (the stem adapted by summing): the average statistics, the documented approximation
    mean, std = fake.mean_std(1)
    assert mean == [pytest.approx(sum(IMAGENET_MEAN) / 3)] and std == [pytest.approx(sum(IMAGENET_STD) / 3)]


# --------------------------------------------------------------------------------------------------
# cnnzoo train --pretrained

def test_train_setup_feeds_imagenet_weights_rgb_at_their_statistics(tmp_path, fashion_dir, capsys):
    """Gray data with RGB weights: replicated to 3 channels (exact), ImageNet's mean/std in the spec and the
    loaders, the ImageNet stem at --image-size 32; a fresh head, said on the console."""
    from cnnzoo.engine.trainer import Trainer

    path = write_library_file("mobilenet_v3_small", tmp_path)
    cfg = load_config(model="mobilenet_v3_small", overrides={
        "data.dataset": "fashion-mnist", "data.data_dir": str(fashion_dir), "data.offline": True,
        "data.image_size": 32, "model.pretrained": str(path), "output.dir": str(tmp_path / "run")})
    trainer = Trainer(cfg)
    trainer.setup()
    assert trainer.spec.in_channels == 3 and trainer.spec.input_size == [32, 32]
    assert trainer.spec.mean == list(IMAGENET_MEAN) and trainer.spec.std == list(IMAGENET_STD)
    assert trainer.spec.model_kwargs == {"small_input": False}
    x, _ = next(iter(trainer.eval_loader(trainer.ds.test)))
    assert x.shape[1:] == (3, 32, 32)
    raw = trainer.ds.test.images[: len(x)].float() / 255
    expected = torch.nn.functional.interpolate((raw - 0.485) / 0.229, size=(32, 32), mode="bilinear",
                                               align_corners=False)
    torch.testing.assert_close(x[:, :1].float(), expected[:, :1], atol=1e-4, rtol=1e-4)
    assert "freshly initialized" in capsys.readouterr().out
    written = yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())
    assert written["model"]["pretrained"] == str(path)


def test_train_pretrained_too_small_is_one_line_suggesting_a_size(tmp_path, fashion_dir, capsys):
    path = write_library_file("mobilenet_v3_small", tmp_path)
    rc = main(["train", "--model", "mobilenet_v3_small", "--dataset", "fashion-mnist", "--data-dir", str(fashion_dir),
               "--offline", "--pretrained", str(path), "--image-size", "8", "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and err[0].startswith("error: ")
    assert "--image-size" in err[0] and "224" in err[0]


def test_train_pretrained_refuses_a_hostile_file_without_running_it(tmp_path, fashion_dir, capsys):
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    evil = tmp_path / "resnet18-evil.pth"
    torch.save({"conv1.weight": torch.zeros(1), "x": Evil()}, evil)
    rc = main(finetune_args(fashion_dir, evil, tmp_path / "run"))
    err = capsys.readouterr().err
    assert rc == 2 and "refused" in err and str(evil) in err
    assert not marker.exists() and not (tmp_path / "run").exists()


class Snapshots(Callback):
    """The weights at the end of every epoch, and each optimizer group's learning rate."""

    def __init__(self):
        self.weights, self.lrs = [], []

    def on_train_epoch_end(self, trainer, row):
        self.weights.append({k: v.detach().clone() for k, v in trainer.model.state_dict().items()})
        self.lrs.append([g["lr"] for g in trainer.optimizer.param_groups])


def test_freeze_then_unfreeze_with_a_lower_backbone_rate(tmp_path, fashion_dir, capsys):
    source = fake_run(tmp_path / "src")
    cfg = load_config(model="cnn", overrides={
        "data.dataset": "fashion-mnist", "data.data_dir": str(fashion_dir), "data.offline": True,
        "data.batch_size": 64, "model.pretrained": str(source), "train.epochs": 2, "train.freeze_epochs": 1,
        "optim.backbone_lr_mult": 0.1, "optim.lr": 0.05, "schedule.name": "constant", "output.plots": False})
    snaps = Snapshots()
    result = train(cfg, run_dir=tmp_path / "run", quiet=True, callbacks=[snaps])
    src, _ = load_weights(source / "checkpoints" / "best.safetensors")
    backbone = [k for k in src if not is_head(k) and src[k].is_floating_point() and "running" not in k]
    assert backbone and all(torch.equal(snaps.weights[0][k], src[k]) for k in backbone)  # epoch 1: frozen
    assert any(not torch.equal(snaps.weights[1][k], src[k]) for k in backbone)  # epoch 2: trained
    assert not torch.equal(snaps.weights[0]["classifier.weight"], snaps.weights[1]["classifier.weight"])
    assert sorted({round(lr, 6) for lr in snaps.lrs[1]}) == [0.005, 0.05]  # backbone at 0.1 x the head's
    _, saved = load_weights(tmp_path / "run" / "checkpoints" / "last.safetensors")
    assert saved.mean == SOURCE_MEAN and saved.std == SOURCE_STD  # the weights' statistics, not the dataset's
    assert result.summary["test_acc"] > 0.3
    assert result.summary["pretrained"] == str(source) and result.summary["mean"] == SOURCE_MEAN


def test_resume_across_the_unfreeze_boundary_is_bit_identical(tmp_path, fashion_dir):
    """freeze_epochs=2: a run stopped after epoch 1 (frozen) and resumed must freeze epoch 2 again and then
    unfreeze, ending with the weights of the run that never stopped."""
    source = fake_run(tmp_path / "src")
    det = ("train.freeze_epochs=2", "train.deterministic=true", "data.val_fraction=0.5")  # 600 images to train
    assert main(finetune_args(fashion_dir, source, tmp_path / "full", *det, "--epochs", "3", "--quiet")) == 0
    assert main(finetune_args(fashion_dir, source, tmp_path / "split", *det, "--epochs", "1", "--quiet")) == 0
    assert main(["train", "--resume", str(tmp_path / "split"), "--epochs", "3", "--quiet"]) == 0
    a, _ = load_weights(tmp_path / "full" / "checkpoints" / "last.safetensors")
    b, _ = load_weights(tmp_path / "split" / "checkpoints" / "last.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)
    src, _ = load_weights(source / "checkpoints" / "best.safetensors")
    assert not torch.equal(a[STEM], src[STEM])  # epoch 3 trained the backbone
    assert "train.freeze_epochs" not in RESUME_CHANGEABLE  # the boundary cannot move under a resumed run


# --------------------------------------------------------------------------------------------------
# the pieces

def test_set_lr_scales_every_group_proportionally():
    model = create_model("cnn", num_classes=3)
    groups = param_groups(model, 5e-4, False, head=is_head, backbone_lr_mult=0.1)
    head = {id(p) for g in groups if g["lr_scale"] == 1.0 for p in g["params"]}
    assert head == {id(p) for n, p in model.named_parameters() if n.startswith("classifier.")}
    assert {g["weight_decay"] for g in groups} == {5e-4, 0.0}  # biases still without decay
    opt = torch.optim.SGD(groups, lr=1.0)
    set_lr(opt, 0.4)
    assert sorted({g["lr"] for g in opt.param_groups}) == [pytest.approx(0.04), 0.4]
    plain = torch.optim.SGD(param_groups(model, 5e-4, False), lr=1.0)
    set_lr(plain, 0.4)
    assert {g["lr"] for g in plain.param_groups} == {0.4}


def test_fine_tuning_keys_without_weights_are_refused():
    for key, value in (("train.freeze_epochs", 1), ("optim.backbone_lr_mult", 0.1)):
        with pytest.raises(ConfigError, match=f"'{key}' applies to fine-tuning: set 'model.pretrained'"):
            load_config(overrides={key: value})
    assert load_config(overrides={"train.freeze_epochs": 1, "model.pretrained": "torchvision"}).train.freeze_epochs == 1
