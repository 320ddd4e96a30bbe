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
import functools
import io
import re
from pathlib import Path
from typing import Any

import xlsxwriter

import sheets
from blueprint import __version__, a1 as A1, guide, livetext, quotes, widths
from blueprint.canvas import A4_LANDSCAPE_POINTS, Canvas, Ink, chart_rows
from blueprint.config import ALLOWED, HYPERPARAMETERS, SWITCHES, Config, OneOf, Range, as_dict, departures
from blueprint.files import write_atomically
from blueprint.layout import SHEETS, TITLE_ROWS, Block, Layout, furniture, guide_rows
from blueprint.workbook import NA, Blueprint, Cell

CREATED = _dt.datetime(2024, 1, 1)  # fixed, so equal content gives a byte-identical file
NOTE_SIZE = {"x_scale": 2.2, "y_scale": 1.2}  # a cell note's box: room for a three-part note
COLOURS = {"input": "#FFF2CC", "key": "#E2EFDA", "check": "#DDEBF7", "clipped": "#F8CBAD", "masked": "#A6A6A6", "bad": "#FFC7CE"}
STYLE = {
    "title": {"bold": True, "font_size": 14},
    "subtitle": {"italic": True, "font_color": "#595959"},
    "label": {"bold": True, "font_color": "#1F4E79"},
    "header": {"italic": True, "font_color": "#7F7F7F", "align": "center"},
    "code": {"font_name": "Consolas", "font_size": 8, "font_color": "#808080"},
    "input": {"bg_color": COLOURS["input"], "num_format": "0.0000", "border": 1, "border_color": "#D9D9D9"},
    "input_int": {"bg_color": COLOURS["input"], "num_format": "0", "border": 1, "border_color": "#D9D9D9"},
    "config": {"bg_color": COLOURS["input"], "num_format": "General", "border": 1, "border_color": "#D9D9D9"},
    "fixed": {"bg_color": "#F3F3F3", "num_format": "0"},
    "formula": {"num_format": "0.0000"},
    "integer": {"num_format": "0"},
    "text": {"align": "center"},
    "key": {"num_format": "0.000000", "bold": True, "bg_color": COLOURS["key"]},
    "check": {"num_format": "0.0E+00", "align": "center", "bg_color": COLOURS["check"]},
    "wrap": {"text_wrap": True, "valign": "top"},
    "plain": {},
    "subtitle_wrap": {"italic": True, "font_color": "#595959", "text_wrap": True, "valign": "top"},
    "link": {"font_color": "#0563C1", "underline": 1},
    "masked": {"font_color": COLOURS["masked"], "italic": True, "num_format": "0.0000"},
}
CODE_FONT = STYLE["code"]["font_name"]
MARGINS = {"left": 0.25, "right": 0.25, "top": 0.5, "bottom": 0.5}  # inches: Excel's "narrow" sides, 16 numbers a page
PRINTABLE_POINTS = A4_LANDSCAPE_POINTS - 72 * (MARGINS["left"] + MARGINS["right"])
CHART_PIXELS = (480, 288)  # xlsxwriter's chart size at scale 1
# Columns at least this wide whatever they hold: the Guide's pieces, equations and links; on Config, the value
# column fits every value its validation lists offer (seq-mean-token-mean), not only the one generated.
MINIMUM_WIDTHS = {"Guide": {0: 48.0, 1: 72.0, 2: 22.0},
                  "Config": {1: max(widths.text_width(value) for allowed in SWITCHES.values() for value in allowed)}}
# The clip band's two edges in the Clip chart: the floor dashed dark red, the ceiling long-dashed orange.
BAND_LINES = (("band_low", "1 - ε (floor)", {"dash_type": "dash", "color": "#C00000", "width": 1.5}),
              ("band_high", "1 + ε_high (ceiling)", {"dash_type": "long_dash", "color": "#ED7D31", "width": 1.5}))


def write(bp: Blueprint, path: Path, command: str = "") -> None:
    """Write the workbook whole or not at all (blueprint.files): built in memory, then written and renamed into place."""
    data = io.BytesIO()
    _write_xlsx(bp, data, command)
    write_atomically(Path(path), data.getvalue(), "output", ".xlsx")


