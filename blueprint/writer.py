"""Write a built blueprint as an .xlsx that reads like a worked example.

One xlsxwriter pass: cells with their cached values, then what makes the workbook teachable —
labels and notes on every block, the frameworks' code beside it, styles, tab colours, frozen
titles, validation on Config, conditional formats (clipped tokens, masked tokens, heat-mapped
probabilities, checks), native charts, and print setup. The file is written to a temporary
name and renamed into place, so a failure never leaves half a workbook at the path.
"""

from __future__ import annotations

import datetime as _dt
import os
import tempfile
from pathlib import Path
from typing import Any

import xlsxwriter
from xlsxwriter.utility import xl_rowcol_to_cell

import sheets
from blueprint import __version__, guide
from blueprint.config import SWITCHES, as_dict
from blueprint.errors import BlueprintError
from blueprint.layout import SHEETS, TITLE_ROWS, Block, Layout, sheet_prefix
from blueprint.workbook import NA, Blueprint, Cell

CREATED = _dt.datetime(2024, 1, 1)  # fixed, so equal content gives a byte-identical file
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
    "link": {"font_color": "#0563C1", "underline": 1},
    "masked": {"font_color": COLOURS["masked"], "italic": True, "num_format": "0.0000"},
}
INTEGER_QUANTITIES = {"x", "tokens", "is_eos", "mask", "n_tokens", "n_real", "last_idx", "has_eos", "is_last", "pg_clipped",
                      "vf_clipped", "eos_id", "kl_in_reward", "kl_in_loss"}
KEY_QUANTITIES = {"score", "total_loss", "pg_loss", "vf_loss", "pg_clipfrac", "vf_clipfrac", "approx_kl", "entropy", "kl_loss", "beta_next"}
CHECK_QUANTITIES = {"p_check", "adv_mean_check", "adv_std_check", "total_check"}
MODEL_TITLES = {
    "ref": "θ_ref — the frozen SFT model (reference for the KL penalty)",
    "old": "θ_old — the policy that sampled the batch; φ_old its value head",
    "new": "θ — the policy after a PPO update; φ its value head",
    "rm": "reward model — same RNN, one scalar output read at the last real token",
}
WEIGHTS_TEXT = {
    "TITLE": "Weights — θ_ref, θ_old, θ, the critics φ_old and φ, and the reward model (inputs: edit them)",
    "SUMMARY": "h = tanh(W_xh[:, x] + W_hh·h + b_h);  z = W_hy·h + b_y;  V = w_v·h + b_v.  Rows of W_xh are hidden units, columns tokens.",
}
# (sheet, quantity) pairs dressed with a conditional format: highlight where the flag block is 1.
CLIP_HIGHLIGHTS = {
    ("Clip", "pg_losses"): ("Clip", "pg_clipped"), ("Clip", "ratio_clipped"): ("Clip", "pg_clipped"),
    ("Value Loss", "vf_losses"): ("Value Loss", "vf_clipped"), ("Value Loss", "values_clipped"): ("Value Loss", "vf_clipped"),
}
# The clip band's two edges in the Clip chart: the floor dashed dark red, the ceiling long-dashed orange.
BAND_LINES = (("band_low", "1 - ε (floor)", {"dash_type": "dash", "color": "#C00000", "width": 1.5}),
              ("band_high", "1 + ε_high (ceiling)", {"dash_type": "long_dash", "color": "#ED7D31", "width": 1.5}))


def write(bp: Blueprint, path: Path, command: str = "") -> None:
    """Write the workbook atomically: a temp file in the target folder, renamed into place at the end."""
    path = Path(path)
    if path.suffix.lower() != ".xlsx":
        raise BlueprintError(f"output {path}: the file name must end in .xlsx")
    if not path.parent.exists():
        raise BlueprintError(f"output {path}: folder {path.parent} does not exist; create it or choose another -o PATH")
    if path.is_dir():
        raise BlueprintError(f"output {path}: is a folder; give a file name ending in .xlsx")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".xlsx.tmp", dir=path.parent)
    except OSError as exc:
        raise BlueprintError(f"output {path}: cannot write in {path.parent} ({exc.strerror}); choose another -o PATH") from None
    os.close(fd)
    try:
        _write_xlsx(bp, Path(tmp), command)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def label_position(layout: Layout, block: Block) -> tuple[int, int]:
    """Where a block's label (and its note) sits; the tests hold every block to having one."""
    if block.form == "grid":
        return block.top - 2, 0
    if block.form == "table":
        return block.top - 1, block.left
    if block.form == "scalar":
        return block.top, 0
    if block.form == "unroll":
        return layout.block(block.sheet, "x").pos((0, 0))[0] - 1, block.left
    if block.form == "matrix":
        return block.top - 1, 0 if block.left == 1 else block.left
    return block.top - 1, 0  # row


