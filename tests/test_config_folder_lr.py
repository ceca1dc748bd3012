"""Image folders get a learning rate of their own (the recipes' 0.1 diverges on a small folder),
unless the user's file or a flag sets one."""

from __future__ import annotations

from pathlib import Path

from cnnzoo.config import load_config
from cnnzoo.config.loading import FOLDER_LR


def test_an_image_folder_trains_at_the_folder_default(tmp_path: Path) -> None:
    folder = {"data.dataset": "folder", "data.data_dir": str(tmp_path)}
    assert FOLDER_LR < 0.1
    assert load_config(overrides=folder).optim.lr == FOLDER_LR
    assert load_config(model="vgg", overrides=folder).optim.lr == FOLDER_LR  # over any recipe's lr
    (tmp_path / "cat").mkdir()
    assert load_config(overrides={"data.dataset": str(tmp_path)}).optim.lr == FOLDER_LR  # a folder path
    assert load_config().optim.lr == 0.1  # Fashion-MNIST keeps its recipe


def test_a_learning_rate_the_user_chose_stands(tmp_path: Path) -> None:
    folder = {"data.dataset": "folder", "data.data_dir": str(tmp_path)}
    assert load_config(overrides={**folder, "optim.lr": 0.1}).optim.lr == 0.1
    assert load_config(overrides=folder, sets=["optim.lr=0.5"]).optim.lr == 0.5
    own = tmp_path / "own.yaml"
    own.write_text("optim:\n  lr: 0.2\n")
    assert load_config(own, overrides=folder).optim.lr == 0.2  # e.g. a run's config.yaml: reproduced
    based = tmp_path / "based.yaml"
    based.write_text("base: resnet\ntrain:\n  epochs: 2\n")
    assert load_config(based, overrides=folder).optim.lr == FOLDER_LR  # the recipe's lr is not the user's
