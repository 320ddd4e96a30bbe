"""Assemble the workbook: every cell as data first (`build`), then one xlsxwriter pass (`write`).

`build` is pure — config and inputs in, a `Blueprint` out — so the verifier can rebuild the
exact formulas and expected values for a workbook it reads back, and tests can inspect cells
without touching a file.
"""

from __future__ import annotations

import datetime as _dt
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import xlsxwriter

import sheets
from blueprint import __version__
from blueprint.config import Config, as_dict
from blueprint.errors import BlueprintError
from blueprint.inputs import hyper
from blueprint.layout import HYPERPARAMETERS, SHEETS, Block, Dims, Layout, build_layout, sheet_prefix
from reference import Inputs, Quantities, run

# Workbook-level names for the key quantities (DESIGN.md §4): name -> (sheet, quantity).
NAMED_QUANTITIES = {
    "vocab": ("Config", "vocab"), "eos_id": ("Config", "eos_id"), "n_tokens": ("Rollout", "n_tokens"),
    "kl_in_reward": ("Config", "kl_in_reward"), "kl_in_loss": ("Config", "kl_in_loss"), "kl_loss": ("Total", "kl_loss"),
    "beta_next": ("Total", "beta_next"),
    "tokens": ("Rollout", "tokens"), "mask": ("Rollout", "mask"), "logp_old": ("Rollout", "logp_old"),
    "values_old": ("Rollout", "values_old"), "score": ("Reward", "score"), "logp_ref": ("KL", "logp_ref"),
    "kl_token": ("KL", "kl_token"), "rewards": ("KL", "rewards"), "advantages": ("GAE", "advantages"),
    "returns": ("GAE", "returns"), "adv_whitened": ("GAE", "adv_whitened"), "logp_new": ("Ratio", "logp_new"),
    "ratio": ("Ratio", "ratio"), "approx_kl": ("Ratio", "approx_kl"), "pg_losses": ("Clip", "pg_losses"),
    "pg_loss": ("Clip", "pg_loss"), "pg_clipfrac": ("Clip", "pg_clipfrac"), "values_new": ("Value Loss", "values_new"),
    "vf_losses": ("Value Loss", "vf_losses"), "vf_loss": ("Value Loss", "vf_loss"),
    "vf_clipfrac": ("Value Loss", "vf_clipfrac"), "total_loss": ("Total", "total_loss"), "entropy": ("Total", "entropy"),
    **{hp: ("Config", hp) for hp in HYPERPARAMETERS},
}
CREATED = _dt.datetime(2024, 1, 1)  # fixed, so equal content gives a byte-identical file


@dataclass(frozen=True)
class Cell:
    """One value-bearing cell: a formula with its cached value, or an input / config constant."""

    sheet: str
    row: int
    col: int
    quantity: str
    idx: tuple[int, ...]
    kind: str  # "formula", "input", "config"
    value: Any  # the reference value (cached result of a formula, or the constant itself)
    formula: str | None = None


@dataclass
class Blueprint:
    """Everything the workbook holds, before it is a file."""

    config: Config
    layout: Layout
    cells: list[Cell] = field(default_factory=list)
    names: dict[str, str] = field(default_factory=dict)  # workbook-level name -> `Sheet!$A$1[:$B$2]`

    def formula_cells(self) -> list[Cell]:
        return [c for c in self.cells if c.kind == "formula"]

    def by_address(self) -> dict[tuple[str, int, int], Cell]:
        return {(c.sheet, c.row, c.col): c for c in self.cells}


def dims_of(config: Config) -> Dims:
    return Dims(B=config.batch_size, P=config.prompt_len, T=config.response_len, V=config.V, H=config.hidden)


def expected(config: Config, inputs: Inputs) -> Quantities:
    """The reference's quantities plus the few the workbook shows as text or on Config."""
    q = run(inputs, hyper(config))
    vocab = np.array(config.vocab, dtype=object)
    for sheet in ("Rollout", "Reward", "KL", "Ratio"):
        q[sheet, "x_name"] = vocab[q[sheet, "x"]]
    q["Rollout", "token_name"] = vocab[q["Rollout", "tokens"]]
    q["Config", "eos_id"] = np.array(config.eos_id)
    return q


def constants(config: Config, inputs: Inputs) -> Quantities:
    """Input and config cells' values, keyed like the layout's input blocks."""
    c: Quantities = {("Rollout", "prompts"): inputs.prompts, ("Rollout", "draws"): inputs.draws}
    for m in ("ref", "old", "new", "rm"):
        for name, arr in vars(getattr(inputs, m)).items():
            c["Weights", f"{m}.{name}"] = arr
    for head in ("value_old", "value_new"):
        v = getattr(inputs, head)
        c["Weights", f"{head}.w_v"], c["Weights", f"{head}.b_v"] = v.w_v, np.array(v.b_v)
    d = dims_of(config)
    for k in ("B", "P", "T", "V", "H"):
        c["Config", k] = np.array(getattr(d, k))
    c["Config", "vocab"] = np.array(config.vocab, dtype=object)
    c["Config", "eos"] = np.array(config.eos, dtype=object)
    for hp in HYPERPARAMETERS:
        c["Config", hp] = np.array(getattr(config, hp), dtype=object if isinstance(getattr(config, hp), str) else float)
    return c


