"""docs/models.md's zoo table is generated, and current."""

from __future__ import annotations

import importlib.util
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "zoo_table.py"


def _load():
    spec = importlib.util.spec_from_file_location("zoo_table", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_zoo_table_in_docs_is_current():
    zoo_table = _load()
    doc = zoo_table.DOC.read_text(encoding="utf-8")
    table = zoo_table.render()
    assert zoo_table.updated(doc, table) == doc, "docs/models.md is stale: run python benchmarks/zoo_table.py"
    # No published reference is contradicted anywhere in the zoo.
    assert "✗" not in table and table.count("✓") >= 40
