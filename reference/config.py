"""Stage `Config`: the hyperparameters every formula reads by name, and the sheet's derived cells.

    kl_in_reward = 1[kl_placement ∈ {reward, both}]     (the KL sheet prices β·k into the reward)
    kl_in_loss   = 1[kl_placement ∈ {loss, both}]       (the Total sheet adds c_KL·L^KL to the actor's loss)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Hyper:
    """The hyperparameters the formulas read (a view of Config, so the reference needs no blueprint import)."""

    tau: float
    eos_id: int
    eos_handling: str
    missing_eos_penalty: float
    missing_eos_score: float
    kl_placement: str
    kl_estimator: str
    beta: float
    kl_loss_estimator: str
    kl_loss_coef: float
    reward_whiten: str
    gamma: float
    lam: float
    adv_whiten: str
    whiten_eps: float
    logratio_clamp: float
    eps: float
    eps_high: float
    dual_clip: float
    eps_v: float
    loss_agg: str
    vf_coef: float
    ent_coef: float
    kl_ctl: str
    kl_ctl_input: str
    kl_target: float
    kl_horizon: float
    kl_ctl_clip: float
    check_tol: float


def config(hp: Hyper) -> dict[str, np.ndarray]:
    """The Config sheet's derived cells (its eos_id, looked up in the vocabulary, is the workbook's: hp already holds it)."""
    kl_in_reward = np.array(float(hp.kl_placement in ("reward", "both")))
    kl_in_loss = np.array(float(hp.kl_placement in ("loss", "both")))
    return {"kl_in_reward": kl_in_reward, "kl_in_loss": kl_in_loss}
