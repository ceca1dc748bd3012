"""Environment variables: every one cnnzoo reads is declared in cnnzoo.env, documented in
docs/configuration.md, and a value that does not parse is one ConfigError line naming the
variable, its value and what is expected, wherever it is read."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from cnnzoo import env
from cnnzoo.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]


def _runtime_threads():
    from cnnzoo.engine.runtime import Runtime

    return Runtime.resolve(device="cpu").threads


def _memory_limit():
    from cnnzoo.data.dataset import _memory_limit

    return _memory_limit(None)


def _dist_timeout():
    from cnnzoo.engine.distributed import timeout_s

    return timeout_s()


def _search_places():
    from cnnzoo.data.catalog import get_spec
    from cnnzoo.data.sources import search_places

    return search_places(get_spec("fashion-mnist"))


def _mirrors():
    from cnnzoo.data.catalog import get_spec
    from cnnzoo.data.sources import mirrors_for

    return mirrors_for(get_spec("fashion-mnist"))


def _checksums():
    from cnnzoo.data.catalog import get_spec
    from cnnzoo.data.sources import pinned_checksums

    return pinned_checksums(get_spec("fashion-mnist"))


def _a_file(tmp_path: Path) -> str:
    (tmp_path / "afile").write_text("x")
    return str(tmp_path / "afile")


# (variable, bad value (FILE: a regular file), the code that reads it, what the message expects)
BAD = [
    ("CNNZOO_THREADS", "four", _runtime_threads, "an integer from 1 to 1024"),
    ("CNNZOO_THREADS", "0", _runtime_threads, "an integer from 1 to 1024"),
    ("CNNZOO_THREADS", "1.5", _runtime_threads, "an integer from 1 to 1024"),
    ("CNNZOO_DIST_TIMEOUT", "10m", _dist_timeout, "an integer from 1 to 604800 seconds"),
    ("CNNZOO_DIST_TIMEOUT", "0", _dist_timeout, "an integer from 1 to 604800 seconds"),
    ("CNNZOO_DATA_MEMORY_LIMIT", "inf", _memory_limit, "a number of bytes"),
    ("CNNZOO_DATA_MEMORY_LIMIT", "-5", _memory_limit, "a number of bytes"),
    ("CNNZOO_DATA_MEMORY_LIMIT", "lots", _memory_limit, "a number of bytes"),
    ("CNNZOO_DATA_MEMORY_LIMIT", "9e99", _memory_limit, "below 2^62"),
    ("CNNZOO_DATA", "FILE", _search_places, "a folder, but it names a file"),
    ("CNNZOO_SYSTEM_DATA", "FILE", _search_places, "is a file"),
    ("CNNZOO_MIRRORS", "localhost:8000/files", _mirrors, "comma-separated base URLs"),
    ("CNNZOO_CHECKSUMS", "/nonexistent/sums.json", _checksums, "the path of a JSON file"),
    ("CNNZOO_BENCH_RESULTS", "FILE", env.BENCH_RESULTS.read, "a folder"),
]


@pytest.mark.parametrize("name, value, read, expected", BAD, ids=[f"{b[0]}={b[1]}" for b in BAD])
def test_bad_values_are_one_line_naming_variable_value_and_expectation(monkeypatch, tmp_path, name, value, read,
                                                                        expected):
    value = _a_file(tmp_path) if value == "FILE" else value
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as e:
        read()
    msg = str(e.value)
    assert "\n" not in msg and msg.startswith(f"${name}={value!r}: expected ") and expected in msg, msg


@pytest.mark.parametrize("name, value, read, want", [
    ("CNNZOO_THREADS", "3", _runtime_threads, 3),
    ("CNNZOO_DATA_MEMORY_LIMIT", "2G", _memory_limit, 2 << 30),
    ("CNNZOO_DATA_MEMORY_LIMIT", "512MiB", _memory_limit, 512 << 20),
    ("CNNZOO_DATA_MEMORY_LIMIT", "1e9", _memory_limit, 10**9),
    ("CNNZOO_DATA_MEMORY_LIMIT", "1000", _memory_limit, 1000),
    ("CNNZOO_DATA_MEMORY_LIMIT", "", _memory_limit, 2 << 30),  # empty: the default
    ("CNNZOO_DIST_TIMEOUT", "60", _dist_timeout, 60),
    ("CNNZOO_MIRRORS", "http://a/x/, https://b/", _mirrors, ["http://a/x/", "https://b/"]),
    ("CNNZOO_MIRRORS", "", _mirrors, []),  # set but empty: no mirror (as before)
])
def test_good_values(monkeypatch, name, value, read, want):
    monkeypatch.setenv(name, value)
    assert read() == want


def test_system_data_set_but_empty_means_no_system_folders(monkeypatch):
    from cnnzoo.data.sources import system_roots

    monkeypatch.setenv("CNNZOO_SYSTEM_DATA", "")
    assert system_roots() == []
    monkeypatch.delenv("CNNZOO_SYSTEM_DATA")
    assert system_roots() == [Path("/usr/share/datasets"), Path("/usr/local/share/datasets")]


@pytest.mark.parametrize("value, debug", [("1", True), ("true", True), ("0", False), ("off", False)])
def test_debug_flag_values(value, debug):
    assert env.DEBUG.read({"CNNZOO_DEBUG": value}) is debug


def test_bad_debug_value_is_an_error_line_from_the_cli(monkeypatch, capsys):
    from cnnzoo.cli import main

    monkeypatch.setenv("CNNZOO_DEBUG", "maybe")
    assert main(["models"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["error: $CNNZOO_DEBUG='maybe': expected 1 or 0 (also true/false, yes/no, on/off)"]


def test_bad_threads_stops_train_with_one_line(monkeypatch, capsys, tmp_path):
    """CNNZOO_THREADS=four used to be ignored silently (one thread per core instead)."""
    from cnnzoo.cli import main

    monkeypatch.setenv("CNNZOO_THREADS", "four")
    code = main(["train", "--model", "cnn", "--device", "cpu", "--offline", "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and err[-1] == "error: $CNNZOO_THREADS='four': expected an integer from 1 to 1024", err


def test_long_values_are_cut_in_messages(monkeypatch):
    monkeypatch.setenv("CNNZOO_THREADS", "9" * 100_000)
    with pytest.raises(ConfigError) as e:
        env.THREADS.read()
    assert len(str(e.value)) < 200


def _cnnzoo_names(folder: Path, pattern: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for path in sorted(folder.rglob(pattern)):
        for name in re.findall(r"CNNZOO_[A-Z0-9_]+", path.read_text(encoding="utf-8")):
            found.setdefault(name, []).append(str(path.relative_to(ROOT)))
    return found


def test_every_variable_named_in_the_code_is_declared_and_documented():
    """A new CNNZOO_ variable cannot go undocumented: any CNNZOO_ name in src/, benchmarks/ or
    scripts/ must be declared in cnnzoo.env (whose table docs/configuration.md is generated from)."""
    found: dict[str, list[str]] = {}
    for folder, pattern in ((ROOT / "src", "*.py"), (ROOT / "benchmarks", "*.py"), (ROOT / "scripts", "*")):
        for name, where in _cnnzoo_names(folder, pattern).items():
            found.setdefault(name, []).extend(where)
    undeclared = {n: w for n, w in found.items() if n not in env.VARIABLES}
    assert not undeclared, f"declare these in src/cnnzoo/env.py: {undeclared}"
    doc = (ROOT / "docs" / "configuration.md").read_text()
    for name in env.VARIABLES:
        assert f"| `{name}` |" in doc, f"{name} is missing from docs/configuration.md (python -m cnnzoo.config)"


def test_only_env_module_reads_cnnzoo_variables():
    """Every read goes through a typed reader: no os.environ / getenv of a CNNZOO_ name elsewhere."""
    read = re.compile(r"(environ(\.get)?\s*[\[(]|getenv\s*\()\s*(f?[\"']CNNZOO_|ENV_)")
    offenders = []
    for path in (ROOT / "src" / "cnnzoo").rglob("*.py"):
        if path.name == "env.py" and path.parent.name == "cnnzoo":
            continue
        text = path.read_text(encoding="utf-8")
        offenders += [f"{path.relative_to(ROOT)}: {m.group(0)}" for m in read.finditer(text)]
    assert not offenders, offenders
