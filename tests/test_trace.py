"""`blueprint trace`: precedents of every formula cell, a deep trace to the inputs, names, text, bad addresses, CLI."""

from __future__ import annotations

from pathlib import Path

import openpyxl
import pytest
from openpyxl.formula.tokenizer import Tokenizer
from openpyxl.utils import get_column_letter
from openpyxl.utils.cell import range_boundaries

from blueprint.api import generate
from blueprint.cli import main
from blueprint.config import load_config
from blueprint.errors import BlueprintError
from blueprint.readback import canonical_sheets, load_cells, read_config
from blueprint.trace import TraceNode, Tracer, parse_address, precedents, render, trace

SHEETS = ["Guide", "Config", "Weights", "Rollout", "Reward", "KL", "GAE", "Ratio", "Clip", "Value Loss", "Total"]


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("trace") / "small.xlsx"
    generate(load_config("small"), path)
    return path


@pytest.fixture(scope="module")
def layout(small: Path):
    return read_config(canonical_sheets(load_cells(small)))[1]


@pytest.fixture(scope="module")
def formulas(small: Path) -> dict[tuple[str, int, int], str]:
    """Every formula cell of the workbook, read with openpyxl directly: (sheet, row, col) 0-based -> text."""
    wb = openpyxl.load_workbook(small)
    try:
        return {(ws.title, c.row - 1, c.column - 1): c.value for ws in wb.worksheets for row in ws.iter_rows() for c in row if c.data_type == "f"}
    finally:
        wb.close()


def addr(sheet: str, row: int, col: int) -> str:
    return f"'{sheet}'!{get_column_letter(col + 1)}{row + 1}"


def quantity_of(layout, sheet: str, row: int, col: int) -> str:
    hit = layout.at(sheet, row, col)
    assert hit is not None, f"{addr(sheet, row, col)} is a formula outside the layout"
    q, idx = hit
    return f"{q}[{','.join(map(str, idx))}]" if idx else q


class Oracle:
    """Precedents computed independently of blueprint.trace: openpyxl's range_boundaries and the names' destinations."""

    def __init__(self, path: Path):
        wb = openpyxl.load_workbook(path)
        self.names = {name.lower(): list(dn.destinations) for name, dn in wb.defined_names.items()}
        wb.close()
        self.memo: dict[tuple[str, str], set[tuple[str, int, int]]] = {}

    def __call__(self, sheet: str, formula: str) -> set[tuple[str, int, int]]:
        if (sheet, formula) not in self.memo:
            out: set[tuple[str, int, int]] = set()
            for tok in Tokenizer(formula).items:
                if tok.type != "OPERAND" or tok.subtype != "RANGE":
                    continue
                if tok.value.lower() in self.names:
                    refs = self.names[tok.value.lower()]
                elif "!" in tok.value:
                    where, ref = tok.value.rsplit("!", 1)
                    refs = [(where.strip("'").replace("''", "'"), ref)]
                else:
                    refs = [(sheet, tok.value)]
                for where, ref in refs:
                    c0, r0, c1, r1 = range_boundaries(ref.replace("$", ""))
                    out |= {(where, r - 1, c - 1) for r in range(r0, r1 + 1) for c in range(c0, c1 + 1)}
            self.memo[sheet, formula] = out
        return self.memo[sheet, formula]


def check_tree(root: TraceNode, oracle: Oracle) -> None:
    """Every expanded node's children are exactly its formula's precedents (no more, no fewer, no duplicates)."""
    for node in root.walk():
        if node.children:
            got = [(c.sheet, c.row, c.col) for c in node.children]
            assert len(got) == len(set(got)), f"{node.address}: duplicate children"
            assert set(got) == oracle(node.sheet, node.formula), f"{node.address} {node.formula}: children {got}"
        if node.repeated or node.truncated:
            assert not node.children


# --- every formula cell ------------------------------------------------------------------


def test_trace_every_formula_cell(small: Path, layout, formulas: dict) -> None:
    assert len(formulas) > 500
    tracer, oracle = Tracer(small), Oracle(small)
    for (sheet, row, col), formula in formulas.items():
        root = tracer.trace(addr(sheet, row, col), depth=2)
        assert (root.sheet, root.row, root.col, root.kind) == (sheet, row, col, "formula")
        assert root.formula == formula
        assert root.quantity == quantity_of(layout, sheet, row, col)
        assert not root.repeated
        for child in root.children:
            hit = layout.at(child.sheet, child.row, child.col)
            if hit is not None:
                assert child.quantity.split("[")[0] == hit[0]
        check_tree(root, oracle)
        text = render(root)
        assert text.splitlines()[0].startswith(root.address)
        assert len(text.splitlines()) == sum(1 for _ in root.walk())


def test_trace_function_reads_the_file(small: Path, layout) -> None:
    root = trace(small, "GAE!C22", depth=1)
    assert root.quantity == quantity_of(layout, "GAE", 21, 2)
    assert root.children and all(not c.children for c in root.children)


