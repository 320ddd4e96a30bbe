"""Rules Excel and LibreOffice apply themselves: data validation on Config, conditional formats on the blocks."""

from __future__ import annotations

from typing import Any

from blueprint import a1 as A1
from blueprint.config import ALLOWED, HYPERPARAMETERS, OneOf, Range
from blueprint.workbook import Blueprint
from blueprint.writer.paint import COLOURS


def validate_config(w: Any, bp: Blueprint) -> None:
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


def conditional_formats(wb: Any, ws: dict[str, Any], bp: Blueprint) -> None:
    """Clipped tokens, masked (post-EOS) tokens — post-score-slot for the grids on V's path (Q.value_slots) — probability heat
    maps and check cells."""
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
        m = L.a1("Reward", "mask_v", 0, 0, here=b.sheet) if b.q.value_slots else L.a1("Rollout", "mask", 0, 0, here=b.sheet)
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
