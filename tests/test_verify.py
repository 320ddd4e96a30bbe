"""`blueprint verify`: clean workbooks pass with full coverage; every kind of tampering is reported at its cell."""

from __future__ import annotations

import dataclasses
import json
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import pytest
from conftest import blueprint_of

from blueprint.api import generate
from blueprint.cli import main
from blueprint.config import load_config
from blueprint.verify import verify
from blueprint.workbook import Blueprint, Cell
from blueprint.writer import write
from xlsxwriter.utility import xl_rowcol_to_cell


@pytest.mark.parametrize("preset", ["small", *(pytest.param(p, marks=pytest.mark.slow) for p in ("medium", "large", "xl"))])
def test_fresh_workbook_verifies_with_full_coverage(preset: str, tmp_path: Path) -> None:
    path = tmp_path / f"{preset}.xlsx"
    n = generate(load_config(preset), path).total_formula_cells
    report = verify(path)
    totals = report.totals()
    assert report.ok and report.exit_code == 0, report.text()
    assert totals.found == totals.checked == totals.agreeing == n
    assert totals.max_error < 1e-10  # absolute; the contract is 1e-12 + 1e-9·|want| per cell


@pytest.mark.libreoffice
@pytest.mark.parametrize("preset", ["large", "xl"])
def test_big_presets_verify_through_libreoffice(preset: str, tmp_path: Path) -> None:
    path = tmp_path / f"{preset}.xlsx"
    n = generate(load_config(preset), path).total_formula_cells
    report = verify(path, engine="libreoffice")
    assert report.ok, report.text()
    assert report.totals().checked == n


def written(bp: Blueprint, path: Path, cells: list[Cell]) -> Path:
    write(dataclasses.replace(bp, cells=cells), path)
    return path


def where(cell: Cell) -> tuple[str, str]:
    return cell.sheet, xl_rowcol_to_cell(cell.row, cell.col)


@pytest.fixture(scope="module")
def bp() -> Blueprint:
    return blueprint_of(load_config("small"))


def problems_at(path: Path) -> dict[tuple[str, str], set[str]]:
    report = verify(path)
    assert report.exit_code == 1
    out: dict[tuple[str, str], set[str]] = {}
    for p in report.problems:
        out.setdefault((p.sheet, p.cell), set()).add(p.kind)
    return out


def pick(bp: Blueprint, quantity: str, idx: tuple[int, ...]) -> int:
    return next(k for k, c in enumerate(bp.cells) if c.quantity == quantity and c.idx == idx)


def test_changed_formula_is_reported_at_its_cell(bp: Blueprint, tmp_path: Path) -> None:
    cells = list(bp.cells)
    k = pick(bp, "advantages", (0, 1))
    cells[k] = dataclasses.replace(cells[k], formula=cells[k].formula.replace("gamma*lam", "gamma*gamma"))
    found = problems_at(written(bp, tmp_path / "x.xlsx", cells))
    assert found[where(cells[k])] >= {"formula-text", "value"}


def test_deleted_formula_is_reported_missing(bp: Blueprint, tmp_path: Path) -> None:
    k = pick(bp, "pg_loss", ())
    found = problems_at(written(bp, tmp_path / "x.xlsx", bp.cells[:k] + bp.cells[k + 1:]))
    assert found[where(bp.cells[k])] == {"missing-formula"}


def test_formula_replaced_by_its_value_is_reported_missing(bp: Blueprint, tmp_path: Path) -> None:
    cells = list(bp.cells)
    k = pick(bp, "ratio", (1, 2))
    cells[k] = dataclasses.replace(cells[k], kind="input", formula=None)
    found = problems_at(written(bp, tmp_path / "x.xlsx", cells))
    assert found == {where(cells[k]): {"missing-formula"}}


def test_stale_cached_value_is_reported(bp: Blueprint, tmp_path: Path) -> None:
    cells = list(bp.cells)
    k = pick(bp, "vf_loss", ())
    cells[k] = dataclasses.replace(cells[k], value=cells[k].value + 0.5)
    found = problems_at(written(bp, tmp_path / "x.xlsx", cells))
    assert found == {where(cells[k]): {"stale-cache"}}


def test_input_changed_without_its_dependants_shows_stale_dependants(bp: Blueprint, tmp_path: Path) -> None:
    cells = list(bp.cells)
    k = next(i for i, c in enumerate(cells) if c.quantity == "new.b_y" and c.idx == (0,))
    cells[k] = dataclasses.replace(cells[k], value=cells[k].value + 1.0)
    found = problems_at(written(bp, tmp_path / "x.xlsx", cells))
    assert ("Ratio", "B16") not in found  # an unrelated cell stays clean
    logits = [where(c) for c in bp.formula_cells() if c.quantity == "logits" and c.sheet == "Ratio" and c.idx[2] == 0]
    assert logits and all(found.get(w) == {"stale-cache"} for w in logits)


def test_formula_in_an_unexpected_cell_is_unmapped(bp: Blueprint, tmp_path: Path) -> None:
    extra = Cell("Total", 40, 5, "extra", (), "formula", 1.0, "=1")
    found = problems_at(written(bp, tmp_path / "x.xlsx", [*bp.cells, extra]))
    assert found == {("Total", "F41"): {"unmapped"}}


