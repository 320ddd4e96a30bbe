"""`blueprint verify`: clean workbooks pass with full coverage; every kind of tampering is reported at its cell."""

from __future__ import annotations

import dataclasses
import json
import re
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import openpyxl
import pytest
from conftest import SMALL_CELLS, blueprint_of, with_wrong_cache

from blueprint.api import generate
from blueprint.cli import main
from blueprint.config import load_config
from blueprint.layout import SHEETS
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
    assert (totals.formula_cells, totals.mapped, totals.value_ok, totals.formula_text_ok, totals.cache_ok) == (n, n, n, n, n)
    assert totals.max_error < 1e-10  # absolute; the contract is 1e-12 + 1e-9·|want| per cell


@pytest.mark.libreoffice
@pytest.mark.parametrize("preset", ["large", "xl"])
def test_big_presets_verify_through_libreoffice(preset: str, tmp_path: Path) -> None:
    path = tmp_path / f"{preset}.xlsx"
    n = generate(load_config(preset), path).total_formula_cells
    report = verify(path, engine="libreoffice")
    assert report.ok, report.text()
    assert report.totals().mapped == n


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


def test_changed_formula_giving_an_error_is_reported_as_changed(bp: Blueprint, tmp_path: Path) -> None:
    """The formula text is compared whatever the value: a changed formula is the cause of its error value."""
    cells = list(bp.cells)
    k = pick(bp, "ratio", (0, 0))
    cells[k] = dataclasses.replace(cells[k], formula="=1/0")
    report = verify(written(bp, tmp_path / "x.xlsx", cells))
    assert (report.problems[0].kind, report.problems[0].cell) == ("formula-text", where(cells[k])[1])
    assert {p.kind for p in report.problems if (p.sheet, p.cell) == where(cells[k])} == {"formula-text", "error-value"}
    assert report.sheets["Ratio"].formula_text_ok == report.sheets["Ratio"].mapped - 1


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
    k = next(i for i, c in enumerate(cells) if c.quantity == "given.b_y" and c.idx == (0,))
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
    assert gaps and {c.quantity for c in gaps} == {"ratio_real", "ratio_real_next"} and {recalc[c.sheet, c.row, c.col] for c in gaps} == {NA}
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
    # every formula that reads the renamed sheet now errors, and so does every Total cell that reads one of them
    # (the check among them shows the error where OK is expected); each is reported at its own cell
    total = [c for c in bp.formula_cells() if c.sheet == "Total"]
    spoiled = {where(c) for c in total if "Clip!" in c.formula}
    while grown := {where(c) for c in total if any(re.search(rf"(?<![!A-Z$]){cell}(?!\d)", c.formula) for _, cell in spoiled)} - spoiled:
        spoiled |= grown
    assert len(spoiled) > 3 and {(p.sheet, p.cell) for p in report.problems if p.kind == "error-value" and p.sheet == "Total"} == spoiled


