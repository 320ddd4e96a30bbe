"""A worksheet's frame: tab, paper, frozen titles, print setup; its cells, the notes on block labels, the code lines."""

from __future__ import annotations

from typing import Any

import sheets
from blueprint import quotes, widths
from blueprint.canvas import A4_LANDSCAPE_POINTS
from blueprint.layout import TITLE_ROWS, Block, Layout
from blueprint.workbook import Cell
from blueprint.writer.paint import NOTE_SIZE, Sheet

MARGINS = {"left": 0.25, "right": 0.25, "top": 0.5, "bottom": 0.5}  # inches: Excel's "narrow" sides, 16 numbers a page
PRINTABLE_POINTS = A4_LANDSCAPE_POINTS - 72 * (MARGINS["left"] + MARGINS["right"])


def note(b: Block) -> str:
    """The note on a block's label: its own, or `# sheet ↳ label ↳ why the sheet exists`."""
    return b.q.note or f"# {b.sheet} ↳ {b.q.label} ↳ {getattr(sheets.MODULES_BY_SHEET[b.sheet], 'WHY', '')}"


def setup_sheet(w: Any, name: str) -> None:
    w.set_tab_color(sheets.MODULES_BY_SHEET[name].TAB)
    w.set_landscape()
    w.set_paper(9)  # A4
    w.set_margins(**MARGINS)
    w.hide_gridlines(1)  # gridlines on screen, not on paper
    if name != "Guide":
        w.freeze_panes(TITLE_ROWS, 1)
        w.repeat_rows(0, 1)


def print_setup(page: Sheet, whole: list[tuple[int, int]]) -> None:
    """Column widths and row heights as fitted; one page wide if that is readable, else pages cut between blocks."""
    canvas, w = page.canvas, page.ws
    setup = canvas.page_setup(whole, PRINTABLE_POINTS)
    for col in range(setup.last_col + 1):
        w.set_column_pixels(col, col, widths.pixels(canvas.width(col)))
    for row, height in canvas.row_heights.items():
        w.set_row(row, height)
    w.print_area(0, 0, setup.last_row, setup.last_col)
    if setup.fit_width:
        w.fit_to_pages(1, 0)  # one page wide, as many down as needed
        return
    w.set_print_scale(round(100 * setup.scale))
    w.set_v_pagebreaks(list(setup.breaks))
    w.repeat_columns(0)  # the row labels on every page
    w.print_across()  # the pages of one band of rows one after another, as the sheet reads


def write_cell(page: Sheet, cell: Cell) -> None:
    if cell.formula is not None:
        page.formula(cell.row, cell.col, cell.formula, cell.value, cell.role)
    elif isinstance(cell.value, str):
        page.text(cell.row, cell.col, cell.value, cell.role)
    else:
        page.number(cell.row, cell.col, cell.value, cell.role)


def code_lines(pages: dict[str, Sheet], layout: Layout) -> None:
    """The same step in TRL, OpenRLHF and verl, one line each, beside its block: on each sheet in one
    column, one empty column right of all text in the rows they take."""
    coded = [b for b in layout.blocks.values() if b.q.code]
    column = {}
    for b in coded:
        column[b.sheet] = max(column.get(b.sheet, 0), pages[b.sheet].canvas.free_column(b.code_rows, 0) + 1)
    for b in coded:
        for row, quote in zip(b.code_rows, quotes.code(b.q.code)):
            pages[b.sheet].text(row, column[b.sheet], f"{quote.framework}: {quote.shown}", "code")
            pages[b.sheet].ws.write_comment(row, column[b.sheet], quote.source_note(), NOTE_SIZE)
