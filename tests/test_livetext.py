"""Live text: every Guide sentence that depends on a switch reads the same from its Excel formula (recalculated by the
`formulas` engine) as from its Python rendering, for every value of every switch it depends on."""

from __future__ import annotations

import itertools
from types import SimpleNamespace

import pytest

from blueprint import guide
from blueprint.cellvalues import Formula
from blueprint.config import ALLOWED, OneOf
from blueprint.fastcalc import evaluate
from blueprint.livetext import EXCEL_LITERAL, By, IfPositive, formula, keys, render
from blueprint.lint import lint_formula

TEXTS = {f"story {k + 1}": parts for k, parts in enumerate(guide.STORY)} | {
    f"piece {piece}": now for piece, _, _, _, now in guide.PIECES if now}


def settings(parts: object) -> list[dict[str, object]]:
    """Every combination of the values of the keys a text depends on (numbers: off and on)."""
    names = sorted(keys(parts))
    choices = [ALLOWED[k].choices if isinstance(ALLOWED[k], OneOf) else (0.0, 2.5) for k in names]
    return [dict(zip(names, combo)) for combo in itertools.product(*choices)]


def excel(parts: object, values: dict[str, object]) -> object:
    """The formula recalculated by the formulas engine, the switches as named cells of a sheet C."""
    cells = {("C", r, 0): v for r, v in enumerate(values.values())} | {("C", 0, 1): Formula(formula(parts))}
    names = {k: f"C!$A${r + 1}" for r, k in enumerate(values)}
    return evaluate(cells, names)["C", 0, 1]


@pytest.mark.parametrize("name", sorted(TEXTS))
def test_formula_and_python_tell_the_same_text_for_every_setting(name: str) -> None:
    parts = TEXTS[name]
    seen = set()
    for values in settings(parts):
        want = render(parts, SimpleNamespace(**values))
        assert excel(parts, values) == want, (name, values)
        seen.add(want)
    assert len(seen) > 1 or not keys(parts), f"{name}: the switches change nothing"
    assert lint_formula(formula(parts)) == []


def test_story_and_pieces_depend_on_the_switches_the_issue_names() -> None:
    story = set().union(*(keys(p) for p in guide.STORY))
    assert {"eos_handling", "kl_placement", "adv_whiten", "kl_ctl", "kl_ctl_input", "dual_clip", "logratio_clamp"} <= story
    assert all(k in ALLOWED for k in story)


def test_literals_are_split_at_excels_limit_and_quotes_doubled() -> None:
    text = 'a "quoted" word ' * 40  # 640 characters, 80 quotes
    f = formula((text, By("loss_agg", {"token-mean": "x", "seq-mean-token-mean": "y", "seq-mean-token-sum": '"z"'}),
                 IfPositive("dual_clip", "d")))
    pieces = [p for p in f[1:].split("&") if p.startswith('"')]
    assert all(len(p) - 2 <= EXCEL_LITERAL for p in pieces)
    assert excel((text,), {}) == text
    assert excel((text, IfPositive("dual_clip", "d", "e")), {"dual_clip": 0.0}) == text + "e"


@pytest.mark.libreoffice
def test_libreoffice_retells_the_story_when_a_switch_is_flipped(small_path, tmp_path) -> None:  # noqa: ANN001
    """Edit kl_placement, eos_handling and kl_ctl in the file as a user would in Calc: after LibreOffice recalculates,
    the Guide's story reads the new switches' words (and the verifier, reading the edited config, agrees)."""
    from conftest import with_config_edits
    from openpyxl.utils.cell import get_column_letter

    from blueprint.libreoffice import recalculated_values
    from blueprint.readback import read_blueprint
    from blueprint.verify import verify

    config, _, layout, _ = read_blueprint(small_path)
    edits = {"kl_placement": "none", "eos_handling": "off", "kl_ctl": "fixed"}
    edited = with_config_edits(small_path, edits, tmp_path / "flipped.xlsx")
    got = recalculated_values(edited)
    story = layout.block("Guide", "story")
    for step in (1, 2, 8):  # reward (eos_handling), KL (kl_placement), total (kl_ctl)
        r, c = story.pos((step,))
        text = got["Guide", f"{get_column_letter(c + 1)}{r + 1}"]
        assert text == render(guide.STORY[step], config.replace(**edits)) != render(guide.STORY[step], config), step
    assert "no KL to θ_ref is charged" in got["Guide", f"A{story.pos((2,))[0] + 1}"]
    report = verify(edited, engine="libreoffice", cache_check=False)
    assert report.ok, report.text(5)
