"""Which recipe a configuration starts from, whatever the spelling; --print-config's provenance;
model and dataset names checked and written one way; key suggestions (issue 15, items 1, 7, 8)."""

from __future__ import annotations

import pytest
import yaml

from cnnzoo.config import load_config
from cnnzoo.errors import ConfigError


def write(tmp_path, text):
    p = tmp_path / "my.yaml"
    p.write_text(text)
    return p


def test_own_config_file_keeps_the_default_recipe(tmp_path):
    """A file with only optim.lr is the default job with another lr, not the schema's full-width
    ResNet-18 for 10 epochs without TTA."""
    cfg = load_config(write(tmp_path, "optim:\n  lr: 0.05\n"))
    assert cfg == load_config(sets=["optim.lr=0.05"])
    assert cfg.model.kwargs == {"width_mult": 0.25} and cfg.train.tta_flip and cfg.train.epochs == 5


def test_own_config_file_naming_a_model_gets_its_recipe(tmp_path):
    mine = load_config(write(tmp_path, "model:\n  name: cnn\noptim:\n  lr: 0.05\n"))
    assert mine == load_config(model="cnn", sets=["optim.lr=0.05"])
    resnet = load_config(write(tmp_path, "model:\n  name: RESNET\n"))
    assert resnet == load_config(model="resnet")


@pytest.mark.parametrize("spelling, same", [("RESNET", "resnet"), ("CNN", "cnn"), ("Vgg", "vgg"),
                                            ("ResNet50", "resnet50")])
def test_model_name_in_capitals_gets_the_same_recipe(spelling, same):
    assert load_config(model=spelling) == load_config(model=same)


def test_run_config_round_trips_through_the_recipe_layering(tmp_path):
    """A run's config.yaml (every key written out) resolves to itself, with or without builder arguments."""
    from cnnzoo.config import dump_config

    for cfg in (load_config(model="resnet"), load_config(model="resnet18"), load_config(model="resnet50")):
        path = tmp_path / "config.yaml"
        dump_config(cfg, path)
        assert load_config(path) == cfg


def test_print_config_says_where_each_value_came_from(tmp_path, capsys, monkeypatch):
    from cnnzoo.cli import main

    monkeypatch.chdir(tmp_path)
    write(tmp_path, "optim:\n  momentum: 0.8\n")
    assert main(["train", "--config", "my.yaml", "--epochs", "2", "--set", "train.seed=3", "--print-config"]) == 0
    out = capsys.readouterr().out
    line = {ln.split(":")[0].strip(): ln for ln in out.splitlines()}
    assert line["momentum"].endswith("# --config my.yaml:2")
    assert line["epochs"].endswith("# --epochs")
    assert line["seed"].endswith("# --set train.seed")
    assert "# recipe configs/resnet.yaml:" in line["tta_flip"]
    assert "# defaults configs/defaults.yaml:" in line["val_fraction"]
    assert line["grad_clip"].endswith("# schema default")
    # Comments aside it is the resolved configuration.
    data = yaml.safe_load(out)
    assert data == load_config(tmp_path / "my.yaml", overrides={"train.epochs": 2}, sets=["train.seed=3"]).to_dict()


def test_provenance_of_a_base_chain_names_the_upper_file(tmp_path):
    """A key in both a file and its base comes from the file."""
    origins: dict[str, str] = {}
    p = write(tmp_path, "base: cnn\ntrain:\n  epochs: 4\n")
    cfg = load_config(p, origins=origins)
    assert cfg.train.epochs == 4 and origins["train.epochs"] == f"--config {p}:3"
    assert origins["model.name"].startswith("recipe ") and "cnn.yaml:" in origins["model.name"]


@pytest.mark.parametrize("kw, fragment", [
    ({"model": "resnt"}, "unknown model 'resnt' (did you mean 'resnet"),
    ({"overrides": {"data.dataset": "fashon"}}, "unknown dataset 'fashon' (did you mean 'fashion-mnist'?)"),
])
def test_unknown_model_and_dataset_fail_when_resolved(kw, fragment):
    with pytest.raises(ConfigError) as e:
        load_config(**kw)
    assert fragment in str(e.value)


def test_print_config_refuses_unknown_names(capsys):
    from cnnzoo.cli import main

    assert main(["train", "--model", "nosuchnet", "--print-config"]) == 2
    assert main(["train", "--dataset", "nosuchdata", "--print-config"]) == 2
    assert capsys.readouterr().out == ""


def test_unknown_model_in_a_file_names_file_and_line(tmp_path):
    p = write(tmp_path, "train:\n  epochs: 1\nmodel:\n  name: nosuchnet\n")
    with pytest.raises(ConfigError, match=r"unknown model 'nosuchnet'.*\(.*my.yaml:4\)$"):
        load_config(p)


@pytest.mark.parametrize("spelling", ["fashionmnist", "Fashion_MNIST", "FASHION-MNIST", "fashion-mnist"])
def test_dataset_names_are_written_one_way(spelling, tmp_path):
    from cnnzoo.engine.rundir import default_run_dir

    cfg = load_config(overrides={"data.dataset": spelling, "output.dir": None})
    assert cfg.data.dataset == "fashion-mnist"
    assert default_run_dir(cfg).name.endswith("-resnet18-fashion-mnist")


def test_folder_and_paths_stay_as_written(tmp_path):
    assert load_config(overrides={"data.dataset": "folder"}).data.dataset == "folder"
    assert load_config(overrides={"data.dataset": str(tmp_path)}).data.dataset == str(tmp_path)


@pytest.mark.parametrize("text, hint", [
    ("train:\n  lr: 0.1\n", "did you mean 'optim.lr'?"),
    ("data:\n  flip: on\n", "did you mean 'data.augment.flip'?"),
    ("optim:\n  lr_rate: 0.1\n", "did you mean 'optim.lr'?"),
])
def test_a_key_under_the_wrong_section_suggests_the_right_one(tmp_path, text, hint):
    with pytest.raises(ConfigError, match=hint.replace("?", r"\?").replace(".", r"\.")):
        load_config(write(tmp_path, text))
    key = text.split(":")[0] + "." + text.split("\n")[1].split(":")[0].strip()
    with pytest.raises(ConfigError, match=hint.replace("?", r"\?").replace(".", r"\.")):
        load_config(sets=[f"{key}=1"])


def test_a_files_folder_dataset_is_left_to_the_data_loader(tmp_path):
    """A run's config.yaml read back from another folder may name an image folder relative to where it
    trained: loading the config does not judge it (a near-miss of a built-in name is still refused)."""
    assert load_config(write(tmp_path, "data:\n  dataset: my_photos\n")).data.dataset == "my_photos"
    with pytest.raises(ConfigError, match="did you mean 'fashion-mnist'"):
        load_config(write(tmp_path, "data:\n  dataset: fashion-mnst\n"))
