"""Gnumeric (`ssconvert --recalc`), the third engine: it must recalculate, not echo the cached values.

Every workbook that proves recalculation is written with every cached value wrong (999 in the
tiny one, +1000 or "WRONG" in the blueprints): an engine that echoed them would fail.
"""

from __future__ import annotations

import dataclasses
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import SMALL_CELLS, blueprint_of
from test_libreoffice_engine import ERRORS, EXPECTED, WRONG, _build, _close
from test_recalculation import check, edit_inputs, wrong_cache_copy

from blueprint import a1 as A1
from blueprint import gnumeric
from blueprint.api import generate
from blueprint.cellvalues import ErrorValue
from blueprint.config import load_config
from blueprint.errors import BlueprintError
from blueprint.gnumeric import recalculate, recalculated_cells
from blueprint.verify import verify
from blueprint.writer import write

INSTALL = "Gnumeric (ssconvert) not found on PATH; install it with: apt-get install -y --no-install-recommends gnumeric"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _build(tmp_path_factory.mktemp("tiny") / "tiny.xlsx")


@pytest.fixture(scope="module")
def values(tiny: Path) -> dict[tuple[str, str], object]:
    return {(sheet, A1.cell(r, c)): v for (sheet, r, c), v in recalculated_cells(tiny, timeout=120).items()}


@pytest.mark.gnumeric
def test_recalculated_values_are_right_not_cached(values: dict[tuple[str, str], object]) -> None:
    assert set(values) == set(EXPECTED) | set(ERRORS)  # every formula cell, on 'Other sheet' too, and only those
    for key, (formula, expected) in EXPECTED.items():
        got = values[key]
        assert type(got) in (int, float) and got != WRONG, f"{key} {formula}: {got!r}, the cached value came back"
        assert _close(float(got), expected), (key, formula, got, expected)


@pytest.mark.gnumeric
def test_error_values_come_back_as_error_values(values: dict[tuple[str, str], object]) -> None:
    for key, (_, expected) in ERRORS.items():
        assert values[key] == expected and type(values[key]) is ErrorValue, (key, values[key])


