"""Stage `After Step`: θ' and φ' re-read the same rollout; the loss they reach, against the first-order prediction.

    x, h, logits, zmax, exp, sumexp, lse, p = θ' teacher-forced on prompt + response (as Ratio's unroll)
    logp_next_t         = z'_t[y_t]/τ - logsumexp(z'_t/τ);   token_entropy_next_t = H'_t
    logratio_next_t     = clamp(logp_next_t - ℓ_old_t, ±c)·m_t;   ratio_next_t = exp(logratio_next_t)
    pg_losses_next_t    = Clip's pg_losses with ratio_next and the same Â;   pg_clipped_next_t = 1[L2 > L1]
    pg_clipfrac_next    = Σ pg_clipped_next·m / Σ m;   pg_loss_next = agg(pg_losses_next)
    values_next_t       = w'_v·h_v + b'_v,   h_v = θ''s h (shared) or Ratio's h (detached: φ's features are θ's states)
    vf_losses_next_t    = Value Loss's vf_losses with values_next and the same R, V_old;   vf_loss_next = ½ agg(vf_losses_next) over m_v
    entropy_next        = agg(token_entropy_next)
    kl_loss_token_next_t = k(logp_next_t, ℓ_ref_t)·m_t;   kl_loss_next = agg(kl_loss_token_next)
    total_loss_next     = pg_loss_next + c_v·use_critic·vf_loss_next - c_H·entropy_next + κ·c_KL·kl_loss_next
    d_total_loss        = total_loss_next - total_loss;   d_total_loss_pred = Σ_p Σ grad.<p>·delta.<p>   (all seven parameters)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from reference._common import aggregate
from reference.backward import PHI, THETA
from reference.clip import clip
from reference.kl import kl_estimate
from reference.ratio import importance_ratio
from reference.rnn import RNNWeights, ValueHead, entropy, teacher_forced, token_logprob, value
from reference.value_loss import clipped_value_loss

if TYPE_CHECKING:
    from blueprint.config import Hyper  # the hyperparameters by name, declared once in blueprint/config.py


def after_step(theta_next: RNNWeights, phi_next: ValueHead, prompts: np.ndarray, tokens: np.ndarray, mask: np.ndarray,
               logp_old: np.ndarray, logp_ref: np.ndarray, adv: np.ndarray, returns: np.ndarray, values_old: np.ndarray,
               h_ratio: np.ndarray, total_loss: float, grads: dict[str, np.ndarray], deltas: dict[str, np.ndarray], kl_in_loss: float,
               hp: Hyper, use_critic: float = 1.0, keep: np.ndarray | None = None, mask_v: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """The After Step sheet: θ' (Step's theta_next.*), φ' (phi_next.*); h_ratio (B, N, H) Ratio's h; grads and deltas the
    Backward and Step sheets (grad.<p>, delta.<p>); total_loss the Total sheet's; mask_v Reward's value mask (None: mask)."""
    unroll = teacher_forced(theta_next, prompts, tokens, hp.tau, probs=True)
    logp_next = token_logprob(unroll["logits"], unroll["lse"], tokens, hp.tau)
    token_entropy_next = entropy(unroll["logits"], unroll["p"], unroll["lse"], hp.tau)
    ir = importance_ratio(logp_next, logp_old, mask, hp)
    cl = clip(adv, ir["ratio"], mask, hp, keep)
    h_v = unroll["h"] if hp.value_trunk == "shared" else h_ratio
    values_next = value(phi_next, h_v[:, -mask.shape[1] :])  # (B, T)
    vl = clipped_value_loss(values_next, values_old, returns, mask if mask_v is None else mask_v, hp, keep)
    entropy_next_seq_sum, entropy_next_seq_mean, entropy_next = aggregate(token_entropy_next, mask, hp, keep)
    kl_loss_token_next = kl_estimate(logp_next, logp_ref, hp.kl_loss_estimator, hp) * mask
    kl_next_seq_sum, kl_next_seq_mean, kl_loss_next = aggregate(kl_loss_token_next, mask, hp, keep)
    total_loss_next = (cl["pg_loss"] + hp.vf_coef * use_critic * vl["vf_loss"] - hp.ent_coef * entropy_next
                       + kl_in_loss * hp.kl_loss_coef * kl_loss_next)
    d_total_loss = total_loss_next - total_loss
    d_total_loss_pred = sum((grads[f"grad.{k}"] * deltas[f"delta.{k}"]).sum() for k in (*THETA, *PHI))
    return {**unroll, "logp_next": logp_next, "token_entropy_next": token_entropy_next, "logratio_next": ir["logratio"],
            "ratio_next": ir["ratio"], "pg_losses_next": cl["pg_losses"],
            "pg_clipped_next": cl["pg_clipped"], "pg_clipfrac_next": cl["pg_clipfrac"],
            "pg_next_seq_sum": cl["pg_seq_sum"], "pg_next_seq_mean": cl["pg_seq_mean"], "pg_loss_next": cl["pg_loss"],
            "values_next": values_next, "vf_losses_next": vl["vf_losses"], "vf_next_seq_sum": vl["vf_seq_sum"],
            "vf_next_seq_mean": vl["vf_seq_mean"], "vf_loss_next": vl["vf_loss"], "entropy_next_seq_sum": entropy_next_seq_sum,
            "entropy_next_seq_mean": entropy_next_seq_mean, "entropy_next": entropy_next, "kl_loss_token_next": kl_loss_token_next,
            "kl_next_seq_sum": kl_next_seq_sum, "kl_next_seq_mean": kl_next_seq_mean, "kl_loss_next": kl_loss_next,
            "total_loss_next": np.array(total_loss_next), "d_total_loss": np.array(d_total_loss),
            "d_total_loss_pred": np.array(d_total_loss_pred)}
