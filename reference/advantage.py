"""Stage `Advantage`: the advantage Clip uses — GAE's, or a critic-free estimator's over the G responses to each prompt.

    s_b     = Σ_t r_t·m_v_t                            the outcome: the shaped reward summed (verl `token_level_rewards.sum(-1)`;
                                                       m_v Reward's value mask, so a score on e + 1 counts: score_slot = after_eos)
    n_g     = #{b' : g_b' = g_b}                       responses to the same prompt (the group column on Rollout)
    μ_g     = Σ_{g_b' = g_b} s_b' / n_g                0 for a group of one (verl)
    σ_g     = √(Σ_{g_b' = g_b} (s_b' - μ_g)² / (n_g - 1))      unbiased, as torch.std; 1 for a group of one (verl)
    adv_seq = grpo:    (s_b - μ_g)/(σ_g + grpo_eps)
              dr_grpo: s_b - μ_g                        (Dr. GRPO: no division by the std)
              rloo:    s_b - (Σ_g s - s_b)/(n_g - 1)    (the mean of the others; s_b for a group of one)
    rewards_b_t = r_t - at_t·μ_g  (reinforce_pp_baseline; at_t the score's slot, Reward's score_at), r_t otherwise
    ret_t   = rewards_b_t + γ·ret_{t+1}                REINFORCE++: the discounted return of the shaped reward
    ret_whitened = (ret - μ)/√(var + eps)·m             over the batch's real tokens, as GAE's advantages (adv_whiten, whiten_eps_mode)
    adv_t   = gae: GAE's Â;  grpo | dr_grpo | rloo: adv_seq·m;  reinforce_pp(_baseline): ret_whitened
    g_same_b    = #{b' : g_b' = g_b, s_b' = s_b}    (exact equality: COUNTIFS)
    no_signal_b = 1[n_g > 1 and g_same_b = n_g]   every s of the group equal (DAPO: σ_g = 0, the group teaches nothing)
    keep_b  = 1 - no_signal_b if dynamic_sampling = on, else 1;  n_loss_seqs = max(Σ keep, 1);  n_loss_tokens = max(Σ keep·n_b, 1)
    n_loss_tokens_v = max(Σ keep·n_v_b, 1)             the slots the value loss averages over (n_v_b = Σ_t m_v_t)

A group of one is defined as verl defines it (μ = 0, σ = 1): grpo gives s/(1 + ε), rloo and dr_grpo give s.
`keep` weighs every loss's aggregation (reference._common.aggregate): a dropped group counts nowhere.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from reference._common import loss_counts, masked_moments, whiten_denom, whiten_std

if TYPE_CHECKING:
    from blueprint.config import Hyper  # the hyperparameters by name, declared once in blueprint/config.py

def group_stats(s: np.ndarray, group: np.ndarray) -> dict[str, np.ndarray]:
    """Per response (B,): its group's size, Σ s, mean, (s - mean)², std and how many of the group score exactly s."""
    same = group[:, None] == group[None, :]  # (B, B): b' answers the same prompt as b
    g_n = same.sum(axis=1).astype(float)
    g_sum = same @ s
    g_mean = np.where(g_n > 1, g_sum / g_n, 0.0)
    g_dev2 = (s - g_mean) ** 2
    g_std = np.where(g_n > 1, np.sqrt(same @ g_dev2 / np.maximum(g_n - 1, 1)), 1.0)
    g_same = (same & (s[None, :] == s[:, None])).sum(axis=1).astype(float)
    return {"g_n": g_n, "g_sum": g_sum, "g_mean": g_mean, "g_dev2": g_dev2, "g_std": g_std, "g_same": g_same}


def outcome_advantage(s: np.ndarray, g: dict[str, np.ndarray], estimator: str, grpo_eps: float) -> np.ndarray:
    """One advantage per response (B,): GRPO, Dr. GRPO or RLOO (0 for the token-level estimators, which do not read it)."""
    if estimator == "grpo":
        return (s - g["g_mean"]) / (g["g_std"] + grpo_eps)
    if estimator == "dr_grpo":
        return s - g["g_mean"]
    if estimator == "rloo":
        return np.where(g["g_n"] > 1, s - (g["g_sum"] - s) / np.maximum(g["g_n"] - 1, 1), s)
    return np.zeros_like(s)


def discounted_returns(rewards: np.ndarray, gamma: float) -> np.ndarray:
    """ret_t = r_t + γ·ret_{t+1}, right to left, ret_T = 0; rewards (B, T), 0 after EOS, so the return is too."""
    ret = np.zeros_like(rewards)
    for t in reversed(range(rewards.shape[1])):
        ret[:, t] = rewards[:, t] + (gamma * ret[:, t + 1] if t + 1 < rewards.shape[1] else 0.0)
    return ret


def advantage(rewards: np.ndarray, score_at: np.ndarray, mask: np.ndarray, group: np.ndarray, adv_gae: np.ndarray, hp: Hyper,
              mask_v: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """The Advantage sheet: rewards, score_at, mask, adv_gae (B, T) (KL, Reward, Rollout, GAE), group (B,); mask_v Reward's
    (None: mask)."""
    mask_v = mask if mask_v is None else mask_v
    s = (rewards * mask_v).sum(axis=1)
    g = group_stats(s, group)
    adv_seq = outcome_advantage(s, g, hp.advantage_estimator, hp.grpo_eps)
    baseline = g["g_mean"] if hp.advantage_estimator == "reinforce_pp_baseline" else np.zeros_like(s)
    rewards_b = rewards - score_at * baseline[:, None]
    ret = discounted_returns(rewards_b, hp.gamma)
    ret_mean, ret_dev2, ret_var = masked_moments(ret, mask, whiten_denom(mask, hp))
    ret_whitened = ret * mask if hp.adv_whiten == "off" else (ret - ret_mean) / whiten_std(ret_var, hp) * mask
    adv = {"gae": adv_gae, "reinforce_pp": ret_whitened, "reinforce_pp_baseline": ret_whitened}.get(hp.advantage_estimator,
                                                                                                       adv_seq[:, None] * mask)
    no_signal = ((g["g_n"] > 1) & (g["g_same"] == g["g_n"])).astype(float)
    keep = 1.0 - no_signal if hp.dynamic_sampling == "on" else np.ones_like(s)
    n_loss_seqs, n_loss_tokens = loss_counts(mask, keep)
    return {"outcome": s, **g, "adv_seq": adv_seq, "rewards_b": rewards_b, "ret": ret, "ret_mean": ret_mean, "ret_dev2": ret_dev2,
            "ret_var": ret_var, "ret_whitened": ret_whitened, "adv": adv, "no_signal": no_signal, "keep": keep,
            "n_no_signal": np.array(no_signal.sum()), "n_loss_seqs": np.array(n_loss_seqs), "n_loss_tokens": np.array(n_loss_tokens),
            "n_loss_tokens_v": np.array(loss_counts(mask_v, keep)[1])}