def labels_of(sheet: str) -> dict[str, str]:
    """Maths-and-words labels of a sheet's quantities."""
    return {m.SHEET: m.LABELS for m in sheets.MODULES}.get(sheet, {})


def _write_xlsx(bp: Blueprint, path: Path, command: str) -> None:
    wb = xlsxwriter.Workbook(str(path), {"strings_to_numbers": False, "strings_to_formulas": False, "strings_to_urls": False})
    wb.set_properties({"title": guide.TITLE, "author": "rlhf-ppo-blueprint", "created": CREATED, "comments": f"rlhf-ppo-blueprint {__version__}"})
    wb.set_calc_mode("auto")
    fmt = {k: wb.add_format(v) for k, v in STYLE.items()}
    ws = {name: wb.add_worksheet(name) for name in SHEETS}
    for name, w in ws.items():
        _setup_sheet(w, name, bp)
        w._prepare_formula = _prepare_formula  # see _prepare_formula
    _write_guide(ws["Guide"], fmt, bp, command)
    texts = {m.SHEET: (m.TITLE, m.SUMMARY) for m in sheets.MODULES} | {"Weights": (WEIGHTS_TEXT["TITLE"], WEIGHTS_TEXT["SUMMARY"])}
    for sheet, (title, summary) in texts.items():
        ws[sheet].write_string(0, 0, title, fmt["title"])
        ws[sheet].write_string(1, 0, summary, fmt["subtitle"])
        ws[sheet].write_url(0, 12, "internal:Guide!A1", fmt["link"], string="← Guide")
    for block in bp.layout.blocks.values():
        _dress(ws[block.sheet], fmt, bp, block)
    for cell in bp.cells:
        _write_cell(ws[cell.sheet], fmt, cell)
    for name, ref in bp.names.items():
        wb.define_name(name, f"={ref}")
    _validate_config(ws["Config"], bp)
    _conditional_formats(wb, ws, bp)
    _charts(wb, ws, bp)
    wb.close()


def _setup_sheet(w: Any, name: str, bp: Blueprint) -> None:
    w.set_tab_color(guide.TAB_COLOURS[name])
    w.set_landscape()
    w.set_paper(9)  # A4
    w.set_margins(left=0.4, right=0.4, top=0.5, bottom=0.5)
    w.fit_to_pages(1, 0)  # fit to width, as many pages down as needed
    w.hide_gridlines(1)  # gridlines on screen, not on paper
    if name == "Guide":
        w.set_column(0, 0, 48)
        w.set_column(1, 1, 72)
        w.set_column(2, 2, 22)
        return
    w.set_column(0, 0, 36)
    w.set_column(1, 4 * bp.layout.dims.V + bp.layout.dims.H + 12, 9)
    if name == "Config":
        w.set_column(1, 1, 20)  # text switches such as seq-mean-token-mean
    w.freeze_panes(TITLE_ROWS, 1)
    w.repeat_rows(0, 1)


def _prepare_formula(formula: str, expand_future_functions: bool = False) -> str:
    """xlsxwriter's formula preparation without its ~30 regex passes for Excel 365 functions.

    Our formulas use classic functions only (docs/design.md §5, enforced by the linter), for which
    xlsxwriter's own preparation reduces to dropping the leading `=`; its regexes for dynamic
    arrays cost half of generation time. tests/test_generate.py holds the output byte-identical
    to stock preparation.
    """
    return formula[1:] if formula.startswith("=") else formula


def _style(cell: Cell) -> str:
    if cell.kind == "config":
        return "fixed" if cell.quantity in ("B", "P", "T", "V", "H") else "config"
    if cell.kind == "input":
        return "input_int" if cell.quantity == "prompts" else "input"
    if cell.quantity in CHECK_QUANTITIES:
        return "check"
    if isinstance(cell.value, str) and cell.value != NA:  # an error value keeps its block's number style
        return "text"
    if cell.quantity in KEY_QUANTITIES:
        return "key"
    return "integer" if cell.quantity in INTEGER_QUANTITIES else "formula"


