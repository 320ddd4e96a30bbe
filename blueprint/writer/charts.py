"""Native charts: advantages raw and whitened, the ratio against the clip band, KL penalty and reward, the loss in parts."""

from __future__ import annotations

from typing import Any

from blueprint.canvas import chart_rows
from blueprint.layout import TITLE_ROWS
from blueprint.workbook import Blueprint
from blueprint.writer.paint import Sheet

CHART_PIXELS = (480, 288)  # xlsxwriter's chart size at scale 1
# The clip band's two edges in the Clip chart: the floor dashed dark red, the ceiling long-dashed orange.
BAND_LINES = (("band_low", "1 - ε (floor)", {"dash_type": "dash", "color": "#C00000", "width": 1.5}),
              ("band_high", "1 + ε_high (ceiling)", {"dash_type": "long_dash", "color": "#ED7D31", "width": 1.5}))


def charts(wb: Any, pages: dict[str, Sheet], bp: Blueprint) -> None:
    """Advantages raw vs whitened; ratio against the clip band; KL penalty and reward; the loss in parts."""
    L, d = bp.layout, bp.layout.dims
    seqs = range(min(d.B, 2))

    def row_ref(sheet: str, quantity: str, b: int) -> list[Any]:
        block = L.block(sheet, quantity)
        (r0, c0), (r1, c1) = block.pos((b, 0)), block.pos((b, d.T - 1))
        return [sheet, r0, c0, r1, c1]

    categories = row_ref("GAE", "advantages", 0)
    categories[1] = categories[3] = L.block("GAE", "advantages").header_row  # t=0, t=1, …

    def columns(sheet: str, series: tuple[tuple[str, str], ...], title: str, y: str) -> None:
        """Per-token columns of the first sequences, each (name, quantity) of `series` side by side."""
        chart = wb.add_chart({"type": "column"})
        for b in seqs:
            for name, quantity in series:
                chart.add_series({"name": f"{name}, seq {b}", "categories": categories, "values": row_ref(sheet, quantity, b)})
        _finish(chart, title, "t", y)
        _place(pages[sheet], chart, 1.3, 1.2)

    columns("GAE", (("A (raw)", "advantages"), ("Â (whitened)", "adv_whitened")), "Advantages per token: raw A_t and whitened Â_t", "advantage")

    def ratios(sheet: str, series: tuple[tuple[str, str, str], ...], title: str) -> None:
        """ρ on real tokens against the clip band: a #N/A cell (after the first EOS) is a gap in the line."""
        chart = wb.add_chart({"type": "line"})
        for b in seqs:
            for name, at, quantity in series:
                chart.add_series({"name": f"{name}, seq {b}", "categories": categories, "values": row_ref(at, quantity, b),
                                  "marker": {"type": "circle" if at == "Clip" else "diamond"}})
        for q, name, line in BAND_LINES:
            chart.add_series({"name": name, "categories": categories, "values": row_ref("Clip", q, 0), "line": line, "marker": {"type": "none"}})
        # A #N/A point is a missing one. xlsxwriter writes no dispBlanksAs for "gap" and LibreOffice then plots it
        # as 0; "span" (connect over missing points) it honours, and as masked tokens only trail the real ones,
        # there is nothing to connect to: each line ends at its last real token, in LibreOffice and Excel alike.
        chart.show_blanks_as("span")
        _finish(chart, title, "t", "ρ")
        _place(pages[sheet], chart, 1.3, 1.2)

    ratios("Clip", (("ρ (real tokens)", "Clip", "ratio_real"),), "Ratio ρ_t against the clip band")
    ratios("After Step", (("ρ before the step", "Clip", "ratio_real"), ("ρ' after it", "After Step", "ratio_real_next")),
           "Ratio before and after the step, against the clip band")

    columns("KL", (("-β·k_t", "non_score_reward"), ("r_t", "rewards")), "Per-token KL penalty and shaped reward", "reward")

    parts = [L.block("Total", q) for q in ("part_pg", "part_vf", "part_ent", "part_kl")]
    chart = wb.add_chart({"type": "bar"})
    (r0, words), (r1, _) = parts[0].words_at, parts[-1].words_at
    chart.add_series({"name": "share of the total loss", "categories": ["Total", r0, words, r1, words],
                      "values": ["Total", r0, parts[0].left, r1, parts[0].left], "data_labels": {"value": True, "num_format": "0.0000"}})
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
