"""Shared pytest hooks."""

from __future__ import annotations

import os

import pytest


def pytest_runtest_setup(item: pytest.Item) -> None:
    """Skip ``@pytest.mark.libreoffice`` / ``@pytest.mark.gnumeric`` tests when the program is absent, but fail them in CI.

    Locally a missing LibreOffice or Gnumeric should not block the rest of the suite; in CI (``CI=true``)
    a silent skip would hide that an engine never ran, so it is an error instead.
    """
    from blueprint.gnumeric import GNUMERIC
    from blueprint.libreoffice import LIBREOFFICE

    for marker, program in (("libreoffice", LIBREOFFICE), ("gnumeric", GNUMERIC)):
        if item.get_closest_marker(marker) is None or program.find() is not None:
            continue
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{program.name} is required in CI: {program.missing()}", pytrace=False)
        pytest.skip(f"{program.name} ({program.executables[0]}) not found on PATH")


# --- test data and shared workbooks -------------------------------------------------------

import json  # noqa: E402
from pathlib import Path  # noqa: E402

from blueprint.config import Config, load_config  # noqa: E402
from blueprint.inputs import make_inputs  # noqa: E402
from blueprint.workbook import Blueprint, build  # noqa: E402
from blueprint.writer import write  # noqa: E402


# The hand-checked worked case of docs/ppo_math.md §13 (provenance: tests/data/README.md).
GOLDEN_CASE = json.loads((Path(__file__).parent / "data" / "ppo_golden.json").read_text(encoding="utf-8"))


def blueprint_of(config: Config) -> Blueprint:
    return build(config, make_inputs(config))


# Formula cells of the default workbook: what a clean report on it counts (the README's presets table holds the number).
SMALL_CELLS = len(blueprint_of(load_config("small")).formula_cells())


@pytest.fixture(scope="session")
def small_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The default workbook, written once per test session (treat it as read-only)."""
    path = tmp_path_factory.mktemp("small") / "small.xlsx"
    write(blueprint_of(load_config("small")), path)
    return path


def with_config_edits(path: Path, edits: dict, out: Path, cells: dict | None = None) -> Path:
    """The workbook at `path` with Config cells typed over, as a user edits them in a spreadsheet, and any other input
    cells (`cells`: {(sheet, quantity, index): value}), saved to `out` by openpyxl (which keeps no cached values:
    recalculate before comparing caches)."""
    import openpyxl

    from blueprint.readback import read_blueprint

    _, _, layout, _ = read_blueprint(path)
    wb = openpyxl.load_workbook(path)
    for key, value in edits.items():
        r, c = layout.block("Config", key).pos(())
        wb["Config"].cell(r + 1, c + 1).value = value
    for (sheet, quantity, idx), value in (cells or {}).items():
        r, c = layout.block(sheet, quantity).pos(idx)
        wb[sheet].cell(r + 1, c + 1).value = value
    wb.save(out)
    return out


def with_wrong_cache(bp: Blueprint) -> Blueprint:
    """The same formulas with every cached value wrong: an engine that only reads caches fails."""
    import dataclasses

    wrong = [dataclasses.replace(c, value="WRONG" if isinstance(c.value, str) else c.value + 1000.0) if c.kind == "formula" else c for c in bp.cells]
    return dataclasses.replace(bp, cells=wrong)
