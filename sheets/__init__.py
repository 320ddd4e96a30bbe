"""One module per worksheet. Each yields `(quantity, index, formula)` for every formula cell of
its sheet, through the layout, and names its blocks with the symbol and plain words they show.

    rollout ↔ reference.rollout     reward ↔ reference.reward     kl ↔ reference.kl
    gae     ↔ reference.gae         ratio  ↔ reference.ratio      clip ↔ reference.clip
    value_loss ↔ reference.value_loss                            total ↔ reference.total
    rnn: the RNN unroll shared by Rollout, Reward, KL and Ratio (reference.rnn)
"""

from sheets import clip, config, gae, guide, kl, ratio, reward, rollout, total, value_loss

# Formula-bearing sheets in workbook order, each with `SHEET`, `TITLE`, `SUMMARY`, `LABELS`, `formulas(layout)`.
MODULES = (guide, config, rollout, reward, kl, gae, ratio, clip, value_loss, total)
