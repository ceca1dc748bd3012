"""Guarantee: whatever a user types or feeds in, the answer is a valid result or a clean cnnzoo
error — never another exception, never a hang.

Random configuration dictionaries and random `--set` strings go through the schema; random bytes
go through the checkpoint reader. (Random bytes as IDX, CIFAR and image files are fuzzed in
tests/data/test_fuzz.py.)
"""

from __future__ import annotations

import string
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cnnzoo.config import Config, all_keys, load_config, validate
from cnnzoo.engine.checkpoint import load_training_state, load_weights
from cnnzoo.errors import CnnzooError, ConfigError

KEYS = all_keys()
LEAF_KEYS = [k for k in KEYS if k not in ("model", "data", "optim", "schedule", "train", "output", "data.augment")]

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-10**20, 10**20), st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12), st.sampled_from(["auto", "sgd", "adamw", "cosine", "on", "off", "fp16", "cuda", "1e-3"]),
)
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                       st.dictionaries(st.text(max_size=8), inner, max_size=3)),
                      max_leaves=6)


def nest(flat: dict[str, object]) -> dict[str, object]:
    out: dict[str, object] = {}
    for key, value in flat.items():
        cur = out
        parts = key.split(".")
        for p in parts[:-1]:
            nxt = cur.setdefault(p, {})
            if not isinstance(nxt, dict):
                break
            cur = nxt
        else:
            cur[parts[-1]] = value
    return out


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(LEAF_KEYS + ["bogus", "train.bogus", "data.augment.x"]), values, max_size=6))
def test_random_config_dicts(flat):
    try:
        cfg = validate(nest(flat))
    except ConfigError:
        return
    assert isinstance(cfg, Config)
    assert validate(cfg.to_dict()) == cfg  # a valid config survives a round trip


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.text(max_size=10), values, max_size=4))
def test_random_top_level_mappings(data):
    try:
        validate(data)
    except ConfigError:
        pass


set_strings = st.one_of(
    st.text(max_size=40),
    st.builds(lambda k, v: f"{k}={v}", st.sampled_from(KEYS + ["model.kwargs.width_mult", "x.y", "train"]),
              st.text(alphabet=string.printable, max_size=20)),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(set_strings, max_size=4))
def test_random_set_strings(sets):
    try:
        cfg = load_config(sets=sets)
    except ConfigError:
        return
    assert isinstance(cfg, Config)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=4096))
def test_random_bytes_as_checkpoint(tmp_path, data):
    path = tmp_path / "ck.safetensors"
    path.write_bytes(data)
    try:
        load_weights(path)
    except CnnzooError:
        pass


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=2048), st.integers(0, 10**6))
def test_mangled_real_checkpoints(small_run, tmp_path, junk, where):
    """A real checkpoint with bytes overwritten or cut: loads (if the damage missed anything that
    matters) or fails cleanly."""
    src = (small_run / "checkpoints" / "last.safetensors").read_bytes()
    cut = where % (len(src) + 1)
    ck = tmp_path / "checkpoints"
    ck.mkdir(exist_ok=True)
    (ck / "last.safetensors").write_bytes(src[:cut] + junk + src[cut + len(junk):])
    (ck / "last.state.safetensors").write_bytes((small_run / "checkpoints" / "last.state.safetensors").read_bytes())
    for loader in (lambda: load_weights(ck / "last.safetensors"), lambda: load_training_state(ck)):
        try:
            loader()
        except CnnzooError:
            pass


def test_properties_cover_every_key():
    assert len(LEAF_KEYS) > 40
    assert "data.augment.flip" in LEAF_KEYS and "model.kwargs" in LEAF_KEYS


@pytest.mark.parametrize("text", ["", "=", "a==b", "train.epochs==3", "optim.lr=[", "model.kwargs.=1"])
def test_odd_set_strings(text):
    with pytest.raises(ConfigError):
        load_config(sets=[text])


def test_small_run_exists(small_run: Path):
    assert (small_run / "checkpoints" / "last.safetensors").is_file()
