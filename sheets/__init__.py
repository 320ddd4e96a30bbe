"""One module per worksheet, and everything about it: its title, its blocks in reading order (each
quantity declared once, with its label, style role, workbook name, note and code: blueprint.blocks),
and `formulas(layout)`, which yields `(quantity, index, formula)` for every formula cell of the sheet.
The layout, the writer's styles and notes, the workbook's names and the README's tables derive
from these declarations.

    config  ↔ reference.config      rollout ↔ reference.rollout   reward ↔ reference.reward
    kl      ↔ reference.kl          gae     ↔ reference.gae       advantage ↔ reference.advantage
    ratio   ↔ reference.ratio
    clip    ↔ reference.clip        value_loss ↔ reference.value_loss                     total ↔ reference.total
    backward ↔ reference.backward   step ↔ reference.step          after_step ↔ reference.after_step
    rnn: the RNN unroll shared by Rollout, Reward, KL and Ratio (reference.rnn)
    _common ↔ reference._common: what several sheets share; guide and weights: the Guide's live text, the inputs
"""

from typing import Iterator

from blueprint.blocks import Model, Q, quantities
from sheets import advantage, after_step, backward, clip, config, gae, guide, kl, ratio, reward, rollout, step, total, value_loss, weights

# The sheets in workbook order, each with `SHEET`, `TITLE`, `SUMMARY`, `TAB`, `BLOCKS` (blueprint.blocks) and `formulas(layout)`.
MODULES = (guide, config, weights, rollout, reward, kl, gae, advantage, ratio, clip, value_loss, total, backward, step, after_step)


def declared(sheet: str) -> dict[str, Q]:
    """Every quantity a sheet declares, by name."""
    return {q.name: q for q in quantities(MODULES_BY_SHEET[sheet].BLOCKS)}


def every_quantity() -> Iterator[tuple[str, Q]]:
    """(sheet, Q) for every declared quantity of the workbook, in reading order."""
    for m in MODULES:
        for q in quantities(m.BLOCKS):
            yield m.SHEET, q


MODULES_BY_SHEET = {m.SHEET: m for m in MODULES}
# Workbook-level names (docs/design.md §4): a quantity declared `named` is reachable by its own name, e.g. `=SUM(mask)`;
# a model's parameter by `model_param`.
NAMED = {q.name.replace(".", "_"): (sheet, q.name) for sheet, q in every_quantity() if q.named}  # theta.W_xh is `theta_W_xh`
# Blocks shown with the frameworks' code beside them: block quantity -> its quote's key in blueprint/quotes.toml.
CODED = {q.name: q.code for _, q in every_quantity() if q.code}
# Parameter sets (blueprint.blocks.Model) by name, wherever they are laid out; the input ones are what reference.Inputs holds
# under the same names (a model's RNN part as `name`, its value head as `head`), with the sheet that shows them.
MODELS = {s.name: s for m in MODULES for s in m.BLOCKS if isinstance(s, Model)}
INPUT_MODELS = tuple((m.SHEET, s) for m in MODULES for s in m.BLOCKS if isinstance(s, Model) and s.role == "input")
