"""Recalculate every formula cell of a workbook fast, through the `formulas` package's own parser and functions.

Why: stock `formulas.ExcelModel` parses every cell and gives each its own schedula dispatcher
(about 300 formula cells/s and gigabytes on the xl preset; EXCEL_NOTES.md §3), although a
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
ISREF, the reference operators `:` `,` and ` `; all outside DESIGN.md §5) are refused with
"#UNSUPPORTED!", as are formulas the package's parser rejects.
"""

from __future__ import annotations

import functools
import re
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
_UNSEEN = object()
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


def split_formula(text: str, here: str, sheets: dict[str, str], names: dict[str, Ref],
                  seen: dict[str, tuple[Ref, bool] | None]) -> tuple[str, tuple[Ref, ...]]:
    """(shape, references): the formula with each distinct reference replaced by a numbered placeholder
    the parser reports back verbatim, `XFA7` for a cell and `XFB7:XFC7` for a range.

    `seen` memoises word → (reference, is one cell) for the sheet `here`: words repeat a lot.
    """
    parts = _WORD.split(text)
    refs: list[Ref] = []
    index: dict[Ref, int] = {}
    for k in range(1, len(parts), 2):
        hit = seen.get(parts[k], _UNSEEN)
        if hit is _UNSEEN:
            ref = _classify(parts[k], here, sheets, names)
            hit = seen[parts[k]] = None if ref is None else (ref, ref[1:3] == ref[3:5])
        if hit is None:
            continue
        ref, one_cell = hit
        i = index.get(ref)
        if i is None:
            i = index[ref] = len(refs)
            refs.append(ref)
        parts[k] = _CELL_PLACEHOLDER[i] if one_cell else _RANGE_PLACEHOLDER[i]
    return "".join(parts), tuple(refs)


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


def _implementation(name: str) -> Callable[..., Any]:
    """The package's implementation of an Excel function (some are registered as dicts with extra inputs)."""
    f = get_functions()[name]
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
        m = _PLACEHOLDER.fullmatch(name) if isinstance(name, str) else None
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


def covered(ref: Ref, formula_cells: dict[CellKey, Any]) -> tuple[CellKey, ...]:
    """The formula cells inside a reference."""
    sheet, r1, c1, r2, c2 = ref
    if r1 == r2 and c1 == c2:
        return (ref[:3],) if ref[:3] in formula_cells else ()
    return tuple(k for r in range(r1, r2 + 1) for c in range(c1, c2 + 1) if (k := (sheet, r, c)) in formula_cells)


def levels(deps: dict[CellKey, tuple[CellKey, ...]]) -> tuple[dict[CellKey, int], set[CellKey]]:
    """Longest-path level of every cell (1 + its deepest precedent's), and the cells on or below a cycle.

    Iterative DFS (chains run hundreds deep). A precedent still on the DFS path is a back edge:
    the cell is circular, and so is every cell finishing with a circular precedent, which covers
    every cell of every cycle and everything downstream.
    """
    level: dict[CellKey, int] = {}
    circular: set[CellKey] = set()
    on_path: set[CellKey] = set()
    get = level.get
    for root in deps:
        if root in level or root in circular:
            continue
        stack = [root]
        on_path.add(root)
        while stack:
            node = stack[-1]
            deepest, blocked = 0, False
            for p in deps[node]:
                lp = get(p)
                if lp is not None:
                    deepest = max(deepest, lp)
                elif p in circular or p in on_path:
                    blocked = True
                else:
                    on_path.add(p)
                    stack.append(p)
                    break
            else:
                stack.pop()
                on_path.discard(node)
                if blocked:
                    circular.add(node)
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


def run_batch(prog: Program, refs: list[tuple[Ref, ...]], block: Callable[[Ref], np.ndarray],
              cell: Callable[[Ref], Any]) -> list:
    """Settled results of one shape for a batch of cells (`refs`: each cell's references)."""
    n = len(refs)
    slots: list = [None] * prog.n_slots
    for s, v in prog.defaults:
        slots[s] = Same(v)
    for s, i in prog.inputs:
        col = [r[i] for r in refs]
        first = col[0]
        if col.count(first) == n:
            slots[s] = Same(block(first))
        elif first[1:3] == first[3:5]:
            flat = np.empty(n, object)
            flat[:] = [cell(r) for r in col]
            slots[s] = Flat(flat, _block)
        else:
            slots[s] = Each([block(r) for r in col])
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

    def __init__(self, values: dict[CellKey, Any]):
        self.values = values
        self.blocks: dict[Ref, np.ndarray] = {}

    def cell(self, ref: Ref) -> Any:
        return self.values.get(ref[:3], sh.EMPTY)

    def block(self, ref: Ref) -> np.ndarray:
        """A reference's values as a 2-D object array, memoised: a reference is only read once all its cells settled."""
        b = self.blocks.get(ref)
        if b is None:
            sheet, r1, c1, r2, c2 = ref
            get = self.values.get
            b = self.blocks[ref] = np.empty((r2 - r1 + 1, c2 - c1 + 1), object)
            b[:] = [[get((sheet, r, c), sh.EMPTY) for c in range(c1, c2 + 1)] for r in range(r1, r2 + 1)]
        return b


