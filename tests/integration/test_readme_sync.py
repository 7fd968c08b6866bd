"""The README's generated blocks are what the code prints (``scripts/readme_sync.py``).

The fast blocks are checked here against the real README; the ``treadle check``
table takes a minute to produce, so ``.ci/run`` checks it from the JSON of its
own ``treadle check`` run, and here the comparison itself is shown to catch a
changed count and to ignore only the time column.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "readme_sync.py"
FAST = "spec-excerpt,spec-check-example,counter-output"


def _sync(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args], cwd=ROOT, capture_output=True, text=True
    )


def test_the_readme_s_fast_generated_blocks_are_up_to_date() -> None:
    ran = _sync("--check", "--only", FAST)
    assert ran.returncode == 0, ran.stderr
    readme = (ROOT / "README.md").read_text()
    for name in (*FAST.split(","), "check-table"):
        assert f"<!-- readme-sync: {name} -->" in readme


def test_a_drifted_block_is_reported_and_regenerated(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    text = (ROOT / "README.md").read_text()
    drifted = text.replace("def CloseRx(self, s: State)", "def CloseRx(self, s: Old)", 1)
    assert drifted != text
    readme.write_text(drifted)
    ran = _sync("--check", "--only", FAST, "--readme", str(readme))
    assert ran.returncode == 1
    assert "stale blocks: spec-excerpt" in ran.stderr
    assert _sync("--only", FAST, "--readme", str(readme)).returncode == 0
    assert readme.read_text() == text


def _check_json(path: Path, *, states: int, elapsed: float) -> Path:
    protocol = {
        "protocol": "pump",
        "spec": "pump",
        "ok": True,
        "spec_states": states,
        "impl_executions": 1234,
        "properties": 17,
        "elapsed": elapsed,
        "scenarios": [{"name": "a"}, {"name": "b"}],
    }
    path.write_text(json.dumps({"preset": "default", "ok": True, "protocols": [protocol]}))
    return path


def test_the_check_table_compares_every_column_but_the_time(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(
        "intro\n<!-- readme-sync: check-table -->\n```\nold\n```\n<!-- /readme-sync -->\n"
    )
    first = _check_json(tmp_path / "a.json", states=2451, elapsed=14.1)
    assert (
        _sync(
            "--only", "check-table", "--check-json", str(first), "--readme", str(readme)
        ).returncode
        == 0
    )
    table = readme.read_text()
    assert "2,451" in table and "1,234" in table and "14.1s" in table

    slower = _check_json(tmp_path / "b.json", states=2451, elapsed=99.9)
    same = _sync(
        "--check", "--only", "check-table", "--check-json", str(slower), "--readme", str(readme)
    )
    assert same.returncode == 0, same.stderr

    grown = _check_json(tmp_path / "c.json", states=2452, elapsed=14.1)
    stale = _sync(
        "--check", "--only", "check-table", "--check-json", str(grown), "--readme", str(readme)
    )
    assert stale.returncode == 1
    assert "2,452" in stale.stderr and "stale blocks: check-table" in stale.stderr


def test_an_unclosed_block_is_bad_input(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text("<!-- readme-sync: spec-excerpt -->\n```python\n```\n")
    ran = _sync("--check", "--only", "spec-excerpt", "--readme", str(readme))
    assert ran.returncode == 2
    assert "is not closed" in ran.stderr
