"""Tests for blueprint.lint: real blueprint formulas, good and bad, one group per rule."""

from __future__ import annotations

from pathlib import Path

import pytest

from blueprint.lint import (
    ALLOWED_FUNCTIONS,
    ALLOWED_NUMBERS,
    LintIssue,
    lint_formula,
    lint_workbook,
)

SHEETS = frozenset({"Config", "Weights", "Rollout", "GAE", "Value Loss"})


def rules(formula: str, known_sheets: frozenset[str] | None = SHEETS) -> list[str]:
    return [i.rule for i in lint_formula(formula, "GAE", "F7", known_sheets)]


GOOD = [
    "=TANH(INDEX(Weights!$C$5:$G$5,1,Rollout!C7+1)+SUMPRODUCT(Weights!$C$9:$E$9,C6:E6)"
    "+Weights!$H$5)",
    "=IF(A1<B1,1,MATCH(C1,D1:H1,1)-1)",
    "=0.5*SUMPRODUCT(A1:B2,C1:D2)/n_tokens",
    "=-1*A1",
    "=2^-1*A1",
    "=1-lam",
    "='Value Loss'!B3*vf_coef",
    "=MAX(B2:F2)",
    "=EXP(B3-MAX($B3:$F3))/SUM(C3:G3)",
    "=(A1>B1)*1",
    "=IF(AND(A1>0,NOT(B1)),MIN(C1,-D1),MEDIAN(E1:E9))",
    "=CHOOSE(A1,B1,C1)+AVERAGE(D1:D4)+ABS(LN(SQRT(E1)))",
    "=SUM( A1:B2 , C1:D2 )",
    "=MIN(MAX(A1,1-eps),1+eps)",
    '=IF(A1="#REF!",0,1)',          # text that merely looks like an error
    "=A1*50%",                      # 0.5 once the percent sign is applied
    "=0",
    "=1.0",
]


@pytest.mark.parametrize("formula", GOOD)
def test_good_formulas_pass(formula: str) -> None:
    assert lint_formula(formula, known_sheets=SHEETS) == []


def test_constants() -> None:
    assert {"SUMPRODUCT", "INDEX", "MATCH", "TANH"} <= ALLOWED_FUNCTIONS
    assert "OFFSET" not in ALLOWED_FUNCTIONS
    assert ALLOWED_NUMBERS == {0.0, 1.0, 0.5, 2.0}


def test_issue_str() -> None:
    [issue] = lint_formula("=A1*0.95", "GAE", "F7")
    assert issue == LintIssue("GAE", "F7", "=A1*0.95", "numeric-literal", "0.95")
    assert str(issue) == "GAE!F7: rule 'numeric-literal': 0.95 in =A1*0.95"
    [spaced] = lint_formula("=A1*3", "Value Loss", "B3")
    assert str(spaced).startswith("'Value Loss'!B3: ")


def test_formula_without_equals_sign() -> None:
    assert rules("A1*0.95") == ["numeric-literal"]


@pytest.mark.parametrize("formula, name", [
    ("=OFFSET(A1,1,1)", "OFFSET"),
    ("=INDIRECT(\"A1\")", "INDIRECT"),
    ("=RAND()", "RAND"),
    ("=_xlfn.LET(x,A1,x*x)", "_xlfn.LET"),
    ("=LAMBDA(x,x)(A1)", "LAMBDA"),
    ('=HYPERLINK("#GAE!A1",A1)', "HYPERLINK"),
    ("=_xlfn.FORMULATEXT(A1)", "_xlfn.FORMULATEXT"),
    ("=VAR.S(A1,B1)", "VAR.S"),
    ("=LOG(A1)", "LOG"),
    ("=COUNTA(A1:A3)", "COUNTA"),
])
def test_function(formula: str, name: str) -> None:
    issues = [i for i in lint_formula(formula) if i.rule == "function"]
    assert len(issues) == 1 and issues[0].detail.startswith(name + " ")


def test_function_names_are_case_insensitive() -> None:
    assert rules("=exp(a1)+Tanh(B1)") == []