# --- a deep trace ------------------------------------------------------------------------


def test_full_trace_of_total_loss_reaches_the_inputs(small: Path, layout) -> None:
    r, c = layout.block("Total", "total_loss").pos(())
    root = trace(small, addr("Total", r, c), depth=None)
    assert root.quantity == "total_loss" and root.kind == "formula"
    nodes = list(root.walk())
    assert not any(n.truncated for n in nodes)
    leaves = [n for n in nodes if not n.children and not n.repeated]
    # a leaf is a constant, or a formula that reads nothing (the first mask column is `=1`)
    assert all(n.kind == "input" or (n.kind == "formula" and not precedents(n.formula, n.sheet, {})) for n in leaves)
    input_sheets = {n.sheet for n in leaves if n.kind == "input"}
    assert {"Weights", "Config"} <= input_sheets
    weights = {q for (sheet, q), b in layout.blocks.items() if sheet == "Weights"}
    assert any(n.quantity.split("[")[0] in weights for n in leaves if n.sheet == "Weights")
    assert any(n.quantity in ("gamma", "lam", "vf_coef", "beta") for n in leaves if n.sheet == "Config")
    # each formula cell expanded once: the non-repeated formula nodes are distinct cells
    expanded = [(n.sheet, n.row, n.col) for n in nodes if n.kind == "formula" and not n.repeated]
    assert len(expanded) == len(set(expanded))
    assert all(n.kind == "formula" for n in nodes if n.repeated)
    check_tree(root, Oracle(small))


def test_depth_limit(small: Path) -> None:
    root = trace(small, "Total!B5", depth=0)
    assert root.children == [] and root.truncated
    assert "depth limit" in render(root)
    two = trace(small, "Total!B5", depth=2)
    for child in two.children:
        for grand in child.children:
            assert not grand.children
    assert any(n.truncated for n in two.walk())


# --- names and text ----------------------------------------------------------------------


def test_defined_name_resolves_to_its_cell(small: Path, layout, formulas: dict) -> None:
    sheet, row, col = next(k for k, f in formulas.items() if "gamma" in f and k[0] == "GAE")
    root = trace(small, addr(sheet, row, col), depth=1)
    gr, gc = layout.block("Config", "gamma").pos(())
    kids = [(c.sheet, c.row, c.col, c.quantity, c.kind) for c in root.children]
    assert ("Config", gr, gc, "gamma", "input") in kids
    assert "Config!B%d gamma = " % (gr + 1) in render(root)


def test_precedents_names_ranges_and_sheets() -> None:
    names = {"gamma": "Config!$B$26", "mask": "Rollout!$B$48:$C$49", "vl": "'Value Loss'!$B$6"}
    assert precedents("=GAMMA*2", "GAE", names) == [("Config", 25, 1)]
    assert precedents("=SUM(mask)+B1", "GAE", names) == [("Rollout", 47, 1), ("Rollout", 47, 2), ("Rollout", 48, 1), ("Rollout", 48, 2), ("GAE", 0, 1)]
    assert precedents("=vl+'Value Loss'!B7+Value_Loss_Undefined", "GAE", names) == [("Value Loss", 5, 1), ("Value Loss", 6, 1)]
    assert precedents("='O''Brien'!$A$1:$A$2+A1+a1+$A$1", "X", {}) == [("O'Brien", 0, 0), ("O'Brien", 1, 0), ("X", 0, 0)]
    assert precedents("=1+2*PI()+TRUE+#REF!", "X", {}) == []
    assert precedents("=SUM(B2:A1)", "X", {}) == [("X", 0, 0), ("X", 0, 1), ("X", 1, 0), ("X", 1, 1)]
    assert precedents("=SUM(A:A)", "X", {}, extent={"x": (3, 5)}) == [("X", 0, 0), ("X", 1, 0), ("X", 2, 0)]
    with pytest.raises(BlueprintError):
        precedents("=SUM(A:A)", "X", {})  # a million cells without the sheet's extent


def test_text_literals_are_not_references(small: Path, layout, formulas: dict) -> None:
    assert precedents('=IF(A1="k2",B1,"k3")', "KL", {}) == [("KL", 0, 0), ("KL", 0, 1)]
    r, c = layout.block("KL", "kl_token").pos((0, 0))
    formula = formulas["KL", r, c]
    assert '"k2"' in formula and '"k3"' in formula
    root = trace(small, addr("KL", r, c), depth=1)
    kids = {(k.sheet, k.row, k.col) for k in root.children}
    assert not kids & {("KL", 1, 10), ("KL", 2, 10)}  # K2, K3
    assert {k.quantity.split("[")[0] for k in root.children} >= {"kl_estimator", "k1", "k2", "k3"}


# --- addresses ---------------------------------------------------------------------------


