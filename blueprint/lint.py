"""Formula linter: the rules of docs/design.md section 5, checked cell by cell.

Every rule exists because Excel, LibreOffice and the Python ``formulas`` engine would
otherwise compute different numbers from the same formula (docs/excel_notes.md section 2), or
because a rule makes the blueprint traceable (constants live in input cells, not in
formulas). Formulas are split into tokens by openpyxl's ``Tokenizer``; on top of the token
stream a small stack of function/parenthesis frames tells which argument a token is in.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from os import PathLike

from openpyxl.formula.tokenizer import Token, Tokenizer

from blueprint import a1 as A1

ALLOWED_FUNCTIONS = frozenset({
    "EXP", "LN", "TANH", "SQRT", "ABS", "MIN", "MAX", "IF", "AND", "OR", "SUM",
    "SUMPRODUCT", "INDEX", "MATCH", "AVERAGE", "CHOOSE", "MEDIAN", "NOT", "NA", "SUMIF", "SUMSQ", "COUNTIF", "COUNTIFS",
})
"""Classic functions all three engines implement alike. Anything else is either missing
from ``formulas`` (silent #NAME?), missing from LibreOffice (LET/LAMBDA: #NAME?/Err:509),
volatile (OFFSET, INDIRECT, RAND) or not a number at all (HYPERLINK, FORMULATEXT). NA() is
the one error value on purpose: a line chart leaves a gap at a #N/A cell (Clip's ratio_real)."""

ALLOWED_NUMBERS = frozenset({0.0, 1.0, 0.5, 2.0})
"""Structural literals. Any other number is a hidden hyperparameter: it belongs in an
input cell (Config, Weights, ...) where the user can see and change it."""

RANGE_FUNCTIONS: dict[str, frozenset[int] | None] = {
    "SUM": None, "SUMPRODUCT": None, "AVERAGE": None, "MIN": None, "MAX": None,
    "MEDIAN": None, "INDEX": frozenset({0}), "MATCH": frozenset({1}), "SUMSQ": None, "SUMIF": frozenset({0, 2}),
    "COUNTIF": frozenset({0}), "COUNTIFS": frozenset({0, 2}),
}
"""Functions that may take a literal range, and at which argument positions (None: any).
Everywhere else a range means array arithmetic in ``formulas`` but implicit intersection
in LibreOffice: ``LN(SUM(EXP(range)))`` gives 3.77 in one and 0.5 in the other."""

ERROR_VALUES = frozenset({"#NUM!", "#VALUE!", "#DIV/0!", "#NAME?", "#REF!", "#N/A", "#NULL!"})

_FUNCTION_PREFIXES = ("_xlfn.", "_xlws.", "_xludf.")
_Report = Callable[[str, str], None]
_SHEET = re.compile(rf"({A1.QUOTED_SHEET}|[^'!:]+)!")  # each sheet of a reference (3-D ones have two)
_WHOLE_COLUMN = re.compile(rf"{A1.COLUMN}:{A1.COLUMN}")
_WHOLE_ROW = re.compile(rf"{A1.ROW}:{A1.ROW}")


@dataclass(frozen=True)
class LintIssue:
    """One broken rule in one cell (or one defined name)."""

    sheet: str
    cell: str
    formula: str
    rule: str
    detail: str

    def __str__(self) -> str:
        where = f"{A1.sheet_prefix(self.sheet)}{self.cell}" if self.sheet else (self.cell or "<formula>")
        return f"{where}: rule '{self.rule}': {self.detail} in {self.formula}"


@dataclass
class _Frame:
    """An open function call, parenthesis or array constant and its arguments so far."""

    opener: str                      # "SUM(", "(", "{", or "" for the whole formula
    func: str | None                 # upper-case function name without prefix, else None
    args: list[list[Token]] = field(default_factory=lambda: [[]])
    seps: list[str] = field(default_factory=list)

    def text(self, closer: str) -> str:
        parts = ["".join(t.value for t in arg) for arg in self.args]
        body = parts[0] + "".join(s + p for s, p in zip(self.seps, parts[1:]))
        return self.opener + body + closer


def _reference_parts(operand: str) -> tuple[list[str], str]:
    """Split a RANGE operand into its sheet names (unquoted) and its address."""
    text = operand.lstrip("@")       # the implicit-intersection operator sticks to the operand
    for error in ERROR_VALUES:       # Sheet1!#REF! is one token; the error is no sheet name
        text = text.replace(error, "")
    sheets = [A1.unquote_sheet(m[1]) for m in _SHEET.finditer(text)]
    return sheets, _SHEET.sub("", text)


def _is_range(token: Token, range_names: frozenset[str] = frozenset()) -> bool:
    """A multi-cell reference: literal (``A1:B3``, ``A:A``, ``:B3``) or a name of an area."""
    return token.type == Token.OPERAND and token.subtype == Token.RANGE \
        and (":" in _reference_parts(token.value)[1] or token.value.casefold() in range_names)


def _shape(token: Token) -> tuple[int, int] | None:
    """Rows x columns of a literal cell or area reference; None for names and the like."""
    m = A1.REF.fullmatch(_reference_parts(token.value)[1])  # the sheets are off already
    if m is None:
        return None
    if not m["c2"]:
        return (1, 1)
    return (abs(int(m["r2"]) - int(m["r1"])) + 1, abs(A1.column_index(m["c2"]) - A1.column_index(m["c1"])) + 1)


def _number(tokens: list[Token], i: int) -> float:
    """The value of the NUMBER token at i, with any trailing ``%`` applied."""
    value = float(tokens[i].value)
    for t in tokens[i + 1:]:
        if t.type != Token.OP_POST or t.value != "%":
            break
        value /= 100
    return value


def lint_formula(formula: str, sheet: str = "", cell: str = "",
                 known_sheets: frozenset[str] | None = None,
                 range_names: frozenset[str] = frozenset()) -> list[LintIssue]:
    """Check one formula against every rule; return the broken ones in formula order.

    `range_names` are defined names (case-folded) that point at areas: in a formula they
    obey the same range rules as a literal ``A1:B3``.
    """
    if not formula.startswith("="):
        formula = "=" + formula
    issues: list[LintIssue] = []

    def report(rule: str, detail: str) -> None:
        issues.append(LintIssue(sheet, cell, formula, rule, detail))

    try:
        tokens = Tokenizer(formula).items
    except Exception as exc:         # TokenizerError, and IndexError for "=A1)"
        report("parse-error", f"cannot tokenise: {exc}")
        return issues
    known = None if known_sheets is None else {s.casefold() for s in known_sheets}

    stack = [_Frame("", None)]
    previous: Token | None = None
    for i, tok in enumerate(tokens):
        if tok.type == Token.WSPACE:
            stack[-1].args[-1].append(tok)
            continue
        if tok.type == Token.FUNC and tok.subtype == Token.OPEN:
            name = tok.value[:-1]
            bare = name
            for prefix in _FUNCTION_PREFIXES:
                if bare.lower().startswith(prefix):
                    bare = bare[len(prefix):]
            if bare.upper() not in ALLOWED_FUNCTIONS:
                report("function", f"{name} is not an allowed function")
            stack.append(_Frame(tok.value, bare.upper()))
        elif tok.subtype == Token.OPEN:            # "(" or "{"
            stack.append(_Frame(tok.value, None))
        elif tok.subtype == Token.CLOSE:
            if len(stack) == 1:
                report("parse-error", "unbalanced closing bracket")
                return issues
            frame = stack.pop()
            _check_frame(frame, report, range_names)
            stack[-1].args[-1].append(Token(frame.text(tok.value), "SUBEXPR"))
        elif tok.type == Token.SEP:
            stack[-1].args.append([])
            stack[-1].seps.append(tok.value)
        else:
            stack[-1].args[-1].append(tok)
            _check_token(tokens, i, previous, known, report)
        previous = tok
    if len(stack) != 1:
        report("parse-error", "unbalanced opening bracket")
        return issues
    _check_frame(stack[0], report, range_names)
    return issues


def _check_token(tokens: list[Token], i: int, previous: Token | None,
                 known: set[str] | None, report: _Report) -> None:
    """Rules that look at one token: literals, references, double negation."""
    tok = tokens[i]
    if tok.type == Token.OP_PRE and tok.value == "-" and previous is not None \
            and previous.type == Token.OP_PRE and previous.value == "-":
        # `formulas` treats --x as a no-op and keeps TRUE/FALSE, so (cond) sums wrongly.
        report("double-negation", "--x coerces differently across engines; write (cond)*1")
    if tok.type != Token.OPERAND:
        return
    if tok.subtype == Token.NUMBER:
        if _number(tokens, i) not in ALLOWED_NUMBERS:
            report("numeric-literal", tok.value)
    elif tok.subtype == Token.ERROR:
        # A typed #REF!/#N/A is a deleted reference or a placeholder, never a number; the
        # engines even disagree on its name (#NUM! in `formulas` is #VALUE! in LibreOffice).
        report("error-literal", f"{tok.value} typed into the formula")
    elif tok.subtype == Token.RANGE:
        if "#" in tok.value:                        # Sheet1!#REF! is one RANGE token
            report("error-literal", f"{tok.value} typed into the formula")
        sheets, address = _reference_parts(tok.value)
        if "[" in tok.value:
            # Another workbook: never opened by the verifier, so never verifiable.
            report("external-reference", f"{tok.value} points into another workbook")
        elif known is not None:
            for s in sheets:
                if s.casefold() not in known:
                    report("external-reference", f"{tok.value}: no sheet named '{s}'")
        if _WHOLE_COLUMN.fullmatch(address):
            # A million-row range: slow in `formulas` and blind to the model's extent.
            report("whole-column", f"{tok.value} is a whole-column range")
        elif _WHOLE_ROW.fullmatch(address):
            report("whole-row", f"{tok.value} is a whole-row range")


def _check_frame(frame: _Frame, report: _Report, range_names: frozenset[str] = frozenset()) -> None:
    """Rules that need the arguments of one call: where ranges may appear."""
    func = frame.func
    allowed_positions = RANGE_FUNCTIONS.get(func or "", frozenset())
    where = f"{func}()" if func else ("parentheses" if frame.opener else "the formula")
    shapes: list[tuple[int, int] | None] = []
    for position, arg in enumerate(frame.args):
        core = [t for t in arg if t.type != Token.WSPACE]
        plain = len(core) == 1 and core[0].type == Token.OPERAND \
            and core[0].subtype == Token.RANGE
        text = "".join(t.value for t in arg).strip()
        if func == "SUMPRODUCT":
            # SUMPRODUCT(a*b) is array arithmetic; engines agree only on SUMPRODUCT(a, b).
            if not plain:
                report("range-arithmetic",
                       f"SUMPRODUCT argument {position + 1} '{text}' is not a plain range")
            else:
                shapes.append(_shape(core[0]))
            continue
        if func == "INDEX" and position in (1, 2) and len(frame.args) > 2 and (
                not core or (len(core) == 1 and core[0].subtype == Token.NUMBER
                             and float(core[0].value) == 0)):
            # INDEX(range, r, 0) returns one element in `formulas` (issue #127), a row elsewhere.
            report("index-whole-line", f"INDEX row/column argument '{text}' selects a whole line")
        ranges = [t for t in core if _is_range(t, range_names)]
        if plain and ranges and (allowed_positions is None or position in allowed_positions):
            continue
        for r in ranges:
            report("range-arithmetic", f"range {r.value} is not a direct argument of an "
                   f"aggregating function (found in {where})")
    known_shapes = [s for s in shapes if s is not None]
    if len(known_shapes) == len(shapes) and len(set(known_shapes)) > 1:
        # SUMPRODUCT(row 1x3, column 3x1) is #VALUE! in both engines.
        report("sumproduct-shape", "SUMPRODUCT ranges differ in shape: "
               + ", ".join(f"{r}x{c}" for r, c in known_shapes))


def _check_defined_name(name: str, value: str, scope: str, known: frozenset[str]
                        ) -> list[LintIssue]:
    """A name must be workbook-level and point at one cell or one area of this workbook."""
    def issue(detail: str) -> LintIssue:
        return LintIssue(scope, name, value, "defined-name", detail)

    if scope:
        # Sheet-scoped names compute to #REF! in `formulas`.
        return [issue(f"name is scoped to sheet '{scope}'; use a workbook-level name")]
    if A1.REFERENCE_LIKE_NAME.fullmatch(name):
        # Names that read as cells (h0, R, C) give #VALUE! in LibreOffice.
        return [issue("name reads as a cell reference")]
    if "[" in value:
        return [issue("points into another workbook")]
    try:
        tokens = [t for t in Tokenizer("=" + value).items if t.type != Token.WSPACE]
    except Exception:
        tokens = []
    sheets = _reference_parts(tokens[0].value)[0] if len(tokens) == 1 else []
    on_this_book = len(sheets) == 1 and sheets[0].casefold() in {k.casefold() for k in known}
    if not on_this_book or _shape(tokens[0]) is None:
        return [issue("does not point at one cell or one area of this workbook")]
    return []


def _area_names(wb) -> frozenset[str]:
    """Workbook-level names that point at more than one cell, case-folded."""
    out = set()
    for name, dn in wb.defined_names.items():
        tokens = [t for t in Tokenizer("=" + dn.attr_text).items if t.type != Token.WSPACE]
        if len(tokens) == 1 and _shape(tokens[0]) not in (None, (1, 1)):
            out.add(name.casefold())
    return frozenset(out)


def _deliberate_na(formula: str | None, value: str) -> bool:
    """#N/A from a formula that calls NA(): a gap asked for (a chart skips the cell), not a failure."""
    if value != "#N/A" or not formula:
        return False
    try:
        tokens = Tokenizer(formula if formula.startswith("=") else "=" + formula).items
    except Exception:
        return False
    return any(t.type == Token.FUNC and t.subtype == Token.OPEN and t.value.upper() == "NA(" for t in tokens)


def lint_workbook(path: str | PathLike[str]) -> list[LintIssue]:
    """Lint every formula cell, every cached value and every defined name of a workbook."""
    import openpyxl

    wb = openpyxl.load_workbook(path)
    cached_wb = openpyxl.load_workbook(path, data_only=True)
    known = frozenset(wb.sheetnames)
    areas = _area_names(wb)
    issues: list[LintIssue] = []
    for ws in wb.worksheets:
        cached = {c.coordinate: c.value for row in cached_wb[ws.title].iter_rows()
                  for c in row if isinstance(c.value, str) and c.value in ERROR_VALUES}
        for row in ws.iter_rows():
            for c in row:
                text = c.value if isinstance(c.value, str) else getattr(c.value, "text", None)
                if c.data_type == "f" and text:
                    issues += lint_formula(text, ws.title, c.coordinate, known, areas)
                if c.coordinate in cached and not _deliberate_na(text, cached[c.coordinate]):
                    # An error value is a failure whatever the engine: #NUM! in `formulas`
                    # is #VALUE! in LibreOffice, and unsupported functions give #NAME?.
                    issues.append(LintIssue(ws.title, c.coordinate, str(text or c.value),
                                            "error-value", f"cached value {cached[c.coordinate]}"))
    for name, dn in wb.defined_names.items():
        if not name.startswith("_xlnm."):
            scope = wb.sheetnames[dn.localSheetId] if dn.localSheetId is not None else ""
            issues += _check_defined_name(name, dn.attr_text, scope, known)
    for ws in wb.worksheets:                 # openpyxl >= 3.1 files sheet-scoped names here
        for name, dn in ws.defined_names.items():
            if not name.startswith("_xlnm."):
                issues += _check_defined_name(name, dn.attr_text, ws.title, known)
    return issues
