"""`blueprint trace`: a cell's formula and value, then its precedents as a tree down to the inputs.

Every derived number of a blueprint is a live formula, so any number can be explained by
walking its precedents: `Total!B5` (total_loss) reads `Clip!B53` (pg_loss), which reads the
pg_losses grid, ... down to the yellow weights, prompts and draws and the Config values.
Each line names the cell, its quantity (from the layout), its cached value and its formula.

Rules that keep the tree bounded: each formula cell is expanded once (later occurrences say
"see above"), constants are leaves, and a depth limit cuts the rest (the cut cells say so).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from openpyxl.formula.tokenizer import Token, Tokenizer

from blueprint import a1 as A1
from blueprint.a1 import MAX_COLS, MAX_ROWS
from blueprint.cellvalues import is_formula
from blueprint.errors import BlueprintError

MAX_EXPAND = 100_000  # cells one range may expand to when the sheet's used extent is unknown
FORMULA_WIDTH = 100  # characters of formula (or text value) shown on one line
EXAMPLE = "e.g. Total!B5 or 'Value Loss'!B6"



# ------------------------------------------------------------------------------------------
# Addresses
# ------------------------------------------------------------------------------------------


def parse_address(text: str, sheets: list[str]) -> tuple[str, int, int]:
    """`GAE!F7`, `'Value Loss'!B3`, `Value Loss!B3`, `gae!$f$7` -> (sheet as in `sheets`, row, col), 0-based.

    The sheet is matched case-insensitively. Anything else — no sheet, an unknown sheet, a range,
    row 0, a column beyond XFD — is refused with a one-line BlueprintError.
    """
    raw = text.strip()
    shown = repr(text)  # repr keeps the message on one line whatever the user typed
    if not raw:
        raise BlueprintError(f"address {shown} is empty; give SHEET!CELL, {EXAMPLE}")
    sheet, ref = A1.split_sheet(raw)
    if sheet is None:
        raise BlueprintError(f"address {shown} names no sheet; give SHEET!CELL, {EXAMPLE}")
    by_lower = {s.lower(): s for s in sheets}
    actual = by_lower.get(sheet.strip().lower())
    if actual is None:
        raise BlueprintError(f"address {shown}: no sheet {sheet!r} in the workbook (sheets: {', '.join(sheets)}); give SHEET!CELL, {EXAMPLE}")
    ref = ref.strip()
    if ":" in ref:
        raise BlueprintError(f"address {shown} is a range; trace takes one cell, {EXAMPLE}")
    m = A1.CELL.fullmatch(ref)
    if not m:
        raise BlueprintError(f"address {shown}: {ref!r} is not a cell reference like B5; give SHEET!CELL, {EXAMPLE}")
    letters, row = m.group(1).lstrip("$").upper(), int(m.group(2).lstrip("$"))
    if A1.column_index(letters) >= MAX_COLS:
        raise BlueprintError(f"address {shown}: column {letters} is beyond XFD, Excel's last column; {EXAMPLE}")
    if not 1 <= row <= MAX_ROWS:
        raise BlueprintError(f"address {shown}: row {row} is outside Excel's rows 1..{MAX_ROWS}; {EXAMPLE}")
    return actual, row - 1, A1.column_index(letters)


# ------------------------------------------------------------------------------------------
# Precedents of one formula
# ------------------------------------------------------------------------------------------


def _bounds(ref: str) -> tuple[int, int, int, int] | None:
    """`B16:E17` -> (r0, c0, r1, c1) inclusive, 0-based; whole rows/columns span the grid. None if not a reference."""
    m = A1.AREA.fullmatch(ref)
    if not m:
        return None
    if m.group("c1"):
        a = A1.parse_cell(m.group("c1"))
        b = A1.parse_cell(m.group("c2")) if m.group("c2") else a
        if a is None or b is None:
            return None
        return min(a[0], b[0]), min(a[1], b[1]), max(a[0], b[0]), max(a[1], b[1])
    if m.group("k1"):
        c = [A1.column_index(m.group(k)) for k in ("k1", "k2")]
        if max(c) >= MAX_COLS:
            return None
        return 0, min(c), MAX_ROWS - 1, max(c)
    r = [int(m.group(k).lstrip("$")) for k in ("r1", "r2")]
    if not all(1 <= x <= MAX_ROWS for x in r):
        return None
    return min(r) - 1, 0, max(r) - 1, MAX_COLS - 1


def _operands(formula: str) -> list[str]:
    """The reference-like operands (cells, ranges, names) of a formula, in order; text literals are not among them."""
    text = formula if formula.startswith("=") else "=" + formula
    try:
        items = Tokenizer(text).items
    except Exception as exc:  # the tokenizer raises a bare TokenizerError on unbalanced quotes and brackets
        raise BlueprintError(f"formula {formula[:80]!r} cannot be parsed ({type(exc).__name__}: {exc}); fix it in Excel or regenerate") from None
    return [t.value for t in items if t.type == Token.OPERAND and t.subtype == Token.RANGE]


def precedents(formula: str, sheet: str, names: dict[str, str], *,
               extent: Mapping[str, tuple[int, int]] | None = None) -> list[tuple[str, int, int]]:
    """The cells `formula` (on `sheet`) reads: (sheet, row, col), 0-based, in order of first appearance.

    Ranges are expanded to their cells, defined names (case-insensitive, as in Excel) to their
    target cells, and sheet-qualified references keep the sheet name as written (quotes removed);
    unqualified ones are on `sheet`. Text literals (`"k2"`), numbers, errors and unknown names
    read no cell. `extent` maps a lower-cased sheet name to its used (rows, cols): multi-cell
    ranges are clipped to it, so `A:A` lists only the used rows. Without it a range over more than
    MAX_EXPAND cells is refused.
    """
    by_lower = {k.lower(): v for k, v in names.items()}
    out: dict[tuple[str, int, int], None] = {}
    _collect(formula, sheet, by_lower, extent, out, seen_names=set())
    return list(out)


def _collect(formula: str, sheet: str, names: dict[str, str], extent: Mapping[str, tuple[int, int]] | None,
             out: dict[tuple[str, int, int], None], seen_names: set[str]) -> None:
    for operand in _operands(formula):
        where, ref = A1.split_sheet(operand)
        target_sheet = sheet if where is None else where
        box = _bounds(ref)
        if box is None:
            key = operand.lower()
            if where is None and key in names and key not in seen_names:  # a defined name: its target, recursively
                _collect(names[key], sheet, names, extent, out, seen_names | {key})
            continue  # #REF!, a table reference, an undefined name: no cell to show
        r0, c0, r1, c1 = box
        if extent is not None and (r0, c0) != (r1, c1):  # a single cell is listed even beyond the used area
            rows, cols = extent.get(target_sheet.lower(), (0, 0))
            r1, c1 = min(r1, rows - 1), min(c1, cols - 1)
        elif (r1 - r0 + 1) * (c1 - c0 + 1) > MAX_EXPAND:
            raise BlueprintError(f"formula {formula[:80]!r}: {operand} spans more than {MAX_EXPAND} cells; trace cannot list them all")
        for r in range(r0, r1 + 1):
            for c in range(c0, c1 + 1):
                out.setdefault((target_sheet, r, c), None)


# ------------------------------------------------------------------------------------------
# The tree
# ------------------------------------------------------------------------------------------


@dataclass
class TraceNode:
    """One cell of a trace. `kind`: "formula", "input" (a constant) or "empty".

    `quantity` is the layout's name (`advantages[1,2]`, `gamma`), or for cells outside the
    layout "(input)" for a number, "(label)" for text, "" otherwise. `repeated`: the cell was
    already expanded higher up (no children here). `truncated`: a formula cut by the depth limit.
    """

    sheet: str
    row: int
    col: int
    quantity: str
    formula: str | None
    value: Any
    kind: str
    children: list[TraceNode] = field(default_factory=list)
    repeated: bool = False
    truncated: bool = False

    @property
    def address(self) -> str:
        return A1.address(self.sheet, self.row, self.col)

    def walk(self):
        """Every node of the tree, depth first (iterative: a deep chain does not hit the recursion limit)."""
        stack = [self]
        while stack:
            node = stack.pop()
            yield node
            stack.extend(reversed(node.children))


def trace(path: Path, address: str, depth: int | None = None) -> TraceNode:
    """The precedent tree of the cell at `address` (`SHEET!CELL`), `depth` levels deep (None: to the inputs)."""
    return Tracer(path).trace(address, depth)


class Tracer:
    """A workbook read once (safely: archive check, no external references), traced as often as needed."""

    def __init__(self, path: Path):
        from blueprint.readback import read_cells, read_config

        self.path = path = Path(path)
        self.cells = cells = read_cells(path)
        self.file_sheets = list(cells.sheets)
        _, self.layout = read_config(cells)
        self.to_canon = {actual: sheet for sheet, actual in cells.renamed.items()}  # file name -> blueprint name
        self.to_file = dict(cells.renamed)  # blueprint name -> file name
        # Formulas name sheets as the file does (in any case); a renamed sheet may also be given by its blueprint name.
        self.sheet_of = {s.lower(): self.to_canon.get(s, s) for s in self.file_sheets}
        self.sheet_of.update({s.lower(): s for s in cells.renamed if s.lower() not in self.sheet_of})
        self.cached = cells.cached
        extent: dict[str, tuple[int, int]] = {}
        for (sh, r, c) in cells.values:
            rows, cols = extent.get(sh, (0, 0))
            extent[sh] = (max(rows, r + 1), max(cols, c + 1))
        self.extent = {name: extent.get(canon, (0, 0)) for name, canon in self.sheet_of.items()}

    def locate(self, address: str) -> tuple[str, int, int]:
        """`SHEET!CELL` -> (blueprint sheet name, row, col), 0-based."""
        known = self.file_sheets + [s for s in self.cells.renamed if s.lower() not in {f.lower() for f in self.file_sheets}]
        sheet, row, col = parse_address(address, known)
        return self.sheet_of[sheet.lower()], row, col

    def node(self, sheet: str, row: int, col: int) -> TraceNode:
        """One cell (blueprint sheet name), without children; the node shows the sheet's name in the file."""
        v = self.cells.get(sheet, row, col)
        if not isinstance(v, (str, int, float, bool)) and isinstance(getattr(v, "text", None), str):
            v = v.text  # an array formula (openpyxl's ArrayFormula): its formula text
        hit = self.layout.at(sheet, row, col)
        if hit is not None:
            q, idx = hit
            quantity = f"{q}[{','.join(map(str, idx))}]" if idx else q
        elif v is None or _is_formula(v):
            quantity = ""
        else:
            quantity = "(label)" if isinstance(v, str) else "(input)"
        shown = self.to_file.get(sheet, sheet)
        if v is None:
            return TraceNode(shown, row, col, quantity, None, None, "empty")
        if _is_formula(v):
            return TraceNode(shown, row, col, quantity, v, self.cached.get((sheet, row, col)), "formula")
        return TraceNode(shown, row, col, quantity, None, v, "input")

    def trace(self, address: str, depth: int | None = None) -> TraceNode:
        if depth is not None and depth < 0:
            raise BlueprintError(f"--depth {depth}: must be >= 0")
        sheet, row, col = self.locate(address)
        if self.cells.get(sheet, row, col) is None:
            raise BlueprintError(f"{A1.address(self.to_file.get(sheet, sheet), row, col)} is empty; trace a cell that holds a formula or a value, {EXAMPLE}")
        root = self.node(sheet, row, col)
        expanded: set[tuple[str, int, int]] = set()
        stack: list[tuple[TraceNode, str, int]] = [(root, sheet, 0)]  # (node, its blueprint sheet, its depth)
        while stack:  # depth first, iteratively: a long chain of hidden states does not hit the recursion limit
            cur, sh, d = stack.pop()
            if cur.kind != "formula":
                continue
            key = (sh, cur.row, cur.col)
            if key in expanded:  # also stops a circular reference
                cur.repeated = True
                continue
            cells = precedents(cur.formula or "", self.to_file.get(sh, sh), self.cells.names, extent=self.extent)
            if depth is not None and d >= depth:
                cur.truncated = bool(cells)  # not expanded: a later, shallower occurrence still may be
                continue
            expanded.add(key)
            for psheet, r, c in cells:
                cur.children.append(self.node(self.sheet_of.get(psheet.lower(), psheet), r, c))
            for child in reversed(cur.children):  # reversed: the first precedent is expanded first, as it is printed
                stack.append((child, self.to_canon.get(child.sheet, child.sheet), d + 1))
        return root


