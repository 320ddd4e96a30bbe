"""`blueprint generate`: sheets, names, formula rules, determinism, safe writing."""

from __future__ import annotations

from pathlib import Path

import openpyxl
import pytest
from conftest import blueprint_of

from blueprint.api import generate
from blueprint.cli import main
from blueprint.config import load_config
from blueprint.layout import SHEETS
from blueprint.lint import lint_workbook
from blueprint.writer import write
from sheets import NAMED

PRESETS = ("small", "medium", "large")


@pytest.fixture(scope="module", params=PRESETS)
def preset_path(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    path = tmp_path_factory.mktemp(request.param) / f"{request.param}.xlsx"
    generate(load_config(request.param), path)
    return request.param, path


def test_sheets_in_order(preset_path: tuple[str, Path]) -> None:
    wb = openpyxl.load_workbook(preset_path[1], read_only=True)
    assert wb.sheetnames == list(SHEETS) == ["Guide", "Config", "Weights", "Rollout", "Reward", "KL", "GAE", "Advantage", "Ratio", "Clip",
                                                  "Value Loss", "Total", "Backward", "Step", "After Step"]


def test_every_formula_passes_the_linter(preset_path: tuple[str, Path]) -> None:
    issues = lint_workbook(preset_path[1])
    assert issues == [], "\n".join(map(str, issues[:20]))


def test_every_non_input_number_is_a_formula(preset_path: tuple[str, Path]) -> None:
    """Constants live only in the layout's input and config cells; every other number is derived."""
    preset, path = preset_path
    bp = blueprint_of(load_config(preset))
    constants = {(c.sheet, c.row, c.col) for c in bp.cells if c.kind != "formula"}
    formulas = {(c.sheet, c.row, c.col) for c in bp.formula_cells()}
    wb = openpyxl.load_workbook(path)
    seen_formulas = set()
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for cell in row:
                key = (ws.title, cell.row - 1, cell.column - 1)
                if cell.data_type == "f":
                    seen_formulas.add(key)
                elif isinstance(cell.value, (int, float)):
                    assert key in constants, f"{ws.title}!{cell.coordinate} holds the constant {cell.value} outside the input cells"
    assert seen_formulas == formulas


def test_names_point_at_the_right_blocks(preset_path: tuple[str, Path]) -> None:
    preset, path = preset_path
    bp = blueprint_of(load_config(preset))
    wb = openpyxl.load_workbook(path, read_only=True)
    names = {n: dn.attr_text for n, dn in wb.defined_names.items()}
    required = {"beta", "gamma", "lam", "eps", "eps_v", "vf_coef", "tau", "tokens", "mask", "logp_old", "logp_ref", "logp_new",
                "values_old", "values_new", "kl_token", "rewards", "advantages", "returns", "adv_whitened", "ratio", "pg_losses",
                "vf_losses", "score", "pg_loss", "vf_loss", "total_loss", "pg_clipfrac", "vf_clipfrac", "approx_kl", "entropy"}
    assert required <= set(names)
    assert names == bp.names
    B, T = bp.layout.dims.B, bp.layout.dims.T
    for name in ("tokens", "mask", "advantages", "ratio", "pg_losses", "vf_losses"):
        block = bp.layout.block(*NAMED[name])
        assert block.shape == (B, T), name
    assert bp.layout.block(*NAMED["score"]).shape == (B,)


def test_the_update_names_span_the_shapes_of_weights(preset_path: tuple[str, Path]) -> None:
    """Every parameter set by prefix + parameter (`theta_W_xh`, `phi_next_b_v`, `grad_W_hh`), each the shape it has on
    Weights, as the real-update issue names them; the rollout's `prompts` and the batch after the step by name too."""
    from openpyxl.utils.cell import range_boundaries

    preset, path = preset_path
    d = blueprint_of(load_config(preset)).layout.dims
    wb = openpyxl.load_workbook(path, read_only=True)
    names = {n: dn.attr_text for n, dn in wb.defined_names.items()}
    shapes = {"W_xh": (d.H, d.V), "W_hh": (d.H, d.H), "b_h": (d.H, 1), "W_hy": (d.V, d.H), "b_y": (d.V, 1), "w_v": (1, d.H), "b_v": (1, 1)}  # rows, columns
    sets = {"ref": "", "old": "phi_old", "theta": "phi", "grad": "grad", "theta_next": "phi_next", "rm": ""}
    for model, head in sets.items():
        for param, (rows, cols) in shapes.items():
            name = f"{head}_{param}" if param in ("w_v", "b_v") else f"{model}_{param}"
            if (model == "rm" and param in ("W_hy", "b_y")) or (param in ("w_v", "b_v") and not head):
                continue
            c0, r0, c1, r1 = range_boundaries(names[name].split("!")[1].replace("$", ""))
            assert (r1 - r0 + 1, c1 - c0 + 1) == (rows, cols), (name, names[name])
    assert {"prompts", "grad_norm", "grad_clip_coef", "logp_next", "ratio_next", "pg_loss_next", "vf_loss_next", "total_loss_next"} <= set(names)
    assert {"rm_W_hy", "rm_b_y"} <= set(names)


def test_formula_cells_carry_reference_values_as_cache(small_path: Path) -> None:
    bp = blueprint_of(load_config("small"))
    wb = openpyxl.load_workbook(small_path, data_only=True, read_only=True)
    cached = {(ws.title, c.row - 1, c.column - 1): c.value for ws in wb.worksheets for row in ws.iter_rows() for c in row if getattr(c, "value", None) is not None}
    for cell in bp.formula_cells():
        got = cached[cell.sheet, cell.row, cell.col]
        assert got == cell.value or abs(got - cell.value) <= 1e-15 * max(1.0, abs(cell.value)), (cell, got)


def test_same_config_same_bytes(tmp_path: Path) -> None:
    a, b, c = tmp_path / "a.xlsx", tmp_path / "b.xlsx", tmp_path / "c.xlsx"
    generate(load_config("small"), a)
    generate(load_config("small"), b)
    generate(load_config("small", seed=1), c)
    assert a.read_bytes() == b.read_bytes()
    assert a.read_bytes() != c.read_bytes()


def test_failure_part_way_leaves_earlier_file_untouched(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "book.xlsx"
    generate(load_config("small"), path)
    before = path.read_bytes()

    def explode(bp, out, command):  # noqa: ANN001 - stands in for the xlsxwriter pass (into memory)
        out.write(b"half a workbook")
        raise RuntimeError("disk full")

    monkeypatch.setattr("blueprint.writer._write_xlsx", explode)
    with pytest.raises(RuntimeError, match="disk full"):
        write(blueprint_of(load_config("small", seed=5)), path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["book.xlsx"]


def test_cli_generate_prints_what_it_wrote(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "x.xlsx"
    assert main(["generate", "-o", str(out), "--set", "beta=0.1", "--seed", "3"]) == 0
    text = capsys.readouterr().out
    assert str(out) in text and "Value Loss" in text and "formula cells" in text
    wb = openpyxl.load_workbook(out, read_only=True)
    beta = wb.defined_names["beta"].attr_text.split("!")
    assert wb[beta[0]][beta[1].replace("$", "")].value == 0.1


@pytest.mark.parametrize("argv, needle", [
    (["generate", "--set", "gamma=1.5"], "gamma"),
    (["generate", "--set", "nonsense=1"], "unknown config key 'nonsense'"),
    (["generate", "--config", "/no/such/file.toml"], "not found"),
    (["generate", "-o", "/no/such/dir/out.xlsx"], "does not exist"),
    (["generate", "-o", "out.txt"], ".xlsx"),
])
def test_cli_generate_bad_input_is_one_line_exit_2(argv: list[str], needle: str, capsys: pytest.CaptureFixture, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert needle in err and err.count("\n") == 1 and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []


def test_formula_cell_counts_grow_with_the_preset() -> None:
    """The exact counts are the README's presets table (tests/test_readme.py holds it to the code)."""
    counts = [len(blueprint_of(load_config(p)).formula_cells()) for p in PRESETS]
    assert counts == sorted(counts) and len(set(counts)) == len(counts)


def test_fast_formula_preparation_writes_the_same_bytes_as_xlsxwriters_own(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import xlsxwriter.worksheet

    fast, stock = tmp_path / "fast.xlsx", tmp_path / "stock.xlsx"
    generate(load_config("small", convention="verl"), fast)
    monkeypatch.setattr("blueprint.writer._prepare_formula", xlsxwriter.worksheet.Worksheet()._prepare_formula)
    generate(load_config("small", convention="verl"), stock)
    assert fast.read_bytes() == stock.read_bytes()


def test_xlsxwriter_still_prepares_formulas_through_the_method_we_replace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """blueprint.writer replaces xlsxwriter's private `Worksheet._prepare_formula` (3x faster generation on xl). If a new
    xlsxwriter renames or stops calling it, the replacement would silently do nothing: this fails instead."""
    import xlsxwriter.worksheet

    import blueprint.writer

    assert callable(getattr(xlsxwriter.worksheet.Worksheet, "_prepare_formula", None)), "xlsxwriter moved _prepare_formula"
    seen = []
    fast = blueprint.writer._prepare_formula
    monkeypatch.setattr("blueprint.writer._prepare_formula", lambda formula, *a: seen.append(formula) or fast(formula, *a))
    generate(load_config("small"), tmp_path / "x.xlsx")
    assert set(seen) >= {cell.formula for cell in blueprint_of(load_config("small")).formula_cells()}


def test_default_output_folder_is_created(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["generate"]) == 0
    assert (tmp_path / "output" / "rlhf_ppo_blueprint.xlsx").stat().st_size > 10_000


def test_an_internal_error_is_one_line_exit_3(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture, tmp_path: Path) -> None:
    def broken(*args, **kwargs):  # noqa: ANN002, ANN003 - stands in for any bug
        raise ZeroDivisionError("oops")

    monkeypatch.setattr("blueprint.api.generate", broken)
    assert main(["generate", "-o", str(tmp_path / "x.xlsx")]) == 3
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "internal error: ZeroDivisionError: oops" in err and "Traceback" not in err
    monkeypatch.setenv("BLUEPRINT_DEBUG", "1")
    with pytest.raises(ZeroDivisionError):
        main(["generate", "-o", str(tmp_path / "x.xlsx")])


@pytest.mark.parametrize(("argv", "says"), [
    (["generate", "--seed", "x"], "argument --seed: invalid int value: 'x'"),
    (["generate", "--preset", "huge"], "argument --preset: invalid choice: 'huge'"),
    (["verify", "x.xlsx", "--engine", "foo"], "argument --engine: invalid choice: 'foo'"),
    (["trace", "x.xlsx", "GAE!A1", "--depth", "-1"], "argument --depth: -1: must be >= 0"),
    (["bogus"], "argument COMMAND: invalid choice: 'bogus'"),
])
def test_a_usage_mistake_is_one_line_exit_2(argv: list[str], says: str, capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as info:
        main(argv)
    err = capsys.readouterr().err
    assert info.value.code == 2 and err.count("\n") == 1 and says in err and "--help`)" in err and "usage:" not in err


def test_every_declared_formula_block_has_reference_numbers_and_every_reference_array_a_block() -> None:
    """sheets/X.py declares a quantity, reference/X.py computes it: neither may have one the other lacks (the
    derived extras — text cells, the chart's #N/A ratio, the Guide's words — are blueprint.workbook.expected's)."""
    from blueprint.config import hyper
    from blueprint.inputs import make_inputs
    from blueprint.layout import build_layout
    from blueprint.workbook import dims_of, expected
    from reference import run

    config = load_config("small")
    formula_blocks = {key for key, b in build_layout(dims_of(config)).blocks.items() if b.kind == "formula"}
    computed = set(run(make_inputs(config), hyper(config)))
    assert computed - formula_blocks <= {("Rollout", "draws")}, "reference arrays without a block: " + str(computed - formula_blocks)
    assert formula_blocks == set(expected(config, make_inputs(config))) & formula_blocks
    derived = formula_blocks - computed
    assert derived == {("Rollout", "token_name"), ("Config", "eos_id"), ("Clip", "ratio_real"), ("After Step", "ratio_real_next"),
                       ("Guide", "story"), ("Guide", "piece_now"), ("Guide", "switch_now"),
                       *((s, "x_name") for s in ("Rollout", "Reward", "KL", "Ratio", "After Step"))}
