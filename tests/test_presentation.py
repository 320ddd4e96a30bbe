"""The workbook as people open it: Guide links, labels and notes, validation, conditional formats, charts, checks."""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

import openpyxl
import pytest
from conftest import blueprint_of
from defusedxml import ElementTree as DET
from xlsxwriter.utility import xl_rowcol_to_cell

import sheets
from blueprint import guide, quotes
from blueprint.config import HYPERPARAMETERS, SWITCHES, load_config
from blueprint.layout import SHEETS
from blueprint.workbook import Blueprint


@pytest.fixture(scope="module")
def bp() -> Blueprint:
    return blueprint_of(load_config("small"))


@pytest.fixture(scope="module")
def wb(small_path: Path) -> openpyxl.Workbook:
    return openpyxl.load_workbook(small_path)


def links(ws) -> dict[str, str]:  # noqa: ANN001
    return {c.coordinate: c.hyperlink.location for row in ws.iter_rows() for c in row if c.hyperlink is not None}


def test_every_sheet_is_reachable_from_the_guide_index(wb: openpyxl.Workbook) -> None:
    targets = {loc.split("!")[0].strip("'") for loc in links(wb["Guide"]).values()}
    assert set(SHEETS[1:]) <= targets
    for sheet in SHEETS[1:]:  # and every sheet links back
        assert "Guide!A1" in links(wb[sheet]).values()


def test_every_piece_links_to_its_block(wb: openpyxl.Workbook, bp: Blueprint) -> None:
    guide_links = links(wb["Guide"])
    rows = {c.value: c.row for c in wb["Guide"]["A"] if c.value}
    assert len(guide.PIECES) >= 25
    for piece, equation, sheet, quantity, _ in guide.PIECES:
        loc = guide_links[f"C{rows[piece]}"]
        target_sheet, cell = loc.replace("'", "").split("!")
        block = bp.layout.block(sheet, quantity)
        first = block.pos((0,) * len(block.shape))
        assert (target_sheet, cell) == (sheet, xl_rowcol_to_cell(*first)), piece
        assert wb[target_sheet][cell].value is not None, piece
        assert wb["Guide"][f"B{rows[piece]}"].value == equation


def test_every_block_has_a_label_and_a_note(wb: openpyxl.Workbook, bp: Blueprint) -> None:
    for block in bp.layout.blocks.values():
        r, c = block.label_at
        cell = wb[block.sheet].cell(r + 1, c + 1)
        assert isinstance(cell.value, str) and cell.value.strip(), f"{block.sheet}!{cell.coordinate}: no label for {block.quantity}"
        assert cell.comment is not None and cell.comment.text.startswith("# "), f"{block.sheet}!{cell.coordinate}: no note for {block.quantity}"
        assert "↳" in cell.comment.text


def test_code_lines_of_the_three_frameworks_sit_beside_their_blocks(wb: openpyxl.Workbook, bp: Blueprint) -> None:
    for quantity, key in sheets.CODED.items():
        code = quotes.code(key)
        sheet = next(s for (s, q) in bp.layout.blocks if q == quantity)
        cells = {c.value: c for row in wb[sheet].iter_rows() for c in row if isinstance(c.value, str)}
        for quote in code:
            cell = cells.get(f"{quote.framework}: {quote.shown}")
            assert cell is not None, (quantity, quote.framework)
            assert cell.comment is not None and quote.where in cell.comment.text, (quantity, quote.framework)  # file:line @ commit


def test_every_config_value_cell_is_validated(wb: openpyxl.Workbook, bp: Blueprint) -> None:
    ws = wb["Config"]
    covered = {}
    for dv in ws.data_validations.dataValidation:
        for rng in str(dv.sqref).split():
            covered[rng] = dv
    for key in HYPERPARAMETERS:
        addr = bp.layout.a1("Config", key)
        assert addr in covered, f"{key} ({addr}) has no validation"
        dv = covered[addr]
        assert dv.prompt and dv.showInputMessage is not False
        if key in SWITCHES:
            assert dv.type == "list" and dv.formula1.strip('"').split(",") == list(SWITCHES[key])
    assert covered[bp.layout.a1("Config", "gamma")].type == "decimal"


def test_conditional_formats_cover_the_clip_blocks_and_masks(wb: openpyxl.Workbook, bp: Blueprint) -> None:
    def ranges(sheet: str) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for cf in wb[sheet].conditional_formatting:
            out.setdefault(str(cf.sqref), []).extend(f for rule in cf.rules for f in (rule.formula or []))
        return out

    for sheet, quantity, flag, mask in (("Clip", "pg_losses", "pg_clipped", "Rollout!"), ("Value Loss", "vf_losses", "vf_clipped", "Reward!")):
        span = bp.layout.range(sheet, quantity)
        rules = ranges(sheet)[span]
        assert f"{bp.layout.a1(sheet, flag, 0, 0)}=1" in rules
        assert any(mask in f and f.endswith("=0") for f in rules), "masked tokens greyed (V's path: after the score's slot, mask_v)"
    rollout = ranges("Rollout")
    p = bp.layout.block("Rollout", "p")
    a, z = p.pos((0, 0, 0)), p.pos((0, p.shape[1] - 1, p.shape[2] - 1))
    assert f"{xl_rowcol_to_cell(*a)}:{xl_rowcol_to_cell(*z)}" in rollout


def chart_refs(path: Path) -> list[set[str]]:
    with zipfile.ZipFile(path) as z:
        charts = sorted(n for n in z.namelist() if re.fullmatch(r"xl/charts/chart\d+\.xml", n))
        return [{f.text for f in DET.fromstring(z.read(n)).iter("{http://schemas.openxmlformats.org/drawingml/2006/chart}f")} for n in charts]


