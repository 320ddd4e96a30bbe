"""The fast evaluator must give what stock `formulas.ExcelModel` gives, cell for cell.

Stock is the yardstick because fastcalc runs the same package's parser and implementations; it
only changes how often they are called. Where stock has no answer (a circular reference makes
cells vanish) fastcalc reports "#CIRC!", which the verifier counts as a failure.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import xlsxwriter

from blueprint.api import generate
from blueprint.cellvalues import Formula, is_formula
from blueprint.config import load_config
from blueprint.engine import formulas_values
from blueprint.fastcalc import CIRCULAR, UNSUPPORTED, RefTable, evaluate, split_formula
from blueprint.readback import load_cells


def same(got: object, want: object) -> bool:
    """Equal within 1e-12 (relative + absolute) for numbers, exactly for text, booleans and error values."""
    if isinstance(got, bool) or isinstance(want, bool) or isinstance(got, str) or isinstance(want, str):
        return type(got) is type(want) and got == want
    return isinstance(got, (int, float)) and isinstance(want, (int, float)) and math.isclose(got, want, rel_tol=1e-12, abs_tol=1e-12)


def formula_cells(path: Path) -> dict[tuple[str, int, int], str]:
    return {k: v for k, v in load_cells(path).values.items() if is_formula(v)}


def fast_and_stock(path: Path) -> tuple[dict, dict]:
    """fastcalc's results, and stock's for the same cells ("missing" where stock has none)."""
    cells = load_cells(path)
    fast = evaluate(cells.values, cells.names)
    stock = formulas_values(path, cells.sheets)
    return fast, {k: stock.get(k, "missing") for k in fast}


def workbook(path: Path, sheets: dict[str, dict[str, object]], names: dict[str, str] | None = None) -> Path:
    """A hand-made workbook: `=…` strings become formulas, anything else a constant."""
    wb = xlsxwriter.Workbook(str(path))
    for title, cells in sheets.items():
        ws = wb.add_worksheet(title)
        for where, value in cells.items():
            if isinstance(value, str) and value.startswith("="):
                ws.write_formula(where, value)
            elif isinstance(value, str):
                ws.write_string(where, value)
            else:
                ws.write(where, value)
    for name, target in (names or {}).items():
        wb.define_name(name, target)
    wb.close()
    return path


@pytest.mark.parametrize(("preset", "convention"), [
    ("small", None),
    # other switches, other shapes; dapo: the group statistics (COUNTIF, SUMIF, COUNTIFS) and dropped groups. Larger presets
    # are held to the reference through the fast engine by tests/test_verify.py (medium here took 43 s for no new function)
    *(pytest.param("small", c, marks=pytest.mark.slow) for c in ("openrlhf", "trl", "verl", "dapo")),
])
def test_every_formula_cell_equals_stock(preset: str, convention: str | None, tmp_path: Path) -> None:
    path = tmp_path / f"{preset}.xlsx"
    generate(load_config(preset, convention=convention), path)
    fast, stock = fast_and_stock(path)
    formulas = formula_cells(path)
    assert set(fast) == set(formulas)
    differ = {k: (formulas[k], fast[k], stock[k]) for k in formulas if not same(fast[k], stock[k])}
    assert differ == {}
    assert any(isinstance(v, str) for v in fast.values())  # token names, read with INDEX on a text range


def test_error_values_are_the_stock_strings_and_cycles_are_marked(tmp_path: Path) -> None:
    path = workbook(tmp_path / "errors.xlsx", {"S": {
        "A1": "=LN(0)", "A2": "=1/0", "A3": "=NOSUCH(1)", "A4": "=SQRT(-1)", "A5": "=A1+1",
        "A6": '="abc"<"abd"', "A7": '=B1="t"', "A8": '=IF(B1="t",1,2)', "A9": '=B1*2',
        "A10": "=#REF!+1", "A11": "=NOSUCH(A9)+1", "A12": "=MATCH(\"zz\",C1:C3,0)",
        "C1": "a", "C2": "B", "C3": "c", "B1": "T",
        "D1": "=D2+1", "D2": "=D1*2", "D3": "=D3+1", "D4": "=D2+5", "D5": "=SUM(D1:D2)",
        # one batch per column, each cell its own error (or none): vectorised calls check errors per element
        **{f"E{r}": f"=LN(G{r})" for r in range(1, 7)}, **{f"F{r}": f"=1/G{r}" for r in range(1, 7)},
        "G1": 2, "G2": 0, "G3": "x", "G5": "=1/0", "G6": -1,
    }})
    fast, stock = fast_and_stock(path)
    cycle = {("S", r, 3) for r in range(5)}
    assert {k: fast[k] for k in cycle} == dict.fromkeys(cycle, CIRCULAR)
    assert {stock[k] for k in cycle} == {"missing"}  # stock silently drops them: the reason for the marker
    assert {k: fast[k] for k in fast if k not in cycle} == {k: stock[k] for k in fast if k not in cycle}
    assert [fast["S", r, 0] for r in range(12)] == [
        "#NUM!", "#DIV/0!", "#NAME?", "#NUM!", "#NUM!", True, True, 1, "#VALUE!", "#REF!", "#NAME?", "#N/A"]
    assert [fast["S", r, 4] for r in range(6)] == [math.log(2), "#NUM!", "#VALUE!", "#NUM!", "#DIV/0!", "#NUM!"]
    assert [fast["S", r, 5] for r in range(6)] == [0.5, "#DIV/0!", "#VALUE!", "#DIV/0!", "#DIV/0!", -1.0]


def test_an_empty_cell_reads_as_zero(tmp_path: Path) -> None:
    path = workbook(tmp_path / "empty.xlsx", {"S": {
        "A1": "=B9+1", "A2": "=B9", "A3": "=SUM(B1:B9)", "A4": "=B9*C1", "A5": "=MAX(B9,C1)", "A6": "=INDEX(C1:C3,2,1)",
        "A7": "=B9&\"x\"", "A8": "=B10", "A9": "=B11", "C1": 2.5}})  # A2, A8, A9: one batch, each cell its own empty cell
    fast, stock = fast_and_stock(path)
    assert fast == stock
    assert [fast["S", r, 0] for r in range(9)] == [1.0, 0, 0, 0.0, 2.5, 0, "x", 0, 0]


def test_names_sheets_and_strings_resolve_as_stock_does(tmp_path: Path) -> None:
    path = workbook(tmp_path / "names.xlsx", {
        "S": {"A1": "=beta*2", "A2": "=SUM(band)", "A3": "=half+1", "A4": "='Other Sheet'!A1*2", "A5": "=Missing!A1+1",
              "A6": "=nosuchname+1", "A7": '=IF(kl="k2",1,2)', "A8": "=k2+1", "A9": "=SUMPRODUCT(band,'Other Sheet'!A1:A3)",
              "A10": "=Other!B2", "B1": 1.5, "B2": 2, "B3": 3, "C1": "k2"},
        "Other Sheet": {"A1": 4, "A2": 5, "A3": 6},
        "Other": {"B2": "=S!B1+S!B2"},
    }, {"beta": "=S!$B$1", "band": "=S!$B$1:$B$3", "half": "=0.5", "kl": "=S!$C$1"})
    fast, stock = fast_and_stock(path)
    assert fast == stock
    assert [fast["S", r, 0] for r in range(10)] == [3.0, 6.5, 1.5, 8.0, "#REF!", "#REF!", 1, 1.0, 34.0, 3.5]


def test_functions_that_need_references_and_unparsable_formulas_are_refused_not_guessed() -> None:
    said: list[str] = []
    texts = ["=ROW(B7)", "=COLUMNS(B1:D1)+1", "=(B1:B2,B3)", "=1+", "=SUM(B1:B2 B2:B3)", "=A1+1"]
    fast = evaluate({("S", r, 0): Formula(text) for r, text in enumerate(texts)}, {}, said.append)
    assert [fast["S", r, 0] for r in range(6)] == [UNSUPPORTED] * 5 + ["#VALUE!"]
    assert said and all(m.startswith("fastcalc: ") for m in said)


def test_shapes_number_references_by_first_occurrence_and_skip_text() -> None:
    sheets = {"S": "S", "VALUE LOSS": "Value Loss"}
    names = {"TAU": ("S", 0, 1, 0, 1)}
    table = RefTable()

    def split(text: str) -> tuple[str, list]:
        shape, ids = split_formula(text, "S", sheets, names, table, {})
        return shape, [table.refs[i] for i in ids]

    assert split("=A1*A1") == ("=XFA1*XFA1", [("S", 0, 0, 0, 0)])
    assert split("=B2*C3")[0] == "=XFA1*XFA2"
    assert split('=IF(C1="k2",LOG10($B$2),tau)') == ('=IF(XFA1="k2",LOG10(XFA2),XFA3)', [("S", 0, 2, 0, 2), ("S", 1, 1, 1, 1), ("S", 0, 1, 0, 1)])
    assert split("='Value Loss'!B3:C4+1E5+#REF!") == ("=XFB1:XFC1+1E5+#REF!", [("Value Loss", 2, 1, 3, 2)])
    assert split("=Nowhere!A1+nosuch+TRUE") == ("=Nowhere!A1+nosuch+TRUE", [])


def test_functions_import_without_scipy_and_statistics_still_work() -> None:
    """`fastcalc.functions` keeps scipy's heavy modules out of the import of the package's function table
    (~1 s); this fails loudly when a new `formulas` imports them some other way."""
    import subprocess
    import sys

    code = ("import sys\n"
            "from blueprint import fastcalc\n"
            "fastcalc.functions()\n"
            "print(sorted(m for m in sys.modules if m.startswith(('scipy.stats', 'scipy.linalg', 'scipy.interpolate', 'scipy.special', "
            "'scipy.optimize', 'scipy.sparse'))))\n"
            "from blueprint.cellvalues import Formula as F\n"
            "got = fastcalc.evaluate({('S', 0, 0): F('=NORM.S.INV(0.975)'), ('S', 1, 0): F('=PERCENTILE(C1:C4,0.3)'), ('S', 2, 0): F('=KURT(C1:C4)'),\n"
            "                         ('S', 0, 2): 1, ('S', 1, 2): 2, ('S', 2, 2): 4, ('S', 3, 2): 8}, {})\n"
            "print(repr([got['S', r, 0] for r in range(3)]))\n"
            "import scipy.stats\n"
            "print(type(scipy.stats.norm).__name__)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.splitlines()
    assert out[0] == "[]"
    values = eval(out[1])  # noqa: S307 - our own repr of three floats
    assert values[0] == pytest.approx(1.959963984540054, abs=1e-12)
    assert values[1] == pytest.approx(1.9, abs=1e-12)  # Excel: PERCENTILE({1,2,4,8},0.3) = 1.9
    x = [1, 2, 4, 8]
    n, mean = len(x), sum(x) / len(x)
    s = (sum((v - mean) ** 2 for v in x) / (n - 1)) ** 0.5
    kurt = n * (n + 1) / ((n - 1) * (n - 2) * (n - 3)) * sum(((v - mean) / s) ** 4 for v in x) - 3 * (n - 1) ** 2 / ((n - 2) * (n - 3))
    assert values[2] == pytest.approx(kurt, abs=1e-12)  # Excel's KURT: sample excess kurtosis
    assert out[2] == "norm_gen"  # a real scipy.stats afterwards, for whoever imports it


def test_array_results_settle_into_one_cell_as_stock_does(tmp_path: Path) -> None:
    path = workbook(tmp_path / "arrays.xlsx", {"S": {
        "A1": "=C1:C3", "A2": "=C1:C3*2", "A3": "=C1:D2+1", "A4": "=-C2:C3", "A5": "=IF(C1:C3>1,C1:C3,0)", "A6": "=C5:C6",
        "C1": 1.5, "C2": 2, "C3": "x", "D1": 4}})
    fast, stock = fast_and_stock(path)
    assert fast == stock
    assert [fast["S", r, 0] for r in range(6)] == ["#VALUE!", 3.0, 2.5, -2.0, 1.5, "#VALUE!"]  # a range that is no 1x1 does not fit one cell


def test_a_deferred_attribute_behaves_as_the_real_one_when_used() -> None:
    import os

    from blueprint.fastcalc.programs import _DeferredAttribute

    assert _DeferredAttribute("math", "sqrt")(6.25) == 2.5  # called
    assert _DeferredAttribute("os", "path").join("a", "b") == os.path.join("a", "b")  # asked for an attribute
    with pytest.raises(AttributeError):
        _DeferredAttribute("os", "path").no_such_thing  # noqa: B018
