"""The README's generated tables match what the code generates, and its commands are the ones CI runs."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "docs"))

from tables import config_keys_table, convention_notes, conventions_table, named_ranges_list, presets_table, quotes_markdown  # noqa: E402

README = (ROOT / "README.md").read_text(encoding="utf-8")


def block(name: str) -> str:
    m = re.search(rf"<!-- {name}:.*?-->\n(.*?)\n<!-- /{name} -->", README, re.S)
    assert m, f"README has no {name} block"
    return m.group(1).strip()


def test_presets_table_is_current() -> None:
    assert block("presets-table") == presets_table()


def test_config_keys_table_is_current() -> None:
    assert block("config-keys-table") == config_keys_table()


def test_named_ranges_list_is_current() -> None:
    assert block("named-ranges") == named_ranges_list()


def test_quotes_listing_is_current() -> None:
    assert (ROOT / "docs" / "quotes.md").read_text(encoding="utf-8").strip() == quotes_markdown()


def test_convention_notes_are_current() -> None:
    assert block("convention-notes") == convention_notes()


def test_conventions_table_is_current() -> None:
    assert block("conventions-table") == conventions_table()


def test_readme_starts_with_the_two_commands_and_ci_runs_the_same_tests() -> None:
    first = README[: README.index("## ")]
    assert "pip install -e . && blueprint generate" in first
    test_command = "python -m pytest -q"
    assert f"pip install -e '.[test]' && {test_command}" in first
    ci = (ROOT / ".ci" / "run").read_text()
    assert re.search(rf"^{re.escape(test_command)}\b", ci, re.M)


def test_render_script_says_what_to_install_when_poppler_is_missing(tmp_path: Path) -> None:
    """docs/render.py died with a traceback without poppler; now one line naming the package, exit 2."""
    import os
    import subprocess

    env = {**os.environ, "PATH": str(tmp_path)}  # no pdftoppm, no soffice on this PATH
    done = subprocess.run([sys.executable, str(ROOT / "docs" / "render.py"), str(tmp_path)], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert "pdftoppm" in done.stderr and "apt-get install poppler-utils" in done.stderr
    assert list(tmp_path.iterdir()) == []


def test_python_api_example_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The README's Python API block, run as it stands (it generates and verifies a workbook under output/)."""
    code = README[README.index("## Python API"):].split("```python\n", 1)[1].split("```", 1)[0]
    monkeypatch.chdir(tmp_path)
    (tmp_path / "output").mkdir()
    namespace: dict = {}
    exec(compile(code, "README.md (Python API)", "exec"), namespace)  # noqa: S102 - our own README
    assert namespace["report"].ok and namespace["q"]["GAE", "advantages"].shape == (2, 4)
