"""Assemble the workbook as data: every value-bearing cell, its formula and its reference value.

`build` is pure — config and inputs in, a `Blueprint` out — so the verifier can rebuild the
exact formulas and expected values for a workbook it reads back, and tests can inspect cells
without touching a file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

import sheets
from blueprint.config import HYPERPARAMETERS, Config, ConfigError, departures, hyper, load_config
from blueprint.layout import DIMS, Block, Dims, Layout, build_layout
from reference import Inputs, Quantities, RNNWeights, ValueHead, run

NA = "#N/A"  # the one error value a formula cell is meant to hold: a gap in a chart's line (Clip ratio_real, After Step ratio_real_next)

@dataclass(frozen=True)
class Cell:
    """One value-bearing cell: a formula with its cached value, or an input / config constant."""

    sheet: str
    row: int
    col: int
    quantity: str
    idx: tuple[int, ...]
    kind: str  # "formula", "input", "config"
    value: Any  # the reference value (cached result of a formula, or the constant itself)
    formula: str | None = None
    role: str = "formula"  # its block's style role (blueprint.blocks.Q)


@dataclass
class Blueprint:
    """Everything the workbook holds, before it is a file."""

    config: Config
    layout: Layout
    cells: list[Cell] = field(default_factory=list)
    names: dict[str, str] = field(default_factory=dict)  # workbook-level name -> `Sheet!$A$1[:$B$2]`

    def formula_cells(self) -> list[Cell]:
        return [c for c in self.cells if c.kind == "formula"]

    def by_address(self) -> dict[tuple[str, int, int], Cell]:
        return {(c.sheet, c.row, c.col): c for c in self.cells}


def dims_of(config: Config) -> Dims:
    return Dims(B=config.B, P=config.P, T=config.T, V=config.V, H=config.H)


def expected(config: Config, inputs: Inputs) -> Quantities:
    """The reference's quantities plus the few the workbook shows as text, as an error value or on Config.

    Overflow is not warned about here: `refuse_non_finite` turns it into one line for the user."""
    with np.errstate(all="ignore"):
        q = run(inputs, hyper(config))
    vocab = np.array(config.vocab, dtype=object)
    for sheet in {sheet for sheet, declared in sheets.every_quantity() if declared.name == "x_name"}:  # every unroll that names its tokens
        q[sheet, "x_name"] = vocab[q[sheet, "x"]]
    q["Rollout", "token_name"] = vocab[q["Rollout", "tokens"]]
    q["Config", "eos_id"] = np.array(config.eos_id)
    q.update({("Guide", quantity): text for quantity, text in sheets.guide.values(config).items()})
    for gaps, ratio in ((("Clip", "ratio_real"), ("Ratio", "ratio")), (("After Step", "ratio_real_next"), ("After Step", "ratio_next"))):
        q[gaps] = np.where(q["Rollout", "mask"] == 1, q[ratio].astype(object), NA)
    return q


def constants(config: Config, inputs: Inputs) -> Quantities:
    """Input and config cells' values, keyed like the layout's input blocks (inverse: `inputs_from`)."""
    c: Quantities = {("Rollout", "prompts"): inputs.prompts, ("Rollout", "group"): inputs.group, ("Rollout", "draws"): inputs.draws,
                     ("Step", "opt_step"): np.array(inputs.opt_step)}
    for sheet, m in sheets.INPUT_MODELS:
        for name, arr in vars(getattr(inputs, m.name)).items():
            c[sheet, f"{m.name}.{name}"] = arr
        if m.head:
            v = getattr(inputs, m.head)
            c[sheet, f"{m.head}.w_v"], c[sheet, f"{m.head}.b_v"] = v.w_v, np.array(v.b_v)
    d = dims_of(config)
    for k in DIMS:
        c["Config", k] = np.array(getattr(d, k))
    c["Config", "vocab"] = np.array(config.vocab, dtype=object)
    c["Config", "eos"] = np.array(config.eos, dtype=object)
    for hp in HYPERPARAMETERS:
        c["Config", hp] = np.array(getattr(config, hp), dtype=object if isinstance(getattr(config, hp), str) else float)
    return c


def inputs_from(arrays: Quantities) -> Inputs:
    """The model inputs from input-block arrays keyed (sheet, quantity), as `constants` gives them."""
    w = lambda sheet, q: np.asarray(arrays[sheet, q], dtype=float)  # noqa: E731
    models = {m.name: RNNWeights(**{p: w(sheet, f"{m.name}.{p}") for p in RNNWeights.__dataclass_fields__}) for sheet, m in sheets.INPUT_MODELS}
    heads = {m.head: ValueHead(w(sheet, f"{m.head}.w_v"), float(w(sheet, f"{m.head}.b_v"))) for sheet, m in sheets.INPUT_MODELS if m.head}
    return Inputs(**models, **heads, prompts=np.asarray(arrays["Rollout", "prompts"]).astype(int),
                  group=np.asarray(arrays["Rollout", "group"]).astype(int), draws=np.asarray(arrays["Rollout", "draws"], dtype=float), opt_step=int(arrays["Step", "opt_step"]))


def build(config: Config, inputs: Inputs) -> Blueprint:
    """All cells of the workbook: formulas from `sheets/`, cached values from `reference/`."""
    layout = build_layout(dims_of(config))
    bp = Blueprint(config, layout)
    consts, q = constants(config, inputs), expected(config, inputs)
    refuse_non_finite(config, inputs, layout, q)
    for block in layout.blocks.values():
        if block.kind != "formula":
            at = _reader(consts[block.sheet, block.quantity])
            bp.cells.extend(Cell(block.sheet, r, c, block.quantity, idx, block.kind, at(idx), role=block.q.role)
                            for idx, r, c in block.cells())
    seen: dict[tuple[str, str], tuple[Block, Callable[[tuple[int, ...]], Any]]] = {}
    for module in sheets.MODULES:
        for quantity, idx, formula in module.formulas(layout):
            key = (module.SHEET, quantity)
            if key not in seen:
                seen[key] = (layout.block(*key), _reader(q[key]))
            block, at = seen[key]
            r, c = block.pos(idx)
            bp.cells.append(Cell(module.SHEET, r, c, quantity, idx, "formula", at(idx), formula, block.q.role))
    for name, (sheet, quantity) in sheets.NAMED.items():
        block = layout.block(sheet, quantity)
        bp.names[name] = layout.range(sheet, quantity, here="", absolute=True) if block.shape else layout.a1(sheet, quantity, here="", absolute=True)
    return bp


def first_non_finite(layout: Layout, q: Quantities) -> tuple[str, Any] | None:
    """The first formula cell, in reading order (upstream first), whose reference value is inf or nan:
    its `Sheet!A1 quantity[idx]` and the value."""
    for block in layout.blocks.values():
        arr = q.get((block.sheet, block.quantity))
        if block.kind != "formula" or arr is None or not np.issubdtype(np.asarray(arr).dtype, np.number):
            continue
        bad = np.argwhere(~np.isfinite(arr))
        if len(bad):
            idx = tuple(int(i) for i in bad[0])
            return f"{layout.cell(block.sheet, block.quantity, *idx)} {block.quantity}{list(idx) if idx else ''}", arr[idx]
    return None


def refuse_non_finite(config: Config, inputs: Inputs, layout: Layout, q: Quantities) -> None:
    """Every number of a blueprint is finite, or nothing is written or judged: one line naming the cell
    and, when resetting one hyperparameter to its preset's value makes everything finite, that key."""
    bad = first_non_finite(layout, q)
    if bad is None:
        return
    where, value = bad
    base = load_config(config.preset, convention=config.convention)
    for key in departures(config):
        if isinstance(getattr(config, key), float) and key in HYPERPARAMETERS:
            if first_non_finite(layout, expected(config.replace(**{key: getattr(base, key)}), inputs)) is None:
                raise ConfigError(f"config key '{key}' = {getattr(config, key)!r} makes {where} {value}: every number of the blueprint "
                                  f"must be finite; bring {key} closer to {getattr(base, key)!r}")
    raise ConfigError(f"{where} would be {value}: the weights and hyperparameters overflow a double; "
                      "use smaller weights on Weights, a smaller optimizer state on Step or less extreme values on Config")


def _reader(arr: Any) -> Callable[[tuple[int, ...]], Any]:
    """idx -> `_plain(arr[idx])`, read from the array's nested lists (`tolist`: a list walk per cell is ~7x faster
    than NumPy scalar indexing; the same values, since tolist gives each element's `.item()`)."""
    if not isinstance(arr, np.ndarray):
        return lambda idx: _plain(arr[idx])
    nested = arr.tolist()

    def at(idx: tuple[int, ...]) -> Any:
        v = nested
        for i in idx:
            v = v[i]
        return _plain(v)

    return at


def _plain(x: Any) -> Any:
    """NumPy scalars to Python numbers/strings, as xlsxwriter and openpyxl speak them."""
    x = x.item() if hasattr(x, "item") else x
    return float(x) if isinstance(x, (int, float)) and not isinstance(x, bool) else x
