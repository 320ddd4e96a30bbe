"""Stage `KL`: θ_ref re-reads the rollout; how far θ_old has drifted from it is priced into the reward.

    ℓ_ref_t = z^ref_t[y_t]/τ - logsumexp(z^ref_t/τ)     (θ_ref teacher-forced on prompt + response)
    d_t   = ℓ_old_t - ℓ_ref_t
    k1_t  = d_t                        (TRL/OpenRLHF/verl default; unbiased, can be negative)
    k2_t  = ½ d_t²                     (TRL-legacy "mse", verl "mse"; ≥ 0, biased)
    k3_t  = e^{-d_t} - 1 + d_t         (TRL/OpenRLHF "k3", verl "low_var_kl"; ≥ 0, unbiased)
    kl_token_t       = clamp(k_t, ±kl_clamp) · m_t   (the chosen estimator; 0 after EOS, as TRL's INVALID_LOGPROB gives;
                       clamped when kl_clamp > 0 and kl_clamp_scope is "all" or the estimator is k3)
    non_score_reward = -β · kl_in_reward · kl_token       (kl_in_reward: kl_placement is "reward" or "both")
    rewards_raw_t    = non_score_reward_t + s · at_t       (shaped reward, score on its slot: Reward's score_at)
    rewards_t        = ((r - μ_r)/√(var_r + eps) + μ_r)·m_v  if reward_whiten = "on", else rewards_raw
                       (μ_r, var_r: mean and unbiased variance over m_v, Reward's value mask: m, or up to e + 1 with
                       score_slot = after_eos, TRL's ~padding_mask_p1; shift_mean=False as TRL and OpenAI-2019;
                       √max(var_r, eps) when whiten_eps_mode = "max")

The KL here is θ_old vs θ_ref: computed once per batch, no gradient (docs/ppo_math.md §4).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from reference._common import masked_moments, whiten_std
from reference.rnn import RNNWeights, teacher_forced, token_logprob

if TYPE_CHECKING:
    from blueprint.config import Hyper  # the hyperparameters by name, declared once in blueprint/config.py


def kl(ref: RNNWeights, prompts: np.ndarray, tokens: np.ndarray, logp_old: np.ndarray, mask: np.ndarray, score: np.ndarray,
       score_at: np.ndarray, kl_in_reward: float, hp: Hyper, mask_v: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """The KL sheet: θ_ref's unroll and ℓ_ref, then the shaped rewards."""
    unroll = teacher_forced(ref, prompts, tokens, hp.tau, probs=False)
    logp_ref = token_logprob(unroll["logits"], unroll["lse"], tokens, hp.tau)
    return {**unroll, "logp_ref": logp_ref, **shaped_rewards(logp_old, logp_ref, mask, score, score_at, kl_in_reward, hp, mask_v)}


def shaped_rewards(logp_old: np.ndarray, logp_ref: np.ndarray, mask: np.ndarray, score: np.ndarray, score_at: np.ndarray,
                   kl_in_reward: float, hp: Hyper, mask_v: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """The KL sheet from the log-probs on (the golden case holds log-probs, not weights): score (B,), the rest (B, T);
    score_at and mask_v Reward's (mask_v None: the real tokens, score_slot = last)."""
    mask_v = mask if mask_v is None else mask_v
    k = kl_estimators(logp_old, logp_ref)
    kl_token = kl_clamped(k[hp.kl_estimator], hp.kl_estimator, hp) * mask  # 0 at e + 1 too: TRL's INVALID_LOGPROB on both sides
    non_score_reward = -hp.beta * kl_in_reward * kl_token
    rewards_raw = non_score_reward + score[:, None] * score_at
    reward_mean, reward_dev2, reward_var = masked_moments(rewards_raw, mask_v, max(mask_v.sum() - 1.0, 1.0))
    whitened = ((rewards_raw - reward_mean) / whiten_std(reward_var, hp) + reward_mean) * mask_v
    rewards = whitened if hp.reward_whiten == "on" else rewards_raw
    return {**k, "kl_token": kl_token, "non_score_reward": non_score_reward, "rewards_raw": rewards_raw, "reward_mean": reward_mean,
            "reward_dev2": reward_dev2, "reward_var": reward_var, "rewards": rewards}


def kl_estimators(logp: np.ndarray, logp_ref: np.ndarray) -> dict[str, np.ndarray]:
    """k1, k2, k3 of KL(π‖π_ref) per token, side by side (unclamped: kl_clamped clamps the chosen one)."""
    d = logp - logp_ref
    return {"k1": d, "k2": 0.5 * d**2, "k3": np.exp(-d) - 1.0 + d}


def kl_clamps(estimator: str, hp: Hyper) -> bool:
    """Whether kl_clamp clamps this estimator: it is > 0 and its scope is all (OpenRLHF) or k3 is the estimator (verl)."""
    return hp.kl_clamp > 0 and (hp.kl_clamp_scope == "all" or estimator == "k3")


def kl_clamped(k: np.ndarray, estimator: str, hp: Hyper) -> np.ndarray:
    """The chosen estimator, clamped to ±kl_clamp where kl_clamps says (OpenRLHF compute_approx_kl, verl low_var_kl: 10)."""
    return np.clip(k, -hp.kl_clamp, hp.kl_clamp) if kl_clamps(estimator, hp) else k


def kl_estimate(logp: np.ndarray, logp_ref: np.ndarray, estimator: str, hp: Hyper) -> np.ndarray:
    """One estimator of KL(π‖π_ref) per token, clamped as kl_clamp says (the KL loss, here and after the step)."""
    return kl_clamped(kl_estimators(logp, logp_ref)[estimator], estimator, hp)