def test_charts_point_at_the_right_ranges(small_path: Path, bp: Blueprint) -> None:
    refs = chart_refs(small_path)
    assert len(refs) == 5
    L = bp.layout

    def row(sheet: str, quantity: str, b: int) -> str:
        return L.span(sheet, quantity, (b, 0), (b, L.dims.T - 1), here="").replace("'", "")

    def absolute(ref: str) -> str:
        return re.sub(r"([A-Z]+)(\d+)", r"$\1$\2", ref.replace("'", ""))

    flat = [{r.replace("'", "") for r in chart} for chart in refs]
    expected = [
        {absolute(row("GAE", "advantages", 0)), absolute(row("GAE", "adv_whitened", 0))},
        {absolute(row("Clip", "ratio_real", 0)), absolute(row("Clip", "band_low", 0)), absolute(row("Clip", "band_high", 0))},
        {absolute(row("KL", "non_score_reward", 0)), absolute(row("KL", "rewards", 0))},
        {absolute(row("Clip", "ratio_real", 0)), absolute(row("After Step", "ratio_real_next", 0)), absolute(row("Clip", "band_low", 0)),
         absolute(row("Clip", "band_high", 0))},  # ρ before and after the step, against the same band
    ]
    for want in expected:
        assert any(want <= chart for chart in flat), want
    parts = [L.block("Total", q).top + 1 for q in ("part_pg", "part_kl")]
    assert any(f"Total!$B${parts[0]}:$B${parts[1]}" in chart for chart in flat)


def test_clip_chart_draws_real_tokens_only_and_tells_the_band_edges_apart(small_path: Path, bp: Blueprint) -> None:
    """ρ comes from ratio_real (#N/A after the first EOS: a gap), never from Ratio's ρ, which runs on over
    masked tokens; the floor and the ceiling of the band differ in line style and in their legend names."""
    c = "{http://schemas.openxmlformats.org/drawingml/2006/chart}"
    with zipfile.ZipFile(small_path) as z:
        charts = [DET.fromstring(z.read(n)) for n in z.namelist() if re.fullmatch(r"xl/charts/chart\d+\.xml", n)]
    L, T = bp.layout, bp.layout.dims.T
    band = {q: L.span("Clip", q, (0, 0), (0, T - 1), here="") for q in ("band_low", "band_high")}
    clip = next(ch for ch in charts if any(f.text.replace("$", "") == band["band_low"] for f in ch.iter(c + "f")))
    series = {s.find(f"{c}val/{c}numRef/{c}f").text.replace("$", ""): s for s in clip.iter(c + "ser")}
    ratios = {ref for ref in series if ref not in band.values()}
    assert ratios == {L.span("Clip", "ratio_real", (b, 0), (b, T - 1), here="") for b in range(min(L.dims.B, 2))}
    low, high = (series[band[q]] for q in ("band_low", "band_high"))
    line = [DET.tostring(s.find(c + "spPr")) for s in (low, high)]
    assert line[0] != line[1] and all(b"prstDash" in x for x in line)
    names = [s.find(f"{c}tx/{c}v").text for s in series.values()]
    assert len(set(names)) == len(names)
    assert clip.find(f"{c}chart/{c}dispBlanksAs").get("val") == "span"  # else LibreOffice plots a #N/A as 0
    assert "NA()" in next(x.formula for x in bp.formula_cells() if x.quantity == "ratio_real")


def test_styles_tabs_panes_and_print_setup(wb: openpyxl.Workbook, bp: Blueprint) -> None:
    for sheet in SHEETS:
        ws = wb[sheet]
        assert ws.sheet_properties.tabColor is not None, sheet
        assert ws.page_setup.orientation == "landscape", sheet  # scale, print areas and page breaks: tests/test_print.py
        if sheet != "Guide":
            assert ws.freeze_panes == "B4", sheet
            assert ws.print_title_rows.replace("$", "") == "1:2", sheet
    colours = {wb[s].sheet_properties.tabColor.rgb for s in ("Rollout", "KL", "GAE", "Clip")}
    assert len(colours) == 4  # one colour per phase
    w = bp.layout.block("Weights", "old.W_xh").pos((0, 0))
    assert wb["Weights"].cell(w[0] + 1, w[1] + 1).fill.fgColor.rgb.endswith("FFF2CC")  # inputs in light yellow
    assert wb["Weights"].cell(w[0] + 1, w[1] + 1).number_format == "0.0000"


def test_check_rows_are_ok_in_a_fresh_workbook(bp: Blueprint) -> None:
    checks = [c for c in bp.formula_cells() if c.quantity.endswith("check")]
    assert len(checks) == 2 * bp.layout.dims.B * bp.layout.dims.T + 5  # softmax rows on Rollout and Ratio; whitening (2), pg_agg, vf_agg, total
    assert {c.value for c in checks} == {"OK"}


@pytest.mark.libreoffice
def test_check_rows_stay_live(small_path: Path, tmp_path: Path, bp: Blueprint) -> None:
    """Overwrite total_loss with a typed number: after recalculation the Total check shows the discrepancy."""
    from blueprint.libreoffice import recalculated_values

    edited = tmp_path / "broken.xlsx"
    wb = openpyxl.load_workbook(small_path)
    total = bp.layout.a1("Total", "total_loss")
    wb["Total"][total] = 99.0
    wb.save(edited)
    values = recalculated_values(edited)
    check = values["Total", bp.layout.a1("Total", "total_check")]
    expected_total = next(c.value for c in bp.formula_cells() if c.quantity == "total_loss")
    assert check == pytest.approx(99.0 - expected_total, abs=1e-9)
    assert values["Rollout", bp.layout.a1("Rollout", "p_check", 0, 0)] == "OK"


