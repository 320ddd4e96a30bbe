"""blueprint.a1, the one module that reads and writes A1 addresses."""

import pytest

from blueprint import a1 as A1


@pytest.mark.parametrize("sheet, prefix", [("GAE", "GAE!"), ("Value Loss", "'Value Loss'!"), ("It's", "'It''s'!"),
                                           ("A1", "'A1'!"), ("1st", "'1st'!"), ("x_y.z", "x_y.z!")])
def test_sheet_quoting_round_trips(sheet: str, prefix: str) -> None:
    assert A1.sheet_prefix(sheet) == prefix
    assert A1.unquote_sheet(prefix[:-1]) == sheet


@pytest.mark.parametrize("text, rc", [("A1", (0, 0)), ("$F$7", (6, 5)), ("f7", (6, 5)), ("XFD1048576", (1048575, 16383)),
                                      ("XFE1", None), ("A0", None), ("A1048577", None), ("A1:B2", None), ("AAAA1", None)])
def test_parse_cell_keeps_to_the_grid(text: str, rc: tuple[int, int] | None) -> None:
    assert A1.parse_cell(text) == rc


def test_formatting_is_the_inverse_of_parsing() -> None:
    for row, col in [(0, 0), (6, 5), (99, 26), (1048575, 16383)]:
        assert A1.parse_cell(A1.cell(row, col)) == (row, col)
        assert A1.parse_cell(A1.cell(row, col, absolute=True)) == (row, col)
        assert A1.column_index(A1.column_name(col)) == col
    assert A1.area((2, 1), (8, 2)) == "B3:C9"
    assert A1.area((2, 1), (2, 1), absolute=True) == "$B$3"
    assert A1.address("Value Loss", 5, 1) == "'Value Loss'!B6"


def test_cells_and_columns_read_as_xlsxwriter_writes_them() -> None:
    """a1 formats them itself (importing xlsxwriter costs `blueprint verify` ~35 ms): the same text over the grid."""
    from xlsxwriter.utility import xl_col_to_name, xl_rowcol_to_cell

    assert [A1.column_name(c) for c in range(A1.MAX_COLS)] == [xl_col_to_name(c) for c in range(A1.MAX_COLS)]
    for row in (0, 9, 99, 1048575):
        for col in (0, 25, 26, 701, 702, 16383):
            for absolute in (False, True):
                assert A1.cell(row, col, absolute) == xl_rowcol_to_cell(row, col, absolute, absolute)


def test_reference_regex_finds_qualified_areas() -> None:
    m = A1.REF.fullmatch("'Value Loss'!$B$3:C9")
    assert (A1.unquote_sheet(m["sheet"]), m["c1"], m["r1"], m["c2"], m["r2"]) == ("Value Loss", "B", "3", "C", "9")


@pytest.mark.parametrize("text, parts", [("'Value Loss'!B3", ("Value Loss", "B3")), ("'It''s'!A1", ("It's", "A1")), ("GAE!F7", ("GAE", "F7")),
                                         ("B3", (None, "B3")), ("'broken!B3", (None, "'broken!B3"))])
def test_split_sheet_honours_quotes(text: str, parts: tuple[str | None, str]) -> None:
    assert A1.split_sheet(text) == parts


def test_area_regex_knows_cells_areas_whole_columns_and_rows() -> None:
    assert A1.AREA.fullmatch("$B$3:C9")["c2"] == "C9"
    assert A1.AREA.fullmatch("A:C")["k2"] == "C"
    assert A1.AREA.fullmatch("1:3")["r1"] == "1"
    assert A1.AREA.fullmatch("B3:") is None
    assert [n for n in ("AB12", "R", "R2C3", "rc", "beta", "eps_v") if A1.REFERENCE_LIKE_NAME.fullmatch(n)] == ["AB12", "R", "R2C3", "rc"]
