"""The Guide sheet: its story and the switches' words are live formulas (sheets/guide.py), the rest is text."""

from __future__ import annotations

import sheets
from blueprint import __version__, a1 as A1, guide
from blueprint.config import HYPERPARAMETERS, SWITCHES, Config, as_dict, departures
from blueprint.layout import SHEETS, guide_rows
from blueprint.workbook import Blueprint
from blueprint.writer.pages import note
from blueprint.writer.paint import NOTE_SIZE, Sheet


def write_guide(page: Sheet, bp: Blueprint, command: str) -> None:
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
        target = L.cell(sheet, quantity, *(0,) * len(L.block(sheet, quantity).shape))
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
        if ("switch_now", (k,)) in live:  # a blueprint missing a cell (a mutant) is written without it, as any other sheet
            cell = live["switch_now", (k,)]
            page.formula(cell.row, cell.col, cell.formula, cell.value, "plain")
        page.text(L.block("Guide", "switch_now").pos((k,))[0], 1, HYPERPARAMETERS[key])
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