def build(config: Config, inputs: Inputs) -> Blueprint:
    """All cells of the workbook: formulas from `sheets/`, cached values from `reference/`."""
    layout = build_layout(dims_of(config))
    bp = Blueprint(config, layout)
    consts, q = constants(config, inputs), expected(config, inputs)
    for block in layout.blocks.values():
        if block.kind != "formula":
            arr = consts[block.sheet, block.quantity]
            bp.cells.extend(Cell(block.sheet, r, c, block.quantity, idx, block.kind, _plain(arr[idx])) for idx, r, c in block.cells())
    for module in sheets.MODULES:
        for quantity, idx, formula in module.formulas(layout):
            r, c = layout.block(module.SHEET, quantity).pos(idx)
            value = _plain(q[module.SHEET, quantity][idx])
            bp.cells.append(Cell(module.SHEET, r, c, quantity, idx, "formula", value, formula))
    for name, (sheet, quantity) in NAMED_QUANTITIES.items():
        block = layout.block(sheet, quantity)
        bp.names[name] = layout.range(sheet, quantity, here="", absolute=True) if block.shape else layout.a1(sheet, quantity, here="", absolute=True)
    return bp


def _plain(x: Any) -> Any:
    """NumPy scalars to Python numbers/strings, as xlsxwriter and openpyxl speak them."""
    x = x.item() if hasattr(x, "item") else x
    return float(x) if isinstance(x, (int, float)) and not isinstance(x, bool) else x


# ------------------------------------------------------------------------------------------
# Writing
# ------------------------------------------------------------------------------------------

STYLE = {
    "title": {"bold": True, "font_size": 14},
    "summary": {"italic": True, "font_color": "#595959"},
    "label": {"bold": True, "font_color": "#1F4E79"},
    "header": {"italic": True, "font_color": "#7F7F7F", "align": "center"},
    "input": {"bg_color": "#FFF2CC", "num_format": "0.0000", "border": 1, "border_color": "#D9D9D9"},
    "config": {"bg_color": "#FFF2CC", "num_format": "General", "border": 1, "border_color": "#D9D9D9"},
    "fixed": {"bg_color": "#F3F3F3", "num_format": "0"},
    "formula": {"num_format": "0.0000"},
    "integer": {"num_format": "0"},
    "text": {"align": "center"},
    "key": {"num_format": "0.000000", "bold": True, "bg_color": "#E2EFDA"},
}
INTEGER_QUANTITIES = {"x", "tokens", "is_eos", "mask", "n_tokens", "n_real", "last_idx", "has_eos", "is_last", "pg_clipped", "vf_clipped", "eos_id", "prompts"}
KEY_QUANTITIES = {"score", "total_loss", "pg_loss", "vf_loss", "pg_clipfrac", "vf_clipfrac", "approx_kl", "entropy"}


def write(bp: Blueprint, path: Path, command: str = "") -> None:
    """Write the workbook atomically: a temp file in the target folder, renamed into place at the end."""
    path = Path(path)
    if path.suffix.lower() != ".xlsx":
        raise BlueprintError(f"output {path}: the file name must end in .xlsx")
    if not path.parent.exists():
        raise BlueprintError(f"output {path}: folder {path.parent} does not exist; create it or choose another -o PATH")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".xlsx.tmp", dir=path.parent)
    os.close(fd)
    try:
        _write_xlsx(bp, Path(tmp), command)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _write_xlsx(bp: Blueprint, path: Path, command: str) -> None:
    wb = xlsxwriter.Workbook(str(path), {"strings_to_numbers": False, "strings_to_formulas": False, "strings_to_urls": False})
    wb.set_properties({"title": "RLHF-PPO Blueprint", "author": "rlhf-ppo-blueprint", "created": CREATED,
                       "comments": f"rlhf-ppo-blueprint {__version__}"})
    wb.set_calc_mode("auto")
    fmt = {k: wb.add_format(v) for k, v in STYLE.items()}
    ws = {name: wb.add_worksheet(name) for name in SHEETS}
    for w in ws.values():
        w.set_column(0, 0, 34)
        w.set_column(1, 80, 9)
        w.freeze_panes(TITLE_FREEZE, 1)
    _write_guide(ws["Guide"], fmt, bp, command)
    titles = {m.SHEET: m for m in sheets.MODULES}
    titles["Weights"] = _WeightsText
    for sheet, module in titles.items():
        ws[sheet].write_string(0, 0, module.TITLE, fmt["title"])
        ws[sheet].write_string(1, 0, module.SUMMARY, fmt["summary"])
        ws[sheet].write_url(0, 12, "internal:Guide!A1", string="← Guide")
    for block in bp.layout.blocks.values():
        _dress(ws[block.sheet], fmt, bp.layout, block, titles[block.sheet].LABELS.get(block.quantity, block.quantity), bp.config.vocab)
    for cell in bp.cells:
        _write_cell(ws[cell.sheet], fmt, cell)
    for name, ref in bp.names.items():
        wb.define_name(name, f"={ref}")
    wb.close()


