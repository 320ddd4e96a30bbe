"""Recalculate every formula cell of a workbook fast, through the `formulas` package's own parser and functions.

Why: stock `formulas.ExcelModel` parses every cell and gives each its own schedula dispatcher
(about 300 formula cells/s and gigabytes on the xl preset; docs/excel_notes.md §3), although a
blueprint repeats a few dozen formula *shapes* thousands of times.

How, with no Excel semantics of our own:
1. One `re.split` per formula cuts it into its *shape* — the text with every reference (and every
   defined name, which is a reference too) replaced by a placeholder numbered by first
   occurrence, so `=A1*A1` and `=B2*C3` differ — and its list of references. String literals are
   never references; unknown names and sheets stay literal, and the package answers #REF!.
2. Each shape is parsed and compiled ONCE with `formulas.Parser`, and its dispatcher unrolled into
   a straight program of the package's own implementations: no schedula at run time.
3. Cells are levelled by dependency (a range depends on its formula cells); a circular reference
   and everything downstream of it get the marker "#CIRC!" instead of hanging or vanishing.
4. The cells of one shape on one level run together. Elementwise implementations (operators,
   EXP/LN/TANH/..., IF: the package's `wrap_ufunc`s, which np.vectorize a scalar kernel and check
   errors per element) get one call on (n,) object arrays; INDEX vectorises over its row/column
   numbers, so it gets one call per shared range; all others (SUMPRODUCT, MATCH, SUM, MAX, ...)
   are called per cell with exactly the values stock would pass them, which is cheap without
   schedula.

Each function receives what stock's dispatcher would hand it: a referenced cell or range as a
2-D object array (an empty cell as `schedula.EMPTY`), a function result as returned — except that
numpy scalars are handed on as the Python scalars of the same value (np.float64 → float), which
the package's kernels check two to three times faster. Results are settled as stock settles them
(one scalar per cell, empty → 0) and reported with error values as their text ("#NUM!").
Stock gives INDEX a reference (a `Ranges`); we give it the range's values, which is what makes it
vectorise. Hence functions that need a reference rather than values (ROW, COLUMN, ROWS, COLUMNS,
ISREF, the reference operators `:` `,` and ` `; all outside docs/design.md §5) are refused with
"#UNSUPPORTED!", as are formulas the package's parser rejects.
"""

from __future__ import annotations

import functools
import importlib
import re
import sys
import types
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import formulas
import numpy as np
import schedula as sh
from formulas.functions import Array, get_functions, replace_empty
from formulas.functions.operators import OPERATORS
from formulas.ranges import _reshape_array_as_excel
from formulas.tokens.operand import Error, XlError

from blueprint.cellvalues import ErrorValue, Formula

CellKey = tuple[str, int, int]
Ref = tuple[str, int, int, int, int]  # sheet, first row, first col, last row, last col (0-based, inclusive)

CIRCULAR = "#CIRC!"  # our marker: the cell is on, or downstream of, a circular reference
UNSUPPORTED = "#UNSUPPORTED!"  # our marker: a formula the package cannot parse, or one needing references (ROW, ...)
NAMES_SHEET = "\x00names"  # pseudo-sheet holding the defined names whose target is a formula, not a reference

ERRORS: dict[str, XlError] = dict(Error.errors)
# A formula's words: a string literal (never a reference), or a run of name characters not
# followed by `(` (so not a function) and not preceded by a digit or `#` (so not inside 1E5 or #REF!).
_WORD = re.compile(r"""("(?:[^"]|"")*"|'(?:[^']|'')+'![\w.$:]++(?!\()|(?<![\w.$\\#])[A-Za-z_\\$][\w.$\\!:]*+(?!\())""")
_REF = re.compile(
    r"(?:(?P<sheet>'(?:[^']|'')+'|[A-Za-z_][\w.]*)!)?"
    r"\$?(?P<c1>[A-Za-z]{1,3})\$?(?P<r1>[0-9]+)(?::\$?(?P<c2>[A-Za-z]{1,3})\$?(?P<r2>[0-9]+))?"
)
_NAME = re.compile(r"[A-Za-z_\\][\w.\\]*")
_PLACEHOLDER = re.compile(r"XFA([0-9]+)|XFB([0-9]+):XFC\2")
_CELL_PLACEHOLDER = [f"XFA{i + 1}" for i in range(8192)]  # a formula has at most 8192 characters
_RANGE_PLACEHOLDER = [f"XFB{i + 1}:XFC{i + 1}" for i in range(8192)]
_MAX_ROW, _MAX_COL = 1048576, 16384


