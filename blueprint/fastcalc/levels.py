"""Levelling formulas by dependency, and the plan of a recalculation.

A cell's level is one more than its deepest formula precedent's (a range depends on every formula
cell inside it), so the cells of one level depend only on earlier levels and can run together.
A circular reference and everything downstream of it get no level (they are reported "#CIRC!"
instead of hanging or vanishing, as they do in stock `ExcelModel`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from itertools import chain
from typing import Any

from blueprint.cellvalues import ErrorValue, Formula
from blueprint.fastcalc.programs import ERRORS
from blueprint.fastcalc.shapes import CellKey, Ref, RefTable, resolve_names, shapes_of


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


def dependencies(refs_of: list[tuple[int, ...]], table: RefTable, formula_ids: dict[CellKey, int]) -> list[tuple[int, ...]]:
    """Each formula's formula precedents (a range contributes the formula cells inside it), by id."""
    get = formula_ids.get
    cover: list[tuple[int, ...]] = []  # per reference id: the formula cells inside it
    for ref, one_cell in zip(table.refs, table.one_cell):
        if one_cell:
            i = get(ref[:3])
            cover.append(() if i is None else (i,))
        else:
            cover.append(covered(ref, formula_ids))
    return [cover[refs[0]] if len(refs) == 1 else tuple(chain.from_iterable(map(cover.__getitem__, refs))) for refs in refs_of]


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
    shapes, shape_of, refs_of = shapes_of(list(texts.items()), sheets, name_refs, table)
    level, circular = levels(dependencies(refs_of, table, {k: i for i, k in enumerate(keys)}))
    batches: dict[int, dict[int, list[int]]] = defaultdict(lambda: defaultdict(list))
    for i, lv in enumerate(level):
        if lv:
            batches[lv][shape_of[i]].append(i)
    by_level = [[batches[lv][sid] for sid in sorted(batches[lv])] for lv in sorted(batches)]
    constants = {k: ERRORS.get(v, v) if isinstance(v, ErrorValue) else v for k, v in cells.items() if k not in texts}
    return Plan(keys, shapes, shape_of, refs_of, table, circular, by_level, constants)