def note(b: Block) -> str:
    """The note on a block's label: its own, or `# sheet ↳ label ↳ why the sheet exists`."""
    return b.q.note or f"# {b.sheet} ↳ {b.q.label} ↳ {getattr(sheets.MODULES_BY_SHEET[b.sheet], 'WHY', '')}"


class Formats:
    """xlsxwriter formats by style name, and by style and number format for numbers shown with fewer decimals."""

    def __init__(self, wb: Any):
        self.wb = wb
        self.made = {(name, spec.get("num_format")): wb.add_format(spec) for name, spec in STYLE.items()}

    def __call__(self, style: str | None, num_format: str | None = None) -> Any:
        if style is None:
            return None
        key = (style, num_format or STYLE[style].get("num_format"))
        if key not in self.made:
            self.made[key] = self.wb.add_format({**STYLE[style], "num_format": key[1]})
        return self.made[key]


class Sheet:
    """One worksheet being painted: each xlsxwriter write is also recorded, as what the cell shows, on `canvas`."""

    def __init__(self, ws: Any, formats: Formats, canvas: Canvas):
        self.ws, self.formats, self.canvas = ws, formats, canvas

    def text(self, row: int, col: int, text: str, style: str | None = None) -> None:
        self.ws.write_string(row, col, text, self.formats(style))
        self.canvas.put(row, col, ink(text, style))

    def number(self, row: int, col: int, value: float, style: str) -> None:
        num_format, shown = fitted(STYLE[style]["num_format"], value)
        self.ws.write_number(row, col, value, self.formats(style, num_format))
        self.canvas.put(row, col, ink(shown, style, number=True))

    def formula(self, row: int, col: int, formula: str, value: Any, style: str) -> None:
        num_format, shown = fitted(STYLE[style].get("num_format"), value)
        self.ws.write_formula(row, col, formula, self.formats(style, num_format), value)
        self.canvas.put(row, col, ink(shown, style, number=not isinstance(value, str) or value == NA))

    def link(self, row: int, col: int, target: str, text: str) -> None:
        self.ws.write_url(row, col, f"internal:{target}", self.formats("link"), string=text)
        self.canvas.put(row, col, ink(text, "link"))

    def merged(self, row: int, first_col: int, last_col: int, text: str, style: str, formula: str | None = None) -> None:
        """Text across merged cells; with `formula`, that formula in the first cell, `text` its cached value."""
        self.ws.merge_range(row, first_col, row, last_col, text, self.formats(style))
        if formula is not None:
            self.ws.write_formula(row, first_col, formula, self.formats(style), text)
        self.canvas.put(row, first_col, ink(text, style, span=last_col - first_col + 1))


def fitted(num_format: str | None, value: Any) -> tuple[str | None, str]:
    """The number format a cell's value is shown in, and the text it shows. A fixed-decimal format (`0.0000`)
    shows at most decimals + 4 characters, sign and point included, so a column of such numbers stays narrow:
    a large number gives up decimals (3352.8441 shows as 3352.844) and, when even none would do, goes
    scientific (1.23E+08). Other formats keep their number; text shows as it is."""
    if isinstance(value, str):
        return num_format, value
    decimals = _decimals(num_format)
    if not decimals:
        return num_format, widths.shown(value, num_format or "General")
    for keep in range(decimals, -1, -1):
        if len(text := f"{value:.{keep}f}") <= decimals + 4:
            return f"0.{'0' * keep}" if keep else "0", text
    return "0.00E+00", widths.shown(value, "0.00E+00")


@functools.cache
def _decimals(num_format: str | None) -> int:
    """Decimals of a fixed-decimal format `0.00…`, else 0."""
    return len(num_format) - 2 if re.fullmatch(r"0\.0+", num_format or "") else 0


def ink(text: str, style: str | None, number: bool = False, span: int = 1) -> Ink:
    """What a cell written in `style` shows, as the width model sees it (numbers and centred text stay in their cell)."""
    return Ink.of(text, **_looks(style, number), span=span)


