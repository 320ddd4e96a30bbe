"""Worksheet `Weights`: the parameters of every model, as inputs (reference.rnn's RNNWeights and ValueHead).

No formulas: θ_ref, θ_old, θ, the critics φ_old and φ and the reward model are yellow cells every
formula reads absolutely (`Weights!$B$7`), so editing one re-flows the whole workbook.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from blueprint.blocks import Model
from sheets._common import Formulas

if TYPE_CHECKING:
    from blueprint.layout import Layout

SHEET = "Weights"
TITLE = "Weights — θ_ref, θ_old, θ, the critics φ_old and φ, and the reward model (inputs: edit them)"
SUMMARY = "h = tanh(W_xh[:, x] + W_hh·h + b_h);  z = W_hy·h + b_y;  V = w_v·h + b_v.  Rows of W_xh are hidden units, columns tokens."
TAB = "#BF9000"  # tab colour: its phase (rollout, reward and KL, advantages, losses)
WHY = "the four models share one architecture and differ only in these numbers"  # a block's note says this when it has none of its own
BLOCKS = (
    Model("ref", "θ_ref — the frozen SFT model (reference for the KL penalty)", outputs="V"),
    Model("old", "θ_old — the policy that sampled the batch; φ_old its value head", outputs="V", head="value_old"),
    Model("new", "θ — the current policy: θ_old plus seeded noise standing in for a PPO update (see the note); φ its value head",
          outputs="V", head="value_new",
          note="# θ ↳ θ_old plus seeded noise (update_scale), standing in for a PPO update: no step of this loss made it ↳ so "
               "ρ can move against Â, and approx_kl and the clip fraction are far from a healthy run. On an iteration's first "
               "minibatch θ = θ_old: ρ = 1, nothing is clipped, and with whitened Â and token-mean pg_loss = -⟨Â⟩ = 0 while its "
               "gradient is the plain policy gradient. TRL makes num_ppo_epochs = 4 passes over the batch; verl and OpenRLHF one"),
    Model("rm", "reward model — same RNN, one scalar output read at the last real token", outputs=1),
)


def formulas(L: Layout) -> Formulas:
    """None: every cell of Weights is an input."""
    return iter(())
