"""Read a blueprint workbook's configuration and inputs back from its cells.

The workbook is the source of truth once a user has edited it: β changed on Config, a weight
of θ_old nudged on Weights, a uniform draw moved on Rollout. Reading them back lets the
reference recompute exactly what the edited workbook should show.
"""

from __future__ import annotations

import functools
import math
import re
from pathlib import Path
from typing import IO, Any
from xml.etree.ElementTree import iterparse

import numpy as np
from xlsxwriter.utility import xl_col_to_name

from blueprint.cellvalues import ErrorValue, Formula, is_formula
from blueprint.config import HYPERPARAMETERS, Config, ConfigError
from blueprint.errors import BlueprintError
from blueprint.layout import SHEETS, Dims, Layout, build_layout
from blueprint.safety import check_archive
from blueprint.workbook import inputs_from
from reference import Inputs

CellKey = tuple[str, int, int]
DIM_KEYS = {"B": "batch_size", "P": "prompt_len", "T": "response_len", "V": None, "H": "hidden"}


class Cells:
    """A workbook's cells by (sheet, row, col), 0-based: constants (text, numbers, ErrorValue), or a Formula."""

    def __init__(self, values: dict[CellKey, Any], sheets: list[str], path: Path, names: dict[str, str] | None = None,
                 cached: dict[CellKey, Any] | None = None):
        self.values, self.sheets, self.path = values, sheets, path
        self.cached = cached or {}  # formula cells -> the value saved with the formula (None: none saved)
        self.names = names or {}  # workbook-level defined names -> their target text, e.g. `Config!$B$21`
        self.renamed: dict[str, str] = {}  # blueprint sheet name -> the name it has in the file
        self.missing: list[str] = []  # blueprint sheets the file does not have at all
        self.file_values = values  # keyed by the file's own sheet names (values is re-keyed by canonical_sheets)

    def get(self, sheet: str, row: int, col: int) -> Any:
        return self.values.get((sheet, row, col))


def load_cells(path: Path) -> Cells:
    """Every non-empty cell's constant or formula text, and every formula's cached value, in one pass.

    openpyxl reads the package (sheet names and parts, shared strings, defined names); the cells
    of each worksheet part are read here with the standard library's C XML parser, once for
    formulas and cached values together: 4x faster than two openpyxl passes, which go through
    defusedxml's pure-Python parser. That is safe because `safety.check_archive` has refused any
    part declaring a DOCTYPE or ENTITY, and without one expat expands no entity. Numbers stay
    numbers whatever their number format (openpyxl would turn date-formatted ones into dates).
    """
    import openpyxl

    check_archive(path)
    try:
        wb = openpyxl.load_workbook(path, read_only=True, keep_links=False)
    except Exception as exc:  # openpyxl raises many types on a damaged file; all mean the same to the user
        raise BlueprintError(f"{path}: cannot read the workbook ({type(exc).__name__}: {str(exc)[:120]}); regenerate it with `blueprint generate`") from None
    values: dict[CellKey, Any] = {}
    cached: dict[CellKey, Any] = {}
    try:
        for ws in wb.worksheets:
            with ws._get_source() as part:  # openpyxl 3.1's read-only worksheet: its part in the archive
                _read_sheet(part, ws.title, ws._shared_strings, values, cached)
        names = {name: dn.attr_text for name, dn in wb.defined_names.items()}
        return Cells(values, list(wb.sheetnames), Path(path), names, cached)
    except Exception as exc:  # damage inside a part shows up while parsing it
        raise BlueprintError(f"{path}: cannot read the workbook ({type(exc).__name__}: {str(exc)[:120]}); regenerate it with `blueprint generate`") from None
    finally:
        wb.close()


_MAIN = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
_ROW, _V, _F, _T = _MAIN + "row", _MAIN + "v", _MAIN + "f", _MAIN + "t"
_ROWS, _COLUMNS = 1048576, 16384  # the grid of an .xlsx
_A1 = re.compile(r"\$?([A-Za-z]{1,3})\$?([0-9]{1,7})")


