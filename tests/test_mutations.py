"""Mutation test: 200 seeded single mutations of a generated workbook, each caught at its cell.

Every mutant is the generated workbook with exactly one change, written by the generator's
own writer (so nothing else differs, cached values included) or patched in the archive (a
renamed sheet). The verifier must exit 1 and name the mutated cell. The one mutation that can
leave every value unchanged — an input nudged where nothing reads it differently — is argued
below and checked the other way round: the verifier must then pass, and agree with the reference.
"""

from __future__ import annotations

import dataclasses
import random
import re
import zipfile
from pathlib import Path

import numpy as np
import pytest
from openpyxl.utils import column_index_from_string, get_column_letter
from xlsxwriter.utility import xl_rowcol_to_cell

from blueprint.config import load_config
from blueprint.inputs import make_inputs
from blueprint.verify import agree, verify
from blueprint.workbook import Blueprint, Cell, build, constants, inputs_from
from blueprint.writer import write
from reference import Inputs

KINDS = ("operator", "shift", "name", "to-value", "delete", "input", "rename", "cache")
PER_KIND = 25
OPERATORS = "+-*/"
NAMES = ("tau", "beta", "gamma", "lam", "eps", "eps_v", "vf_coef", "ent_coef", "whiten_eps", "missing_eos_penalty", "n_tokens")
STRINGS = re.compile(r'"[^"]*"')
CELL_REF = re.compile(r"(?<![A-Za-z_])(\$?)([A-Z]{1,3})(\$?)([0-9]+)(?![0-9A-Za-z_(])")
CONFIG = dict(B=2, P=1, T=3, H=2, vocab=("a", "b", "<eos>"))


@dataclasses.dataclass(frozen=True)
class Mutant:
    kind: str
    cells: list[Cell] | None  # None: patch the archive instead (rename)
    expect: set[tuple[str, str]]  # cells the report must name (empty: the report must be clean)
    note: str


def outside_strings(text: str) -> list[tuple[int, int]]:
    """Spans of the formula that are not inside string literals."""
    spans, pos = [], 0
    for m in STRINGS.finditer(text):
        spans.append((pos, m.start()))
        pos = m.end()
    return spans + [(pos, len(text))]


def find(pattern: re.Pattern, text: str) -> list[re.Match]:
    return [m for a, b in outside_strings(text) for m in pattern.finditer(text, a, b)]


def at(cell: Cell) -> tuple[str, str]:
    return cell.sheet, xl_rowcol_to_cell(cell.row, cell.col)


def mutate_formula(rng: random.Random, bp: Blueprint, kind: str) -> Mutant:
    cells = list(bp.cells)
    candidates = [k for k, c in enumerate(cells) if c.kind == "formula"]
    while True:
        k = rng.choice(candidates)
        f = cells[k].formula
        if kind == "operator":
            ops = [m for m in find(re.compile(r"(?<=[\w)])[-+*/]"), f) if m.start() > 0]
            if not ops:
                continue
            m = rng.choice(ops)
            new = f[: m.start()] + rng.choice([o for o in OPERATORS if o != m.group()]) + f[m.end():]
        elif kind == "shift":
            refs = find(CELL_REF, f)
            if not refs:
                continue
            m = rng.choice(refs)
            col, row = column_index_from_string(m.group(2)), int(m.group(4))
            step = rng.choice([-1, 1])
            if rng.random() < 0.5:
                row = max(1, row + step) if row + step >= 1 else row + 1
            else:
                col = col + step if col + step >= 1 else col + 1
            col = get_column_letter(col)
            new = f[: m.start()] + f"{m.group(1)}{col}{m.group(3)}{row}" + f[m.end():]
        else:  # name
            used = [m for n in NAMES for m in find(re.compile(rf"(?<![\w.]){n}(?![\w(])"), f)]
            if not used:
                continue
            m = rng.choice(used)
            new = f[: m.start()] + rng.choice([n for n in NAMES if n != m.group()]) + f[m.end():]
        if new != f:
            cells[k] = dataclasses.replace(cells[k], formula=new)
            return Mutant(kind, cells, {at(cells[k])}, f"{f} -> {new}")


