"""Stage `KL`: how far the rollout policy has drifted from the SFT model, priced into the reward.

    d_t   = ℓ_old_t - ℓ_ref_t
    k1_t  = d_t                        (TRL/OpenRLHF/verl default; unbiased, can be negative)
    k2_t  = ½ d_t²                     (TRL-legacy "mse", verl "mse"; ≥ 0, biased)
    k3_t  = e^{-d_t} - 1 + d_t         (TRL/OpenRLHF "k3", verl "low_var_kl"; ≥ 0, unbiased)
    kl_token_t       = k_t · m_t        (the chosen estimator; 0 after EOS, as TRL's INVALID_LOGPROB gives)
    non_score_reward = -β · in_reward · kl_token          (in_reward: kl_placement is "reward" or "both")
    rewards_raw_t    = non_score_reward_t + s · last_t     (shaped reward, score at the last real token)
    rewards_t        = ((r - μ_r)/√(var_r + eps) + μ_r)·m  if reward_whiten = "on", else rewards_raw
                       (μ_r, var_r: masked mean and unbiased variance; shift_mean=False as TRL and OpenAI-2019)

The KL here is θ_old vs θ_ref: computed once per batch, no gradient (docs/ppo_math.md §4).
"""

from __future__ import annotations

import numpy as np

from reference.gae import masked_whiten


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


def shaped_rewards(score: np.ndarray, kl_token: np.ndarray, beta: float, at: np.ndarray, in_reward: float = 1.0) -> dict[str, np.ndarray]:
    """r_t = -β·k_t + s·1[t = a]; score (B,), kl_token and at (B, T); in_reward 0 drops the KL term."""
    non_score = -beta * in_reward * kl_token
    return {"non_score_reward": non_score, "rewards": non_score + score[:, None] * at}


def whiten_rewards(rewards: np.ndarray, mask: np.ndarray, eps: float, on: bool) -> dict[str, np.ndarray]:
    """Scale the rewards to unit variance over real tokens, keeping their mean (shift_mean=False)."""
    st = masked_whiten(rewards, mask, eps=eps, prefix="reward")
    mean, var = st["reward_mean"], st["reward_var"]
    out = ((rewards - mean) / np.sqrt(var + eps) + mean) * mask if on else rewards
    return {"reward_mean": mean, "reward_dev2": st["reward_dev2"], "reward_var": var, "rewards": out}


def placement(kl_placement: str) -> tuple[float, float]:
    """(in_reward, in_loss) flags of a kl_placement switch."""
    return float(kl_placement in ("reward", "both")), float(kl_placement in ("loss", "both"))