def _read_sheet(part: IO[bytes], title: str, strings: list, values: dict[CellKey, Any], cached: dict[CellKey, Any]) -> None:
    """The `<c>` cells of one worksheet part into `values` (and `cached` for formula cells), as ECMA-376 §18.3.1.4 writes them.

    Cell types: n number, s shared string, inlineStr, b boolean, str a formula's text result,
    e error. Formulas that Excel stores once for a filled range (`t="shared"`) are translated
    to each cell by openpyxl's Translator, as openpyxl itself does.
    """
    shared: dict[str, Any] = {}  # si -> openpyxl Translator
    row = 0
    for _, el in iterparse(part):
        if el.tag != _ROW:
            continue
        row = int(el.get("r") or row + 1)
        if not 1 <= row <= _ROWS:
            raise ValueError(f"row {row} of sheet {title!r} is off the grid")
        col = 0
        for c in el:
            ref = c.get("r")
            if ref:
                m = _A1.fullmatch(ref)
                if m is None or int(m[2]) != row:
                    raise ValueError(f"cell reference {ref!r} in row {row} of sheet {title!r}")
                col = _column(m[1])
            else:
                col += 1
            if col > _COLUMNS:
                raise ValueError(f"column {col} in row {row} of sheet {title!r} is off the grid")
            kind, v = c.get("t", "n"), c.findtext(_V) or None  # openpyxl writes formula cells with an empty <v/>
            if kind == "inlineStr":
                value: Any = "".join(t.text or "" for t in c.iter(_T))
            elif v is None:
                value = None
            elif kind == "n":
                value = int(v) if v.lstrip("-").isdigit() else float(v)  # float: also inf, -inf and nan, as other tools write them
            elif kind == "s":
                value = strings[int(v)]
            elif kind == "b":
                value = v.strip() in ("1", "true")
            elif kind == "e":
                value = ErrorValue(v)
            else:  # str (a formula's text result), d (an ISO date, left as text)
                value = v
            f = c.find(_F)
            key = (title, row - 1, col - 1)
            if f is not None:
                values[key] = _formula(f, ref or f"{xl_col_to_name(col - 1)}{row}", shared)
                cached[key] = value
            elif value is not None:
                values[key] = value
        el.clear()


@functools.cache
def _column(letters: str) -> int:
    """1-based column number of `AB`-style letters (memoised: a workbook uses few columns)."""
    return functools.reduce(lambda n, ch: n * 26 + ord(ch) - 64, letters.upper(), 0)


def _formula(f: Any, where: str, shared: dict[str, Any]) -> Formula:
    """A `<f>` element's formula text for the cell at `where`, with `=`."""
    text = "=" + (f.text or "")
    if f.get("t") == "shared":
        from openpyxl.formula.translate import Translator

        si = f.get("si")
        if f.text:
            shared[si] = Translator(text, where)
        elif si in shared:
            text = shared[si].translate_formula(where)
    return Formula(text)


def refuse_external(cells: Cells) -> None:
    """No formula or name may point into another workbook: we would have to open it to check it."""
    from blueprint.lint import lint_formula

    for name, target in cells.names.items():
        if "[" in target:
            raise BlueprintError(f"{cells.path}: defined name {name!r} points at another workbook ({target}); a blueprint never does — remove the name or regenerate")
    for (sheet, r, c), v in cells.values.items():
        if is_formula(v) and "[" in v:  # cheap filter, then the linter's exact rule
            if any(i.rule == "external-reference" for i in lint_formula(v)):
                cell = f"{sheet}!{xl_col_to_name(c)}{r + 1}"
                raise BlueprintError(f"{cells.path}: formula at {cell} points at another workbook ({v[:80]}); a blueprint never does and we never open external files — fix the formula or regenerate")


def canonical_sheets(cells: Cells) -> Cells:
    """Key cells by the blueprint's sheet names, noting renamed and missing sheets.

    A sheet renamed in Excel keeps its place in the tab order, so when the file has exactly
    the blueprint's number of sheets, an unknown name at a missing sheet's position is that
    sheet renamed. Without Config, Weights and Rollout the inputs cannot be read at all.
    """
    present = set(cells.sheets)
    for k, sheet in enumerate(SHEETS):
        if sheet in present:
            continue
        if len(cells.sheets) == len(SHEETS) and cells.sheets[k] not in SHEETS:
            cells.renamed[sheet] = cells.sheets[k]
        else:
            cells.missing.append(sheet)
    unreadable = [s for s in cells.missing if s in ("Config", "Weights", "Rollout")]
    if unreadable:
        raise BlueprintError(f"{cells.path}: sheet {unreadable[0]!r} is missing (sheets found: {', '.join(cells.sheets) or 'none'}); "
                             "without it the inputs cannot be read — this is not a blueprint workbook, or the sheet was deleted; regenerate it with `blueprint generate`")
    back = {actual: sheet for sheet, actual in cells.renamed.items()}
    cells.file_values = cells.values  # as the file has them: what an engine must recalculate
    cells.values = {(back.get(sh, sh), r, c): v for (sh, r, c), v in cells.values.items()}
    cells.cached = {(back.get(sh, sh), r, c): v for (sh, r, c), v in cells.cached.items()}
    return cells


