"""Where every quantity lives: a pure function of the dimensions.

The layout is the hinge between the three parts of the tool. Sheet writers place formulas
through it (`layout.a1(...)`, `layout.range(...)`); the verifier maps every formula cell back
to a (sheet, quantity, index) through `layout.at(...)`; the reference's keys are the same
(sheet, quantity) pairs. Nothing else in the code knows a row or column number.

Conventions: rows and columns are 0-based here (xlsxwriter's), A1 text is 1-based as Excel's.
Per-token quantities are B×T blocks: row = sequence b, column = response position t.
RNN internals are per-sequence blocks with one row per read position j = 0..N-1.
"""

from __future__ import annotations

import functools
import itertools
from dataclasses import dataclass, field
from typing import Iterator

from blueprint import a1 as A1, guide
from blueprint.config import SWITCHES

SHEETS = ("Guide", "Config", "Weights", "Rollout", "Reward", "KL", "GAE", "Ratio", "Clip", "Value Loss", "Total")
MODELS = ("ref", "old", "new", "rm")  # parameter sets on the Weights sheet
VALUE_HEADS = ("value_old", "value_new")
HYPERPARAMETERS = (  # Config cells the formulas read by name, in the order the sheet lists them
    "tau", "eos_handling", "missing_eos_penalty", "missing_eos_score", "kl_placement", "kl_estimator", "beta",
    "kl_loss_estimator", "kl_loss_coef", "reward_whiten", "gamma", "lam", "adv_whiten", "whiten_eps", "logratio_clamp",
    "eps", "eps_high", "dual_clip", "eps_v", "loss_agg", "vf_coef", "ent_coef", "kl_ctl", "kl_ctl_input", "kl_target", "kl_horizon",
    "kl_ctl_clip",
    "check_tol",
)
TITLE_ROWS = 3  # title, one-line summary, blank


@dataclass(frozen=True)
class Dims:
    """The sizes every position depends on."""

    B: int
    P: int
    T: int
    V: int
    H: int

    @property
    def N(self) -> int:
        """Positions a policy reads: the prompt and all response tokens but the last."""
        return self.P + self.T - 1


@dataclass(frozen=True)
class Block:
    """A quantity's cells: index (i0, i1, ...) sits at (top + Σ i·row_stride, left + Σ i·col_stride)."""

    sheet: str
    quantity: str
    top: int
    left: int
    shape: tuple[int, ...]
    row_strides: tuple[int, ...]
    col_strides: tuple[int, ...]
    kind: str = "formula"  # "formula", "input" (yellow, editable) or "config" (a Config value)
    form: str = "grid"  # how the writer dresses it: grid, table, scalar, unroll, matrix, row

    def pos(self, idx: tuple[int, ...]) -> tuple[int, int]:
        if len(idx) != len(self.shape):
            raise IndexError(f"{self.sheet}!{self.quantity}{list(idx)} outside shape {self.shape}")
        r, c = self.top, self.left
        for i, n, rs, cs in zip(idx, self.shape, self.row_strides, self.col_strides):
            if not 0 <= i < n:
                raise IndexError(f"{self.sheet}!{self.quantity}{list(idx)} outside shape {self.shape}")
            r += i * rs
            c += i * cs
        return r, c

    def columns(self) -> tuple[int, int]:
        """The first and the last column the block's cells take."""
        return self.left, self.left + sum((n - 1) * cs for n, cs in zip(self.shape, self.col_strides))

    def cells(self) -> Iterator[tuple[tuple[int, ...], int, int]]:
        for idx in itertools.product(*(range(n) for n in self.shape)):
            yield (idx, *self.pos(idx))


