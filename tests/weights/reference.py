"""The fixtures made by scripts/make_weight_fixtures.py, and the script's weight rule."""

from __future__ import annotations

import gzip
import importlib.util
import json
from functools import cache
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "tests" / "fixtures" / "weights" / "reference.json.gz"


@cache
def script():
    """scripts/make_weight_fixtures.py as a module (its top level needs only torch)."""
    spec = importlib.util.spec_from_file_location("make_weight_fixtures", ROOT / "scripts" / "make_weight_fixtures.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@cache
def fixtures() -> dict:
    return json.loads(gzip.decompress(FIXTURE.read_bytes()))["models"]


def rule_state_dict(name: str, dtype: torch.dtype = torch.float32) -> dict[str, torch.Tensor]:
    return script().rule_state_dict([(k, tuple(s)) for k, s in fixtures()[name]["keys"]], dtype)


def relative_difference(logits: torch.Tensor, expected: dict) -> float:
    """max |ours - reference| / max |reference logit|, over the stored logits and projections."""
    got = script().summarize(logits)
    scale = expected["abs_max"][0]
    diffs = [abs(a - b) for part in ("head", "projections") for a, b in zip(got[part], expected[part], strict=True)]
    proj_scale = max(abs(p) for p in expected["projections"])
    head = max(diffs[: len(expected["head"])]) / scale
    proj = max(diffs[len(expected["head"]):]) / proj_scale
    return max(head, proj)
