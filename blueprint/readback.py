"""Read a blueprint workbook's configuration and inputs back from its cells.

The workbook is the source of truth once a user has edited it: β changed on Config, a weight
of θ_old nudged on Weights, a uniform draw moved on Rollout. Reading them back lets the
reference recompute exactly what the edited workbook should show.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from openpyxl.utils import get_column_letter

from blueprint.config import Config, ConfigError
from blueprint.errors import BlueprintError
from blueprint.layout import HYPERPARAMETERS, SHEETS, Dims, Layout, build_layout
from blueprint.workbook import inputs_from
from reference import Inputs

DIM_KEYS = {"B": "batch_size", "P": "prompt_len", "T": "response_len", "V": None, "H": "hidden"}


class Cells:
    """A workbook's cells by (sheet, row, col), 0-based: constants, or formula text starting with `=`."""

    def __init__(self, values: dict[tuple[str, int, int], Any], sheets: list[str], path: Path, names: dict[str, str] | None = None):
        self.values, self.sheets, self.path = values, sheets, path
        self.names = names or {}  # workbook-level defined names -> their target text, e.g. `Config!$B$21`
        self.renamed: dict[str, str] = {}  # blueprint sheet name -> the name it has in the file
        self.missing: list[str] = []  # blueprint sheets the file does not have at all
        self.file_values = values  # keyed by the file's own sheet names (values is re-keyed by canonical_sheets)

    def get(self, sheet: str, row: int, col: int) -> Any:
        return self.values.get((sheet, row, col))


def load_cells(path: Path, data_only: bool = False) -> Cells:
    """Every non-empty cell's value or formula text, read with openpyxl (defusedxml-protected XML).

    data_only=True gives the values cached with each formula instead of its text: what a viewer
    that does not recalculate shows.
    """
    import openpyxl

    try:
        wb = openpyxl.load_workbook(path, data_only=data_only, read_only=True, keep_links=False)
    except Exception as exc:  # openpyxl raises many types on a damaged file; all mean the same to the user
        raise BlueprintError(f"{path}: cannot read the workbook ({type(exc).__name__}: {str(exc)[:120]}); regenerate it with `blueprint generate`") from None
    try:
        values: dict[tuple[str, int, int], Any] = {}
        for ws in wb.worksheets:
            for row in ws.iter_rows():
                for cell in row:
                    if getattr(cell, "value", None) is not None:
                        values[ws.title, cell.row - 1, cell.column - 1] = cell.value
        names = {name: dn.attr_text for name, dn in wb.defined_names.items()}
        return Cells(values, list(wb.sheetnames), Path(path), names)
    except BlueprintError:
        raise
    except Exception as exc:  # read-only mode parses lazily: damage shows up while iterating
        raise BlueprintError(f"{path}: cannot read the workbook ({type(exc).__name__}: {str(exc)[:120]}); regenerate it with `blueprint generate`") from None
    finally:
        wb.close()


def refuse_external(cells: Cells) -> None:
    """No formula or name may point into another workbook: we would have to open it to check it."""
    from blueprint.lint import lint_formula

    for name, target in cells.names.items():
        if "[" in target:
            raise BlueprintError(f"{cells.path}: defined name {name!r} points at another workbook ({target}); a blueprint never does — remove the name or regenerate")
    for (sheet, r, c), v in cells.values.items():
        if isinstance(v, str) and v.startswith("=") and "[" in v:  # cheap filter, then the linter's exact rule
            if any(i.rule == "external-reference" for i in lint_formula(v)):
                cell = f"{sheet}!{get_column_letter(c + 1)}{r + 1}"
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
    return cells


def _number(cells: Cells, layout: Layout, sheet: str, quantity: str, idx: tuple[int, ...]) -> float:
    r, c = layout.block(sheet, quantity).pos(idx)
    v = cells.get(sheet, r, c)
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise BlueprintError(f"{cells.path}: {layout.cell(sheet, quantity, *idx)} ({quantity}) holds {v!r}, not a number; "
                             "restore a number there or regenerate the workbook")
    return float(v)


def _array(cells: Cells, layout: Layout, sheet: str, quantity: str) -> np.ndarray:
    block = layout.block(sheet, quantity)
    out = np.zeros(block.shape)
    for idx, _, _ in block.cells():
        out[idx] = _number(cells, layout, sheet, quantity, idx)
    return out


def _text(cells: Cells, layout: Layout, sheet: str, quantity: str, idx: tuple[int, ...] = ()) -> str:
    r, c = layout.block(sheet, quantity).pos(idx)
    v = cells.get(sheet, r, c)
    if not isinstance(v, str):
        raise BlueprintError(f"{cells.path}: {layout.cell(sheet, quantity, *idx)} ({quantity}) holds {v!r}, not text")
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


def read_blueprint(path: Path) -> tuple[Config, Inputs, Layout, Cells]:
    """Config, inputs and layout of a workbook, plus all its cells."""
    cells = load_cells(path)
    refuse_external(cells)
    cells = canonical_sheets(cells)
    config, layout = read_config(cells)
    return config, read_inputs(cells, layout, config), layout, cells
