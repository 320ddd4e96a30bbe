"""Stage `Value Loss`: the current critic φ regressed on returns from the old critic, clipped.

    V_θ_t      = w_v^φ · h^θ_t + b_v^φ                 (on the Ratio sheet's hidden states of θ)
    Vclip_t    = min(max(V_θ_t, V_old_t - ε_v), V_old_t + ε_v)
    vf_losses1 = (V_θ - R)²,  vf_losses2 = (Vclip - R)²
    vf_losses  = max(vf_losses1, vf_losses2)           (pessimistic, as baselines PPO2)
    vf_clipped = 1[vf_losses2 > vf_losses1]
    vf_loss    = ½ agg(vf_losses) over m_v             (token-mean ½ Σ vf_losses·m_v / Σ m_v, or a seq-mean mode; m_v Reward's
                                                        value mask: m, or up to e + 1 with score_slot = after_eos, TRL's
                                                        masked_mean(vf_loss_max, ~padding_mask_p1))
    vf_agg_w   = the aggregation weights over m_v (Clip's agg_w with m_v): ½ Σ vf_agg_w·vf_losses = vf_loss (vf_agg_check)
    vf_clipfrac = Σ vf_clipped·m_v / Σ m_v
    critic_status = in use (advantage_estimator = gae) or unused (a critic-free estimator: Total adds no value term)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from reference._common import agg_weights, aggregate, check, masked_mean
from reference.rnn import ValueHead, value

if TYPE_CHECKING:
    from blueprint.config import Hyper  # the hyperparameters by name, declared once in blueprint/config.py


CRITIC_STATUS = ("in use", "unused")  # the label says when; Total and Step show what it changes


def critic_status(hp: Hyper) -> np.ndarray:
    """The sheet's first line: whether the critic plays any part (Config's use_critic)."""
    return np.array(CRITIC_STATUS[hp.advantage_estimator != "gae"], dtype=object)


def value_loss(value_new: ValueHead, h: np.ndarray, values_old: np.ndarray, returns: np.ndarray, mask_v: np.ndarray,
               hp: Hyper, keep: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """The Value Loss sheet: φ on θ's hidden states h (B, N, H), whose last T predict y_0..y_{T-1}; the rest (B, T), averaged
    over mask_v (Reward's value mask)."""
    values_new = value(value_new, h[:, -mask_v.shape[1] :])
    vl = clipped_value_loss(values_new, values_old, returns, mask_v, hp, keep)
    vf_agg_w = agg_weights(mask_v, hp, keep)
    vf_agg_check = check(0.5 * (vf_agg_w * vl["vf_losses"]).sum() - vl["vf_loss"], hp.check_tol)
    return {"critic_status": critic_status(hp), "values_new": values_new, **vl, "vf_agg_w": vf_agg_w, "vf_agg_check": vf_agg_check}


def clipped_value_loss(values_new: np.ndarray, values_old: np.ndarray, returns: np.ndarray, mask: np.ndarray,
                       hp: Hyper, keep: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """The Value Loss sheet from V_θ on (the golden case holds values, not weights): clipped losses and half their aggregate."""
    values_clipped = np.minimum(np.maximum(values_new, values_old - hp.eps_v), values_old + hp.eps_v)
    vf_losses1 = (values_new - returns) ** 2
    vf_losses2 = (values_clipped - returns) ** 2
    vf_losses = np.maximum(vf_losses1, vf_losses2)
    vf_clipped = (vf_losses2 > vf_losses1).astype(float)
    vf_seq_sum, vf_seq_mean, vf_agg = aggregate(vf_losses, mask, hp, keep)
    vf_loss = 0.5 * vf_agg
    vf_clipfrac = masked_mean(vf_clipped, mask)
    return {"values_clipped": values_clipped, "vf_losses1": vf_losses1, "vf_losses2": vf_losses2, "vf_losses": vf_losses,
            "vf_clipped": vf_clipped, "vf_seq_sum": vf_seq_sum, "vf_seq_mean": vf_seq_mean, "vf_loss": vf_loss, "vf_clipfrac": vf_clipfrac}
