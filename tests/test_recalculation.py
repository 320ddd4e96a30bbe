"""Two independent engines recalculate the workbook and must land on the reference's numbers.

Cached values are deliberately wrong first, so an engine that merely read the caches would fail.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import openpyxl
import pytest
from conftest import SMALL_CELLS, blueprint_of, with_wrong_cache

from blueprint.config import hyper, load_config
from blueprint.readback import read_blueprint
from blueprint.verify import VerifyReport, compare, recalculate
from blueprint.workbook import build
from blueprint.writer import write
from reference.rollout import rollout


def check(path: Path, engine: str) -> VerifyReport:
    """Recalculate `path` with `engine`; compare with the reference from the file's own inputs."""
    config, inputs, layout, cells = read_blueprint(path)
    bp = build(config, inputs)
    values = recalculate(path, engine, cells)
    cells.cached = values  # the file's caches are wrong on purpose: hold the engine to itself there
    return compare(bp, cells, values, str(path), engine)


def wrong_cache_copy(preset: str, folder: Path) -> Path:
    path = folder / f"{preset}-wrong-cache.xlsx"
    write(with_wrong_cache(blueprint_of(load_config(preset))), path)
    return path


@pytest.mark.libreoffice
@pytest.mark.parametrize("preset", ["small", "medium", "large"])
def test_libreoffice_recalculates_every_cell_to_the_reference(preset: str, tmp_path: Path) -> None:
    report = check(wrong_cache_copy(preset, tmp_path), "libreoffice")
    total = report.totals()
    assert report.problems == []
    assert total.mapped == total.formula_cells == len(blueprint_of(load_config(preset)).formula_cells())


@pytest.mark.parametrize("engine", ["formulas", "formulas-stock"])
def test_formulas_engine_recalculates_every_cell_to_the_reference(engine: str, tmp_path: Path) -> None:
    report = check(wrong_cache_copy("small", tmp_path), engine)
    assert report.problems == []
    assert report.totals().mapped == SMALL_CELLS


def edit_inputs(src: Path, dst: Path) -> None:
    """Edit β, γ, one θ_old weight and one draw in the file, as a user would in Excel."""
    config, inputs, layout, _ = read_blueprint(src)
    wb = openpyxl.load_workbook(src)

    def put(sheet: str, quantity: str, idx: tuple[int, ...], value: float) -> None:
        r, c = layout.block(sheet, quantity).pos(idx)
        wb[sheet].cell(r + 1, c + 1).value = value

    # move draw u[0,1] into the middle of another token's interval, so the sampled token flips
    ro = rollout(inputs.old, inputs.phi_old, inputs.prompts, inputs.draws, hyper(config))
    p, y = ro["p"][0, 1], ro["tokens"][0, 1]
    other = (y + 1) % config.V
    new_draw = float(np.round(ro["lower"][0, 1, other] + p[other] / 2, 4))
    put("Config", "beta", (), 0.2)
    put("Config", "gamma", (), 0.9)
    put("Weights", "old.W_hh", (0, 0), 0.777)
    put("Rollout", "draws", (0, 1), new_draw)
    wb.save(dst)


@pytest.mark.libreoffice
def test_libreoffice_follows_edits_to_inputs(small_path: Path, tmp_path: Path) -> None:
    edited = tmp_path / "edited.xlsx"
    edit_inputs(small_path, edited)
    config, inputs, _, _ = read_blueprint(edited)
    assert (config.beta, config.gamma, inputs.old.W_hh[0, 0]) == (0.2, 0.9, 0.777)
    before = blueprint_of(load_config("small"))
    after = build(config, inputs)
    tokens = lambda bp: [c.value for c in bp.cells if c.quantity == "tokens"]  # noqa: E731
    assert tokens(before) != tokens(after), "the draw edit must change a sampled token"
    report = check(edited, "libreoffice")
    assert report.problems == []
    assert report.totals().mapped == len(after.formula_cells())


def test_formulas_engine_follows_edits_to_inputs(small_path: Path, tmp_path: Path) -> None:
    edited = tmp_path / "edited.xlsx"
    edit_inputs(small_path, edited)
    report = check(edited, "formulas")
    assert report.problems == []


@pytest.mark.libreoffice
def test_formulas_and_libreoffice_agree_cell_by_cell(small_path: Path) -> None:
    """The two engines against each other, not only against the reference."""
    from blueprint.verify import agree

    cells = read_blueprint(small_path)[3]
    a = recalculate(small_path, "formulas", cells)
    b = recalculate(small_path, "libreoffice", cells)
    formula_cells = blueprint_of(load_config("small")).formula_cells()
    disagreements = [(c.sheet, c.row, c.col, a.get((c.sheet, c.row, c.col)), b.get((c.sheet, c.row, c.col)))
                     for c in formula_cells if not agree(b[c.sheet, c.row, c.col], a[c.sheet, c.row, c.col])[0]]
    assert disagreements == []
    assert len(formula_cells) == SMALL_CELLS
