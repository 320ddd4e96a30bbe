"""Running a plan: the cells of one shape on one dependency level as one batch, level after level.

Elementwise implementations (operators, EXP/LN/TANH/..., IF: the package's `wrap_ufunc`s, which
np.vectorize a scalar kernel and check errors per element) get one call on (n,) object arrays;
INDEX vectorises over its row/column numbers, so it gets one call per shared range; all others
(SUMPRODUCT, MATCH, SUM, MAX, ...) are called per cell with exactly the values stock would pass
them, which is cheap without schedula.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Any

import formulas
import numpy as np
import schedula as sh
from formulas.functions import Array, replace_empty
from formulas.tokens.operand import XlError

from blueprint.fastcalc.levels import Plan, plan
from blueprint.fastcalc.programs import ERRORS, Program, Step, compile_shapes
from blueprint.fastcalc.shapes import NAMES_SHEET, CellKey, RefTable

CIRCULAR = "#CIRC!"  # our marker: the cell is on, or downstream of, a circular reference


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
    if isinstance(v, np.ndarray):  # as stock's cell stores it: the package's Ranges shapes it into one cell
        v = formulas.Ranges().push("A1", replace_empty(v)).value[0, 0]
    return 0 if v is sh.EMPTY else _plain(v)


def report(v: Any) -> Any:
    """A settled value as the verifier wants it: error values as their text."""
    return str(v) if isinstance(v, XlError) else v


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
