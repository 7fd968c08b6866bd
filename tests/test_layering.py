"""The packages import one way: spec alone; model on impl; verify on model and spec."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest


def _loaded(module: str) -> set[str]:
    code = (
        f"import json, sys; import {module}; "
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(json.loads(out.stdout))


@pytest.mark.parametrize(
    ("module", "forbidden"),
    [
        ("treadle_spec", {"greenlet", "treadle", "treadle_model", "treadle_verify"}),
        ("treadle", {"greenlet", "treadle_model", "treadle_spec", "treadle_verify"}),
        ("treadle_model", {"treadle_spec", "treadle_verify"}),
    ],
)
def test_imports_go_one_way(module: str, forbidden: set[str]) -> None:
    assert not (_loaded(module) & forbidden)


def test_verify_sits_on_both() -> None:
    assert {"treadle_model", "treadle_spec"} <= _loaded("treadle_verify.protocols.pump")