@functools.cache
def _looks(style: str | None, number: bool) -> dict[str, Any]:
    """The width model's view of a style: font, size, wrapping, and whether its text may spill."""
    spec = STYLE.get(style or "", {})
    wrap = bool(spec.get("text_wrap"))
    return {"spills": not (number or wrap or spec.get("align") == "center"), "bold": bool(spec.get("bold")),
            "code": spec.get("font_name") == CODE_FONT, "size": spec.get("font_size", widths.BODY_POINTS), "wrap": wrap}


def _write_xlsx(bp: Blueprint, out: io.BytesIO, command: str) -> None:
    wb = xlsxwriter.Workbook(out, {"in_memory": True, "strings_to_numbers": False, "strings_to_formulas": False, "strings_to_urls": False})
    wb.set_properties({"title": guide.TITLE, "author": "rlhf-ppo-blueprint", "created": CREATED, "comments": f"rlhf-ppo-blueprint {__version__}"})
    wb.set_calc_mode("auto")
    formats = Formats(wb)
    pages = {name: Sheet(wb.add_worksheet(name), formats, Canvas(minimum=MINIMUM_WIDTHS.get(name, {}))) for name in SHEETS}
    for name, page in pages.items():
        _setup_sheet(page.ws, name)
        page.ws._prepare_formula = _prepare_formula  # see _prepare_formula
    _write_guide(pages["Guide"], bp, command)
    texts = {m.SHEET: (m.TITLE, m.SUMMARY) for m in sheets.MODULES if m.SHEET != "Guide"}
    for sheet, (title, summary) in texts.items():
        pages[sheet].text(0, 0, title, "title")
        pages[sheet].text(1, 0, summary, "subtitle")
    for block in bp.layout.blocks.values():
        if block.sheet != "Guide":  # the Guide paints its own (_write_guide)
            for row, col, text, style in furniture(bp.layout, block, bp.config.vocab):
                pages[block.sheet].text(row, col, text, style)
            pages[block.sheet].ws.write_comment(*block.label_at, note(block), NOTE_SIZE)
    for cell in bp.cells:
        if cell.sheet != "Guide":
            _write_cell(pages[cell.sheet], cell)
    for page in pages.values():
        page.canvas.fit()
    for sheet in texts:  # right of the title, which spills as far as it needs
        pages[sheet].link(0, pages[sheet].canvas.free_column(range(1), 1), "Guide!A1", "← Guide")
    _code_lines(pages, bp.layout)
    for name, ref in bp.names.items():
        wb.define_name(name, f"={ref}")
    _validate_config(pages["Config"].ws, bp)
    _conditional_formats(wb, {name: page.ws for name, page in pages.items()}, bp)
    _charts(wb, pages, bp)
    for name, page in pages.items():
        _print_setup(page, bp.layout.whole_columns(name))
    wb.close()


def _setup_sheet(w: Any, name: str) -> None:
    w.set_tab_color(sheets.MODULES_BY_SHEET[name].TAB)
    w.set_landscape()
    w.set_paper(9)  # A4
    w.set_margins(**MARGINS)
    w.hide_gridlines(1)  # gridlines on screen, not on paper
    if name != "Guide":
        w.freeze_panes(TITLE_ROWS, 1)
        w.repeat_rows(0, 1)


def _print_setup(page: Sheet, whole: list[tuple[int, int]]) -> None:
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


def _prepare_formula(formula: str, expand_future_functions: bool = False) -> str:
    """xlsxwriter's formula preparation without its ~30 regex passes for Excel 365 functions.

    Our formulas use classic functions only (docs/design.md §5, enforced by the linter), for which
    xlsxwriter's own preparation reduces to dropping the leading `=`; its regexes for dynamic
    arrays cost half of generation time. tests/test_generate.py holds the output byte-identical
    to stock preparation.
    """
    return formula[1:] if formula.startswith("=") else formula


def _write_cell(page: Sheet, cell: Cell) -> None:
    if cell.formula is not None:
        page.formula(cell.row, cell.col, cell.formula, cell.value, cell.role)
    elif isinstance(cell.value, str):
        page.text(cell.row, cell.col, cell.value, cell.role)
    else:
        page.number(cell.row, cell.col, cell.value, cell.role)