def mutate(rng: random.Random, bp: Blueprint, inputs: Inputs, kind: str) -> Mutant:
    formulas = [k for k, c in enumerate(bp.cells) if c.kind == "formula"]
    cells = list(bp.cells)
    if kind in ("operator", "shift", "name"):
        return mutate_formula(rng, bp, kind)
    if kind == "to-value":
        k = rng.choice(formulas)
        cells[k] = dataclasses.replace(cells[k], kind="input", formula=None)
        return Mutant(kind, cells, {at(cells[k])}, f"{cells[k].quantity}{list(cells[k].idx)} now a constant")
    if kind == "delete":
        k = rng.choice(formulas)
        return Mutant(kind, cells[:k] + cells[k + 1:], {at(cells[k])}, f"{cells[k].quantity}{list(cells[k].idx)} deleted")
    if kind == "cache":
        k = rng.choice(formulas)
        old = cells[k].value
        cells[k] = dataclasses.replace(cells[k], value=old + "x" if isinstance(old, str) else old + rng.choice([-1, 1]) * (0.01 + abs(old) * 1e-6))
        return Mutant(kind, cells, {at(cells[k])}, f"cache of {cells[k].quantity}{list(cells[k].idx)}")
    if kind == "input":
        # An input changed but its dependants kept their cached values. The dependants whose
        # reference value moves must be reported stale; if none moves (e.g. a weight of a token
        # never read, or a draw nudged inside its token's interval), no cell is wrong and the
        # verifier must pass — asserted as such, not skipped.
        # not ids or counts; not Adam's first moments either: m moved alone, with v = 0, takes θ' past what a double holds
        # (refused in one line: tests/test_verify_bad_files.py, the optimizer state that overflows)
        numeric = [k for k, c in enumerate(cells) if c.kind == "input" and c.quantity not in ("prompts", "group", "opt_step")
                   and not c.quantity.startswith(("m_theta.", "m_phi."))]
        k = rng.choice(numeric)
        delta = 0.25 if cells[k].quantity != "draws" else rng.choice([-0.05, 0.05])
        new_value = float(np.clip(cells[k].value + delta, 0.0001, 0.9999)) if cells[k].quantity == "draws" else cells[k].value + delta
        cells[k] = dataclasses.replace(cells[k], value=new_value)
        moved = dependants_that_move(bp, inputs, cells[k])
        return Mutant(kind, cells, moved, f"{cells[k].sheet}!{cells[k].quantity}{list(cells[k].idx)} += {delta}")
    # rename: a sheet other than the four the inputs live on
    sheet = rng.choice(["Reward", "KL", "GAE", "Ratio", "Clip", "Value Loss", "Total", "Backward", "After Step"])
    return Mutant(kind, None, {(sheet, "A1")}, f"sheet {sheet} renamed")


def dependants_that_move(bp: Blueprint, inputs: Inputs, changed: Cell) -> set[tuple[str, str]]:
    """Formula cells whose reference value differs once `changed` holds its new value."""
    arrays = {k: np.array(v, copy=True) for k, v in constants(bp.config, inputs).items()}
    arrays[changed.sheet, changed.quantity][changed.idx] = changed.value
    after = build(bp.config, inputs_from(arrays)).by_address()
    return {at(c) for c in bp.formula_cells() if not agree(c.value, after[c.sheet, c.row, c.col].value)[0]}


def rename(src: Path, dst: Path, sheet: str) -> None:
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            data = zin.read(info)
            if info.filename == "xl/workbook.xml":
                data = data.replace(f'name="{sheet}"'.encode(), f'name="{sheet} (2)"'.encode())
            zout.writestr(info, data)


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> tuple[Blueprint, Inputs, Path]:
    config = load_config("small", **CONFIG)
    inputs = make_inputs(config)
    bp = build(config, inputs)
    path = tmp_path_factory.mktemp("mutants") / "base.xlsx"
    write(bp, path)
    return bp, inputs, path


MUTANTS = [(kind, n) for kind in KINDS for n in range(PER_KIND)]
assert len(MUTANTS) >= 200


@pytest.mark.parametrize("kind, n", MUTANTS, ids=[f"{k}-{n}" for k, n in MUTANTS])
def test_mutant_is_reported_at_its_cell(kind: str, n: int, base: tuple[Blueprint, Inputs, Path], tmp_path: Path) -> None:
    bp, inputs, base_path = base
    rng = random.Random(f"{kind}-{n}")
    mutant = mutate(rng, bp, inputs, kind)
    path = tmp_path / "mutant.xlsx"
    if mutant.cells is None:
        rename(base_path, path, next(iter(mutant.expect))[0])
    else:
        write(dataclasses.replace(bp, cells=mutant.cells), path)
    report = verify(path)
    named = {(p.sheet, p.cell) for p in report.problems}
    if not mutant.expect:  # the argued case: nothing moved, nothing may be reported
        assert report.exit_code == 0, f"{mutant.note}: {report.text(5)}"
        return
    assert report.exit_code == 1, f"{mutant.note}: verify passed"
    assert mutant.expect <= named, f"{mutant.note}: expected {sorted(mutant.expect)} among {sorted(named)[:10]}"
    if kind == "input":  # exactly the cells that moved are stale, nothing else
        assert named == mutant.expect and {p.kind for p in report.problems} == {"stale-cache"}, mutant.note


def test_most_input_mutants_move_something(base: tuple[Blueprint, Inputs, Path]) -> None:
    """The argued no-change case must stay the exception, or the input mutants test little."""
    bp, inputs, _ = base
    moved = [bool(mutate(random.Random(f"input-{n}"), bp, inputs, "input").expect) for n in range(PER_KIND)]
    assert sum(moved) >= PER_KIND * 0.6, moved
