"""Stage `Config`: the hyperparameters every formula reads by name, and the sheet's derived cells.

    kl_in_reward = 1[kl_placement ∈ {reward, both}]     (the KL sheet prices β·k into the reward)
    kl_in_loss   = 1[kl_placement ∈ {loss, both}]       (the Total sheet adds c_KL·L^KL to the actor's loss)
    use_critic   = 1[advantage_estimator = gae]          (a critic-free estimator trains no critic: no value term, no φ step)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from blueprint.config import Hyper  # the hyperparameters by name, declared once in blueprint/config.py


def config(hp: Hyper) -> dict[str, np.ndarray]:
    """The Config sheet's derived cells (its eos_id, looked up in the vocabulary, is the workbook's: hp already holds it)."""
    kl_in_reward = np.array(float(hp.kl_placement in ("reward", "both")))
    kl_in_loss = np.array(float(hp.kl_placement in ("loss", "both")))
    use_critic = np.array(float(hp.advantage_estimator == "gae"))
    return {"kl_in_reward": kl_in_reward, "kl_in_loss": kl_in_loss, "use_critic": use_critic}