def _code_lines(pages: dict[str, Sheet], layout: Layout) -> None:
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


def _write_guide(page: Sheet, bp: Blueprint, command: str) -> None:
    """The Guide: the story and the switches' words are live formulas (sheets/guide.py), the rest is text."""
    L, rows = bp.layout, guide_rows()
    live = {(c.quantity, c.idx): c for c in bp.cells if c.sheet == "Guide"}
    page.text(0, 0, guide.TITLE, "title")
    page.merged(1, 0, 2, guide.SUBTITLE, "subtitle_wrap")
    labels = {name: q.label for name, q in sheets.declared("Guide").items()}
    for quantity in labels:
        b = L.block("Guide", quantity)
        page.ws.write_comment(*b.label_at, note(b), NOTE_SIZE)
    page.text(rows["story"] - 1, 0, labels["story"], "label")
    for k in range(len(guide.STORY)):
        cell = live["story", (k,)]
        page.merged(cell.row, 0, 2, cell.value, "wrap", cell.formula)
    row = rows["legend"] - 1
    page.text(row, 0, "Legend", "label")
    samples = {"input": "0.1234", "formula": "0.1234", "key": "0.123456", "check": "OK", "masked": "0.1234"}  # text: no stray constants
    for k, (style, text) in enumerate(guide.LEGEND, start=1):
        page.text(row + k, 0, samples[style], style)
        page.text(row + k, 1, text)
    row = rows["sheets"] - 1
    page.text(row, 0, "Sheets", "label")
    summaries = {m.SHEET: m.TITLE for m in sheets.MODULES}
    for k, sheet in enumerate(SHEETS[1:], start=1):
        page.link(row + k, 0, f"{A1.sheet_prefix(sheet)}A1", sheet)
        page.text(row + k, 1, summaries[sheet])
    row = rows["pieces"] - 1
    for col, head in enumerate(("The pieces of RLHF with PPO", "equation", "where it lives", labels["piece_now"])):
        page.text(row, col, head, "label")
    for k, (piece, equation, sheet, quantity, _now) in enumerate(guide.PIECES):
        block = L.block(sheet, quantity)
        target = A1.address(sheet, *block.pos((0,) * len(block.shape)))
        page.text(row + 1 + k, 0, piece)
        page.text(row + 1 + k, 1, equation)
        page.link(row + 1 + k, 2, target, target.replace("'", ""))
        if ("piece_now", (k,)) in live:
            cell = live["piece_now", (k,)]
            page.formula(cell.row, cell.col, cell.formula, cell.value, "plain")
    c = bp.config
    row = rows["switches"] - 1
    page.text(row, 0, f"Convention: {with_departures(c, 'convention')}", "label")
    page.text(row, 1, "the switches on Config now (flip them there: everything re-flows, these words too)")
    for k, key in enumerate(SWITCHES):
        cell = live["switch_now", (k,)]
        page.formula(cell.row, cell.col, cell.formula, cell.value, "plain")
        page.text(cell.row, 1, HYPERPARAMETERS[key])
    row = rows["provenance"] - 1
    page.text(row, 0, "Provenance", "label")
    prov = {"tool": f"rlhf-ppo-blueprint {__version__}", "command": command or "blueprint generate", **{k: str(v) for k, v in as_dict(c).items()},
            "preset": with_departures(c, "preset"), "convention": with_departures(c, "convention")}
    for k, (key, value) in enumerate(prov.items(), start=1):
        page.text(row + k, 0, key)
        page.text(row + k, 1, value)


def with_departures(c: Config, which: str) -> str:
    """`verl`, or `verl (set by hand: beta, dual_clip)`: a preset or convention label never claims numbers it does not
    give. The convention owns the keys on Config; the preset the dimensions, vocabulary, seed and input scales."""
    own = [k for k in departures(c) if (k in HYPERPARAMETERS) == (which == "convention") and k not in ("preset", "convention")]
    return getattr(c, which) + (f" (set by hand: {', '.join(own)})" if own else "")


