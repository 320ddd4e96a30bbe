"""Write a built blueprint as an .xlsx that reads like a worked example.

One xlsxwriter pass: cells with their cached values, then what makes the workbook teachable —
labels and notes on every block, the frameworks' code beside it, styles, tab colours, frozen
titles, validation on Config, conditional formats (clipped tokens, masked tokens, heat-mapped
probabilities, checks), native charts, and print setup. Every cell painted is also recorded on
its sheet's Canvas (blueprint.canvas), so the columns are as wide as what they show, code lines
and charts go right of all text in their rows, and each sheet prints readably. The file is
written to a temporary name and renamed into place, so a failure never leaves half a workbook
at the path.
"""

from __future__ import annotations

import datetime as _dt
import io
from pathlib import Path

import xlsxwriter

import sheets
from blueprint import __version__, guide, widths
from blueprint.canvas import Canvas
from blueprint.config import SWITCHES
from blueprint.files import write_atomically
from blueprint.layout import SHEETS, furniture
from blueprint.workbook import Blueprint
from blueprint.writer.charts import charts
from blueprint.writer.guide_sheet import write_guide
from blueprint.writer.pages import code_lines, note, print_setup, setup_sheet, write_cell
from blueprint.writer.paint import CODE_FONT, NOTE_SIZE, Formats, Sheet
from blueprint.writer.rules import conditional_formats, validate_config

__all__ = ["CODE_FONT", "write"]

CREATED = _dt.datetime(2024, 1, 1)  # fixed, so equal content gives a byte-identical file
# Columns at least this wide whatever they hold: the Guide's pieces, equations and links; on Config, the value
# column fits every value its validation lists offer (seq-mean-token-mean), not only the one generated.
MINIMUM_WIDTHS = {"Guide": {0: 48.0, 1: 72.0, 2: 22.0},
                  "Config": {1: max(widths.text_width(value) for allowed in SWITCHES.values() for value in allowed)}}


def write(bp: Blueprint, path: Path, command: str = "") -> None:
    """Write the workbook whole or not at all (blueprint.files): built in memory, then written and renamed into place."""
    data = io.BytesIO()
    _write_xlsx(bp, data, command)
    write_atomically(Path(path), data.getvalue(), "output", ".xlsx")


def _write_xlsx(bp: Blueprint, out: io.BytesIO, command: str) -> None:
    wb = xlsxwriter.Workbook(out, {"in_memory": True, "strings_to_numbers": False, "strings_to_formulas": False, "strings_to_urls": False})
    wb.set_properties({"title": guide.TITLE, "author": "rlhf-ppo-blueprint", "created": CREATED, "comments": f"rlhf-ppo-blueprint {__version__}"})
    wb.set_calc_mode("auto")
    formats = Formats(wb)
    pages = {name: Sheet(wb.add_worksheet(name), formats, Canvas(minimum=MINIMUM_WIDTHS.get(name, {}))) for name in SHEETS}
    for name, page in pages.items():
        setup_sheet(page.ws, name)
        page.ws._prepare_formula = _prepare_formula  # see _prepare_formula
    write_guide(pages["Guide"], bp, command)
    texts = {m.SHEET: (m.TITLE, m.SUMMARY) for m in sheets.MODULES if m.SHEET != "Guide"}
    for sheet, (title, summary) in texts.items():
        pages[sheet].text(0, 0, title, "title")
        pages[sheet].text(1, 0, summary, "subtitle")
    for block in bp.layout.blocks.values():
        if block.sheet != "Guide":  # the Guide paints its own (write_guide)
            for row, col, text, style in furniture(bp.layout, block, bp.config.vocab):
                pages[block.sheet].text(row, col, text, style)
            pages[block.sheet].ws.write_comment(*block.label_at, note(block), NOTE_SIZE)
    for cell in bp.cells:
        if cell.sheet != "Guide":
            write_cell(pages[cell.sheet], cell)
    for page in pages.values():
        page.canvas.fit()
    for sheet in texts:  # right of the title, which spills as far as it needs
        pages[sheet].link(0, pages[sheet].canvas.free_column(range(1), 1), "Guide!A1", "← Guide")
    code_lines(pages, bp.layout)
    for name, ref in bp.names.items():
        wb.define_name(name, f"={ref}")
    validate_config(pages["Config"].ws, bp)
    conditional_formats(wb, {name: page.ws for name, page in pages.items()}, bp)
    charts(wb, pages, bp)
    for name, page in pages.items():
        print_setup(page, bp.layout.whole_columns(name))
    wb.close()


def _prepare_formula(formula: str, expand_future_functions: bool = False) -> str:
    """xlsxwriter's formula preparation without its ~30 regex passes for Excel 365 functions.

    Our formulas use classic functions only (docs/design.md §5, enforced by the linter), for which
    xlsxwriter's own preparation reduces to dropping the leading `=`; its regexes for dynamic
    arrays cost half of generation time. tests/test_generate.py holds the output byte-identical
    to stock preparation.
    """
    return formula[1:] if formula.startswith("=") else formula