@pytest.mark.parametrize("formula, literal", [
    ("=A1*0.95", "0.95"),
    ("=EXP(A1)*1E-8", "1E-8"),
    ("=SQRT(A1+1e-8)", "1e-8"),
    ("=A1-3", "3"),
    ("=-0.2*A1", "0.2"),
    ("=A1*1%", "1"),                # 0.01 after the percent sign
    ("=INDEX(A1:C1,1,4)", "4"),
    ("=5E+2", "5E+2"),
])
def test_numeric_literal(formula: str, literal: str) -> None:
    issues = lint_formula(formula)
    assert [(i.rule, i.detail) for i in issues] == [("numeric-literal", literal)]


@pytest.mark.parametrize("formula", [
    "='[other.xlsx]Config'!B2",
    "=[1]Config!$B$2*A1",
    "='C:\\path\\[x.xlsx]S'!A1",
    "=SUM([1]Weights!A1:B2)",
])
def test_external_workbook(formula: str) -> None:
    assert rules(formula, None) == ["external-reference"]


def test_unknown_sheet_only_when_known_sheets_given() -> None:
    assert rules("=Missing!A1+'Value Loss'!B3") == ["external-reference"]
    assert rules("=Missing!A1", None) == []
    assert rules("=config!B2") == []                # sheet names are case-insensitive
    assert rules("='Value Loss'!B3") == []


@pytest.mark.parametrize("formula, rule", [
    ("=SUM(A:A)", "whole-column"),
    ("=SUM($B:$D)", "whole-column"),
    ("=MATCH(A1,Weights!C:C,1)", "whole-column"),
    ("=SUM(1:1)", "whole-row"),
    ("=SUM(Config!$3:$3)", "whole-row"),
])
def test_whole_column_and_row(formula: str, rule: str) -> None:
    assert rules(formula) == [rule]


@pytest.mark.parametrize("formula", [
    "=MAX((A1:C1-x)*2)",
    "=SUMPRODUCT(A1:C1*A2:C2)",
    "=SUMPRODUCT(A1:C1,A2:C2*2)",
    "=SUMPRODUCT(A1:C1,(A2:C2))",
    "=LN(SUM(EXP(A1:A3)))",
    "=A1:B2",
    "=A1:A3=1",
    "=SUM(A1:A3*B1:B3)",
    "=SUM((A1:A3))",
    "=TANH(B1:B3)",
    "=IF(A1>0,B1:B3,0)",
    "=INDEX(A1,A1:C1,1)",           # a range as INDEX's row number
    "=MATCH(A1:B1,C1:D1,1)",        # a range as MATCH's lookup value
    "=SUM(A1:B2 C1:D2)",            # intersection operator
    "=INDEX(A1:B3,1,1):B3",         # reference built from a function result
    "=@A1:A3",
])
def test_range_arithmetic(formula: str) -> None:
    found = rules(formula)
    assert found and set(found) == {"range-arithmetic"}, found


def test_range_arithmetic_reports_sumproduct_argument_once() -> None:
    [issue] = lint_formula("=SUMPRODUCT(A1:C1*A2:C2)")
    assert issue.detail == "SUMPRODUCT argument 1 'A1:C1*A2:C2' is not a plain range"


def test_defined_names_are_not_ranges() -> None:
    assert rules("=beta*kl_token+gamma*lam*A1") == []
    assert rules("=SUMPRODUCT(weights_row,h_row)") == []


def test_sumproduct_shape() -> None:
    assert rules("=SUMPRODUCT(A1:C1,A2:A4)") == ["sumproduct-shape"]
    assert rules("=SUMPRODUCT(Weights!$C$9:$E$9,'Value Loss'!C6:E6)") == []


def test_index_whole_line() -> None:
    assert rules("=INDEX(A1:C3,1,0)") == ["index-whole-line"]
    assert rules("=INDEX(A1:C3,,2)") == ["index-whole-line"]
    assert rules("=INDEX(A1:C3,2,C7+1)") == []
    assert rules("=INDEX(A1:A3,2)") == []


@pytest.mark.parametrize("formula", ["=--(A1>B1)", "=SUM(--A1,B1)", "=- -A1"])
def test_double_negation(formula: str) -> None:
    assert rules(formula) == ["double-negation"]


def test_single_negations_are_fine() -> None:
    assert rules("=-(-A1)") == []
    assert rules("=A1--B1") == []                   # infix minus then prefix minus


