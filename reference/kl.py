"""Stage `KL`: how far the rollout policy has drifted from the SFT model, priced into the reward.

    d_t   = ℓ_old_t - ℓ_ref_t
    k1_t  = d_t                        (TRL/OpenRLHF/verl default; unbiased, can be negative)
    k2_t  = ½ d_t²                     (TRL-legacy "mse", verl "mse"; ≥ 0, biased)
    k3_t  = e^{-d_t} - 1 + d_t         (TRL/OpenRLHF "k3", verl "low_var_kl"; ≥ 0, unbiased)
    kl_token_t       = k_t · m_t        (the chosen estimator; 0 after EOS, as TRL's INVALID_LOGPROB gives)
    non_score_reward = -β · kl_token
    rewards_t        = non_score_reward_t + s · last_t     (shaped reward, score at the last real token)

The KL here is θ_old vs θ_ref: computed once per batch, no gradient (PPO_MATH.md §4).
"""

from __future__ import annotations

import numpy as np


def kl_estimators(logp: np.ndarray, logp_ref: np.ndarray) -> dict[str, np.ndarray]:
    """k1, k2, k3 of KL(π‖π_ref) per token, side by side (no clamps: TRL's numerics)."""
    d = logp - logp_ref
    return {"k1": d, "k2": 0.5 * d**2, "k3": np.exp(-d) - 1.0 + d}


def kl_abs(logp: np.ndarray, logp_ref: np.ndarray) -> np.ndarray:
    """TRL-legacy `kl_penalty="abs"`: |d|."""
    return np.abs(logp - logp_ref)


def kl_full(logp_all: np.ndarray, logp_ref_all: np.ndarray) -> np.ndarray:
    """Exact KL(π‖π_ref) per token over the whole vocabulary; log-probs (..., V) -> (...)."""
    return (np.exp(logp_all) * (logp_all - logp_ref_all)).sum(axis=-1)


def shaped_rewards(score: np.ndarray, kl_token: np.ndarray, beta: float, at: np.ndarray) -> dict[str, np.ndarray]:
    """r_t = -β·k_t + s·1[t = a]; score (B,), kl_token and at (B, T)."""
    non_score = -beta * kl_token
    return {"non_score_reward": non_score, "rewards": non_score + score[:, None] * at}
