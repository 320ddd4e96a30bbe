"""Stage `Total`: the loss PPO descends, and the numbers people watch while it trains.

    entropy       = agg(H)
    kl_loss_token = k(ℓ_θ, ℓ_ref)·m,  kl_loss = agg(kl_loss_token)   (KL as a loss: verl use_kl_loss, OpenRLHF use_loss;
                    k clamped to ±kl_clamp as the reward's, reference.kl.kl_clamped)
    actor_loss  = pg_loss - c_H·entropy + kl_in_loss·c_KL·kl_loss   (OpenRLHF, verl: the actor's own optimizer step)
    critic_loss = use_critic·vf_loss                             (OpenRLHF, verl: the critic's own optimizer step; 0 without a critic)
    total_loss  = actor_loss + c_v·critic_loss                   (TRL: one loss, one optimizer)
    objective/kl              = mean_b Σ_t kl_token          (TRL)
    objective/non_score_reward = mean_b Σ_t -β·kl_token
    objective/rlhf_reward     = mean_b s + objective/non_score_reward
    part_* = pg_loss, c_v·critic_loss, -c_H·entropy, kl_in_loss·c_KL·kl_loss;   total_check = total_loss - Σ parts
    ctl_kl = mean_b Σ_t k_t (seq-sum: TRL-legacy, OpenAI-2019) or mean_b (Σ_t k_t / n_b) (seq-mean: verl, OpenRLHF)
    β_next = β·(1 + clip(ctl_kl/target - 1, ±kl_ctl_clip)·B/horizon) when adaptive, else β (fixed)

OpenRLHF and verl step a separate critic on critic_loss, so their total_loss is a sum for display, not a
number either framework descends or logs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from reference._common import aggregate, check
from reference.kl import kl_estimate

if TYPE_CHECKING:
    from blueprint.config import Hyper  # the hyperparameters by name, declared once in blueprint/config.py


def total(token_entropy: np.ndarray, logp_new: np.ndarray, logp_ref: np.ndarray, kl_token: np.ndarray, non_score_reward: np.ndarray,
          mask: np.ndarray, n_real: np.ndarray, score: np.ndarray, pg_loss: float, vf_loss: float, kl_in_loss: float,
          hp: Hyper, use_critic: float = 1.0, keep: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """The Total sheet: per-token inputs (B, T), n_real and score (B,), the two losses and kl_in_loss scalars; use_critic
    (Config) 0 under a critic-free estimator, keep (B,) the sequences the losses count (reference.advantage)."""
    entropy_seq_sum, entropy_seq_mean, entropy = aggregate(token_entropy, mask, hp, keep)
    kl_loss_token = kl_estimate(logp_new, logp_ref, hp.kl_loss_estimator, hp) * mask
    kl_seq_sum, kl_seq_mean, kl_loss = aggregate(kl_loss_token, mask, hp, keep)
    actor_loss = pg_loss - hp.ent_coef * entropy + kl_in_loss * hp.kl_loss_coef * kl_loss
    critic_loss = use_critic * vf_loss
    # = actor_loss + c_v·critic_loss as the sheet adds it; summed in TRL's order here, which can differ in the last bit
    total_loss = pg_loss + hp.vf_coef * critic_loss - hp.ent_coef * entropy + kl_in_loss * hp.kl_loss_coef * kl_loss
    kl_sum = kl_token.sum(axis=1).mean()
    non_score_sum = non_score_reward.sum(axis=1).mean()
    score_mean = score.mean()
    rlhf_reward = score_mean + non_score_sum
    part_pg = pg_loss
    part_vf = hp.vf_coef * critic_loss
    part_ent = -hp.ent_coef * entropy
    part_kl = kl_in_loss * hp.kl_loss_coef * kl_loss
    total_check = check(total_loss - (part_pg + part_vf + part_ent + part_kl), hp.check_tol)
    ctl_seq_kl = kl_token.sum(axis=1) / n_real  # kl_token is already masked
    ctl_kl = ctl_seq_kl.mean() if hp.kl_ctl_input == "seq-mean" else kl_sum
    beta_next = (adaptive_kl(hp.beta, ctl_kl, hp.kl_target, hp.kl_horizon, len(kl_token), hp.kl_ctl_clip)
                 if hp.kl_ctl == "adaptive" else hp.beta)
    return {"total_loss": total_loss, "actor_loss": actor_loss, "critic_loss": critic_loss, "entropy_seq_sum": entropy_seq_sum,
            "entropy_seq_mean": entropy_seq_mean, "entropy": entropy, "kl_loss_token": kl_loss_token, "kl_seq_sum": kl_seq_sum,
            "kl_seq_mean": kl_seq_mean, "kl_loss": kl_loss, "part_pg": part_pg, "part_vf": part_vf, "part_ent": part_ent, "part_kl": part_kl,
            "total_check": total_check, "kl_sum": kl_sum, "non_score_sum": non_score_sum, "score_mean": score_mean,
            "rlhf_reward": rlhf_reward, "ctl_seq_kl": ctl_seq_kl, "ctl_kl": ctl_kl, "beta_next": beta_next}


def adaptive_kl(beta: float, kl: float, target: float, horizon: float, n_steps: int, clip: float) -> float:
    """β_next of the adaptive KL controller (OpenAI-2019, TRL-legacy, OpenRLHF, verl): the proportional controller of
    Ziegler et al., fed the batch mean of the per-sequence KL summed over tokens (TRL-legacy, OpenAI-2019: target 6) or
    averaged over them (verl's masked_mean, OpenRLHF: target 0.1); n_steps = B. TRL-new has no controller; OpenRLHF
    and verl default to a fixed β."""
    return float(beta * (1.0 + np.minimum(np.maximum(kl / target - 1.0, -clip), clip) * n_steps / horizon))