@pytest.mark.parametrize("formula", ["=#REF!+1", "=IF(A1,#N/A,1)", "=Config!#REF!*2",
                                     "=SUM(A1,#DIV/0!)"])
def test_error_literal(formula: str) -> None:
    assert rules(formula) == ["error-literal"]


@pytest.mark.parametrize("formula", ["=SUM(A1", "=A1)", "='Config", '="abc'])
def test_parse_error(formula: str) -> None:
    assert rules(formula) == ["parse-error"]


def test_several_rules_in_one_formula() -> None:
    assert sorted(rules("=OFFSET(A1,1,3)*0.95+SUM(A:A)")) == [
        "function", "numeric-literal", "numeric-literal", "whole-column"]


def test_lint_workbook(tmp_path: Path) -> None:
    import xlsxwriter

    path = tmp_path / "book.xlsx"
    wb = xlsxwriter.Workbook(path)
    config = wb.add_worksheet("Config")
    loss = wb.add_worksheet("Value Loss")
    config.write_number("B2", 0.05)
    config.write_number("B3", 0.95)
    wb.define_name("beta", "=Config!$B$2")
    wb.define_name("lam", "=Config!$B$3")
    wb.define_name("'Value Loss'!local", "='Value Loss'!$A$1")
    wb.define_name("ext", "=[1]Config!$B$2")
    wb.define_name("block", "=Config!$B$2:$B$3")
    loss.write_number("A1", 2.0)
    loss.write_formula("A2", "=A1*beta", None, 0.1)
    loss.write_formula("A3", "=A1*0.95", None, 1.9)
    loss.write_formula("A4", "=LN(A1-2)", None, "#NUM!")
    loss.write_formula("A5", "=SUMPRODUCT(Config!B2:B3,A1:A2)", None, 0.195)
    loss.write_formula("A6", "=Gone!A1", None, 0)
    loss.write_formula("A7", "=MAX((A1:A2-lam)*2)", None, 2.1)
    loss.write_formula("A8", "=SUM(block*2)", None, 2.0)   # a named area obeys the range rules
    loss.write_formula("A9", "=SUM(block)", None, 1.0)
    loss.write_formula("A10", "=IF(A1>2,A1,NA())", None, "#N/A")  # a gap asked for: a chart skips the cell
    loss.write_formula("A11", "=INDEX(block,A1+1,1)", None, "#N/A")  # an #N/A nobody asked for
    wb.close()

    found = {(i.sheet, i.cell, i.rule) for i in lint_workbook(path)}
    assert found == {
        ("Value Loss", "A3", "numeric-literal"),
        ("Value Loss", "A4", "error-value"),
        ("Value Loss", "A6", "external-reference"),
        ("Value Loss", "A7", "range-arithmetic"),
        ("Value Loss", "A8", "range-arithmetic"),
        ("Value Loss", "A11", "error-value"),
        ("Value Loss", "local", "defined-name"),
        ("", "ext", "defined-name"),
    }
    error = next(i for i in lint_workbook(path) if i.rule == "error-value" and i.cell == "A4")
    assert error.formula == "=LN(A1-2)" and "#NUM!" in error.detail


def test_lint_workbook_clean(tmp_path: Path) -> None:
    import xlsxwriter

    path = tmp_path / "clean.xlsx"
    wb = xlsxwriter.Workbook(path)
    ws = wb.add_worksheet("Rollout")
    ws.write_row("A1", [0.1, 0.2, 0.3])
    ws.write_row("A2", [1.0, 2.0, 3.0])
    wb.define_name("gamma", "=Rollout!$A$1")
    ws.write_formula("D1", "=SUMPRODUCT(A1:C1,A2:C2)*gamma", None, 0.14)
    ws.write_formula("D2", "=EXP(A1-MAX($A$1:$C$1))", None, 0.8187307530779818)
    wb.close()
    assert lint_workbook(path) == []


def test_issue_str_quotes_sheets_as_excel_does() -> None:
    from blueprint.lint import LintIssue

    assert str(LintIssue("A1", "B2", "=1", "r", "d")).startswith("'A1'!B2: ")  # a sheet named like a cell is quoted
    assert str(LintIssue("x.y", "B2", "=1", "r", "d")).startswith("x.y!B2: ")