def _shapes(texts: dict[CellKey, str], sheets: dict[str, str], names: dict[str, Ref]
            ) -> tuple[list[str], dict[CellKey, int], dict[CellKey, tuple[Ref, ...]]]:
    """The distinct shapes, and each formula cell's shape number and references."""
    shapes: dict[str, int] = {}
    shape_of: dict[CellKey, int] = {}
    refs_of: dict[CellKey, tuple[Ref, ...]] = {}
    seen: dict[str, dict[str, tuple[Ref, bool] | None]] = defaultdict(dict)
    for key, text in texts.items():
        shape, refs_of[key] = split_formula(text, key[0], sheets, names, seen[key[0]])
        shape_of[key] = shapes.setdefault(shape, len(shapes))
    return list(shapes), shape_of, refs_of


def _dependencies(refs_of: dict[CellKey, tuple[Ref, ...]]) -> dict[CellKey, tuple[CellKey, ...]]:
    """Each formula cell's formula-cell precedents (a range contributes the formula cells inside it)."""
    cover: dict[Ref, tuple[CellKey, ...]] = {}
    deps: dict[CellKey, tuple[CellKey, ...]] = {}
    for key, refs in refs_of.items():
        d: list[CellKey] = []
        for ref in refs:
            c = cover.get(ref)
            if c is None:
                c = cover[ref] = covered(ref, refs_of)
            d += c
        deps[key] = tuple(d)
    return deps


def evaluate(cells: dict[tuple[str, int, int], object], names: dict[str, str],
             progress: Callable[[str], None] | None = None) -> dict[tuple[str, int, int], object]:
    """Every formula cell's value by (sheet, row, col) (0-based).
    cells: every non-empty cell of the workbook — numbers/str constants, or formula text starting with "=".
    names: workbook-level defined names -> target text, e.g. {"beta": "Config!$B$25", "mask": "Rollout!$B$48:$E$49"}.
    progress: called now and then with a short message (which sheet / how far) on long runs."""
    say = progress or (lambda _msg: None)
    sheets = {key[0].upper(): key[0] for key in cells}
    name_refs, texts = resolve_names(names, sheets)
    texts.update((k, v) for k, v in cells.items() if isinstance(v, str) and v.startswith("="))
    say(f"fastcalc: cutting {len(texts)} formulas into shapes")
    shapes, shape_of, refs_of = _shapes(texts, sheets, name_refs)
    say(f"fastcalc: compiling {len(shapes)} shapes")
    vectorised, by_reference = implementations()
    programs = [compile_shape(s, vectorised, by_reference) for s in shapes]
    level, circular = levels(_dependencies(refs_of))

    store = _Store({k: ERRORS.get(v, v) if isinstance(v, str) else v for k, v in cells.items() if k not in texts})
    batches: dict[tuple[int, int], list[CellKey]] = defaultdict(list)
    for key, lv in level.items():
        batches[lv, shape_of[key]].append(key)
    say(f"fastcalc: {len(level)} cells in {len(batches)} batches on {max(level.values(), default=0)} levels")
    done, every = 0, max(len(level) // 10, 5000)
    for lv, sid in sorted(batches):
        keys = batches[lv, sid]
        prog = programs[sid]
        if isinstance(prog, str):
            store.values.update(dict.fromkeys(keys, prog))
        else:
            store.values.update(zip(keys, run_batch(prog, [refs_of[k] for k in keys], store.block, store.cell)))
        if (done + len(keys)) // every > done // every:
            say(f"fastcalc: {done + len(keys)}/{len(level)} cells ({keys[0][0]} …)")
        done += len(keys)
    results = {k: report(store.values[k]) for k in level if k[0] != NAMES_SHEET}
    results.update((k, CIRCULAR) for k in circular if k[0] != NAMES_SHEET)
    return results