def test_an_asked_for_na_agrees_and_an_unasked_error_does_not(bp: Blueprint, small_path: Path) -> None:
    """Clip's ratio_real is #N/A after the first EOS: the engines' error values (formulas' XlError, a str
    subclass equal to no plain string; LibreOffice's text) agree with it; anywhere else an error is reported."""
    from formulas.tokens.operand import Error

    from blueprint.fastcalc import evaluate
    from blueprint.readback import read_cells
    from blueprint.verify import compare
    from blueprint.workbook import NA

    cells = read_cells(small_path)
    recalc = evaluate(cells.file_values, cells.names)
    gaps = [c for c in bp.formula_cells() if c.value == NA]
    real = next(c for c in bp.formula_cells() if c.quantity == "ratio_real" and c.value != NA)
    assert gaps and {c.quantity for c in gaps} == {"ratio_real"} and {recalc[c.sheet, c.row, c.col] for c in gaps} == {NA}
    na = Error.errors[NA]
    assert na != NA  # why the verifier compares error values by their text
    recalc.update({(c.sheet, c.row, c.col): na for c in gaps})
    assert compare(bp, cells, recalc).ok
    recalc[real.sheet, real.row, real.col] = na
    recalc[gaps[0].sheet, gaps[0].row, gaps[0].col] = 1.0
    assert {(p.cell, p.kind) for p in compare(bp, cells, recalc).problems} == {
        (xl_rowcol_to_cell(real.row, real.col), "error-value"),
        (xl_rowcol_to_cell(gaps[0].row, gaps[0].col), "value"), (xl_rowcol_to_cell(gaps[0].row, gaps[0].col), "stale-cache")}


def test_renamed_sheet_is_reported(bp: Blueprint, small_path: Path, tmp_path: Path) -> None:
    renamed = tmp_path / "renamed.xlsx"
    with zipfile.ZipFile(small_path) as zin, zipfile.ZipFile(renamed, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            data = zin.read(info)
            zout.writestr(info, data.replace(b'name="Clip"', b'name="Clipped"') if info.filename == "xl/workbook.xml" else data)
    report = verify(renamed)
    assert report.exit_code == 1
    assert report.problems[0].kind == "sheet-renamed" and report.problems[0].got == "Clipped"
    # every formula that reads the renamed sheet now errors, and is reported at its own cell; so is the
    # check that reads them: it shows their error where OK is expected
    readers = {where(c) for c in bp.formula_cells() if c.sheet == "Total" and "Clip!" in c.formula}
    check = where(next(c for c in bp.formula_cells() if c.quantity == "total_check"))
    assert readers and {(p.sheet, p.cell) for p in report.problems if p.kind == "error-value" and p.sheet == "Total"} == readers | {check}


def test_cli_json_and_junit(small_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    junit = tmp_path / "report.xml"
    assert main(["verify", str(small_path), "--json", "--junit", str(junit)]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["ok"] is True and doc["totals"]["checked"] == doc["totals"]["found"] == 1053
    assert set(doc["sheets"]) == {"Config", "Rollout", "Reward", "KL", "GAE", "Ratio", "Clip", "Value Loss", "Total"}
    suite = ET.parse(junit).getroot()
    assert suite.get("tests") == "9" and suite.get("failures") == "0"
    assert [c.get("name") for c in suite.iter("testcase")][0] == "Config"


def test_cli_text_report_names_the_cell(bp: Blueprint, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    cells = list(bp.cells)
    k = pick(bp, "delta", (1, 0))
    cells[k] = dataclasses.replace(cells[k], formula=cells[k].formula.replace("-", "+"))
    path = written(bp, tmp_path / "x.xlsx", cells)
    junit = tmp_path / "r.xml"
    assert main(["verify", str(path), "--junit", str(junit), "--max-report", "3"]) == 1
    out = capsys.readouterr().out
    addr = xl_rowcol_to_cell(cells[k].row, cells[k].col)
    assert f"GAE!{addr} delta[1,0]: value" in out and "FAILED" in out
    failures = [c for c in ET.parse(junit).getroot().iter("testcase") if c.find("failure") is not None]
    assert {c.get("name") for c in failures} >= {"GAE"}


def test_generate_verify_in_one_go(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["generate", "-o", str(tmp_path / "g.xlsx"), "--verify"]) == 0
    assert "OK: all 1053 formula cells agree" in capsys.readouterr().out


from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(st.fixed_dictionaries({
    "batch_size": st.integers(1, 3), "prompt_len": st.integers(1, 3), "response_len": st.integers(1, 4),
    "hidden": st.integers(1, 3), "vocab": st.sampled_from([("a", "<eos>"), ("x", "y", "z", "<eos>"), ("<eos>", "p", "q")]),
    "seed": st.integers(0, 10_000), "gamma": st.floats(0.0, 1.0), "lam": st.floats(0.0, 1.0), "beta": st.floats(0.0, 0.5),
    "eps": st.floats(0.05, 0.5), "tau": st.floats(0.5, 2.0), "eos_bias": st.floats(0.0, 3.0),
}))
def test_random_valid_configurations_generate_and_verify_clean(tmp_path: Path, values: dict) -> None:
    config = load_config("small", **values, eps_high=values["eps"])
    path = tmp_path / "random.xlsx"
    n = generate(config, path).total_formula_cells
    report = verify(path)
    assert report.ok, f"{values}\n{report.text(5)}"
    assert report.totals().checked == n
