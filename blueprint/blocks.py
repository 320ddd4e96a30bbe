"""What a sheet module declares about each quantity it shows, once, beside the formulas that fill it.

A sheet module (sheets/gae.py) lists its `BLOCKS` in reading order: sections (a grid, a table of
per-sequence columns, a stack of scalars, an RNN unroll, …) of quantities `Q`. Everything else is
derived from that list: where the cells go (blueprint.layout), how they are styled and labelled,
which carry a workbook-level name, the note on each label and the frameworks' code beside it
(blueprint.writer), the Guide's index, read-back and the README's tables.

Shapes are spelled over the dimensions' names — ("B", "T") is one row per sequence and one column
per response position — and resolved against the `Dims` of a workbook by the layout.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Union

ROLES = ("formula", "integer", "key", "check", "text", "input", "input_int", "config", "fixed")


@dataclass(frozen=True)
class Q:
    """One quantity: its name (the same symbol in reference/, the sheet and the notes) and how it is shown.

    role: formula (4 decimals), integer (ids, counts and 0/1 flags), key (an output a training log
    reports: bold, green), check (a live identity: OK or its residual), text; input (yellow, editable:
    input_int for token ids), config (a Config value), fixed (a dimension the layout depends on).
    """

    name: str
    label: str  # maths and words: `δ_t = r_t + γ·V_{t+1} - V_t — TD residual`
    role: str = "formula"
    named: bool = False  # also a workbook-level name (docs/design.md §4)
    note: str | None = None  # the note on its label, "# Step ↳ what ↳ why"; None: the sheet's `WHY`
    code: str | None = None  # its quote in blueprint/quotes.toml (the frameworks' own lines beside it), if any
    flags: tuple[str, ...] = ()  # same-sheet 0/1 quantities whose 1 highlights the cell (clipped, sign-flipped)
    value_slots: bool = False  # a (B, T) grid on V's path: greyed where Reward's mask_v is 0 (after the score's slot), not after EOS

    def __post_init__(self) -> None:
        assert self.role in ROLES, f"{self.name}: role {self.role!r} is not one of {ROLES}"

    @property
    def kind(self) -> str:
        """How the verifier and the read-back treat its cells: a formula, an input, or a Config constant."""
        return {"input": "input", "input_int": "input", "config": "config", "fixed": "config"}.get(self.role, "formula")


Size = Union[str, int, Callable[..., int]]  # "B", 1, or lambda d: d.P + d.T


@dataclass(frozen=True)
class Grid:
    """A rows×cols block under its label and a header row; row labels in column A. `heads` name the axes: ("seq", "t")
    labels rows `seq 0…` and columns `t=0…`; "unit" an RNN's hidden units, "vocab" the token names."""

    q: Q
    rows: Size = "B"
    cols: Size = "T"
    heads: tuple[str, str] = ("seq", "t")


@dataclass(frozen=True, init=False)
class Table:
    """Per-sequence (B,) columns side by side under one label and header row."""

    qs: tuple[Q, ...]

    def __init__(self, *qs: Q):
        object.__setattr__(self, "qs", qs)


@dataclass(frozen=True, init=False)
class Scalars:
    """One number per row: the name in column A, the value in B, the label right of it."""

    qs: tuple[Q, ...]

    def __init__(self, *qs: Q):
        object.__setattr__(self, "qs", qs)


@dataclass(frozen=True)
class Row:
    """A (size,) vector along a row, under a header of its indices (the vocabulary on Config)."""

    q: Q
    size: Size


@dataclass(frozen=True)
class Column:
    """One column group of an RNN unroll: width 0 is a scalar per read position, "H" or "V" a vector;
    rows "all" covers every read position, "pred" only those that predict a response token."""

    q: Q
    width: Size = 0
    rows: str = "all"


@dataclass(frozen=True)
class Unroll:
    """B per-sequence sections of `reads` rows, one per read position j (blueprint.layout._Stack.unroll)."""

    columns: tuple[Column, ...]
    reads: Size  # read positions j per sequence
    first_pred: Size  # the first j whose row predicts a token
    pred_from: Size = 1  # "pred" columns start no left of this column


PARAMS = ("W_xh", "b_h", "W_hh", "W_hy", "b_y")  # an RNN's parameters, in the order a Model lays them out
HEAD = ("w_v", "b_v")  # a value head's


@dataclass(frozen=True)
class Model:
    """One parameter set, laid out as on Weights: W_xh, b_h, W_hh above W_hy, b_y (`outputs` rows), and a value head w_v,
    b_v below when it has one. Its parameters are quantities `model.param` (`head.w_v`), each a workbook-level name
    `model_param`; inputs on Weights and for the optimizer's state, formulas for θ in use, the gradients and the step.
    The note and the code, if any, sit on W_xh."""

    name: str
    title: str
    outputs: Size
    head: str | None = None
    note: str | None = None
    role: str = "input"
    code: str | None = None  # the frameworks' lines beside W_xh (blueprint/quotes.toml), if any
    stacked: bool = False  # every parameter under the one before, from column B: within the B×T grids' columns on the same sheet

    def param(self, p: str) -> str:
        """The quantity of one parameter: `theta.W_xh` for θ's five, `phi.w_v` (the head's name) for the value head's two."""
        return f"{self.name if p in PARAMS else self.head}.{p}"

    @property
    def qs(self) -> tuple[Q, ...]:
        params = [self.param(p) for p in PARAMS + (HEAD if self.head else ())]
        return tuple(Q(p, p, self.role, named=True, note=self.note if k == 0 else None, code=self.code if k == 0 else None)
                     for k, p in enumerate(params))


@dataclass(frozen=True)
class Lines:
    """Live text on the Guide: one formula cell per line, in column `col` from the section's first row."""

    q: Q
    section: str
    col: int = 0
    form: str = "column"


Section = Union[Grid, Table, Scalars, Row, Unroll, Model, Lines]


def quantities(blocks: tuple[Section, ...]) -> list[Q]:
    """Every Q a sheet declares, in reading order."""
    out: list[Q] = []
    for s in blocks:
        if isinstance(s, (Grid, Row, Lines)):
            out.append(s.q)
        elif isinstance(s, (Table, Scalars, Model)):
            out.extend(s.qs)
        elif isinstance(s, Unroll):
            out.extend(c.q for c in s.columns)
    return out


def size(n: Size, dims: object) -> int:
    """A declared size for one workbook's dimensions."""
    return n if isinstance(n, int) else n(dims) if callable(n) else getattr(dims, n)
