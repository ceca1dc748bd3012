"""Reading config YAML strictly: bounded in size and alias expansion (an 'alias bomb' answers with
one line, at once), a key given twice is refused naming both lines, and no value is ever turned
into unbounded text for a message."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cnnzoo.config import load_config, parse_override
from cnnzoo.config.yaml_reader import MAX_BYTES, MAX_DEPTH, parse_yaml
from cnnzoo.errors import ConfigError, short_repr

SRC = Path(__file__).resolve().parents[1] / "src"


def list_bomb(levels: int = 9, width: int = 10) -> list[str]:
    """10^9 'lol's in about 500 bytes: each anchor is a list of ten aliases of the one before."""
    lines = ["  a0: &a0 [" + ", ".join(["lol"] * width) + "]"]
    lines += [f"  a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * width) + "]" for i in range(1, levels)]
    return lines


def map_bomb(levels: int = 9, width: int = 10) -> list[str]:
    lines = ["  a0: &a0 {" + ", ".join(f"k{j}: lol" for j in range(width)) + "}"]
    lines += [f"  a{i}: &a{i} {{" + ", ".join(f"k{j}: *a{i - 1}" for j in range(width)) + "}"
              for i in range(1, levels)]
    return lines


BOMBS = {
    # Under `notes:` (a key every file may hold) the expansion is never validated, only walked.
    "mapping bomb under notes": "notes:\n" + "\n".join(map_bomb()) + "\n",
    # As a wrong-typed value, the error message used to repr() all 10^9 items.
    "list bomb as train.seed": "notes:\n" + "\n".join(list_bomb()) + "\ntrain:\n  seed: *a8\n",
    "list bomb in model.kwargs": "model:\n  kwargs:\n" + "\n".join("  " + ln for ln in list_bomb()) + "\n",
}


def _load_in_child(path: Path) -> dict:
    """load_config(path) in a child process with 2 GiB of address space and 30 s: a hang or a
    MemoryError fails the test instead of the machine."""
    code = ("import json, sys, time\n"
            "from cnnzoo.config import load_config\n"
            "from cnnzoo.errors import ConfigError\n"
            "t = time.perf_counter()\n"
            "try:\n"
            "    load_config(sys.argv[1]); msg = None\n"
            "except ConfigError as e:\n"
            "    msg = str(e)\n"
            "print(json.dumps({'s': time.perf_counter() - t, 'error': msg}))\n")

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))

    env = {**os.environ, "PYTHONPATH": str(SRC)}
    proc = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=30,
                          env=env, preexec_fn=limit)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout)


@pytest.mark.parametrize("name", list(BOMBS))
def test_alias_bomb_is_one_line_error_in_well_under_a_second(tmp_path, name):
    path = tmp_path / "bomb.yaml"
    path.write_text(BOMBS[name])
    assert path.stat().st_size < 1000  # a few hundred bytes
    got = _load_in_child(path)
    assert got["s"] < 0.5, got
    msg = got["error"]
    assert msg is not None and "\n" not in msg and len(msg) < 300
    assert msg.startswith(f"{path}:") and "alias" in msg


def test_alias_bomb_in_set_value():
    text = "model.kwargs.x=[" + ", ".join(f"&a{i} [" + ", ".join([f"*a{i - 1}" if i else "lol"] * 10) + "]"
                                          for i in range(9)) + "]"
    t = time.perf_counter()
    with pytest.raises(ConfigError, match=r"--set model\.kwargs\.x: YAML expands to more than"):
        parse_override(text)
    assert time.perf_counter() - t < 0.5


def test_aliases_within_the_bound_still_work(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("optim:\n  betas: &b [0.8, 0.99]\n  lr: 0.05\nmodel:\n  kwargs:\n    x: *b\n")
    cfg = load_config(path)
    assert cfg.optim.betas == [0.8, 0.99] and cfg.model.kwargs["x"] == [0.8, 0.99]


def test_recursive_alias_is_refused(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("notes:\n  a: &a [1, *a]\n")
    with pytest.raises(ConfigError, match=r"c\.yaml:2: an alias refers to the value that contains it"):
        load_config(path)


def test_file_size_is_bounded(tmp_path):
    path = tmp_path / "big.yaml"
    path.write_text("notes: '" + "x" * MAX_BYTES + "'\n")
    with pytest.raises(ConfigError, match=r"big\.yaml is larger than 1 MiB"):
        load_config(path)


def test_nesting_is_bounded():
    with pytest.raises(ConfigError, match=f"nests deeper than {MAX_DEPTH} levels"):
        parse_yaml("[" * 10000 + "]" * 10000, "deep.yaml")


def test_huge_integer_is_a_config_error(tmp_path):
    """PyYAML's int() of a 5000-digit number raised ValueError (Python's digit limit): a traceback."""
    path = tmp_path / "c.yaml"
    path.write_text("train:\n  seed: " + "1" * 5000 + "\n")
    with pytest.raises(ConfigError, match="c.yaml: a value cannot be read"):
        load_config(path)
    with pytest.raises(ConfigError, match="a value cannot be read"):
        parse_override("train.seed=" + "1" * 5000)


@pytest.mark.parametrize("text, key, first, second", [
    ("train:\n  epochs: 3\n  seed: 1\n  epochs: 4\n", "train.epochs", 2, 4),
    ("train:\n  epochs: 3\noptim:\n  lr: 0.1\ntrain:\n  seed: 2\n", "train", 1, 5),
    ("data:\n  augment:\n    flip: on\n    crop_padding: 2\n    flip: off\n", "data.augment.flip", 3, 5),
    ("model:\n  kwargs:\n    width_mult: 0.5\n    'width_mult': 1\n", "model.kwargs.width_mult", 3, 4),
])
def test_a_key_given_twice_names_the_key_and_both_lines(tmp_path, text, key, first, second):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as e:
        load_config(path)
    msg = str(e.value)
    assert msg.startswith(f"{path}:{second}: key '{key}' is given twice (first at {path}:{first})"), msg


def test_duplicate_key_in_set_value():
    with pytest.raises(ConfigError, match="key 'a' is given twice"):
        parse_override("model.kwargs.x={a: 1, a: 2}")


def test_short_repr_is_bounded_for_huge_and_shared_values():
    level: list = ["lol"] * 10
    for _ in range(9):  # 10^9 items, shared
        level = [level] * 10
    values = [level, {"k" * 10**6: level}, "x" * 10**7, 10**5000, 2**5000]
    t = time.perf_counter()
    texts = [short_repr(v) for v in values]
    assert time.perf_counter() - t < 0.1
    assert all(len(s) <= 60 for s in texts), texts


def test_huge_values_in_messages_stay_short(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("train:\n  device: '" + "x" * 500_000 + "'\n")
    with pytest.raises(ConfigError) as e:
        load_config(path)
    assert len(str(e.value)) < 300
    path.write_text("train:\n  ? " + "y" * 500_000 + "\n  : 1\n")  # an explicit key: no length limit
    with pytest.raises(ConfigError) as e:
        load_config(path)
    msg = str(e.value)
    assert f"{path}:2: unknown key 'train.yyy" in msg and "y..." in msg and len(msg) < 300 + len(str(path))
    with pytest.raises(ConfigError) as e:
        load_config(sets=["z" * 500_000])
    assert len(str(e.value)) < 300