@dataclass
class Layout:
    """Every block of every sheet, plus the reverse map from a cell to its quantity."""

    dims: Dims
    blocks: dict[tuple[str, str], Block] = field(default_factory=dict)
    _at: dict[tuple[str, int, int], tuple[str, tuple[int, ...]]] = field(default_factory=dict)
    _refs: dict[tuple, str] = field(default_factory=dict)  # memo of a1/range: sheet writers ask for the same refs thousands of times

    def add(self, block: Block) -> Block:
        key = (block.sheet, block.quantity)
        assert key not in self.blocks, f"duplicate block {key}"
        self.blocks[key] = block
        for idx, r, c in block.cells():
            assert (block.sheet, r, c) not in self._at, f"{block.sheet} cell {A1.cell(r, c)} placed twice"
            self._at[block.sheet, r, c] = (block.quantity, idx)
        return block

    # --- forward: quantity -> cell ---------------------------------------------------------
    def block(self, sheet: str, quantity: str) -> Block:
        return self.blocks[sheet, quantity]

    def a1(self, sheet: str, quantity: str, *idx: int, here: str | None = None, absolute: bool = False) -> str:
        """A1 reference to one cell, qualified with the sheet when `here` is another sheet."""
        key = ("a1", sheet, quantity, idx, here, absolute)
        if key not in self._refs:
            r, c = self.blocks[sheet, quantity].pos(tuple(idx))
            self._refs[key] = _qualify(sheet, here) + A1.cell(r, c, absolute)
        return self._refs[key]

    def range(self, sheet: str, quantity: str, *prefix: int, here: str | None = None, absolute: bool = False) -> str:
        """A1 range over the axes after `prefix` (one or two of them, contiguous in the sheet)."""
        key = ("range", sheet, quantity, prefix, here, absolute)
        if key not in self._refs:
            self._refs[key] = self._range(sheet, quantity, prefix, here, absolute)
        return self._refs[key]

    def _range(self, sheet: str, quantity: str, prefix: tuple[int, ...], here: str | None, absolute: bool) -> str:
        b = self.blocks[sheet, quantity]
        rest = b.shape[len(prefix):]
        first = b.pos(tuple(prefix) + (0,) * len(rest))
        last = b.pos(tuple(prefix) + tuple(n - 1 for n in rest))
        span = (last[0] - first[0] + 1) * (last[1] - first[1] + 1)
        assert span == max(1, _prod(rest)), f"{sheet}!{quantity}{list(prefix)} is not contiguous"
        return _qualify(sheet, here) + A1.area(first, last, absolute)

    def span(self, sheet: str, quantity: str, first: tuple[int, ...], last: tuple[int, ...], here: str | None = None) -> str:
        """A1 range from one cell of a quantity to another (a sub-range, e.g. the response rows)."""
        b = self.blocks[sheet, quantity]
        return _qualify(sheet, here) + f"{A1.cell(*b.pos(first))}:{A1.cell(*b.pos(last))}"

    def cell(self, sheet: str, quantity: str, *idx: int) -> str:
        """`GAE!F7`: where one quantity index lives (docs/design.md §2: `layout.cell("GAE", "advantages", b, t)`)."""
        return self.a1(sheet, quantity, *idx, here="")

    # --- reverse: cell -> quantity ---------------------------------------------------------
    def at(self, sheet: str, row: int, col: int) -> tuple[str, tuple[int, ...]] | None:
        return self._at.get((sheet, row, col))

    def sheet_blocks(self, sheet: str) -> list[Block]:
        return [b for b in self.blocks.values() if b.sheet == sheet]

    def whole_columns(self, sheet: str) -> list[tuple[int, int]]:
        """Column spans a printed page must not cut: each block's, and a table's columns together."""
        tables: dict[int, list[int]] = {}
        spans = []
        for b in self.sheet_blocks(sheet):
            if b.form == "table":
                tables.setdefault(b.top, []).append(b.left)
            else:
                spans.append(b.columns())
        return spans + [(min(cols), max(cols)) for cols in tables.values()]


def _prod(xs: tuple[int, ...]) -> int:
    out = 1
    for x in xs:
        out *= x
    return out


def _qualify(sheet: str, here: str | None) -> str:
    return "" if here is None or here == sheet else A1.sheet_prefix(sheet)


# ------------------------------------------------------------------------------------------
# Builders: each sheet is a vertical stack of sections; a cursor tracks the next free row.
# ------------------------------------------------------------------------------------------