TITLE_FREEZE = 3


def _style(cell: Cell) -> str:
    if cell.kind == "config":
        return "fixed" if cell.quantity in ("B", "P", "T", "V", "H") else "config"
    if cell.kind == "input":
        return "integer" if cell.quantity == "prompts" else "input"
    if isinstance(cell.value, str):
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


def _dress(w: Any, fmt: dict, L: Layout, b: Block, label: str, vocab: tuple[str, ...]) -> None:
    """Title, column headers and row labels around a block, by its form."""
    if b.form == "grid":
        rows, cols = b.shape
        w.write_string(b.top - 2, 0, f"{b.quantity}: {label}", fmt["label"])
        axis = "j" if b.quantity == "prompts" else "t"
        for k in range(cols):
            w.write_string(b.top - 1, b.left + k, f"{axis}={k}", fmt["header"])
        for k in range(rows):
            w.write_string(b.top + k, 0, f"seq {k}", fmt["header"])
    elif b.form == "table":
        w.write_string(b.top - 1, b.left, b.quantity, fmt["header"])
        if b.left == 1:
            w.write_string(b.top - 2, 0, "per sequence: " + label, fmt["label"])
            for k in range(b.shape[0]):
                w.write_string(b.top + k, 0, f"seq {k}", fmt["header"])
    elif b.form == "scalar":
        w.write_string(b.top, 0, f"{b.quantity}: {label}", fmt["label"])
    elif b.form == "unroll":
        width = b.shape[2] if len(b.shape) == 3 else 1
        names = vocab if b.quantity in ("logits", "exp", "p", "lower") else [str(k) for k in range(width)]
        heads = [f"{b.quantity}:{n}" for n in names] if len(b.shape) == 3 else [b.quantity]
        x = L.block(b.sheet, "x")
        for seq in range(b.shape[0]):
            header_row = x.pos((seq, 0))[0] - 1
            for k, text in enumerate(heads):
                w.write_string(header_row, b.left + k, text, fmt["header"])
            if b.quantity == "x":
                w.write_string(header_row - 1, 0, f"sequence {seq}: {label}", fmt["label"])
                for j in range(x.shape[1]):
                    w.write_string(x.pos((seq, j))[0], 0, f"j={j}", fmt["header"])
    elif b.form == "row":
        w.write_string(b.top - 1, 0, label, fmt["label"])
        for k in range(b.shape[0]):
            w.write_string(b.top - 1, b.left + k, f"{k}", fmt["header"])
    elif b.form == "matrix":
        model, _, param = b.quantity.partition(".")
        w.write_string(b.top - 1, 0 if b.left == 1 else b.left, b.quantity, fmt["label"])
        if param == "W_xh":
            w.write_string(b.top - 2, 0, MODEL_TITLES[model], fmt["title"])
            for k, tok in enumerate(vocab):
                w.write_string(b.top - 1, b.left + k, tok, fmt["header"])
        if param in ("W_xh", "W_hy"):
            for k in range(b.shape[0]):
                w.write_string(b.top + k, 0, f"{'unit' if param == 'W_xh' else 'out'} {k}", fmt["header"])


def _write_guide(w: Any, fmt: dict, bp: Blueprint, command: str) -> None:
    w.write_string(0, 0, "RLHF with PPO — a live blueprint", fmt["title"])
    w.write_string(1, 0, "Every derived number is a formula. Change a yellow cell on Config or Weights and watch it flow.", fmt["summary"])
    row = 3
    w.write_string(row, 0, "Sheets", fmt["label"])
    for k, sheet in enumerate(SHEETS[1:], start=1):
        w.write_url(row + k, 0, f"internal:{sheet_prefix(sheet)}A1", string=sheet)
    row += len(SHEETS) + 1
    w.write_string(row, 0, "Provenance", fmt["label"])
    prov = {"tool": f"rlhf-ppo-blueprint {__version__}", "command": command or "blueprint generate", **{k: str(v) for k, v in as_dict(bp.config).items()}}
    for k, (key, value) in enumerate(prov.items(), start=1):
        w.write_string(row + k, 0, key)
        w.write_string(row + k, 1, value)


MODEL_TITLES = {
    "ref": "θ_ref — the frozen SFT model (reference for the KL penalty)",
    "old": "θ_old — the policy that sampled the batch; φ_old its value head",
    "new": "θ — the policy after a PPO update; φ its value head",
    "rm": "reward model — same RNN, one scalar output read at the last real token",
}


class _WeightsText:
    TITLE = "Weights — θ_ref, θ_old, θ, the critics φ_old and φ, and the reward model (inputs: edit them)"
    SUMMARY = "h = tanh(W_xh[:, x] + W_hh·h + b_h);  z = W_hy·h + b_y;  V = w_v·h + b_v.  Rows of W_xh are hidden units, columns tokens."
    LABELS: dict[str, str] = {}