# --- cutting formulas into shapes -------------------------------------------------------------


@functools.cache
def _col(letters: str) -> int:
    """0-based column index of `AB`-style letters (memoised: a workbook uses few columns)."""
    c = 0
    for ch in letters.upper():
        c = c * 26 + ord(ch) - 64
    return c - 1


def _ref_of(m: re.Match, here: str, sheets: dict[str, str]) -> Ref | None:
    """The reference a `_REF` match denotes, or None when its sheet does not exist or it is off the grid."""
    token = m["sheet"]
    if token is None:
        sheet: str | None = here
    else:
        sheet = sheets.get((token[1:-1].replace("''", "'") if token[0] == "'" else token).upper())
    r1, c1 = int(m["r1"]) - 1, _col(m["c1"])
    r2, c2 = (int(m["r2"]) - 1, _col(m["c2"])) if m["c2"] else (r1, c1)
    if sheet is None or min(r1, r2) < 0 or max(r1, r2) >= _MAX_ROW or max(c1, c2) >= _MAX_COL:
        return None
    return sheet, min(r1, r2), min(c1, c2), max(r1, r2), max(c1, c2)


def _classify(word: str, here: str, sheets: dict[str, str], names: dict[str, Ref]) -> Ref | None:
    """The reference a word of a formula denotes (a cell, a range, a defined name), or None (text, TRUE, ...)."""
    if word[0] == '"':
        return None
    m = _REF.fullmatch(word)
    if m:
        return _ref_of(m, here, sheets)
    return names.get(word.upper()) if _NAME.fullmatch(word) else None


class RefTable:
    """The distinct references of a workbook, numbered: ints hash and compare faster than 5-tuples in the hot loops."""

    def __init__(self) -> None:
        self.refs: list[Ref] = []
        self.one_cell: list[bool] = []
        self._ids: dict[Ref, int] = {}

    def id(self, ref: Ref) -> int:
        i = self._ids.get(ref)
        if i is None:
            i = self._ids[ref] = len(self.refs)
            self.refs.append(ref)
            self.one_cell.append(ref[1:3] == ref[3:5])
        return i


def split_formula(text: str, here: str, sheets: dict[str, str], names: dict[str, Ref], table: RefTable,
                  seen: dict[str, int]) -> tuple[str, tuple[int, ...]]:
    """(shape, reference ids): the formula with each distinct reference replaced by a numbered placeholder
    the parser reports back verbatim, `XFA7` for a cell and `XFB7:XFC7` for a range.

    `seen` memoises word → reference id (-1: not a reference) for the sheet `here`: words repeat a lot.
    """
    parts = _WORD.split(text)
    ids: list[int] = []
    index: dict[int, int] = {}
    for k in range(1, len(parts), 2):
        rid = seen.get(parts[k])
        if rid is None:
            ref = _classify(parts[k], here, sheets, names)
            rid = seen[parts[k]] = -1 if ref is None else table.id(ref)
        if rid < 0:
            continue
        i = index.get(rid)
        if i is None:
            i = index[rid] = len(ids)
            ids.append(rid)
        parts[k] = _CELL_PLACEHOLDER[i] if table.one_cell[rid] else _RANGE_PLACEHOLDER[i]
    return "".join(parts), tuple(ids)


def resolve_names(names: dict[str, str], sheets: dict[str, str]) -> tuple[dict[str, Ref], dict[CellKey, str]]:
    """Defined names by upper-case name: those targeting a reference become it; the others (`0.5`, a
    formula) become pseudo formula cells on NAMES_SHEET, evaluated like any cell (stock accepts both)."""
    refs: dict[str, Ref] = {}
    pseudo: dict[CellKey, str] = {}
    for i, (name, target) in enumerate(sorted(names.items())):
        target = target.lstrip("=").strip()
        m = _REF.fullmatch(target)
        ref = _ref_of(m, "", sheets) if m is not None and m["sheet"] else None
        if ref is None:
            ref = (NAMES_SHEET, i, 0, i, 0)
            pseudo[ref[:3]] = "=" + target
        refs[name.upper()] = ref
    return refs, pseudo