def _is_formula(v: Any) -> bool:
    return is_formula(v) and len(v) > 1


# ------------------------------------------------------------------------------------------
# Text
# ------------------------------------------------------------------------------------------


def _short(text: str, width: int = FORMULA_WIDTH) -> str:
    text = " ".join(text.split())  # a multi-line formula stays on its line
    return text if len(text) <= width else text[:width - 1] + "…"


def format_value(v: Any) -> str:
    """Numbers to 6 significant digits, text quoted, booleans as Excel shows them; None (not calculated) as `?`."""
    if v is None:
        return "?"
    if isinstance(v, bool):
        return "TRUE" if v else "FALSE"
    if isinstance(v, (int, float)):
        return f"{v + 0.0 if v == 0 else v:.6g}"  # -0.0 shows as 0, as Excel shows it
    return '"' + _short(str(v), 40) + '"'


def _line(node: TraceNode) -> str:
    head = f"{node.address} {node.quantity}" if node.quantity else node.address
    if node.kind == "empty":
        return f"{head} (empty)"
    text = f"{head} = {format_value(node.value)}"
    if node.kind == "input":
        return text if node.quantity == "(label)" else f"{text}  (input)"
    text += f"  {_short(node.formula or '')}"
    if node.repeated:
        text += "  (see above)"
    elif node.truncated:
        text += "  (… depth limit)"
    return text


def render(node: TraceNode) -> str:
    """The tree as text: one line per cell, `├─`/`└─` branches, children indented under their parent."""
    lines: list[str] = []
    stack: list[tuple[TraceNode, str, str]] = [(node, "", "")]  # (node, prefix of its line, prefix of its children)
    while stack:
        cur, lead, indent = stack.pop()
        lines.append(lead + _line(cur))
        kids = cur.children
        for k in range(len(kids) - 1, -1, -1):
            last = k == len(kids) - 1
            stack.append((kids[k], indent + ("└─ " if last else "├─ "), indent + ("   " if last else "│  ")))
    return "\n".join(lines)
