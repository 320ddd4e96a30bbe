"""Where every quantity lives: a pure function of the dimensions and the sheets' declarations.

The layout is the hinge between the three parts of the tool. Each sheet module declares its blocks
in reading order (blueprint.blocks); `build_layout` stacks them top to bottom and owns every
position that follows: the cells, each block's label cell, its header row, the rows of its code
lines. Sheet writers place formulas through it (`layout.a1(...)`, `layout.range(...)`); the verifier
maps every formula cell back to a (sheet, quantity, index) through `layout.at(...)`; the reference's
keys are the same (sheet, quantity) pairs. The writer paints what the layout placed.

Conventions: rows and columns are 0-based here (xlsxwriter's), A1 text is 1-based as Excel's.
Per-token quantities are B×T blocks: row = sequence b, column = response position t.
RNN internals are per-sequence blocks with one row per read position j = 0..N-1.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field, fields
from typing import Iterator

import numpy as np

import sheets
from blueprint import a1 as A1, guide
from blueprint.blocks import Grid, Lines, Model, Q, Row, Scalars, Section, Table, Unroll, size
from blueprint.config import SWITCHES

SHEETS = tuple(m.SHEET for m in sheets.MODULES)
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


DIMS = tuple(f.name for f in fields(Dims))  # B, P, T, V, H: Config's dimension cells (and, but V, its keys)


@dataclass(frozen=True)
class Block:
    """A quantity's cells: index (i0, i1, ...) sits at (top + Σ i·row_stride, left + Σ i·col_stride)."""

    sheet: str
    q: Q  # its declaration: name, label, style role, workbook name, note, code
    top: int
    left: int
    shape: tuple[int, ...]
    row_strides: tuple[int, ...]
    col_strides: tuple[int, ...]
    form: str  # how the writer dresses it: grid, table, scalar, unroll, matrix, row, story, column
    label_at: tuple[int, int]  # the cell of its label (and note)
    heads: tuple[str, str] = ("seq", "t")  # a grid's axes (blueprint.blocks.Grid)

    @property
    def quantity(self) -> str:
        return self.q.name

    @property
    def kind(self) -> str:
        """The declaration's: formula, input (yellow, editable) or config (a Config value)."""
        return self.q.kind

    @property
    def header_row(self) -> int:
        """The row of a grid's or a table's column headers (t=0, t=1, …; Σ_t·m), right above its cells."""
        return self.top - 1

    @property
    def words_at(self) -> tuple[int, int]:
        """Where a scalar's maths-and-words label goes: right of its value, where it has room."""
        return self.top, self.left + 1

    @property
    def code_rows(self) -> range:
        """The rows of its three code lines: beside a scalar from its row, beside any other block from its header row
        (its label row stays free for the label to spill into)."""
        first = self.top if self.form == "scalar" else self.header_row
        return range(first, first + 3)

    def pos(self, idx: tuple[int, ...]) -> tuple[int, int]:
        p = self.positions.get(tuple(idx))
        if p is None:
            raise IndexError(f"{self.sheet}!{self.quantity}{list(idx)} outside shape {self.shape}")
        return p

    @functools.cached_property
    def positions(self) -> dict[tuple[int, ...], tuple[int, int]]:
        """Every index's (row, col), in reading order of the index (`itertools.product`'s), computed once:
        the generator and the verifier look up each of ~10^5 cells at least twice."""
        if not self.shape:
            return {(): (self.top, self.left)}
        grid = np.indices(self.shape).reshape(len(self.shape), -1)  # C order: product's order
        rows = (self.top + np.dot(self.row_strides, grid)).tolist()
        cols = (self.left + np.dot(self.col_strides, grid)).tolist()
        return dict(zip(zip(*grid.tolist()), zip(rows, cols)))

    def columns(self) -> tuple[int, int]:
        """The first and the last column the block's cells take."""
        return self.left, self.left + sum((n - 1) * cs for n, cs in zip(self.shape, self.col_strides))

    def cells(self) -> Iterator[tuple[tuple[int, ...], int, int]]:
        for idx, (r, c) in self.positions.items():
            yield idx, r, c


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
        ref = self._refs.get(key)
        if ref is None:
            r, c = self.blocks[sheet, quantity].pos(tuple(idx))
            ref = self._refs[key] = _qualify(sheet, here) + A1.cell(r, c, absolute)
        return ref

    def range(self, sheet: str, quantity: str, *prefix: int, here: str | None = None, absolute: bool = False) -> str:
        """A1 range over the axes after `prefix` (one or two of them, contiguous in the sheet)."""
        key = ("range", sheet, quantity, prefix, here, absolute)
        ref = self._refs.get(key)
        if ref is None:
            ref = self._refs[key] = self._range(sheet, quantity, prefix, here, absolute)
        return ref

    def _range(self, sheet: str, quantity: str, prefix: tuple[int, ...], here: str | None, absolute: bool) -> str:
        b = self.blocks[sheet, quantity]
        rest = b.shape[len(prefix):]
        first = b.pos(tuple(prefix) + (0,) * len(rest))
        last = b.pos(tuple(prefix) + tuple(n - 1 for n in rest))
        span = (last[0] - first[0] + 1) * (last[1] - first[1] + 1)
        assert span == math.prod(rest), f"{sheet}!{quantity}{list(prefix)} is not contiguous"
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