class _Stack:
    """Places sections top to bottom on one sheet; every section leaves a title row above it."""

    def __init__(self, layout: Layout, sheet: str, row: int = TITLE_ROWS):
        self.layout, self.sheet, self.row = layout, sheet, row

    def grid(self, quantity: str, rows: int, cols: int, kind: str = "formula") -> Block:
        """A rows×cols block under a title row and a header row; column 0 holds row labels."""
        top = self.row + 2
        self.row = top + rows + 1
        return self.layout.add(Block(self.sheet, quantity, top, 1, (rows, cols), (1, 0), (0, 1), kind, "grid"))

    def table(self, quantities: tuple[str, ...], rows: int) -> list[Block]:
        """Several (rows,) vectors side by side, one column each, under one title and header row."""
        top = self.row + 2
        self.row = top + rows + 1
        return [self.layout.add(Block(self.sheet, q, top, 1 + k, (rows,), (1,), (0,), form="table")) for k, q in enumerate(quantities)]

    def scalars(self, quantities: tuple[str, ...], kind: str = "formula") -> list[Block]:
        """One named number per row: label in column A, value in column B."""
        top = self.row + 1
        self.row = top + len(quantities) + 1
        return [self.layout.add(Block(self.sheet, q, top + k, 1, (), (), (), kind, "scalar")) for k, q in enumerate(quantities)]

    def unroll(self, columns: list[tuple[str, int, str]], B: int, N: int, first_pred: int, pred_from: int = 1) -> None:
        """Per-sequence RNN blocks: B sections of N rows (one per read position j).

        columns: (quantity, width, rows): width 0 is one column of scalars, shape (B, n); width k ≥ 1
        is a k-vector per row, shape (B, n, k). rows "all" covers every read position j (n = N),
        "pred" only the rows j = first_pred.. that predict a token (n = N - first_pred).
        pred_from: the "pred" columns start no left of this column. The B×T grids under a policy unroll
        take columns 1..T: with its logits from column T+1 on, a printed page can end after both the
        grids and the read-state columns (x, h) without cutting either (blueprint/canvas.py).
        """
        section = N + 2  # sequence title row + header row + N rows
        top = self.row + 2
        left = 1
        for quantity, width, rows in columns:
            left = left if rows == "all" else max(left, pred_from)
            n = N if rows == "all" else N - first_pred
            r0 = top if rows == "all" else top + first_pred
            shape = (B, n) if width == 0 else (B, n, width)
            strides = ((section + 1, 1), (0, 0)) if len(shape) == 2 else ((section + 1, 1, 0), (0, 0, 1))
            self.layout.add(Block(self.sheet, quantity, r0, left, shape, *strides, form="unroll"))
            left += max(width, 1)
        self.row = top + B * (section + 1) - 1


def guide_rows() -> dict[str, int]:
    """The first row of each section of the Guide (its label sits one row above): the story, the legend, the index of
    sheets, the pieces table, the switches and the provenance. Each section is its lines plus a blank row; the Guide's
    words decide how many lines each has."""
    rows, row = {}, TITLE_ROWS + 1
    for section, lines in (("story", len(guide.STORY)), ("legend", len(guide.LEGEND)), ("sheets", len(SHEETS) - 1),
                           ("pieces", len(guide.PIECES)), ("switches", len(SWITCHES)), ("provenance", 0)):
        rows[section] = row
        row += lines + 2
    return rows


