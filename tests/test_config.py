"""The configuration schema: layering, overrides, and one-line errors that name file, key and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from cnnzoo.config import Config, all_keys, dump_config, load_config, parse_override, validate
from cnnzoo.errors import ConfigError


def write(tmp_path: Path, text: str, name: str = "c.yaml") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def test_defaults_and_default_recipe_validate():
    cfg = load_config()
    assert isinstance(cfg, Config)
    assert cfg.data.dataset == "fashion-mnist"
    assert cfg.model.name  # the default recipe names a model


def test_file_then_shortcuts_then_sets(tmp_path):
    p = write(tmp_path, "train:\n  epochs: 7\noptim:\n  lr: 0.2\n")
    cfg = load_config(p, overrides={"train.epochs": 3}, sets=["optim.lr=0.05", "data.augment.flip=off"])
    assert cfg.train.epochs == 3
    assert cfg.optim.lr == 0.05
    assert cfg.data.augment.flip == "off"


def test_unknown_key_names_file_line_and_closest_key(tmp_path):
    p = write(tmp_path, "train:\n  epochs: 3\noptim:\n  lr_rate: 0.1\n")
    with pytest.raises(ConfigError) as e:
        load_config(p)
    msg = str(e.value)
    assert f"{p}:4" in msg and "optim.lr_rate" in msg and "did you mean 'optim.lr'" in msg


def test_unknown_section(tmp_path):
    p = write(tmp_path, "trainer:\n  epochs: 3\n")
    with pytest.raises(ConfigError, match=r"c.yaml:1: unknown key 'trainer' \(did you mean 'train'\?\)"):
        load_config(p)


@pytest.mark.parametrize("text, key, fragment", [
    ("data:\n  batch_size: ten\n", "data.batch_size", "must be an integer, got 'ten'"),
    ("data:\n  batch_size: 0\n", "data.batch_size", "must be at least 1"),
    ("optim:\n  lr: -0.1\n", "optim.lr", "must be greater than 0.0"),
    ("train:\n  epochs: -1\n", "train.epochs", "must be at least 1"),
    ("train:\n  epochs: 2.5\n", "train.epochs", "must be an integer"),
    ("train:\n  precision: fp8\n", "train.precision", "must be one of auto, fp32, bf16, fp16"),
    ("optim:\n  name: lion\n", "optim.name", "must be one of sgd, adam, adamw"),
    ("schedule:\n  name: linear\n", "schedule.name", "must be one of constant, step, cosine, onecycle"),
    ("data:\n  augment: 3\n", "data.augment", "must be a mapping"),
])
def test_wrong_types_and_ranges_name_key_and_line(tmp_path, text, key, fragment):
    p = write(tmp_path, text)
    with pytest.raises(ConfigError) as e:
        load_config(p)
    assert key in str(e.value) and fragment in str(e.value)
    assert f"{p}:" in str(e.value)


def test_invalid_yaml_names_file_and_line(tmp_path):
    p = write(tmp_path, "train:\n  epochs: 3\n  seed: [1, 2\n")
    with pytest.raises(ConfigError, match=r"c.yaml:\d+: invalid YAML"):
        load_config(p)


def test_not_a_mapping(tmp_path):
    p = write(tmp_path, "- just\n- a list\n")
    with pytest.raises(ConfigError, match="must be a mapping of sections"):
        load_config(p)


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.yaml")
    with pytest.raises(ConfigError, match="is a folder"):
        load_config(tmp_path)


@pytest.mark.parametrize("text, fragment", [
    ("train.epochs", "needs the form key=value"),
    ("train.epoch=3", "unknown key 'train.epoch' (did you mean 'train.epochs'?)"),
    ("=3", "is not a dotted key"),
    ("train=3", "is a section"),
    ("optim.lr=abc", "'optim.lr' must be a number"),
])
def test_bad_set(text, fragment):
    with pytest.raises(ConfigError) as e:
        load_config(sets=[text])
    assert fragment in str(e.value)


def test_set_values_are_read_as_yaml():
    assert parse_override("optim.betas=[0.8, 0.99]") == ("optim.betas", [0.8, 0.99])
    assert parse_override("train.ema_decay=null") == ("train.ema_decay", None)
    assert parse_override("optim.lr=1e-3")[1] in (0.001, "1e-3")
    cfg = load_config(sets=["optim.lr=1e-3", "model.kwargs.width=0.5"])
    assert cfg.optim.lr == pytest.approx(1e-3)
    assert cfg.model.kwargs["width"] == 0.5


def test_on_off_read_by_yaml_as_booleans_still_work(tmp_path):
    p = write(tmp_path, "data:\n  augment:\n    flip: off\n")
    assert load_config(p).data.augment.flip == "off"


def test_base_chain_and_loop(tmp_path):
    base = write(tmp_path, "train:\n  epochs: 4\n  seed: 9\n", "base.yaml")
    child = write(tmp_path, f"base: {base.name}\ntrain:\n  epochs: 2\n", "child.yaml")
    cfg = load_config(child)
    assert (cfg.train.epochs, cfg.train.seed) == (2, 9)
    write(tmp_path, "base: b.yaml\n", "a.yaml")
    write(tmp_path, "base: a.yaml\n", "b.yaml")
    with pytest.raises(ConfigError, match="loops back"):
        load_config(tmp_path / "a.yaml")
    bad = write(tmp_path, "base: resnett\n", "bad.yaml")
    with pytest.raises(ConfigError, match="base recipe 'resnett' not found"):
        load_config(bad)


def test_resolved_config_round_trips(tmp_path):
    cfg = load_config(sets=["train.epochs=2", "optim.name=adamw", "model.kwargs.width=0.25"])
    out = tmp_path / "config.yaml"
    dump_config(cfg, out, "# header")
    again = load_config(out)
    assert again == cfg


def test_cross_checks():
    with pytest.raises(ConfigError, match="warmup_epochs"):
        load_config(sets=["train.epochs=2", "schedule.warmup_epochs=3"])
    with pytest.raises(ConfigError, match="train.device"):
        load_config(sets=["train.device=gpu"])
    with pytest.raises(ConfigError, match="needs a CUDA device"):
        load_config(sets=["train.device=cpu", "train.precision=fp16"])


def test_every_key_has_help():
    import dataclasses

    from cnnzoo import config as c

    for cls in (c.ModelConfig, c.DataConfig, c.AugmentConfig, c.OptimConfig, c.ScheduleConfig,
                c.TrainConfig, c.OutputConfig):
        for f in dataclasses.fields(cls):
            assert f.metadata.get("help"), f"{cls.__name__}.{f.name} has no help text"
    assert "data.augment.crop_padding" in all_keys()


def test_validate_rejects_non_mapping():
    with pytest.raises(ConfigError):
        validate(["not", "a", "dict"])  # type: ignore[arg-type]


def test_configuration_reference_is_up_to_date():
    """docs/configuration.md is generated from the schema; regenerate with
    `python -m cnnzoo.config > docs/configuration.md`."""
    from cnnzoo.config import reference_markdown

    doc = Path(__file__).resolve().parents[1] / "docs" / "configuration.md"
    assert doc.read_text().strip() == reference_markdown().strip()


def test_print_config_shows_the_resolved_recipe(capsys):
    import yaml

    from cnnzoo.cli import main

    assert main(["train", "--model", "cnn", "--epochs", "3", "--set", "optim.lr=0.05", "--print-config"]) == 0
    data = yaml.safe_load(capsys.readouterr().out)
    assert data["model"]["name"] == "convnet" and data["train"]["epochs"] == 3 and data["optim"]["lr"] == 0.05
    assert validate(data) == load_config(model="cnn", overrides={"train.epochs": 3}, sets=["optim.lr=0.05"])


def test_model_named_by_its_recipe_keeps_the_recipes_network():
    """`--model resnet` is the ResNet recipe as written (its network and width); `--model resnet50`
    trains resnet50 with the family's settings but not the recipe's builder arguments."""
    from cnnzoo.config import find_recipe

    recipe = load_config(find_recipe("resnet"))
    by_name = load_config(model="resnet")
    assert by_name == recipe
    other = load_config(model="resnet50")
    assert other.model.name == "resnet50" and other.model.kwargs == {}
    assert other.optim == recipe.optim and other.train.epochs == recipe.train.epochs
    assert load_config() == recipe  # `cnnzoo train` with no arguments
    widened = load_config(model="resnet", sets=["model.kwargs.width_mult=1"])
    assert widened.model.kwargs["width_mult"] == 1


SEED_NAMES = ("cnn", "alexnet", "vgg", "nin", "googlenet", "batchnorm", "resnet", "densenet", "senet", "mlpmixer",
              "mobilenet")


@pytest.mark.parametrize("seed", SEED_NAMES)
def test_every_seed_model_has_a_recipe_that_builds_and_says_what_it_reached(seed):
    """configs/<seed>.yaml exists, validates, trains the seed's network (its alias) or another of its
    family, and its header states the goal and what was measured (or that nothing was)."""
    from cnnzoo.config import find_recipe
    from cnnzoo.models.registry import create_model, model_info

    path = find_recipe(seed)
    assert path is not None and path.name == f"{seed}.yaml"
    text = path.read_text()
    assert "# Measured:" in text and ("# Goal:" in text or seed == "resnet")
    cfg = load_config(model=seed)
    # The seed's network, or a smaller member of its family (densenet: DenseNet-BC-40, not BC-100).
    assert model_info(cfg.model.name).family == model_info(seed).family
    assert load_config(model=seed, overrides={"train.epochs": 1}).train.epochs == 1  # compare --epochs 1
    model = create_model(cfg.model.name, num_classes=10, in_channels=1, image_size=28, **cfg.model.kwargs)
    assert sum(p.numel() for p in model.parameters()) > 0


def test_recipe_files_all_validate():
    from cnnzoo.config import find_recipe

    folder = find_recipe("defaults").parent
    names = sorted(p.stem for p in folder.glob("*.yaml"))
    assert set(SEED_NAMES) <= set(names)
    for name in names:
        load_config(folder / f"{name}.yaml")


def test_onecycle_refuses_warmup_epochs_naming_both_keys(tmp_path):
    """One-cycle's rise over pct_start is its warm-up; warmup_epochs was silently ignored (issue 13,
    defect 3). Now one line names both keys, the file and line, and the pct_start that does it."""
    p = write(tmp_path, "schedule:\n  name: onecycle\n  warmup_epochs: 2\ntrain:\n  epochs: 10\n")
    with pytest.raises(ConfigError) as e:
        load_config(p)
    msg = str(e.value)
    assert "\n" not in msg and msg.startswith(f"{p}:3: 'schedule.warmup_epochs'")
    assert "'schedule.name: onecycle'" in msg and "pct_start: 0.2" in msg
    with pytest.raises(ConfigError, match="schedule.warmup_epochs"):  # the default schedule is onecycle
        load_config(sets=["schedule.warmup_epochs=1"])
    # the schedules with a warm-up of their own keep it
    assert load_config(p, sets=["schedule.name=cosine"]).schedule.warmup_epochs == 2


def test_lr_schedule_refuses_onecycle_warmup_from_a_hand_built_config():
    from cnnzoo.config import ScheduleConfig
    from cnnzoo.engine.optim import LRSchedule

    with pytest.raises(ConfigError, match="warmup_epochs"):
        LRSchedule.from_config(ScheduleConfig(name="onecycle", warmup_epochs=1.0), 0.1, 10, 5)
    cosine = LRSchedule.from_config(ScheduleConfig(name="cosine", warmup_epochs=1.0), 0.1, 10, 5)
    assert cosine(0) == pytest.approx(0.1 * 0.01) and cosine(10) == pytest.approx(0.1)


def test_optimizer_and_schedule_names_are_defined_once():
    """The engine's lists are the schema's Literals (a name added to one is in the other)."""
    import typing

    from cnnzoo.config import OptimConfig, ScheduleConfig, schema
    from cnnzoo.engine import optim

    hints = typing.get_type_hints(OptimConfig)["name"], typing.get_type_hints(ScheduleConfig)["name"]
    assert optim.OPTIMIZERS is schema.OPTIMIZERS and optim.SCHEDULES is schema.SCHEDULES
    assert schema.OPTIMIZERS == typing.get_args(hints[0]) and schema.SCHEDULES == typing.get_args(hints[1])


def test_every_schema_optimizer_and_schedule_is_built_by_the_engine():
    """A name added to the schema's Literal without engine code fails here, not in a user's run."""
    import math

    import torch

    from cnnzoo.config import OPTIMIZERS, SCHEDULES, OptimConfig, ScheduleConfig
    from cnnzoo.engine.optim import LRSchedule, build_optimizer

    model = torch.nn.Linear(3, 2)
    for name in OPTIMIZERS:
        opt = build_optimizer(model, OptimConfig(name=name), torch.device("cpu"))
        assert type(opt).__name__.lower() == name
    for name in SCHEDULES:
        schedule = LRSchedule.from_config(ScheduleConfig(name=name), 0.1, steps_per_epoch=10, epochs=3)
        lrs = [schedule(step) for step in range(30)]
        assert all(math.isfinite(lr) and 0 <= lr <= 0.1 + 1e-12 for lr in lrs), (name, lrs)