# --- compiling a shape into a straight program ------------------------------------------------


@dataclass(frozen=True)
class Step:
    """One call of a package implementation: slots in, one slot out."""

    func: Callable[..., Any]
    args: tuple[int, ...]
    out: int
    keep: frozenset[int] | None  # vectorisable: the arg positions that must be shared by the cells of a call; None: per cell


@dataclass(frozen=True)
class Program:
    """A compiled shape: slot defaults (constants, folded subexpressions), placeholder slots, steps, result slot."""

    n_slots: int
    defaults: tuple[tuple[int, Any], ...]
    inputs: tuple[tuple[int, int], ...]  # (slot, placeholder index)
    steps: tuple[Step, ...]
    out: int


class _Deferred(types.ModuleType):
    """Stands in for a module while `formulas.functions` is imported; the real one is imported on first use.

    Attributes taken while the stand-in is in sys.modules (`from scipy.interpolate import interp1d`)
    are `_DeferredAttribute`s; later ones come from the real module.
    """

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("__"):
            raise AttributeError(attr)
        if sys.modules.get(self.__name__) is self:
            return _DeferredAttribute(self.__name__, attr)
        return getattr(importlib.import_module(self.__name__), attr)


@dataclass(frozen=True)
class _DeferredAttribute:
    """`module.attr`, looked up when first called or asked for an attribute of its own (`norm.ppf`)."""

    module: str
    attr: str

    def _real(self) -> Any:
        return getattr(importlib.import_module(self.module), self.attr)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._real()(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(self._real(), name)


@functools.cache
def functions() -> dict[str, Any]:
    """The package's function table (`formulas.functions.get_functions`), imported without loading scipy.

    `formulas.functions.stat` imports scipy.stats, scipy.linalg and scipy.interpolate at its top
    (~0.9 s: most of a cold verify's start-up) for statistical functions no blueprint calls. While
    the table is built those modules are `_Deferred` stand-ins, which leave sys.modules right after:
    every function still works, and the first one needing scipy imports it then.
    """
    stand_ins = {name: _Deferred(name) for name in ("scipy.stats", "scipy.linalg", "scipy.interpolate") if name not in sys.modules}
    sys.modules.update(stand_ins)
    try:
        return get_functions()
    finally:
        for name, module in stand_ins.items():
            if sys.modules.get(name) is module:
                del sys.modules[name]


def _implementation(name: str) -> Callable[..., Any]:
    """The package's implementation of an Excel function (some are registered as dicts with extra inputs)."""
    f = functions()[name]
    return f["function"] if isinstance(f, dict) else f


def implementations() -> tuple[dict[Any, frozenset[int]], frozenset[Any]]:
    """(vectorisable implementations with the arg positions that must stay shared, reference-needing ones).

    Operators and EXP/LN/TANH/SQRT/ABS/... are `wrap_ufunc`s: np.vectorize of a scalar kernel
    with per-element error checks, so (n,) object arrays of scalars in give the n stock results
    out. IF is one too. INDEX np.vectorizes `_index` over row/column with the array excluded.
    """
    vectorised = {OPERATORS[op]: frozenset() for op in ("+", "-", "*", "/", "^", "%", "U-", "U+", "=", "<>", "<", ">", "<=", ">=", "&")}
    vectorised.update((_implementation(name), frozenset()) for name in ("ABS", "EXP", "LN", "LOG10", "SQRT", "TANH", "SIGN", "IF"))
    vectorised[_implementation("INDEX")] = frozenset({0, 1})  # (compiling flag, array)
    by_reference = frozenset([OPERATORS[op] for op in ":, "]
                             + [_implementation(n) for n in ("ROW", "COLUMN", "ROWS", "COLUMNS", "AREAS", "ISREF", "ISFORMULA", "SINGLE")])
    return vectorised, by_reference


def compile_shape(shape: str, vectorised: dict[Any, frozenset[int]], by_reference: frozenset[Any]) -> Program | str:
    """Parse and compile one shape with `formulas.Parser`, then order its dispatcher's function nodes.

    Inputs that are not our placeholders (unknown names, missing sheets) get the package's
    #REF!, as stock gives them. UNSUPPORTED when the parser rejects the text or the formula
    needs references rather than values.
    """
    try:
        builder = formulas.Parser().ast(shape)[1]
        if any(node["function"] in by_reference for node in builder.dsp.function_nodes.values()):
            return UNSUPPORTED  # checked before compiling, which folds `(A1:B2,C3)` or `A1:B2 B2:C3` away
        fn = builder.compile()
    except Exception:  # noqa: BLE001 - FormulaError and friends: nothing the package can run
        return UNSUPPORTED
    dsp = fn.dsp
    slot = {node: i for i, node in enumerate(dsp.data_nodes)}
    defaults = {slot[k]: v["value"] for k, v in dsp.default_values.items() if k in slot}
    inputs = []
    for name in fn.inputs:
        m = _PLACEHOLDER.fullmatch(name)
        if m:
            inputs.append((slot[name], int(m[1] or m[2]) - 1))
        else:
            defaults[slot[name]] = np.asarray([[ERRORS["#REF!"]]], object)
    ready = set(defaults) | {s for s, _ in inputs}
    pending = list(dsp.function_nodes.values())
    steps = []
    while pending:  # dependency order: a node runs once all its inputs are ready
        later = []
        for node in pending:
            args = tuple(slot[i] for i in node["inputs"])
            if all(a in ready for a in args):
                steps.append(Step(node["function"], args, slot[node["outputs"][0]], vectorised.get(node["function"])))
                ready.add(steps[-1].out)
            else:
                later.append(node)
        if len(later) == len(pending):
            return UNSUPPORTED  # inputs that never come: not a pipeline we can run
        pending = later
    return Program(len(slot), tuple(defaults.items()), tuple(inputs), tuple(steps), slot[fn.outputs[0]])


# --- dependency levels ------------------------------------------------------------------------


def covered(ref: Ref, formula_ids: dict[CellKey, int]) -> tuple[int, ...]:
    """The formula cells inside a reference, by id."""
    sheet, r1, c1, r2, c2 = ref
    get = formula_ids.get
    found = (get((sheet, r, c)) for r in range(r1, r2 + 1) for c in range(c1, c2 + 1))
    return tuple(i for i in found if i is not None)


def levels(deps: list[tuple[int, ...]]) -> tuple[list[int], list[bool]]:
    """Longest-path level of every cell (1 + its deepest precedent's), and whether it is on or below a cycle.

    Iterative DFS (chains run hundreds deep). A precedent still on the DFS path is a back edge:
    the cell is circular, and so is every cell finishing with a circular precedent, which covers
    every cell of every cycle and everything downstream. Circular cells keep level 0.
    """
    n = len(deps)
    level = [0] * n  # 0 until finished
    circular = [False] * n
    on_path = [False] * n
    for root in range(n):
        if level[root] or circular[root]:
            continue
        stack = [root]
        on_path[root] = True
        while stack:
            node = stack[-1]
            deepest, blocked = 0, False
            for p in deps[node]:
                lp = level[p]
                if lp:
                    if lp > deepest:
                        deepest = lp
                elif circular[p] or on_path[p]:
                    blocked = True
                else:
                    on_path[p] = True
                    stack.append(p)
                    break
            else:
                stack.pop()
                on_path[node] = False
                if blocked:
                    circular[node] = True
                else:
                    level[node] = deepest + 1
    return level, circular


# --- running a batch --------------------------------------------------------------------------


class Same:
    """A slot holding one value for every cell of the batch (in stock form)."""

    __slots__ = ("value",)

    def __init__(self, value: Any):
        self.value = value


class Flat:
    """A slot holding one scalar per cell as an (n,) object array; `wrap` gives a scalar's stock form."""

    __slots__ = ("array", "wrap")

    def __init__(self, array: np.ndarray, wrap: Callable[[Any], Any]):
        self.array, self.wrap = array, wrap


class Each:
    """A slot holding any value per cell (range blocks, arrays), in stock form."""

    __slots__ = ("values",)

    def __init__(self, values: list):
        self.values = values


Slot = Same | Flat | Each


def _block(v: Any) -> np.ndarray:
    """A cell's value as stock hands it to a function: a 1×1 object array."""
    a = np.empty((1, 1), object)
    a[0, 0] = v
    return a


def _array(v: Any) -> Array:
    """A scalar function result as stock hands it on: the package's 1×1 `Array`."""
    return _block(v).view(Array)


def _plain(v: Any) -> Any:
    """A numpy scalar as the Python scalar of the same value (np.float64 → float: the same double).

    The package's kernels take 2-3× longer per np.float64 element than per float (their generic
    error and type checks), and many results are np.float64 (np.tanh, np.exp, np.sum).
    """
    return v.item() if isinstance(v, np.generic) else v


def _scalars(slot: Slot, n: int) -> np.ndarray | None:
    """The slot as an (n,) object array of scalars, or None when some cell holds more than one value."""
    if isinstance(slot, Flat):
        return slot.array
    values = [slot.value] if isinstance(slot, Same) else slot.values
    out = np.empty(len(values), object)
    for i, v in enumerate(values):
        if isinstance(v, np.ndarray):
            if v.size != 1:
                return None
            v = v.ravel()[0]
        out[i] = _plain(v)
    return np.repeat(out, n) if isinstance(slot, Same) else out


def _column(slot: Slot, n: int) -> list:
    """The slot's stock-form value for each cell."""
    if isinstance(slot, Same):
        return [slot.value] * n
    if isinstance(slot, Flat):
        return [slot.wrap(x) for x in slot.array]
    return slot.values


def _call(func: Callable[..., Any], args: Iterable[Any]) -> Any:
    """One call of a package implementation; an exception becomes an error value, never a crash.

    NotImplementedError is how the package marks a function it lacks: #NAME?, as stock's cell
    wrapper answers. Anything else escaping an implementation gets #VALUE!, as `wrap_func` does.
    """
    try:
        return func(*args)
    except NotImplementedError:
        return ERRORS["#NAME?"]
    except Exception:  # noqa: BLE001 - an untrusted formula must give an error value
        return ERRORS["#VALUE!"]


def _vectorised(step: Step, args: list[Slot], n: int) -> Flat | None:
    """All cells of the batch in a few vectorised calls, or None when the step cannot go that way.

    Cells are grouped by the identity of their shared arguments (range blocks are memoised, so
    one range is one object); each group is one call on (k,) arrays of the other arguments' scalars.
    """
    keep = step.keep or frozenset()
    flat = {i: _scalars(a, n) for i, a in enumerate(args) if i not in keep}
    if any(f is None for f in flat.values()) or any(isinstance(args[i], Flat) for i in keep):
        return None
    kept = {i: _column(args[i], n) for i in keep}
    groups: dict[tuple[int, ...], list[int]] = defaultdict(list)
    if kept:
        for j in range(n):
            groups[tuple(id(col[j]) for col in kept.values())].append(j)
        if 2 * len(groups) > n:
            return None  # mostly singletons: per-cell calls beat vectorising one element at a time
    else:
        groups[()] = list(range(n))
    out = np.empty(n, object)
    for idx in groups.values():
        sub = idx if len(idx) < n else slice(None)
        try:
            res = step.func(*[kept[i][idx[0]] if i in kept else flat[i][sub] for i in range(len(args))])
        except Exception:  # noqa: BLE001 - retried per cell, so each cell gets its own error value
            return None
        if not (isinstance(res, np.ndarray) and res.shape == (len(idx),)):
            return None
        out[sub] = [_plain(x) for x in res]
    return Flat(out, _array)


def _run_step(step: Step, slots: list[Slot], n: int) -> Slot:
    args = [slots[a] for a in step.args]
    if all(isinstance(a, Same) for a in args):
        return Same(_call(step.func, [a.value for a in args]))
    if step.keep is not None:
        out = _vectorised(step, args, n)
        if out is not None:
            return out
    return Each([_call(step.func, row) for row in zip(*[_column(a, n) for a in args])])


def run_batch(prog: Program, refs: list[tuple[int, ...]], store: _Store) -> list:
    """Settled results of one shape for a batch of cells (`refs`: each cell's reference ids)."""
    n = len(refs)
    slots: list = [None] * prog.n_slots
    for s, v in prog.defaults:
        slots[s] = Same(v)
    for s, i in prog.inputs:
        col = [r[i] for r in refs]
        first = col[0]
        if col.count(first) == n:
            slots[s] = Same(store.block(first))
        elif store.table.one_cell[first]:
            slots[s] = Flat(store.scalars(col), _block)
        else:
            slots[s] = Each([store.block(r) for r in col])
    for step in prog.steps:
        slots[step.out] = _run_step(step, slots, n)
    out = slots[prog.out]
    return [settle(v) for v in (out.array if isinstance(out, Flat) else _column(out, n))]


def settle(v: Any) -> Any:
    """A result as stock stores it in the cell: one plain scalar (a lone array element), empty → 0."""
    if isinstance(v, np.ndarray):
        v = _reshape_array_as_excel(replace_empty(v), (1, 1))[0, 0]
    return 0 if v is sh.EMPTY else _plain(v)


def report(v: Any) -> Any:
    """A settled value as the verifier wants it: error values as their text."""
    return str(v) if isinstance(v, XlError) else v


# --- the evaluator ----------------------------------------------------------------------------


class _Store:
    """Cell values (constants, then results as they settle) and the 2-D blocks stock would pass for references."""

    def __init__(self, values: dict[CellKey, Any], table: RefTable):
        self.values, self.table = values, table
        self.blocks: list[np.ndarray | None] = [None] * len(table.refs)

    def scalars(self, ids: list[int]) -> np.ndarray:
        """One-cell references' values as an (n,) object array."""
        get, refs = self.values.get, self.table.refs
        out = np.empty(len(ids), object)
        out[:] = [get(refs[i][:3], sh.EMPTY) for i in ids]
        return out

    def block(self, rid: int) -> np.ndarray:
        """A reference's values as a 2-D object array, memoised: a reference is only read once all its cells settled."""
        b = self.blocks[rid]
        if b is None:
            sheet, r1, c1, r2, c2 = self.table.refs[rid]
            get = self.values.get
            b = self.blocks[rid] = np.empty((r2 - r1 + 1, c2 - c1 + 1), object)
            b[:] = [[get((sheet, r, c), sh.EMPTY) for c in range(c1, c2 + 1)] for r in range(r1, r2 + 1)]
        return b


def _shapes(texts: list[tuple[CellKey, str]], sheets: dict[str, str], names: dict[str, Ref], table: RefTable
            ) -> tuple[list[str], list[int], list[tuple[int, ...]]]:
    """The distinct shapes, and each formula's shape number and reference ids."""
    shapes: dict[str, int] = {}
    shape_of: list[int] = []
    refs_of: list[tuple[int, ...]] = []
    seen: dict[str, dict[str, int]] = defaultdict(dict)
    for key, text in texts:
        shape, refs = split_formula(text, key[0], sheets, names, table, seen[key[0]])
        shape_of.append(shapes.setdefault(shape, len(shapes)))
        refs_of.append(refs)
    return list(shapes), shape_of, refs_of


def _dependencies(refs_of: list[tuple[int, ...]], table: RefTable, formula_ids: dict[CellKey, int]) -> list[tuple[int, ...]]:
    """Each formula's formula precedents (a range contributes the formula cells inside it), by id."""
    cover: list[tuple[int, ...] | None] = [None] * len(table.refs)
    deps = []
    for refs in refs_of:
        d: list[int] = []
        for rid in refs:
            c = cover[rid]
            if c is None:
                c = cover[rid] = covered(table.refs[rid], formula_ids)
            d += c
        deps.append(tuple(d))
    return deps


@dataclass
class Plan:
    """Everything about a workbook's formulas that needs no function of the package."""

    keys: list[CellKey]  # formula cells (and pseudo cells of formula-valued names), by id
    shapes: list[str]
    shape_of: list[int]  # per formula id
    refs_of: list[tuple[int, ...]]  # per formula id: its reference ids, by placeholder
    table: RefTable
    circular: list[bool]  # per formula id
    levels: list[list[list[int]]]  # per dependency level, its batches: formula ids of one shape
    constants: dict[CellKey, Any]  # every other cell (error texts as the package's error values)


def plan(cells: dict[CellKey, object], names: dict[str, str], progress: Callable[[str], None] | None = None) -> Plan:
    """Cut formulas into shapes and level them by dependency (see `evaluate`)."""
    say = progress or (lambda _msg: None)
    sheets = {key[0].upper(): key[0] for key in cells}
    name_refs, texts = resolve_names(names, sheets)
    texts.update((k, v) for k, v in cells.items() if isinstance(v, Formula))
    keys = list(texts)
    say(f"fastcalc: cutting {len(keys)} formulas into shapes")
    table = RefTable()
    shapes, shape_of, refs_of = _shapes(list(texts.items()), sheets, name_refs, table)
    level, circular = levels(_dependencies(refs_of, table, {k: i for i, k in enumerate(keys)}))
    batches: dict[int, dict[int, list[int]]] = defaultdict(lambda: defaultdict(list))
    for i, lv in enumerate(level):
        if lv:
            batches[lv][shape_of[i]].append(i)
    by_level = [[batches[lv][sid] for sid in sorted(batches[lv])] for lv in sorted(batches)]
    constants = {k: ERRORS.get(v, v) if isinstance(v, ErrorValue) else v for k, v in cells.items() if k not in texts}
    return Plan(keys, shapes, shape_of, refs_of, table, circular, by_level, constants)


def compile_shapes(shapes: list[str]) -> list[Program | str]:
    """Each shape compiled into a Program (or UNSUPPORTED), in order."""
    vectorised, by_reference = implementations()
    return [compile_shape(s, vectorised, by_reference) for s in shapes]


def run(plan: Plan, progress: Callable[[str], None] | None = None) -> dict[CellKey, object]:
    """Compile the plan's shapes and run its levels in order (see `evaluate`)."""
    say = progress or (lambda _msg: None)
    say(f"fastcalc: compiling {len(plan.shapes)} shapes")
    programs = compile_shapes(plan.shapes)
    store = _Store(dict(plan.constants), plan.table)
    say(f"fastcalc: {len(plan.keys) - sum(plan.circular)} cells on {len(plan.levels)} levels")
    keys, done, every = plan.keys, 0, max(len(plan.keys) // 10, 5000)
    for level in plan.levels:
        results: list = []
        for ids in level:
            prog = programs[plan.shape_of[ids[0]]]
            results += [prog] * len(ids) if isinstance(prog, str) else run_batch(prog, [plan.refs_of[i] for i in ids], store)
        store.values.update(zip([keys[i] for ids in level for i in ids], results))
        n = sum(map(len, level))
        if (done + n) // every > done // every:
            sheets = dict.fromkeys(keys[ids[0]][0] for ids in level)  # the sheets this level writes, in order
            say(f"fastcalc: {done + n}/{len(keys)} cells (now {', '.join(sheets)})")
        done += n
    return {k: CIRCULAR if circ else report(store.values[k]) for k, circ in zip(keys, plan.circular) if k[0] != NAMES_SHEET}


def evaluate(cells: dict[CellKey, object], names: dict[str, str],
             progress: Callable[[str], None] | None = None) -> dict[CellKey, object]:
    """Every formula cell's value by (sheet, row, col) (0-based).
    cells: every non-empty cell of the workbook — constants (numbers, bools, text, ErrorValue), or a Formula
    (blueprint.cellvalues: text starting with "=" is text unless it is a Formula).
    names: workbook-level defined names -> target text, e.g. {"beta": "Config!$B$25", "mask": "Rollout!$B$48:$E$49"}.
    progress: called now and then with a short message (which sheet / how far) on long runs."""
    return run(plan(cells, names, progress), progress)