def _write_cell(w: Any, fmt: dict, cell: Cell) -> None:
    style = fmt[_style(cell)]
    if cell.formula is not None:
        w.write_formula(cell.row, cell.col, cell.formula, style, cell.value)
    elif isinstance(cell.value, str):
        w.write_string(cell.row, cell.col, cell.value, style)
    else:
        w.write_number(cell.row, cell.col, cell.value, style)


def _dress(w: Any, fmt: dict, bp: Blueprint, b: Block) -> None:
    """Label (with its note), headers, row labels and code lines around one block."""
    L, vocab = bp.layout, bp.config.vocab
    label = labels_of(b.sheet).get(b.quantity, b.quantity)
    lr, lc = label_position(L, b)
    if b.form == "grid":
        text = f"{b.quantity}: {label}"
    elif b.form == "scalar":
        text = b.quantity  # the maths label goes right of the value, where it has room
    elif b.form == "unroll":
        text = _unroll_heads(b, vocab)[0]
    else:
        text = label if b.form == "row" else _table_head(b.quantity) if b.form == "table" else b.quantity
    w.write_string(lr, lc, text, fmt["label"] if b.form in ("grid", "scalar", "matrix", "row") else fmt["header"])
    w.write_comment(lr, lc, guide.note(b.sheet, b.quantity, label), {"x_scale": 2.2, "y_scale": 1.2})
    if b.form == "grid":
        rows, cols = b.shape
        axis = "j" if b.quantity == "prompts" else "t"
        for k in range(cols):
            w.write_string(b.top - 1, b.left + k, f"{axis}={k}", fmt["header"])
        for k in range(rows):
            w.write_string(b.top + k, 0, "all t" if rows == 1 and b.quantity.startswith("band") else f"seq {k}", fmt["header"])
        _code_lines(w, fmt, b.quantity, b.top - 2, b.left + cols + 1)
    elif b.form == "table":
        table_width = sum(1 for o in L.sheet_blocks(b.sheet) if o.form == "table" and o.top == b.top)
        _code_lines(w, fmt, b.quantity, b.top - 2, table_width + 3)
        if b.left == 1:
            w.write_string(b.top - 2, 0, "per sequence: " + label, fmt["label"])
            for k in range(b.shape[0]):
                w.write_string(b.top + k, 0, f"seq {k}", fmt["header"])
    elif b.form == "scalar":
        w.write_string(b.top, b.left + 1, label, fmt["subtitle"])
        _code_lines(w, fmt, b.quantity, b.top, L.dims.T + 2)
    elif b.form == "unroll":
        x = L.block(b.sheet, "x")
        heads = _unroll_heads(b, vocab)
        for seq in range(b.shape[0]):
            header_row = x.pos((seq, 0))[0] - 1
            for k, head in enumerate(heads):
                if (header_row, b.left + k) != (lr, lc):
                    w.write_string(header_row, b.left + k, head, fmt["header"])
            if b.quantity == "x":
                w.write_string(header_row - 1, 0, f"sequence {seq}", fmt["label"])
                for j in range(x.shape[1]):
                    w.write_string(x.pos((seq, j))[0], 0, f"j={j}", fmt["header"])
    elif b.form == "matrix":
        model, _, param = b.quantity.partition(".")
        if param == "W_xh":
            w.write_string(b.top - 2, 0, MODEL_TITLES[model], fmt["title"])
            for k, tok in enumerate(vocab):
                w.write_string(b.top - 1, b.left + k, tok, fmt["header"])
        if param in ("W_xh", "W_hy"):
            for k in range(b.shape[0]):
                w.write_string(b.top + k, 0, f"{'unit' if param == 'W_xh' else 'out'} {k}", fmt["header"])
    elif b.form == "row":
        for k in range(b.shape[0]):
            w.write_string(b.top - 1, b.left + k, f"{k}", fmt["header"])


def _table_head(quantity: str) -> str:
    """Per-sequence columns are 9 characters wide: `pg_seq_sum` reads as Σ_t·m, `pg_seq_mean` as Σ_t·m/n."""
    return "Σ_t·m" if quantity.endswith("_seq_sum") else "Σ_t·m / n" if quantity.endswith("_seq_mean") else quantity


