"""Token names are text in every engine path: whatever a name looks like to a spreadsheet.

A vocabulary token is written as a string constant on Config and comes back as text from
INDEX(vocab, …) in every unroll. Names that look like a formula (`=1+1`, `+1`, `@A1`), an error
(`#N/A`), a boolean, a number, a cell reference or XML (`<b>`, `&amp;`, `_x0041_`) must work
end to end; names no engine can hold the same way are refused at generate time
(tests/test_config.py). Every name below is used, as a prompt token, in every engine.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from blueprint.config import load_config
from blueprint.inputs import make_inputs
from blueprint.readback import read_blueprint
from blueprint.verify import verify
from blueprint.workbook import build
from blueprint.writer import write

LOOKALIKES = ("=1+1", "+1", "-1", "@A1", "#N/A", "#REF!", "TRUE", "false", "1", "0.5", "1e5", "A1", "R1C1", " a", "b ",
              "<b>", "&amp;", "_x41_", "x_x", "日本", "😀", "é", "a" * 16)


def lookalike_workbook(path: Path, eos: str, **dims: int) -> Path:
    """A workbook whose vocabulary is every look-alike plus `eos`, with prompts that use every one of them."""
    config = load_config("small", vocab=(*LOOKALIKES, eos), eos=eos, **dims)
    inputs = make_inputs(config)
    B, P = inputs.prompts.shape
    assert B * P >= len(LOOKALIKES)
    prompts = np.resize(np.arange(len(LOOKALIKES)), (B, P))  # every look-alike is read, then named by INDEX(vocab, x+1)
    write(build(config, dataclasses.replace(inputs, prompts=prompts)), path)
    return path


@pytest.fixture(scope="module")
def lookalikes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return lookalike_workbook(tmp_path_factory.mktemp("tokens") / "lookalikes.xlsx", "=end", B=2, P=12, H=2)


def test_every_lookalike_is_read_back_as_the_same_text(lookalikes: Path) -> None:
    config, inputs, layout, cells = read_blueprint(lookalikes)
    assert config.vocab == (*LOOKALIKES, "=end") and config.eos == "=end"
    names = {cells.cached[k] for k in cells.cached if layout.at(*k) and layout.at(*k)[0] == "x_name"}
    assert set(LOOKALIKES) <= names  # each came back from a formula as text, not as a formula, error, bool or number


@pytest.mark.parametrize("eos", ["=end", "#NUM!", "2", "@eos"])
def test_lookalike_vocabularies_verify_clean_with_the_formulas_engine(tmp_path: Path, eos: str) -> None:
    report = verify(lookalike_workbook(tmp_path / "v.xlsx", eos, B=2, P=12, H=2))
    assert report.ok, report.text(5)
    assert report.totals().value_ok > 1000


@pytest.mark.slow
def test_lookalikes_verify_clean_with_the_stock_engine(lookalikes: Path) -> None:
    report = verify(lookalikes, engine="formulas-stock")
    assert report.ok, report.text(5)


@pytest.mark.libreoffice
def test_lookalikes_verify_clean_with_libreoffice(lookalikes: Path) -> None:
    report = verify(lookalikes, engine="libreoffice")
    assert report.ok, report.text(5)