@pytest.mark.parametrize("text, want", [
    ("GAE!F7", ("GAE", 6, 5)),
    ("gae!f7", ("GAE", 6, 5)),
    ("GAE!$F$7", ("GAE", 6, 5)),
    ("'Value Loss'!B3", ("Value Loss", 2, 1)),
    ("Value Loss!B3", ("Value Loss", 2, 1)),
    ("'value loss'!$b3", ("Value Loss", 2, 1)),
    ("  Total!XFD1048576 ", ("Total", 1048575, 16383)),
])
def test_parse_address_accepts(text: str, want: tuple) -> None:
    assert parse_address(text, SHEETS) == want


@pytest.mark.parametrize("text, why", [
    ("F7", "no sheet"),
    ("$F$7", "no sheet"),
    ("Nope!F7", "no sheet 'Nope'"),
    ("GAE!ZZZZ1", "not a cell"),
    ("GAE!XFE1", "beyond XFD"),
    ("GAE!A0", "row 0"),
    ("GAE!A1048577", "row 1048577"),
    ("GAE!A1:B2", "range"),
    ("GAE!", "not a cell"),
    ("GAE!gamma", "not a cell"),
    ("", "empty"),
    ("GAE!F7\nrm -rf", "not a cell"),
])
def test_parse_address_refuses(text: str, why: str) -> None:
    with pytest.raises(BlueprintError) as exc:
        parse_address(text, SHEETS)
    msg = str(exc.value)
    assert "\n" not in msg and why in msg and "e.g." in msg, msg


def test_trace_refuses_bad_addresses_and_empty_cells(small: Path, tmp_path: Path) -> None:
    for bad in ("C22", "Nope!C22", "GAE!ZZZZ1", "GAE!A0", "GAE!A1:B2", "GAE!Z900"):
        with pytest.raises(BlueprintError) as exc:
            trace(small, bad)
        assert "\n" not in str(exc.value)
    with pytest.raises(BlueprintError, match=r"GAE!Z900 is empty; "):
        trace(small, "GAE!Z900")
    with pytest.raises(BlueprintError, match="no such file"):
        trace(tmp_path / "missing.xlsx", "GAE!C22")
    with pytest.raises(BlueprintError, match="depth"):
        trace(small, "GAE!C22", depth=-1)


def test_constant_cell_is_a_root(small: Path, layout) -> None:
    r, c = layout.block("Config", "gamma").pos(())
    root = trace(small, f"Config!B{r + 1}")
    assert (root.kind, root.quantity, root.formula, root.children) == ("input", "gamma", None, [])
    assert render(root).endswith("(input)")
    label = trace(small, "Config!A1")
    assert label.quantity == "(label)" and label.kind == "input"


# --- text --------------------------------------------------------------------------------


def test_render_shape() -> None:
    leaf = TraceNode("Config", 25, 1, "gamma", None, 1.0, "input")
    rep = TraceNode("GAE", 21, 3, "advantages[0,2]", "=D18", 0.123456789, "formula", repeated=True)
    cut = TraceNode("KL", 49, 2, "rewards[0,1]", "=" + "+".join(["A1"] * 80), -0.0, "formula", truncated=True)
    mid = TraceNode("GAE", 17, 2, "delta[0,1]", "=KL!C50", 0.186, "formula", children=[cut])
    root = TraceNode("GAE", 21, 2, "advantages[0,1]", "=C18+gamma*D22", 0.7112, "formula", children=[mid, leaf, rep])
    root.children.append(TraceNode("Value Loss", 0, 0, "(label)", None, "Value loss", "input"))
    lines = render(root).splitlines()
    assert lines[0] == "GAE!C22 advantages[0,1] = 0.7112  =C18+gamma*D22"
    assert lines[1] == "├─ GAE!C18 delta[0,1] = 0.186  =KL!C50"
    assert lines[2].startswith("│  └─ KL!C50 rewards[0,1] = 0  =A1+A1") and "…" in lines[2] and lines[2].endswith("(… depth limit)")
    assert len("=" + lines[2].split("  =")[1].split("  (")[0]) == 100  # the formula, cut to 100 characters
    assert lines[3] == "├─ Config!B26 gamma = 1  (input)"
    assert lines[4] == "├─ GAE!D22 advantages[0,2] = 0.123457  =D18  (see above)"
    assert lines[5] == "└─ 'Value Loss'!A1 (label) = \"Value loss\""


# --- command line ------------------------------------------------------------------------


def test_cli_trace(small: Path, formulas: dict, capsys: pytest.CaptureFixture) -> None:
    assert ("GAE", 21, 2) in formulas, "GAE!C22 is no longer a formula cell: pick another address for this test"
    assert main(["trace", str(small), "GAE!C22", "--depth", "2"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("GAE!C22 ") and "├─" in out and "└─" in out


def test_cli_trace_bad_address(small: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["trace", str(small), "GAE!A0"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("blueprint trace: error: ")
    assert main(["trace", str(small), "Nope!A1"]) == 2
    with pytest.raises(SystemExit) as exc:
        main(["trace", str(small), "GAE!C22", "--depth", "-1"])
    assert exc.value.code == 2
