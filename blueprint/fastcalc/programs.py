"""Compiling a shape into a Program: a straight sequence of calls of the `formulas` package's own functions.

Each shape is parsed and compiled ONCE with `formulas.Parser`; its schedula dispatcher is then
unrolled into steps in dependency order, so nothing of schedula runs per cell. A step records
whether its implementation is elementwise (see `implementations`), which is what lets the cells
of one shape run as one call (blueprint.fastcalc.runner).
"""

from __future__ import annotations

import functools
import importlib
import sys
import types
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import formulas
import numpy as np
from formulas.functions import get_functions
from formulas.functions.operators import OPERATORS
from formulas.tokens.operand import Error, XlError

from blueprint.fastcalc.shapes import placeholder_index

UNSUPPORTED = "#UNSUPPORTED!"  # our marker: a formula the package cannot parse, or one needing references (ROW, ...)
ERRORS: dict[str, XlError] = dict(Error.errors)  # the package's error values by their text


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
        i = placeholder_index(name)
        if i is not None:
            inputs.append((slot[name], i))
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


def compile_shapes(shapes: list[str]) -> list[Program | str]:
    """Each shape compiled into a Program (or UNSUPPORTED), in order."""
    vectorised, by_reference = implementations()
    return [compile_shape(s, vectorised, by_reference) for s in shapes]