def _unroll_heads(b: Block, vocab: tuple[str, ...]) -> list[str]:
    if len(b.shape) == 2:
        return [b.quantity]
    names = vocab if b.quantity in ("logits", "exp", "p", "lower") else [str(k) for k in range(b.shape[2])]
    return [f"{b.quantity}:{n}" for n in names]


def _code_lines(w: Any, fmt: dict, quantity: str, row: int, col: int) -> None:
    """The same step in TRL, OpenRLHF and verl, one line each, beside the block."""
    for k, (who, code) in enumerate(zip(("TRL", "OpenRLHF", "verl"), guide.CODE.get(quantity, ()))):
        w.write_string(row + k, col, f"{who}: {code}", fmt["code"])


def _write_guide(w: Any, fmt: dict, bp: Blueprint, command: str) -> None:
    w.write_string(0, 0, guide.TITLE, fmt["title"])
    w.write_string(1, 0, guide.SUBTITLE, fmt["subtitle"])
    row = 3
    w.write_string(row, 0, "One PPO iteration, in plain words", fmt["label"])
    for k, line in enumerate(guide.STORY, start=1):
        w.merge_range(row + k, 0, row + k, 2, line, fmt["wrap"])
        w.set_row(row + k, 30)
    row += len(guide.STORY) + 2
    w.write_string(row, 0, "Legend", fmt["label"])
    samples = {"input": "0.1234", "formula": "0.1234", "key": "0.123456", "check": "OK", "masked": "0.1234"}  # text: no stray constants
    for k, (style, text) in enumerate(guide.LEGEND, start=1):
        w.write_string(row + k, 0, samples[style], fmt[style])
        w.write_string(row + k, 1, text)
    row += len(guide.LEGEND) + 2
    w.write_string(row, 0, "Sheets", fmt["label"])
    summaries = {m.SHEET: m.TITLE for m in sheets.MODULES} | {"Weights": WEIGHTS_TEXT["TITLE"]}
    for k, sheet in enumerate(SHEETS[1:], start=1):
        w.write_url(row + k, 0, f"internal:{sheet_prefix(sheet)}A1", fmt["link"], string=sheet)
        w.write_string(row + k, 1, summaries[sheet])
    row += len(SHEETS) + 1
    w.write_string(row, 0, "The pieces of RLHF with PPO", fmt["label"])
    w.write_string(row, 1, "equation", fmt["label"])
    w.write_string(row, 2, "where it lives", fmt["label"])
    for k, (piece, equation, sheet, quantity) in enumerate(guide.PIECES, start=1):
        block = bp.layout.block(sheet, quantity)
        first = block.pos((0,) * len(block.shape))
        target = f"{sheet_prefix(sheet)}{xl_rowcol_to_cell(*first)}"
        w.write_string(row + k, 0, piece)
        w.write_string(row + k, 1, equation)
        w.write_url(row + k, 2, f"internal:{target}", fmt["link"], string=target.replace("'", ""))
    row += len(guide.PIECES) + 2
    c = bp.config
    w.write_string(row, 0, f"Convention: {c.convention}", fmt["label"])
    w.write_string(row, 1, "the switches on Config, as this workbook was generated (flip them on Config: everything re-flows)")
    config_labels = labels_of("Config")
    for k, key in enumerate(SWITCHES, start=1):
        w.write_string(row + k, 0, f"{key} = {getattr(c, key)}")
        w.write_string(row + k, 1, config_labels[key])
    row += len(SWITCHES) + 2
    w.write_string(row, 0, "Provenance", fmt["label"])
    prov = {"tool": f"rlhf-ppo-blueprint {__version__}", "command": command or "blueprint generate", **{k: str(v) for k, v in as_dict(c).items()}}
    for k, (key, value) in enumerate(prov.items(), start=1):
        w.write_string(row + k, 0, key)
        w.write_string(row + k, 1, value)