@pytest.mark.gnumeric
def test_recalculate_writes_dst_and_touches_nothing_else(tiny: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home"  # GSettings' dconf backend would write ~/.cache/dconf/user
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    before = tiny.read_bytes()
    dst = tmp_path / "nested dir" / "out.xlsx"
    recalculate(tiny, dst, timeout=120)
    assert tiny.read_bytes() == before
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*")) == ["home", "nested dir", "nested dir/out.xlsx"]


@pytest.mark.gnumeric
def test_the_default_workbook_verifies_clean(small_path: Path) -> None:
    report = verify(small_path, engine="gnumeric")
    totals = report.totals()
    assert report.ok, report.text(5)
    assert (totals.formula_cells, totals.mapped, totals.value_ok, totals.cache_ok) == (SMALL_CELLS,) * 4


@pytest.mark.gnumeric
@pytest.mark.parametrize("convention", ["trl", "openrlhf", "verl"])
def test_every_convention_verifies_clean(convention: str, tmp_path: Path) -> None:
    path = tmp_path / f"{convention}.xlsx"
    n = generate(load_config("small", convention=convention), path).total_formula_cells
    report = verify(path, engine="gnumeric")
    assert report.ok, report.text(5)
    assert report.totals().mapped == n


@pytest.mark.gnumeric
@pytest.mark.parametrize("preset", ["small", "medium", pytest.param("large", marks=pytest.mark.slow)])
def test_stale_caches_are_recalculated_to_the_reference(preset: str, tmp_path: Path) -> None:
    report = check(wrong_cache_copy(preset, tmp_path), "gnumeric")
    total = report.totals()
    assert report.problems == []
    assert total.mapped == total.value_ok == len(blueprint_of(load_config(preset)).formula_cells())


@pytest.mark.gnumeric
def test_follows_edits_to_inputs(small_path: Path, tmp_path: Path) -> None:
    edited = tmp_path / "edited.xlsx"
    edit_inputs(small_path, edited)  # β, γ, a weight, a draw that flips a sampled token; openpyxl keeps no caches
    report = check(edited, "gnumeric")
    assert report.problems == []


@pytest.mark.gnumeric
def test_a_mutated_formula_is_caught_by_its_value(tmp_path: Path) -> None:
    """pg_loss doubled, its cached value left as the generator's: only an engine that recalculates sees the new value."""
    bp = blueprint_of(load_config("small"))
    cells = [dataclasses.replace(c, formula=f"=2*({c.formula[1:]})") if c.quantity == "pg_loss" else c for c in bp.cells]
    path = tmp_path / "mutant.xlsx"
    write(dataclasses.replace(bp, cells=cells), path)
    report = verify(path, engine="gnumeric")
    pg = next(c for c in bp.cells if c.quantity == "pg_loss")
    found = {(p.kind, p.sheet, p.cell) for p in report.problems}
    assert {("formula-text", pg.sheet, A1.cell(pg.row, pg.col)), ("value", pg.sheet, A1.cell(pg.row, pg.col)),
            ("stale-cache", pg.sheet, A1.cell(pg.row, pg.col))} <= found, report.text(10)
    assert report.exit_code == 1


def test_missing_ssconvert_is_one_line_exit_2(small_path: Path) -> None:
    env = {**os.environ, "PATH": "/nonexistent"}
    proc = subprocess.run([sys.executable, "-m", "blueprint.cli", "verify", str(small_path), "--engine", "gnumeric"],
                          capture_output=True, text=True, timeout=120, env=env)
    assert (proc.returncode, proc.stdout) == (2, ""), proc
    assert proc.stderr == f"blueprint verify: error: {INSTALL}\n"


def _fake_ssconvert(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, body: str) -> None:
    script = tmp_path / "fake-ssconvert"
    script.write_text(f"#!/bin/sh\n{body}\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setattr(gnumeric, "find_ssconvert", lambda: str(script))


def test_missing_ssconvert_leaves_no_file(tiny: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gnumeric, "find_ssconvert", lambda: None)
    with pytest.raises(BlueprintError, match=r"^Gnumeric \(ssconvert\) not found on PATH; install it with: apt-get"):
        recalculate(tiny, tmp_path / "out.xlsx")
    assert not (tmp_path / "out.xlsx").exists()


def test_a_failure_is_its_error_lines_not_its_warnings(tiny: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_ssconvert(tmp_path, monkeypatch, "for i in 1 2 3; do echo 'Unhandled object of type Note' >&2; done\n"
                                           "echo 'E Unsupported file format for file \"book0.xlsx\"' >&2; exit 1")
    with pytest.raises(BlueprintError) as caught:
        recalculate(tiny, tmp_path / "out.xlsx")
    assert str(caught.value) == (f'{tiny}: Gnumeric produced no recalculated file (exit code 1; E Unsupported file format for file '
                                 '"book0.xlsx"); check that the file is a valid .xlsx')
    assert not (tmp_path / "out.xlsx").exists()


def test_an_unmarked_failure_is_the_end_of_what_it_said(tiny: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_ssconvert(tmp_path, monkeypatch, "for i in $(seq 50); do echo 'Unhandled object of type Note' >&2; done\n"
                                           "echo 'Loading file:///tmp/book0.xlsx failed' >&2; exit 1")
    with pytest.raises(BlueprintError, match=r"Note Loading file:///tmp/book0.xlsx failed\); check that"):
        recalculate(tiny, tmp_path / "out.xlsx")


def test_a_file_written_with_a_failing_exit_code_is_a_failure(tiny: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_ssconvert(tmp_path, monkeypatch, 'for last; do :; done; echo half > "$last"; echo "E out of memory" >&2; exit 1')
    with pytest.raises(BlueprintError, match=r"exit code 1; E out of memory"):
        recalculate(tiny, tmp_path / "out.xlsx")
    assert not (tmp_path / "out.xlsx").exists()


def test_timeout_is_a_blueprint_error(tiny: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_ssconvert(tmp_path, monkeypatch, f"exec '{sys.executable}' -c 'import time; time.sleep(60)'")
    with pytest.raises(BlueprintError, match=r"Gnumeric recalculation timed out after 0.5 s"):
        recalculate(tiny, tmp_path / "out.xlsx", timeout=0.5)
    assert not (tmp_path / "out.xlsx").exists()