def _validate_config(w: Any, bp: Blueprint) -> None:
    """Refuse a bad edit in Excel and LibreOffice themselves: each cell's rule is its key's declared range or choices."""
    for key, label in HYPERPARAMETERS.items():
        r, c = bp.layout.block("Config", key).pos(())
        message = f"{label}; allowed: {ALLOWED[key].text}"[:250]
        w.data_validation(r, c, r, c, {**excel_rule(ALLOWED[key], A1.cell(r, c)), "input_title": key[:32], "input_message": message,
                                        "error_title": f"{key}: not allowed"[:32], "error_message": f"{key}: {message}"[:250]})


def excel_rule(allowed: Range | OneOf, cell: str) -> dict[str, Any]:
    """xlsxwriter's data validation for a declared Range or OneOf: a list, `decimal between` for a closed
    interval, otherwise a custom formula over the cell (open ends, single values allowed outside)."""
    if isinstance(allowed, OneOf):
        return {"validate": "list", "source": list(allowed.choices)}
    if not (allowed.lo_open or allowed.hi_open or allowed.also) and None not in (allowed.lo, allowed.hi):
        return {"validate": "decimal", "criteria": "between", "minimum": allowed.lo, "maximum": allowed.hi}
    ends = [f"{cell}{op}{bound:.15g}" for bound, op in ((allowed.lo, ">" if allowed.lo_open else ">="), (allowed.hi, "<" if allowed.hi_open else "<="))
            if bound is not None]
    test = f"AND({','.join(ends)})"
    if allowed.also:
        test = f"OR({','.join(f'{cell}={a:.15g}' for a in allowed.also)},{test})"
    return {"validate": "custom", "value": f"={test}"}


def _conditional_formats(wb: Any, ws: dict[str, Any], bp: Blueprint) -> None:
    """Clipped tokens, masked (post-EOS) tokens, probability heat maps and check cells."""
    L, d = bp.layout, bp.layout.dims
    clipped = wb.add_format({"bg_color": COLOURS["clipped"]})
    masked = wb.add_format({"font_color": COLOURS["masked"], "italic": True})
    ok = wb.add_format({"font_color": "#006100"})
    bad = wb.add_format({"bg_color": COLOURS["bad"], "font_color": "#9C0006"})
    for b in L.blocks.values():
        if b.form != "grid" or b.shape != (d.B, d.T) or b.kind != "formula" or (b.sheet, b.quantity) == ("Rollout", "mask"):
            continue
        first, last = b.pos((0, 0)), b.pos((d.B - 1, d.T - 1))
        for flag in b.q.flags:
            src = L.a1(b.sheet, flag, 0, 0, here=b.sheet)
            ws[b.sheet].conditional_format(*first, *last, {"type": "formula", "criteria": f"={src}=1", "format": clipped})
        m = L.a1("Rollout", "mask", 0, 0, here=b.sheet)
        ws[b.sheet].conditional_format(*first, *last, {"type": "formula", "criteria": f"={m}=0", "format": masked})
    for sheet in ("Rollout", "Ratio"):
        p = L.block(sheet, "p")
        for seq in range(d.B):
            a, z = p.pos((seq, 0, 0)), p.pos((seq, p.shape[1] - 1, d.V - 1))
            ws[sheet].conditional_format(*a, *z, {"type": "2_color_scale", "min_type": "num", "min_value": 0, "max_type": "num",
                                                  "max_value": 1, "min_color": "#FFFFFF", "max_color": "#5B9BD5"})
    for b in L.blocks.values():
        if b.q.role == "check":
            cells = [pos for _, *pos in b.cells()]
            (r0, c0), (r1, c1) = cells[0], cells[-1]
            ws[b.sheet].conditional_format(r0, c0, r1, c1, {"type": "cell", "criteria": "==", "value": '"OK"', "format": ok})
            ws[b.sheet].conditional_format(r0, c0, r1, c1, {"type": "cell", "criteria": "!=", "value": '"OK"', "format": bad})