@functools.lru_cache(maxsize=8)
def build_layout(dims: Dims) -> Layout:
    """Every block of the workbook, sheet by sheet, in reading order.

    Memoised (a layout is never changed once built): verify asks for it once reading the config back
    and once rebuilding the blueprint, 0.07 s each on xl."""
    L = Layout(dims)
    B, P, T, V, H, N = dims.B, dims.P, dims.T, dims.V, dims.H, dims.N

    rows = guide_rows()  # the Guide's live text: the story, what the switches make of each piece, the switches
    L.add(Block("Guide", "story", rows["story"], 0, (rows["legend"] - rows["story"] - 2,), (1,), (0,), form="story"))
    L.add(Block("Guide", "piece_now", rows["pieces"], 3, (rows["switches"] - rows["pieces"] - 2,), (1,), (0,), form="column"))
    L.add(Block("Guide", "switch_now", rows["switches"], 0, (rows["provenance"] - rows["switches"] - 2,), (1,), (0,), form="column"))

    s = _Stack(L, "Config")
    s.scalars(("B", "P", "T", "V", "H"), kind="config")
    s.row += 1
    L.add(Block("Config", "vocab", s.row + 1, 1, (V,), (0,), (1,), "config", "row"))
    s.row += 3
    s.scalars(("eos",), kind="config")
    s.scalars(("eos_id",))
    s.scalars(HYPERPARAMETERS, kind="config")
    s.scalars(("kl_in_reward", "kl_in_loss"))

    s = _Stack(L, "Weights")
    for m in MODELS:
        K = 1 if m == "rm" else V
        top = s.row + 2
        L.add(Block("Weights", f"{m}.W_xh", top, 1, (H, V), (1, 0), (0, 1), "input", "matrix"))
        L.add(Block("Weights", f"{m}.b_h", top, V + 2, (H,), (1,), (0,), "input", "matrix"))
        L.add(Block("Weights", f"{m}.W_hh", top, V + 4, (H, H), (1, 0), (0, 1), "input", "matrix"))
        top2 = top + H + 2
        L.add(Block("Weights", f"{m}.W_hy", top2, 1, (K, H), (1, 0), (0, 1), "input", "matrix"))
        L.add(Block("Weights", f"{m}.b_y", top2, H + 2, (K,), (1,), (0,), "input", "matrix"))
        s.row = top2 + K + 1
        head = {"old": "value_old", "new": "value_new"}.get(m)
        if head:
            top3 = s.row + 2
            L.add(Block("Weights", f"{head}.w_v", top3, 1, (H,), (0,), (1,), "input", "matrix"))
            L.add(Block("Weights", f"{head}.b_v", top3, H + 2, (), (), (), "input", "matrix"))
            s.row = top3 + 2

    s = _Stack(L, "Rollout")
    s.grid("prompts", B, P, kind="input")
    s.grid("draws", B, T, kind="input")
    s.unroll(_policy_columns(H, V, sampled=True), B, N, P - 1, pred_from=T + 1)
    for q in ("tokens", "token_name", "is_eos", "mask", "logp_old", "values_old", "p_check"):
        s.grid(q, B, T)
    s.scalars(("n_tokens",))

    s = _Stack(L, "Reward")
    s.unroll([("x", 0, "all"), ("x_name", 0, "all"), ("h", H, "all"), ("rm_out", 0, "all")], B, P + T, 0)
    s.table(("n_real", "last_idx", "has_eos", "score_raw", "score"), B)
    s.grid("is_last", B, T)

    s = _Stack(L, "KL")
    s.unroll(_policy_columns(H, V, sampled=False), B, N, P - 1, pred_from=T + 1)
    for q in ("logp_ref", "k1", "k2", "k3", "kl_token", "non_score_reward", "rewards_raw"):
        s.grid(q, B, T)
    s.scalars(("reward_mean",))
    s.grid("reward_dev2", B, T)
    s.scalars(("reward_var",))
    s.grid("rewards", B, T)

    s = _Stack(L, "GAE")
    for q in ("values", "delta", "advantages", "returns"):
        s.grid(q, B, T)
    s.scalars(("adv_mean",))
    s.grid("adv_dev2", B, T)
    s.scalars(("adv_var",))
    s.grid("adv_whitened", B, T)
    s.grid("adv_flipped", B, T)
    s.scalars(("adv_flipfrac", "adv_mean_check", "adv_std_check"))

    s = _Stack(L, "Ratio")
    s.unroll(_policy_columns(H, V, sampled=False, probs=True), B, N, P - 1, pred_from=T + 1)
    for q in ("logp_new", "token_entropy", "logratio", "ratio", "p_check"):
        s.grid(q, B, T)
    s.scalars(("approx_kl", "ppo_kl"))

    s = _Stack(L, "Clip")
    s.grid("band_low", 1, T)
    s.grid("band_high", 1, T)
    s.grid("ratio_real", B, T)
    for q in ("pg_losses1", "ratio_clipped", "pg_losses2", "pg_losses_max", "pg_losses", "pg_clipped", "pg_clipped_lower"):
        s.grid(q, B, T)
    s.table(("pg_seq_sum", "pg_seq_mean"), B)
    s.scalars(("pg_loss", "pg_clipfrac", "pg_clipfrac_lower"))

    s = _Stack(L, "Value Loss")
    for q in ("values_new", "values_clipped", "vf_losses1", "vf_losses2", "vf_losses", "vf_clipped"):
        s.grid(q, B, T)
    s.table(("vf_seq_sum", "vf_seq_mean"), B)
    s.scalars(("vf_loss", "vf_clipfrac"))

    s = _Stack(L, "Total")
    s.scalars(("total_loss", "actor_loss", "critic_loss"))
    s.table(("entropy_seq_sum", "entropy_seq_mean"), B)
    s.scalars(("entropy",))
    s.grid("kl_loss_token", B, T)
    s.table(("kl_seq_sum", "kl_seq_mean"), B)
    s.scalars(("kl_loss",))
    s.scalars(("part_pg", "part_vf", "part_ent", "part_kl", "total_check"))
    s.scalars(("kl_sum", "non_score_sum", "score_mean", "rlhf_reward"))
    s.table(("ctl_seq_kl",), B)
    s.scalars(("ctl_kl", "beta_next"))
    return L


def _policy_columns(H: int, V: int, sampled: bool, probs: bool = False) -> list[tuple[str, int, str]]:
    """Columns of a policy unroll: read token, hidden state, logits and the stable softmax."""
    cols = [("x", 0, "all"), ("x_name", 0, "all"), ("h", H, "all"), ("logits", V, "pred"), ("zmax", 0, "pred"),
            ("exp", V, "pred"), ("sumexp", 0, "pred"), ("lse", 0, "pred")]
    if sampled or probs:
        cols.append(("p", V, "pred"))
    if sampled:
        cols.append(("lower", V, "pred"))
    return cols