def _validate_config(w: Any, bp: Blueprint) -> None:
    """Refuse a bad edit in Excel and LibreOffice themselves, with the rule as the input message."""
    labels = labels_of("Config")
    rules: dict[str, dict[str, Any]] = {}
    for key, allowed in SWITCHES.items():
        rules[key] = {"validate": "list", "source": list(allowed)}
    for key in ("gamma", "lam"):
        rules[key] = {"validate": "decimal", "criteria": "between", "minimum": 0, "maximum": 1}
    for key in ("tau", "eps_high", "eps_v", "whiten_eps", "kl_target", "kl_horizon", "kl_ctl_clip", "check_tol"):
        rules[key] = {"validate": "decimal", "criteria": ">", "value": 0}
    for key in ("beta", "kl_loss_coef", "vf_coef", "ent_coef", "missing_eos_penalty", "logratio_clamp"):
        rules[key] = {"validate": "decimal", "criteria": ">=", "value": 0}
    rules["eps"] = {"validate": "decimal", "criteria": "between", "minimum": 1e-9, "maximum": 0.999999999}
    rules["missing_eos_score"] = {"validate": "decimal", "criteria": "between", "minimum": -1e9, "maximum": 1e9}
    dual = bp.layout.a1("Config", "dual_clip")
    rules["dual_clip"] = {"validate": "custom", "value": f"=OR({dual}=0,{dual}>1)"}
    for key, rule in rules.items():
        r, c = bp.layout.block("Config", key).pos(())
        message = labels[key][:250]
        w.data_validation(r, c, r, c, {**rule, "input_title": key[:32], "input_message": message,
                                        "error_title": f"{key}: not allowed"[:32], "error_message": f"{key}: {message}"[:250]})


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
        flag = CLIP_HIGHLIGHTS.get((b.sheet, b.quantity))
        if flag:
            src = L.a1(*flag, 0, 0, here=b.sheet)
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
        if b.quantity in CHECK_QUANTITIES:
            cells = [pos for _, *pos in b.cells()]
            (r0, c0), (r1, c1) = cells[0], cells[-1]
            ws[b.sheet].conditional_format(r0, c0, r1, c1, {"type": "cell", "criteria": "==", "value": '"OK"', "format": ok})
            ws[b.sheet].conditional_format(r0, c0, r1, c1, {"type": "cell", "criteria": "!=", "value": '"OK"', "format": bad})


def _charts(wb: Any, ws: dict[str, Any], bp: Blueprint) -> None:
    """Advantages raw vs whitened; ratio against the clip band; KL penalty and reward; the loss in parts."""
    L, d = bp.layout, bp.layout.dims
    seqs = range(min(d.B, 2))
    at_col = d.T + 10  # right of the blocks and their code lines (the longest stacked ones end in column T + 8)

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
    ws["GAE"].insert_chart(TITLE_ROWS, at_col, chart, {"x_scale": 1.3, "y_scale": 1.2})

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
    ws["Clip"].insert_chart(TITLE_ROWS, at_col, chart, {"x_scale": 1.3, "y_scale": 1.2})

    chart = wb.add_chart({"type": "column"})
    for b in seqs:
        chart.add_series({"name": f"-β·k_t, seq {b}", "categories": categories, "values": row_ref("KL", "non_score_reward", b)})
        chart.add_series({"name": f"r_t, seq {b}", "categories": categories, "values": row_ref("KL", "rewards", b)})
    _finish(chart, "Per-token KL penalty and shaped reward", "t", "reward")
    kl_right = max(c for b in L.sheet_blocks("KL") for _, _, c in b.cells())  # right of the wide θ_ref unroll
    ws["KL"].insert_chart(TITLE_ROWS, max(at_col, kl_right + 2), chart, {"x_scale": 1.3, "y_scale": 1.2})

    parts = [L.block("Total", q) for q in ("part_pg", "part_vf", "part_ent", "part_kl")]
    chart = wb.add_chart({"type": "bar"})
    chart.add_series({"name": "share of the total loss", "categories": ["Total", parts[0].top, 2, parts[-1].top, 2],
                      "values": ["Total", parts[0].top, 1, parts[-1].top, 1], "data_labels": {"value": True, "num_format": "0.0000"}})
    _finish(chart, "The total loss, broken into its parts", "loss", "")
    chart.set_legend({"none": True})
    # Under the kl_loss_token code lines, right of its grid, above beta_next's code line: covers no text.
    ws["Total"].insert_chart(L.block("Total", "kl_loss_token").top + 1, d.T + 2, chart, {"x_scale": 1.4, "y_scale": 1.1})


def _finish(chart: Any, title: str, x: str, y: str) -> None:
    chart.set_title({"name": title, "name_font": {"size": 11}})
    chart.set_x_axis({"name": x, "label_position": "low"})  # category labels below negative bars, not on them
    chart.set_y_axis({"name": y, "major_gridlines": {"visible": True, "line": {"color": "#E0E0E0"}}})
    chart.set_legend({"position": "bottom"})
