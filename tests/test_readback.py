"""The one-pass cell reader: what it reads must be what openpyxl reads, for our files, LibreOffice's and Excel-style ones."""

from __future__ import annotations

import importlib
import re
import zipfile
from pathlib import Path

import openpyxl
import pytest
from conftest import SMALL_CELLS
from openpyxl.formula.translate import Translator

from blueprint.cellvalues import Formula
from blueprint.errors import BlueprintError
from blueprint.readback import load_cells
from blueprint.verify import verify
from blueprint.xlsx import _read_sheet, read_package

MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"


def openpyxl_cells(path: Path) -> tuple[dict, dict]:
    """Formulas/constants and cached values as openpyxl's two passes read them (the reader it replaced)."""
    both = []
    for data_only in (False, True):
        wb = openpyxl.load_workbook(path, data_only=data_only, read_only=True)
        both.append({(ws.title, c.row - 1, c.column - 1): c.value for ws in wb.worksheets for row in ws.iter_rows() for c in row
                     if getattr(c, "value", None) is not None})
        wb.close()
    values, cached = both
    return values, {k: cached.get(k) for k, v in values.items() if isinstance(v, str) and v.startswith("=")}  # openpyxl's formulas


def sheet(xml: str) -> tuple[dict, dict]:
    values: dict = {}
    cached: dict = {}
    _read_sheet(f'<worksheet xmlns="{MAIN}"><sheetData>{xml}</sheetData></worksheet>'.encode(), "S", ["zero", "one"], values, cached)
    return values, cached


def test_reads_what_openpyxl_reads(small_path: Path) -> None:
    cells = load_cells(small_path)
    values, cached = openpyxl_cells(small_path)
    assert cells.values == values
    assert cells.cached == cached
    assert len(cached) == SMALL_CELLS


@pytest.mark.parametrize("engine", [pytest.param("libreoffice", marks=pytest.mark.libreoffice),
                                    pytest.param("gnumeric", marks=[pytest.mark.gnumeric,  # openpyxl warns on Gnumeric's styles part
                                                                    pytest.mark.filterwarnings("ignore:Workbook contains no default style")])])
def test_reads_a_file_another_program_saved_as_openpyxl_does(engine: str, small_path: Path, tmp_path: Path) -> None:
    recalculate = importlib.import_module(f"blueprint.{engine}").recalculate
    saved = tmp_path / "saved.xlsx"
    recalculate(small_path, saved, timeout=300)
    cells = load_cells(saved)
    values, cached = openpyxl_cells(saved)
    assert cells.values == values
    assert cells.cached == cached
    assert len(cached) == SMALL_CELLS


def package(tmp_path: Path) -> Path:
    """A hand-made package: a sheet part named by an absolute target, a chart sheet, rich-text and phonetic shared
    strings, workbook-level, sheet-level and reserved defined names."""
    rel = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
    path = tmp_path / "hand.xlsx"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("xl/workbook.xml", f'<workbook xmlns="{MAIN}" xmlns:r="{rel}"><sheets>'
                   '<sheet name="Value Loss" sheetId="1" r:id="rId1"/><sheet name="Chart" sheetId="2" r:id="rId2"/></sheets>'
                   '<definedNames><definedName name="vf_loss">\'Value Loss\'!$B$1</definedName>'
                   '<definedName name="local" localSheetId="0">\'Value Loss\'!$A$1</definedName>'
                   '<definedName name="_xlnm.Print_Area">\'Value Loss\'!$A$1:$B$2</definedName></definedNames></workbook>')
        z.writestr("xl/_rels/workbook.xml.rels",
                   '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
                   f'<Relationship Id="rId1" Type="{rel}/worksheet" Target="/xl/worksheets/vl.xml"/>'
                   f'<Relationship Id="rId2" Type="{rel}/chartsheet" Target="chartsheets/sheet1.xml"/>'
                   f'<Relationship Id="rId3" Type="{rel}/sharedStrings" Target="strings.xml"/>'
                   f'<Relationship Id="rId4" Type="{rel}/hyperlink" Target="https://example.org" TargetMode="External"/></Relationships>')
        z.writestr("xl/strings.xml", f'<sst xmlns="{MAIN}"><si><t xml:space="preserve"> plain </t></si>'
                   '<si><r><rPr><b/></rPr><t>ri</t></r><r><t>ch</t></r><rPh sb="0" eb="1"><t>PHONETIC</t></rPh></si></sst>')
        z.writestr("xl/worksheets/vl.xml", f'<worksheet xmlns="{MAIN}"><sheetData><row r="1"><c r="A1" t="s"><v>0</v></c>'
                   '<c r="B1" t="s"><f>"x"</f><v>1</v></c></row></sheetData></worksheet>')
    return path


def test_reads_the_package_parts(tmp_path: Path) -> None:
    p = read_package(package(tmp_path))
    assert p.sheets == ["Value Loss", "Chart"]
    assert p.names == {"vf_loss": "'Value Loss'!$B$1"}
    assert p.values == {("Value Loss", 0, 0): " plain ", ("Value Loss", 0, 1): '="x"'}
    assert p.cached == {("Value Loss", 0, 1): "rich"}
    assert type(p.values["Value Loss", 0, 1]) is Formula and type(p.values["Value Loss", 0, 0]) is str


