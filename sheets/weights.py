"""Worksheet `Weights`: the parameters of every model (reference.rnn's RNNWeights and ValueHead).

θ_ref, θ_old, the given θ, the critics φ_old and the given φ, and the reward model are yellow inputs
every formula reads absolutely (`Weights!$B$7`), so editing one re-flows the whole workbook. θ and φ
in use are formulas: the given weights, or θ_old and φ_old when theta_init = old (reference.pipeline).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import sheets
from blueprint.blocks import HEAD, PARAMS, Model
from sheets._common import Formulas, Refs

if TYPE_CHECKING:
    from blueprint.layout import Layout

SHEET = "Weights"
TITLE = "Weights — θ_ref, θ_old, the given θ and φ, the critic φ_old, the reward model (inputs: edit them); θ and φ in use"
SUMMARY = "h = tanh(W_xh[:, x] + W_hh·h + b_h);  z = W_hy·h + b_y;  V = w_v·h + b_v.  Rows of W_xh are hidden units, columns tokens."
TAB = "#BF9000"  # tab colour: its phase (rollout, reward and KL, advantages, losses)
WHY = "the four models share one architecture and differ only in these numbers"  # a block's note says this when it has none of its own
BLOCKS = (
    Model("ref", "θ_ref — the frozen SFT model (reference for the KL penalty)", outputs="V"),
    Model("old", "θ_old — the policy that sampled the batch; φ_old its value head", outputs="V", head="phi_old"),
    Model("given", "θ given — θ_old plus seeded noise standing in for earlier minibatches' updates (see the note); φ given its value head",
          outputs="V", head="phi_given",
          note="# θ given ↳ θ_old plus seeded noise (update_scale), standing in for the updates of earlier minibatches: no step "
               "of this loss made it ↳ so ρ can move against Â and the clip fraction is far from a healthy run. Set theta_init = "
               "old on Config for an iteration's first minibatch, θ = θ_old: ρ = 1, nothing is clipped, and the gradient "
               "(Backward) is the plain policy gradient. TRL makes num_ppo_epochs = 4 passes over the batch; verl and OpenRLHF one"),
    Model("theta", "θ, φ — the policy and critic this update starts from: the given weights, or θ_old and φ_old when theta_init = old",
          outputs="V", head="phi", role="formula"),
    Model("rm", "reward model — same RNN, one scalar output read at the last real token", outputs=1),
)


def formulas(L: Layout) -> Formulas:
    """θ and φ in use, cell by cell: IF(theta_init = "old", θ_old's cell, the given cell)."""
    r = Refs(L, SHEET)
    in_use, old, given = (sheets.MODELS[name] for name in ("theta", "old", "given"))
    for param in PARAMS + HEAD:
        for idx in L.block(SHEET, in_use.param(param)).positions:
            yield in_use.param(param), idx, f'=IF(theta_init="old",{r(old.param(param), *idx)},{r(given.param(param), *idx)})'
