"""Shared fixtures for the dataset tests: isolation from the machine, real-format writers, a server.

Every test runs with its own empty cache, data and system folders, with the download mirrors
pointing at a closed loopback port, and with sockets to anything but loopback refused: no test can
read the developer's datasets or touch the internet by accident.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace

import pytest

# A port nothing listens on (discard); the default mirror in tests, so a forgotten override fails
# fast with "connection refused" instead of reaching the internet.
CLOSED_MIRROR = "http://127.0.0.1:9/"


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> SimpleNamespace:
    cache = tmp_path / "xdg-cache"
    system = tmp_path / "system"
    system.mkdir()
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    monkeypatch.setenv("CNNZOO_SYSTEM_DATA", str(system))
    monkeypatch.setenv("CNNZOO_MIRRORS", CLOSED_MIRROR)
    monkeypatch.delenv("CNNZOO_DATA", raising=False)
    monkeypatch.delenv("CNNZOO_CHECKSUMS", raising=False)
    monkeypatch.delenv("CNNZOO_DATA_MEMORY_LIMIT", raising=False)

    real_connect = socket.socket.connect

    def loopback_only(self, address):  # noqa: ANN001
        host = address[0] if isinstance(address, tuple) else address
        if isinstance(host, str) and host not in ("127.0.0.1", "::1", "localhost") and "/" not in host:
            raise AssertionError(f"test tried to connect to {address!r}")
        return real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", loopback_only)
    return SimpleNamespace(cache=cache / "cnnzoo", system=system)


# ---------------------------------------------------------------------------------------------
# a loopback HTTP server


@pytest.fixture
def http_server(tmp_path: Path) -> Iterator[SimpleNamespace]:
    """Serves ``tmp_path/www`` on 127.0.0.1; ``.requests`` records every path asked for."""
    root = tmp_path / "www"
    root.mkdir()
    requests: list[str] = []

    class Handler(SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(root), **kwargs)

        def do_GET(self):  # noqa: N802 - http.server's naming
            requests.append(self.path)
            super().do_GET()

        def log_message(self, *args):  # keep test output clean
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield SimpleNamespace(root=root, url=f"http://127.0.0.1:{server.server_address[1]}",
                              requests=requests)
    finally:
        server.shutdown()
        server.server_close()


# ---------------------------------------------------------------------------------------------
# the CLI


@pytest.fixture
def cli(capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch):
    """Run ``cnnzoo ARGS`` in-process: returns (exit code, stdout, stderr).

    Only the ``data`` subcommand group is registered, so these tests exercise the real parser,
    handlers and error contract without depending on the other command modules.
    """
    import cnnzoo.cli as cli_module

    monkeypatch.setattr(cli_module, "COMMAND_MODULES", ("data",))

    def run(*argv: str) -> tuple[int, str, str]:
        capsys.readouterr()
        code = cli_module.main([str(a) for a in argv])
        out, err = capsys.readouterr()
        return code, out, err

    return run