def test_every_cell_type_of_the_format() -> None:
    values, cached = sheet(
        '<row r="1"><c r="A1" t="inlineStr"><is><r><t>hel</t></r><r><t>lo</t></r></is></c><c r="B1" t="b"><v>1</v></c>'
        '<c r="C1" t="e"><v>#N/A</v></c><c r="D1" t="s"><v>1</v></c><c r="E1" s="3"/></row>'
        '<row><c><v>2.5</v></c><c t="str"><f>"a"&amp;"b"</f><v>ab</v></c><c><f>1/0</f><v></v></c><c r="E2"><v>7</v></c></row>'
        '<row r="5"><c r="$AB$5"><v>-1E-3</v></c></row>')
    assert values == {("S", 0, 0): "hello", ("S", 0, 1): True, ("S", 0, 2): "#N/A", ("S", 0, 3): "one",
                      ("S", 1, 0): 2.5, ("S", 1, 1): '="a"&"b"', ("S", 1, 2): "=1/0", ("S", 1, 4): 7, ("S", 4, 27): -0.001}
    assert cached == {("S", 1, 1): "ab", ("S", 1, 2): None}
    assert isinstance(values["S", 1, 4], int)


def test_shared_formulas_are_translated_to_each_cell() -> None:
    values, _ = sheet('<row r="1"><c r="B1"><f t="shared" ref="B1:B3" si="0">A1*$C$1+Other!A1</f><v>1</v></c></row>'
                      '<row r="2"><c r="B2"><f t="shared" si="0"/><v>2</v></c></row>'
                      '<row r="3"><c r="B3"><f t="shared" si="0"/><v>3</v></c></row>')
    assert [values["S", r, 1] for r in range(3)] == ["=A1*$C$1+Other!A1", "=A2*$C$1+Other!A2", "=A3*$C$1+Other!A3"]


@pytest.mark.parametrize("bad", ['<row r="1"><c r="A2"><v>1</v></c></row>', '<row r="1"><c r="1A"><v>1</v></c></row>',
                                 '<row r="1"><c r="A1"><v>x</v></c></row>', '<row r="1"><c r="A1" t="s"><v>9</v></c></row>',
                                 '<row r="0"><c><v>1</v></c></row>', '<row r="2000000"><c><v>1</v></c></row>',
                                 '<row r="1"><c r="XFE1"><v>1</v></c></row>', '<row r="x"><c><v>1</v></c></row>'])
def test_damage_inside_a_sheet_is_an_error_not_a_guess(bad: str) -> None:
    with pytest.raises((ValueError, IndexError)):
        sheet(bad)


def share_formulas(src: Path, dst: Path) -> int:
    """Rewrite each vertical run of formulas that are fill-downs of their first cell as one shared formula,
    the way Excel saves a filled range. Returns how many cells became shared references."""
    cell = re.compile(r'<c r="([A-Z]+)([0-9]+)"([^>]*)><f>([^<]*)</f>')
    shared = 0
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            data = zin.read(info).decode()
            if info.filename.startswith("xl/worksheets/sheet"):
                found = {(m[1], int(m[2])): m for m in cell.finditer(data)}
                edits, si = {}, 0
                for (col, row), m in sorted(found.items()):
                    if (col, row - 1) in found:
                        continue  # not the top of a run
                    text, n = m[4], 1
                    while (col, row + n) in found and Translator("=" + text, f"{col}{row}").translate_formula(f"{col}{row + n}") == "=" + found[col, row + n][4]:
                        n += 1
                    if n < 3:
                        continue
                    edits[m.group(0)] = f'<c r="{col}{row}"{m[3]}><f t="shared" ref="{col}{row}:{col}{row + n - 1}" si="{si}">{text}</f>'
                    for k in range(1, n):
                        edits[found[col, row + k].group(0)] = f'<c r="{col}{row + k}"{found[col, row + k][3]}><f t="shared" si="{si}"/>'
                    shared += n - 1
                    si += 1
                data = cell.sub(lambda m, edits=edits: edits.get(m.group(0), m.group(0)), data)
            zout.writestr(info, data.encode())
    return shared


def test_a_workbook_saved_with_shared_formulas_verifies_clean(small_path: Path, tmp_path: Path) -> None:
    excel_style = tmp_path / "shared.xlsx"
    assert share_formulas(small_path, excel_style) > 300
    assert load_cells(excel_style).values == load_cells(small_path).values
    report = verify(excel_style)
    assert report.ok and report.totals().mapped == SMALL_CELLS


@pytest.mark.parametrize("text, external", [('="off: r_t = s·1[t = e]"', False), ('=IF(A1="[x]","[y]",B2)', False),
                                            ("='[Book.xlsx]Sheet1'!A1", True), ('="a"&[Book.xlsx]Sheet1!A1&"[b]"', True),
                                            ('="unterminated[', False)])
def test_a_bracket_only_in_text_is_no_external_reference(text: str, external: bool) -> None:
    """The linter (and openpyxl with it) loads only for a `[` outside string literals; its rule decides then."""
    from blueprint.readback import Cells, refuse_external

    cells = Cells({("S", 0, 0): Formula(text)}, ["S"], Path("x.xlsx"))
    if external:
        with pytest.raises(BlueprintError, match="another workbook"):
            refuse_external(cells)
    else:
        refuse_external(cells)