def _qualify(sheet: str, here: str | None) -> str:
    return "" if here is None or here == sheet else A1.sheet_prefix(sheet)


# ------------------------------------------------------------------------------------------
# Builders: each sheet is a vertical stack of sections; a cursor tracks the next free row.
# ------------------------------------------------------------------------------------------


class _Stack:
    """Places one sheet's sections top to bottom; every section leaves a title row above it."""

    def __init__(self, layout: Layout, sheet: str, row: int = TITLE_ROWS):
        self.layout, self.sheet, self.row = layout, sheet, row

    def _add(self, q: Q, top: int, left: int, shape: tuple[int, ...], strides: tuple[tuple[int, ...], tuple[int, ...]], form: str,
             label_at: tuple[int, int], heads: tuple[str, str] = ("seq", "t")) -> None:
        self.layout.add(Block(self.sheet, q, top, left, shape, *strides, form, label_at, heads))

    def place(self, section: Section) -> None:
        d = self.layout.dims
        if isinstance(section, Grid):
            rows, cols = size(section.rows, d), size(section.cols, d)
            top = self.row + 2  # label row, header row
            self.row = top + rows + 1
            self._add(section.q, top, 1, (rows, cols), ((1, 0), (0, 1)), "grid", (top - 2, 0), section.heads)
        elif isinstance(section, Table):
            top = self.row + 2
            self.row = top + d.B + 1
            for k, q in enumerate(section.qs):
                self._add(q, top, 1 + k, (d.B,), ((1,), (0,)), "table", (top - 1, 1 + k))
        elif isinstance(section, Scalars):
            top = self.row + 1
            self.row = top + len(section.qs) + 1
            for k, q in enumerate(section.qs):
                self._add(q, top + k, 1, (), ((), ()), "scalar", (top + k, 0))
        elif isinstance(section, Row):
            top = self.row + 2  # header row of indices above it
            self.row += 4
            self._add(section.q, top, 1, (size(section.size, d),), ((0,), (1,)), "row", (top - 1, 0))
        elif isinstance(section, Unroll):
            self.unroll(section)
        elif isinstance(section, Model):
            self.model(section)
        elif isinstance(section, Lines):
            rows = guide_rows()
            sections = list(rows)
            top, end = rows[section.section], rows[sections[sections.index(section.section) + 1]]
            self._add(section.q, top, section.col, (end - top - 2,), ((1,), (0,)), section.form, (top - 1, section.col))

    def unroll(self, u: Unroll) -> None:
        """Per-sequence RNN blocks: B sections of `reads` rows (one per read position j), each under a sequence title and a
        header row. A column of width 0 holds one number per row, shape (B, n); width k a k-vector per row, shape (B, n, k).
        Rows "all" cover every read position (n = reads), "pred" only those from first_pred on, which predict a token."""
        d = self.layout.dims
        N, first_pred, pred_from = size(u.reads, d), size(u.first_pred, d), size(u.pred_from, d)
        section = N + 2  # sequence title row + header row + N rows
        top = self.row + 2
        left = 1
        for col in u.columns:
            width = size(col.width, d)
            left = left if col.rows == "all" else max(left, pred_from)
            n = N if col.rows == "all" else N - first_pred
            r0 = top if col.rows == "all" else top + first_pred
            shape = (d.B, n) if width == 0 else (d.B, n, width)
            strides = ((section + 1, 1), (0, 0)) if width == 0 else ((section + 1, 1, 0), (0, 0, 1))
            self._add(col.q, r0, left, shape, strides, "unroll", (top - 1, left))
            left += max(width, 1)
        self.row = top + d.B * (section + 1) - 1

    def model(self, m: Model) -> None:
        """W_xh (H×V), b_h and W_hh (H×H) side by side, W_hy (outputs×H) and b_y under them, then the value head's w_v, b_v;
        stacked, each under the one before from column B (a printed page then never has to cut one to fit a grid beside it)."""
        d = self.layout.dims
        K = size(m.outputs, d)
        W_xh, b_h, W_hh, W_hy, b_y, *head = m.qs
        if m.stacked:
            down, across, matrix = ((1,), (0,)), ((0,), (1,)), ((1, 0), (0, 1))  # a bias down a column, w_v along a row
            cells = [(W_xh, (d.H, d.V), matrix), (b_h, (d.H,), down), (W_hh, (d.H, d.H), matrix), (W_hy, (K, d.H), matrix), (b_y, (K,), down)]
            cells += [(head[0], (d.H,), across), (head[1], (), ((), ()))] if head else []
            top = self.row + 2  # the model's title row, then W_xh's label row
            for q, shape, strides in cells:
                self._add(q, top, 1, shape, strides, "matrix", (top - 1, 0))
                end = top + (shape[0] if shape and strides != across else 1)
                top = end + 2  # a blank row, the next one's label row
            self.row = end + 1
            return
        top = self.row + 2
        self._add(W_xh, top, 1, (d.H, d.V), ((1, 0), (0, 1)), "matrix", (top - 1, 0))
        self._add(b_h, top, d.V + 2, (d.H,), ((1,), (0,)), "matrix", (top - 1, d.V + 2))
        self._add(W_hh, top, d.V + 4, (d.H, d.H), ((1, 0), (0, 1)), "matrix", (top - 1, d.V + 4))
        top2 = top + d.H + 2
        self._add(W_hy, top2, 1, (K, d.H), ((1, 0), (0, 1)), "matrix", (top2 - 1, 0))
        self._add(b_y, top2, d.H + 2, (K,), ((1,), (0,)), "matrix", (top2 - 1, d.H + 2))
        self.row = top2 + K + 1
        if head:
            top3 = self.row + 2
            self._add(head[0], top3, 1, (d.H,), ((0,), (1,)), "matrix", (top3 - 1, 0))
            self._add(head[1], top3, d.H + 2, (), ((), ()), "matrix", (top3 - 1, d.H + 2))
            self.row = top3 + 2


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
    """Every block of the workbook, sheet by sheet, each sheet's sections in the order its module declares them.

    Memoised (a layout is never changed once built): verify asks for it once reading the config back
    and once rebuilding the blueprint, 0.07 s each on xl."""
    L = Layout(dims)
    for module in sheets.MODULES:
        stack = _Stack(L, module.SHEET)
        for section in module.BLOCKS:
            stack.place(section)
    return L