def _charts(wb: Any, pages: dict[str, Sheet], bp: Blueprint) -> None:
    """Advantages raw vs whitened; ratio against the clip band; KL penalty and reward; the loss in parts."""
    L, d = bp.layout, bp.layout.dims
    seqs = range(min(d.B, 2))

    def row_ref(sheet: str, quantity: str, b: int) -> list[Any]:
        block = L.block(sheet, quantity)
        (r0, c0), (r1, c1) = block.pos((b, 0)), block.pos((b, d.T - 1))
        return [sheet, r0, c0, r1, c1]

    categories = row_ref("GAE", "advantages", 0)
    categories[1] = categories[3] = L.block("GAE", "advantages").top - 1  # the t=0.. header row

    chart = wb.add_chart({"type": "column"})
    for b in seqs:
        chart.add_series({"name": f"A (raw), seq {b}", "categories": categories, "values": row_ref("GAE", "advantages", b)})
        chart.add_series({"name": f"Â (whitened), seq {b}", "categories": categories, "values": row_ref("GAE", "adv_whitened", b)})
    _finish(chart, "Advantages per token: raw A_t and whitened Â_t", "t", "advantage")
    _place(pages["GAE"], chart, 1.3, 1.2)

    chart = wb.add_chart({"type": "line"})
    for b in seqs:  # real tokens only: a #N/A cell (after the first EOS) is a gap in the line
        chart.add_series({"name": f"ρ, seq {b} (real tokens)", "categories": categories, "values": row_ref("Clip", "ratio_real", b),
                          "marker": {"type": "circle"}})
    for q, name, line in BAND_LINES:
        chart.add_series({"name": name, "categories": categories, "values": row_ref("Clip", q, 0), "line": line, "marker": {"type": "none"}})
    # A #N/A point is a missing one. xlsxwriter writes no dispBlanksAs for "gap" and LibreOffice then plots it
    # as 0; "span" (connect over missing points) it honours, and as masked tokens only trail the real ones,
    # there is nothing to connect to: each line ends at its last real token, in LibreOffice and Excel alike.
    chart.show_blanks_as("span")
    _finish(chart, "Ratio ρ_t against the clip band", "t", "ρ")
    _place(pages["Clip"], chart, 1.3, 1.2)

    chart = wb.add_chart({"type": "column"})
    for b in seqs:
        chart.add_series({"name": f"-β·k_t, seq {b}", "categories": categories, "values": row_ref("KL", "non_score_reward", b)})
        chart.add_series({"name": f"r_t, seq {b}", "categories": categories, "values": row_ref("KL", "rewards", b)})
    _finish(chart, "Per-token KL penalty and shaped reward", "t", "reward")
    _place(pages["KL"], chart, 1.3, 1.2)

    parts = [L.block("Total", q) for q in ("part_pg", "part_vf", "part_ent", "part_kl")]
    chart = wb.add_chart({"type": "bar"})
    chart.add_series({"name": "share of the total loss", "categories": ["Total", parts[0].top, 2, parts[-1].top, 2],
                      "values": ["Total", parts[0].top, 1, parts[-1].top, 1], "data_labels": {"value": True, "num_format": "0.0000"}})
    _finish(chart, "The total loss, broken into its parts", "loss", "")
    chart.set_legend({"none": True})
    _place(pages["Total"], chart, 1.4, 1.1)


def _place(page: Sheet, chart: Any, x_scale: float, y_scale: float) -> None:
    """Insert a chart at the top of its sheet, one empty column right of everything in the rows it covers: it
    covers no text, and it shares its columns with code lines further down rather than a page of its own."""
    width, height = CHART_PIXELS[0] * x_scale, CHART_PIXELS[1] * y_scale
    col = page.canvas.free_column(chart_rows(TITLE_ROWS, height), 0) + 1
    page.ws.insert_chart(TITLE_ROWS, col, chart, {"x_scale": x_scale, "y_scale": y_scale})
    page.canvas.add_chart(TITLE_ROWS, col, width, height)


def _finish(chart: Any, title: str, x: str, y: str) -> None:
    chart.set_title({"name": title, "name_font": {"size": 11}})
    chart.set_x_axis({"name": x, "label_position": "low"})  # category labels below negative bars, not on them
    chart.set_y_axis({"name": y, "major_gridlines": {"visible": True, "line": {"color": "#E0E0E0"}}})
    chart.set_legend({"position": "bottom"})