def test_junit_fails_a_renamed_sheet_without_formulas(small_path: Path, tmp_path: Path) -> None:
    """Every problem fails a test case: the renamed Weights in a case of its own, and each sheet whose formulas read it."""
    from blueprint.junit import junit_xml

    renamed = tmp_path / "renamed.xlsx"
    with zipfile.ZipFile(small_path) as zin, zipfile.ZipFile(renamed, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            data = zin.read(info)
            zout.writestr(info, data.replace(b'name="Weights"', b'name="Params"') if info.filename == "xl/workbook.xml" else data)
    suite = junit_xml(verify(renamed)).getroot()
    failing = {c.get("name"): c.find("failure").text for c in suite.iter("testcase") if c.find("failure") is not None}
    assert suite.get("tests") == str(len(SHEETS))  # every sheet has formulas (Weights: θ and φ in use)
    assert failing["Weights"].startswith("Weights!A1: sheet-renamed:")  # its own case
    assert set(failing) <= set(SHEETS)  # the sheets whose formulas read Weights fail too, each in its own case


def test_cli_json_and_junit(small_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    junit = tmp_path / "report.xml"
    assert main(["verify", str(small_path), "--json", "--junit", str(junit)]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["ok"] is True and doc["totals"]["mapped"] == doc["totals"]["formula_cells"] == SMALL_CELLS
    assert list(doc["sheets"]) == list(SHEETS)  # every sheet has formula cells
    suite = ET.parse(junit).getroot()
    assert suite.get("tests") == str(len(SHEETS)) and suite.get("failures") == "0"
    assert [c.get("name") for c in suite.iter("testcase")] == list(doc["sheets"])


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


@pytest.fixture(scope="module")
def saved_by_openpyxl(bp: Blueprint, small_path: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The small workbook saved by openpyxl (which keeps no cached value), as is and with one formula changed."""
    folder = tmp_path_factory.mktemp("openpyxl")
    cell = bp.cells[pick(bp, "advantages", (0, 1))]
    out = {"clean": folder / "clean.xlsx", "changed": folder / "changed.xlsx"}
    openpyxl.load_workbook(small_path).save(out["clean"])
    wb = openpyxl.load_workbook(small_path)
    wb[cell.sheet].cell(cell.row + 1, cell.col + 1).value = cell.formula.replace("gamma*lam", "gamma*gamma")
    wb.save(out["changed"])
    return out


def test_the_changed_formula_comes_first(bp: Blueprint, saved_by_openpyxl: dict[str, Path], capsys: pytest.CaptureFixture) -> None:
    """Problems are sorted by what to fix first: the changed formula before the values it spoils, both before the caches."""
    sheet, addr = where(bp.cells[pick(bp, "advantages", (0, 1))])
    first = f"{sheet}!{addr} advantages[0,1]: formula-text: "
    assert main(["verify", str(saved_by_openpyxl["changed"])]) == 1
    lines = capsys.readouterr().out.splitlines()
    failed = next(k for k, line in enumerate(lines) if line.startswith("FAILED"))
    assert lines[failed + 1].startswith(first), lines[failed:failed + 3]
    assert ": value: " in lines[failed + 2], lines[failed:failed + 3]
    assert main(["verify", str(saved_by_openpyxl["changed"]), "--json", "--max-report", "1"]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert [(p["kind"], p["sheet"], p["cell"]) for p in doc["problems"]] == [("formula-text", sheet, addr)]
    kinds = [p.kind for p in verify(saved_by_openpyxl["changed"]).problems]
    assert kinds == sorted(kinds, key=["formula-text", "value", "no-cache"].index)


NO_CACHE = (f"no cached values anywhere ({SMALL_CELLS:,} formula cells): the file was saved by a tool that does not calculate; "
            "open and save it in Excel/LibreOffice, or ignore with --no-cache-check")


def test_no_cache_anywhere_is_one_line(bp: Blueprint, saved_by_openpyxl: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """openpyxl keeps no cached value: one cause, one line with its count, after the changed formula and its values."""
    path = str(saved_by_openpyxl["changed"])
    assert main(["verify", path, "--max-report", "1000"]) == 1
    lines = capsys.readouterr().out.splitlines()
    failed = next(k for k, line in enumerate(lines) if line.startswith("FAILED"))
    listed = lines[failed + 1:]
    assert listed[-1] == NO_CACHE and sum("no-cache" in line or "cached" in line for line in listed) == 1
    values = [line for line in listed if ": value: " in line]
    assert len(listed) == 1 + len(values) + 1 and lines[failed] == f"FAILED: {len(listed)} problems (formula-text 1, value {len(values)}, no-cache {SMALL_CELLS:,} cells in one line)"
    assert main(["verify", path, "--json"]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["problem_count"] == len(listed) and doc["problems"][0]["kind"] == "formula-text"
    assert doc["problems"][-1] == {"kind": "no-cache", "sheet": "", "cell": "", "quantity": "", "formula": "", "expected": None, "got": None,
                                   "cells": SMALL_CELLS, "line": NO_CACHE}
    junit = tmp_path / "r.xml"
    assert main(["verify", str(saved_by_openpyxl["clean"]), "--junit", str(junit)]) == 1
    assert capsys.readouterr().out.splitlines()[-2:] == [f"FAILED: 1 problem (no-cache {SMALL_CELLS:,} cells in one line)", NO_CACHE]
    failures = [(c.get("name"), c.find("failure").text) for c in ET.parse(junit).getroot().iter("testcase") if c.find("failure") is not None]
    assert failures == [("all sheets", NO_CACHE)]


def test_no_cache_check_leaves_the_caches_alone(saved_by_openpyxl: dict[str, Path], capsys: pytest.CaptureFixture) -> None:
    assert main(["verify", str(saved_by_openpyxl["clean"]), "--no-cache-check"]) == 0
    table = table_of(capsys.readouterr().out)
    assert {row["cache ok"] for row in table.values()} == {"-"} and table["total"]["value ok"] == str(SMALL_CELLS)
    report = verify(saved_by_openpyxl["changed"], cache_check=False)
    assert report.exit_code == 1 and {p.kind for p in report.problems} == {"formula-text", "value"}
    assert report.as_dict()["totals"]["cache_ok"] is None


def test_every_cache_stale_is_one_line(tmp_path: Path) -> None:
    """Every cached value wrong at once: the file's values are not this calculation's, one cause."""
    path = tmp_path / "wrong-cache.xlsx"
    write(with_wrong_cache(blueprint_of(load_config("small"))), path)
    report = verify(path)
    assert [(p.kind, p.cells) for p in report.problems] == [("stale-cache", SMALL_CELLS)]
    assert report.problems[0].line().startswith(f"every cached value disagrees with the recalculated one ({SMALL_CELLS:,} formula cells): ")


def test_json_lists_every_problem_unless_limited(saved_by_openpyxl: dict[str, Path], capsys: pytest.CaptureFixture) -> None:
    path = str(saved_by_openpyxl["changed"])
    assert main(["verify", path, "--json"]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["problem_count"] == doc["listed"] == len(doc["problems"]) > 20  # more than the text report shows by default
    assert main(["verify", path, "--json", "--max-report", "3"]) == 1
    limited = json.loads(capsys.readouterr().out)
    assert (limited["problem_count"], limited["listed"]) == (doc["problem_count"], 3)
    assert limited["problems"] == doc["problems"][:3]
    assert main(["verify", path]) == 1
    out = capsys.readouterr().out
    assert f"... and {doc['problem_count'] - 21} more (--max-report N shows more)" in out  # the text report keeps to 20, plus the collapsed class


def table_of(text: str) -> dict[str, dict[str, str]]:
    """The text report's per-sheet table, from its heading to its total row: {sheet: {column heading: cell}}.
    Headings may hold one space, sheet names too: columns are apart by two or more."""
    lines = text.splitlines()
    head = [h.strip() for h in lines[1].split("  ") if h.strip()]
    rows = {}
    for line in lines[2:]:
        rows[line[:12].strip()] = dict(zip(head[1:], line[12:].split()))
        if line.startswith("total "):
            return rows
    raise AssertionError(f"no total row in {text}")


COLUMNS = ["formula cells", "mapped", "value ok", "formula text ok", "cache ok", "max |error|"]


def test_table_says_what_it_compared(small_path: Path, saved_by_openpyxl: dict[str, Path], tmp_path: Path,
                                     capsys: pytest.CaptureFixture) -> None:
    """A clean file: every count equals the formula cells. The same file saved by openpyxl: values and
    formula texts all fine, the same max |error| beside them, and cache ok 0 (the one thing that is wrong)."""
    junit = tmp_path / "r.xml"
    assert main(["verify", str(small_path)]) == 0
    clean = table_of(capsys.readouterr().out)
    assert main(["verify", str(saved_by_openpyxl["clean"]), "--junit", str(junit)]) == 1
    saved = table_of(capsys.readouterr().out)
    assert list(clean) == list(saved) == [*SHEETS, "total"]
    assert list(clean["total"]) == COLUMNS
    assert [clean["total"][c] for c in COLUMNS[:5]] == [str(SMALL_CELLS)] * 5 and float(clean["total"]["max |error|"]) < 1e-10
    for sheet, row in saved.items():
        n = row["formula cells"]
        assert (row["mapped"], row["value ok"], row["formula text ok"], row["cache ok"]) == (n, n, n, "0"), (sheet, row)
        assert row == {**clean[sheet], "cache ok": "0"}, sheet  # the same counts and max |error| as the file it was saved from
    assert main(["verify", str(saved_by_openpyxl["clean"]), "--json"]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["totals"] == {"formula_cells": SMALL_CELLS, "mapped": SMALL_CELLS, "value_ok": SMALL_CELLS, "formula_text_ok": SMALL_CELLS, "cache_ok": 0,
                             "max_error": pytest.approx(float(saved["total"]["max |error|"]), rel=0.06)}
    rollout = next(c for c in ET.parse(junit).getroot().iter("testcase") if c.get("name") == "Rollout")
    assert rollout.find("system-out").text == (
        f"formula cells 291, mapped 291, value ok 291, formula text ok 291, cache ok 0, max |error| {saved['Rollout']['max |error|']}")


def test_generate_verify_in_one_go(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["generate", "-o", str(tmp_path / "g.xlsx"), "--verify"]) == 0
    assert f"OK: all {SMALL_CELLS} formula cells agree" in capsys.readouterr().out


from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(st.fixed_dictionaries({
    "B": st.integers(1, 3), "P": st.integers(1, 3), "T": st.integers(1, 4),
    "H": st.integers(1, 3), "vocab": st.sampled_from([("a", "<eos>"), ("x", "y", "z", "<eos>"), ("<eos>", "p", "q")]),
    "seed": st.integers(0, 10_000), "gamma": st.floats(0.0, 1.0), "lam": st.floats(0.0, 1.0), "beta": st.floats(0.0, 0.5),
    "eps": st.floats(0.05, 0.5), "tau": st.floats(0.5, 2.0), "eos_bias": st.floats(0.0, 3.0),
}))
def test_random_valid_configurations_generate_and_verify_clean(tmp_path: Path, values: dict) -> None:
    config = load_config("small", **values, eps_high=values["eps"])
    path = tmp_path / "random.xlsx"
    n = generate(config, path).total_formula_cells
    report = verify(path)
    assert report.ok, f"{values}\n{report.text(5)}"
    assert report.totals().mapped == n


def test_a_collapsed_class_is_shown_even_past_the_text_limit(saved_by_openpyxl: dict[str, Path], capsys: pytest.CaptureFixture) -> None:
    """The one-line class sorts last; --max-report cuts problem lines, not the line that explains a thousand."""
    assert main(["verify", str(saved_by_openpyxl["changed"]), "--max-report", "2"]) == 1
    lines = capsys.readouterr().out.splitlines()
    failed = next(k for k, line in enumerate(lines) if line.startswith("FAILED"))
    listed = lines[failed + 1:]
    assert len(listed) == 4 and listed[2] == NO_CACHE and listed[3].startswith("... and ") and "more (--max-report N shows more)" in listed[3]
    shown = int(listed[3].split()[2])
    assert shown == int(lines[failed].split()[1]) - 3


def test_collection_is_back_as_it_was(small_path: Path) -> None:
    """Verify turns cyclic garbage collection off while it runs (a million short-lived objects, no cycles to speak of), and back."""
    import gc

    assert gc.isenabled() and gc.get_freeze_count() == 0
    assert verify(small_path).ok
    assert gc.isenabled() and gc.get_freeze_count() == 0  # what it made is in the oldest generation, not frozen
    gc.freeze()  # a caller's frozen objects stay frozen
    try:
        frozen = gc.get_freeze_count()
        assert verify(small_path).ok
        assert 0 < gc.get_freeze_count() <= frozen  # (some of them died meanwhile)
    finally:
        gc.unfreeze()
    gc.disable()
    try:
        assert verify(small_path).ok
        assert not gc.isenabled()
    finally:
        gc.enable()


def stderr_on_a_terminal(args: list[str]) -> tuple[int, str]:
    """Run the CLI with stderr on a pseudo-terminal (as a user at a shell has it); exit code and what the terminal showed."""
    import os
    import pty
    import subprocess
    import sys

    main_fd, term_fd = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "blueprint.cli", *args], stdout=subprocess.DEVNULL, stderr=term_fd)
    os.close(term_fd)
    shown = b""
    while True:
        try:
            chunk = os.read(main_fd, 4096)
        except OSError:  # EIO: the terminal's other side closed
            break
        if not chunk:
            break
        shown += chunk
    os.close(main_fd)
    return proc.wait(timeout=120), shown.decode()


def test_progress_shows_on_a_terminal_and_not_with_json(small_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from blueprint.workbook import dims_of

    n = dims_of(load_config("small"))
    monkeypatch.setenv("PYTHONPATH", str(Path(__file__).parent.parent))
    code, shown = stderr_on_a_terminal(["verify", str(small_path)])
    assert code == 0
    lines = [line.strip() for line in shown.splitlines()]
    assert lines[0] == f"verify: reading {small_path.name} ..."
    assert f"verify: rebuilding the reference for B={n.B}, T={n.T}, H={n.H} from the workbook's config and inputs ..." in lines
    assert any(line.startswith("fastcalc: compiling") for line in lines)
    assert lines[-1].startswith("verify: comparing ") and lines[-1].endswith(" recalculated cells with the reference ...")
    code, shown = stderr_on_a_terminal(["verify", str(small_path), "--json"])
    assert code == 0 and shown == ""