def _number(cells: Cells, layout: Layout, sheet: str, quantity: str, idx: tuple[int, ...]) -> float:
    r, c = layout.block(sheet, quantity).pos(idx)
    v = cells.get(sheet, r, c)
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        problem, fix = "not a number", "restore a number there"
    elif not math.isfinite(v):  # other tools write inf and nan; neither the reference nor a spreadsheet computes with them
        problem, fix = "not a finite number", "put a finite number there"
    else:
        return float(v)
    raise BlueprintError(f"{cells.path}: {layout.cell(sheet, quantity, *idx)} ({quantity}) holds {v!r}, {problem}; {fix} or regenerate the workbook")


def _array(cells: Cells, layout: Layout, sheet: str, quantity: str) -> np.ndarray:
    block = layout.block(sheet, quantity)
    out = np.zeros(block.shape)
    for idx, _, _ in block.cells():
        out[idx] = _number(cells, layout, sheet, quantity, idx)
    return out


def _text(cells: Cells, layout: Layout, sheet: str, quantity: str, idx: tuple[int, ...] = ()) -> str:
    r, c = layout.block(sheet, quantity).pos(idx)
    v = cells.get(sheet, r, c)
    if not isinstance(v, str) or is_formula(v) or isinstance(v, ErrorValue):
        what = "a formula" if is_formula(v) else "an error value" if isinstance(v, ErrorValue) else repr(v)
        raise BlueprintError(f"{cells.path}: {layout.cell(sheet, quantity, *idx)} ({quantity}) holds {what}, not text; type the text back")
    return v


def read_config(cells: Cells) -> tuple[Config, Layout]:
    """Dimensions, vocabulary and hyperparameters from the Config sheet."""
    probe = build_layout(Dims(1, 1, 1, 2, 1))  # the dimension cells sit at fixed places
    dims = {}
    for key in DIM_KEYS:
        v = _number(cells, probe, "Config", key, ())
        if v != int(v) or not 1 <= v <= 64:
            raise BlueprintError(f"{cells.path}: {probe.cell('Config', key)} ({key}) = {v!r}: not a dimension this layout can have")
        dims[key] = int(v)
    layout = build_layout(Dims(**dims))
    values: dict[str, Any] = {field: dims[key] for key, field in DIM_KEYS.items() if field}
    values["vocab"] = tuple(_text(cells, layout, "Config", "vocab", (v,)) for v in range(dims["V"]))
    values["eos"] = _text(cells, layout, "Config", "eos")
    for hp in HYPERPARAMETERS:
        want_text = isinstance(Config.__dataclass_fields__[hp].default, str)
        values[hp] = _text(cells, layout, "Config", hp) if want_text else _number(cells, layout, "Config", hp, ())
    try:
        return Config(**values), layout
    except ConfigError as exc:
        key = str(exc).split("'")[1] if "'" in str(exc) else ""
        where = layout.cell("Config", key) if ("Config", key) in layout.blocks else "Config"
        raise ConfigError(f"{cells.path}: {where}: {exc}") from None


def read_inputs(cells: Cells, layout: Layout, config: Config) -> Inputs:
    """Weights, prompts and draws from the yellow input cells."""
    arrays = {(b.sheet, b.quantity): _array(cells, layout, b.sheet, b.quantity) for b in layout.blocks.values() if b.kind == "input"}
    prompts, draws = arrays["Rollout", "prompts"], arrays["Rollout", "draws"]
    if not np.all((prompts == np.round(prompts)) & (prompts >= 0) & (prompts < config.V)):
        raise BlueprintError(f"{cells.path}: Rollout prompts must be token ids 0..{config.V - 1}; found {prompts.tolist()}")
    if not np.all((draws > 0) & (draws < 1)):
        raise BlueprintError(f"{cells.path}: Rollout draws must lie strictly between 0 and 1; found {draws.tolist()}")
    return inputs_from(arrays)


def read_cells(path: Path) -> Cells:
    """All cells of a workbook that may be a blueprint: no external references, keyed by blueprint sheet names."""
    cells = load_cells(path)
    refuse_external(cells)
    return canonical_sheets(cells)


def read_blueprint(path: Path) -> tuple[Config, Inputs, Layout, Cells]:
    """Config, inputs and layout of a workbook, plus all its cells."""
    cells = read_cells(path)
    config, layout = read_config(cells)
    return config, read_inputs(cells, layout, config), layout, cells