Paint = tuple[int, int, str, str]  # row, col, text, style: what the writer paints around a block


def furniture(layout: Layout, b: Block, vocab: tuple[str, ...]) -> Iterator[Paint]:
    """The text around one block: its label (at `label_at`, where its note goes too), its header row and row labels,
    and the titles of what it opens (a model on Weights, a sequence of an unroll, a per-sequence table)."""
    label = b.q.label
    if b.form == "grid":
        yield (*b.label_at, f"{b.quantity}: {label}", "label")
        rows, cols = b.shape
        row_head, col_head = b.heads
        yield from ((b.header_row, b.left + k, vocab[k] if col_head == "vocab" else f"{col_head}={k}", "header") for k in range(cols))
        yield from ((b.top + k, 0, f"all {col_head}" if rows == 1 else f"{row_head} {k}", "header") for k in range(rows))
    elif b.form == "table":
        yield (*b.label_at, _table_head(b.quantity), "header")
        if b.left == 1:  # the table's first column also labels the table and its rows
            yield b.top - 2, 0, "per sequence: " + label, "label"
            yield from ((b.top + k, 0, f"seq {k}", "header") for k in range(b.shape[0]))
    elif b.form == "scalar":
        yield (*b.label_at, b.quantity, "label")
        yield (*b.words_at, label, "subtitle")
    elif b.form == "unroll":
        yield from _unroll_furniture(layout, b, vocab)
    elif b.form == "matrix":
        yield (*b.label_at, b.quantity, "label")
        model, _, param = b.quantity.partition(".")
        if param == "W_xh":
            yield b.top - 2, 0, sheets.MODELS[model].title, "title"
            yield from ((b.top - 1, b.left + k, tok, "header") for k, tok in enumerate(vocab))
        if param in ("W_xh", "W_hy"):
            yield from ((b.top + k, 0, f"{'unit' if param == 'W_xh' else 'out'} {k}", "header") for k in range(b.shape[0]))
    elif b.form == "row":
        yield (*b.label_at, label, "label")
        yield from ((b.top - 1, b.left + k, f"{k}", "header") for k in range(b.shape[0]))


def _unroll_furniture(layout: Layout, b: Block, vocab: tuple[str, ...]) -> Iterator[Paint]:
    """A column group of an unroll: its heads over every sequence's section (`h:0`, `logits:a`, …); the `x` column
    also titles each sequence and labels its rows j = 0.."""
    x = layout.block(b.sheet, "x")
    heads = [b.quantity] if len(b.shape) == 2 else \
        [f"{b.quantity}:{n}" for n in (vocab if b.quantity in ("logits", "exp", "p", "lower", "g_logits") else range(b.shape[2]))]
    yield (*b.label_at, heads[0], "header")
    for seq in range(b.shape[0]):
        header_row = x.pos((seq, 0))[0] - 1
        yield from ((header_row, b.left + k, head, "header") for k, head in enumerate(heads) if (header_row, b.left + k) != b.label_at)
        if b.quantity == "x":
            yield header_row - 1, 0, f"sequence {seq}", "label"
            yield from ((x.pos((seq, j))[0], 0, f"j={j}", "header") for j in range(x.shape[1]))


def _table_head(quantity: str) -> str:
    """Per-sequence columns are narrow: `pg_seq_sum` reads as Σ_t·m, `pg_seq_mean` as Σ_t·m/n."""
    return "Σ_t·m" if quantity.endswith("_seq_sum") else "Σ_t·m / n" if quantity.endswith("_seq_mean") else quantity
