"""Tests of blueprint.libreoffice on a tiny workbook whose cached values are deliberately wrong.

With correct cached values a LibreOffice that does not recalculate (or recalculates wrongly)
would look perfect, so every formula here is written with the cached value 999.
"""

from __future__ import annotations

import math
import stat
import sys
import time
from pathlib import Path

import pytest
import xlsxwriter
from openpyxl import load_workbook

from blueprint import libreoffice
from blueprint.cellvalues import ErrorValue
from blueprint.errors import BlueprintError
from blueprint.libreoffice import recalculate, recalculated_values

WRONG = 999.0

A = [1.5, 0.3, 2.0]
B = [2.0, -1.0, 4.0]

# (sheet, cell) -> (formula, expected value computed in Python)
EXPECTED: dict[tuple[str, str], tuple[str, float]] = {
    ("Data", "C1"): ("=A1*2", A[0] * 2),
    ("Data", "C2"): ("=TANH(A2)", math.tanh(A[1])),
    ("Data", "C3"): ("=SUMPRODUCT(A1:A3,B1:B3)", sum(a * b for a, b in zip(A, B))),
    ("Data", "C4"): ("=EXP(C2)+LN(A3)", math.exp(math.tanh(A[1])) + math.log(A[2])),
    ("Other sheet", "A1"): ("=Data!C3+1", sum(a * b for a, b in zip(A, B)) + 1),
}
ERRORS: dict[tuple[str, str], tuple[str, str]] = {
    ("Data", "D1"): ("=NOSUCHFUNCTION(1)", "#NAME?"),
    ("Data", "D2"): ("=1/0", "#DIV/0!"),
}


def _close(a: float, b: float) -> bool:
    """LibreOffice returns ~15 significant digits through xlsx (docs/excel_notes.md section 4)."""
    return abs(a - b) <= 1e-12 + 1e-9 * abs(b)


def _build(path: Path) -> Path:
    wb = xlsxwriter.Workbook(str(path))
    sheets = {"Data": wb.add_worksheet("Data"), "Other sheet": wb.add_worksheet("Other sheet")}
    data = sheets["Data"]
    for row, (a, b) in enumerate(zip(A, B)):
        data.write_number(row, 0, a)
        data.write_number(row, 1, b)
    for (sheet, cell), (formula, _) in {**EXPECTED, **ERRORS}.items():
        sheets[sheet].write_formula(cell, formula, None, WRONG)
    wb.close()
    return path


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _build(tmp_path_factory.mktemp("tiny") / "tiny.xlsx")


@pytest.fixture(scope="module")
def values(tiny: Path) -> dict[tuple[str, str], object]:
    return recalculated_values(tiny, timeout=120)


@pytest.mark.libreoffice
def test_recalculated_values_are_right_not_cached(values: dict[tuple[str, str], object]) -> None:
    for key, (formula, expected) in EXPECTED.items():
        got = values[key]
        assert isinstance(got, (int, float)), (key, formula, got)
        assert got != WRONG, f"{key} {formula}: cached value came back, no recalculation"
        assert _close(float(got), expected), (key, formula, got, expected)


@pytest.mark.libreoffice
def test_every_formula_cell_and_only_those(values: dict[tuple[str, str], object]) -> None:
    assert set(values) == set(EXPECTED) | set(ERRORS)


@pytest.mark.libreoffice
def test_error_values_come_back_as_error_values(values: dict[tuple[str, str], object]) -> None:
    for key, (_, expected) in ERRORS.items():
        assert values[key] == expected and type(values[key]) is ErrorValue, (key, values[key])


@pytest.mark.libreoffice
def test_recalculate_writes_dst_and_leaves_src_alone(tiny: Path, tmp_path: Path) -> None:
    before = tiny.read_bytes()
    dst = tmp_path / "nested dir" / "out.xlsx"
    recalculate(tiny, dst, timeout=120)
    assert tiny.read_bytes() == before
    ws = load_workbook(dst, data_only=True)["Data"]
    assert _close(float(ws["C1"].value), A[0] * 2)
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == ["out.xlsx"]


def test_missing_soffice_is_a_blueprint_error(
    tiny: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(libreoffice, "find_soffice", lambda: None)
    with pytest.raises(BlueprintError, match="LibreOffice.*not found"):
        recalculate(tiny, tmp_path / "out.xlsx")
    with pytest.raises(BlueprintError, match="LibreOffice.*not found"):
        recalculated_values(tiny)
    assert not (tmp_path / "out.xlsx").exists()


def _fake_soffice(tmp_path: Path, body: str) -> str:
    script = tmp_path / "fake-soffice"
    script.write_text(f"#!/bin/sh\n{body}\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return str(script)


def test_no_output_file_is_a_blueprint_error(
    tiny: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = _fake_soffice(tmp_path, "echo 'Error: source file could not be loaded'; exit 0")
    monkeypatch.setattr(libreoffice, "find_soffice", lambda: fake)
    with pytest.raises(BlueprintError, match="no recalculated file.*could not be loaded"):
        recalculate(tiny, tmp_path / "out.xlsx")
    assert not (tmp_path / "out.xlsx").exists()


def test_timeout_is_a_blueprint_error(
    tiny: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Like the real soffice wrapper, the fake forks a child (soffice.bin) and waits for it:
    # the timeout must kill the child too, not only the wrapper.
    pid_file = tmp_path / "child.pid"
    fake = _fake_soffice(
        tmp_path,
        f"'{sys.executable}' -c 'import time; time.sleep(60)' &\necho $! > '{pid_file}'\nwait",
    )
    monkeypatch.setattr(libreoffice, "find_soffice", lambda: fake)
    start = time.monotonic()
    with pytest.raises(BlueprintError, match="timed out after 0.5 s"):
        recalculate(tiny, tmp_path / "out.xlsx", timeout=0.5)
    assert time.monotonic() - start < 10, "recalculate waited for the child after the timeout"
    assert not (tmp_path / "out.xlsx").exists()
    stat_file = Path(f"/proc/{pid_file.read_text().strip()}/stat")
    deadline = time.monotonic() + 5
    while stat_file.exists() and time.monotonic() < deadline:
        fields = stat_file.read_text().rsplit(")", 1)[-1].split()
        if fields and fields[0] in ("Z", "X"):  # killed, waiting to be reaped
            break
        time.sleep(0.05)
    else:
        assert not stat_file.exists(), "the forked child of soffice survived the timeout"
