"""Read a blueprint workbook's configuration and inputs back from its cells.

The workbook is the source of truth once a user has edited it: β changed on Config, a weight
of θ_old nudged on Weights, a uniform draw moved on Rollout. Reading them back lets the
reference recompute exactly what the edited workbook should show.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import numpy as np

from blueprint import a1 as A1
from blueprint.cellvalues import ErrorValue, is_formula
from blueprint.config import HYPERPARAMETERS, Config, ConfigError
from blueprint.errors import BlueprintError
from blueprint.layout import DIMS, SHEETS, Dims, Layout, build_layout
from blueprint.safety import check_archive
from blueprint.workbook import inputs_from
from blueprint.xlsx import CellKey, read_package
from reference import Inputs



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

    The archive is checked first (`safety.check_archive`: a plain, sane .xlsx), then read straight
    from the zip by `blueprint.xlsx`. Numbers stay numbers whatever their number format. A damaged
    part is one line naming the file, never a traceback.
    """
    parts = check_archive(path)
    try:
        package = read_package(path, parts)
    except Exception as exc:  # damage inside a part shows up while parsing it, as many exception types
        raise BlueprintError(f"{path}: cannot read the workbook ({type(exc).__name__}: {str(exc)[:120]}); regenerate it with `blueprint generate`") from None
    return Cells(package.values, package.sheets, Path(path), package.names, package.cached)


_STRING = re.compile(r'"(?:[^"]|"")*"')  # a formula's string literal


def refuse_external(cells: Cells) -> None:
    """No formula or name may point into another workbook: we would have to open it to check it.

    The linter (and openpyxl's tokenizer under it, ~65 ms to import) only loads for a formula with a `[`
    outside its string literals (the Guide's `"off: r_t = s·1[t = e]"` is text, no reference)."""
    for name, target in cells.names.items():
        if "[" in target:
            raise BlueprintError(f"{cells.path}: defined name {name!r} points at another workbook ({target}); a blueprint never does — remove the name or regenerate")
    for (sheet, r, c), v in cells.values.items():
        if is_formula(v) and "[" in v and "[" in _STRING.sub("", v):  # cheap filters, then the linter's exact rule
            from blueprint.lint import lint_formula

            if any(i.rule == "external-reference" for i in lint_formula(v)):
                cell = A1.address(sheet, r, c)
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
    if back:  # no sheet renamed: the file's keys are the blueprint's (neither dict is changed after this)
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
    for key in DIMS:
        v = _number(cells, probe, "Config", key, ())
        if v != int(v) or not 1 <= v <= 64:
            raise BlueprintError(f"{cells.path}: {probe.cell('Config', key)} ({key}) = {v!r}: not a dimension this layout can have")
        dims[key] = int(v)
    layout = build_layout(Dims(**dims))
    values: dict[str, Any] = {key: n for key, n in dims.items() if key != "V"}
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
    """Weights, prompts, groups, draws and the optimizer state from the yellow input cells."""
    arrays = {(b.sheet, b.quantity): _array(cells, layout, b.sheet, b.quantity) for b in layout.blocks.values() if b.kind == "input"}
    prompts, draws = arrays["Rollout", "prompts"], arrays["Rollout", "draws"]
    if not np.all((prompts == np.round(prompts)) & (prompts >= 0) & (prompts < config.V)):
        raise BlueprintError(f"{cells.path}: Rollout prompts must be token ids 0..{config.V - 1}; found {prompts.tolist()}")
    group = arrays["Rollout", "group"]
    for b, g in enumerate(group):
        if not (g == round(g) and 0 <= g < 1e9):
            raise BlueprintError(f"{cells.path}: {layout.cell('Rollout', 'group', b)} (group) names the prompt a response answers: it "
                                 f"must be a whole number, 0 or more; found {g}")
    if not np.all((draws > 0) & (draws < 1)):
        raise BlueprintError(f"{cells.path}: Rollout draws must lie strictly between 0 and 1; found {draws.tolist()}")
    for (sheet, quantity), v in arrays.items():
        if quantity.startswith(("v_theta.", "v_phi.")) and np.any(v < 0):
            where = layout.cell(sheet, quantity, *(int(i) for i in np.argwhere(np.asarray(v) < 0)[0]))
            raise BlueprintError(f"{cells.path}: {where} ({quantity}) is a second moment, a mean of squares: it must be 0 or more; "
                                 f"found {np.asarray(v).min()}")
    opt_step = arrays["Step", "opt_step"]
    if not (opt_step == np.round(opt_step) and 0 <= opt_step < 1e9):
        raise BlueprintError(f"{cells.path}: {layout.cell('Step', 'opt_step')} opt_step must be a whole number of steps, 0 or more; found {opt_step}")
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
