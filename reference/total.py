"""Stage `Total`: the loss PPO descends, and the numbers people watch while it trains.

    kl_loss_token = k(ℓ_θ, ℓ_ref)·m,  kl_loss = agg(kl_loss_token)   (KL as a loss: verl use_kl_loss, OpenRLHF use_loss)
    actor_loss  = pg_loss - c_H·entropy + in_loss·c_KL·kl_loss   (OpenRLHF, verl: the actor's own optimizer step)
    critic_loss = vf_loss                                        (OpenRLHF, verl: the critic's own optimizer step)
    total_loss  = actor_loss + c_v·critic_loss                   (TRL: one loss, one optimizer)
    entropy    = agg(H)
    objective/kl              = mean_b Σ_t kl_token          (TRL)
    objective/non_score_reward = mean_b Σ_t -β·kl_token
    objective/rlhf_reward     = mean_b s + objective/non_score_reward
    ctl_kl = mean_b Σ_t k_t (seq-sum: TRL-legacy, OpenAI-2019) or mean_b (Σ_t k_t / n_b) (seq-mean: verl, OpenRLHF)
    β_next = β·(1 + clip(ctl_kl/target - 1, ±kl_ctl_clip)·B/horizon) when adaptive, else β (fixed)
"""

from __future__ import annotations

import numpy as np

from reference.clip import agg_parts
from reference.kl import kl_estimators


def total_loss(pg_loss: float, vf_loss: float, entropy_mean: float, vf_coef: float, ent_coef: float,
               kl_loss: float = 0.0, kl_in_loss: float = 0.0, kl_loss_coef: float = 0.0) -> np.ndarray:
    """L = L^PG + c_v·L^VF - c_H·H + in_loss·c_KL·L^KL."""
    return np.array(pg_loss + vf_coef * vf_loss - ent_coef * entropy_mean + kl_in_loss * kl_loss_coef * kl_loss)


def split_losses(pg_loss: float, vf_loss: float, entropy_mean: float, vf_coef: float, ent_coef: float,
                 kl_loss: float, kl_in_loss: float, kl_loss_coef: float) -> dict[str, np.ndarray]:
    """The actor's loss, the critic's, and TRL's one total of both: OpenRLHF and verl step a separate critic on
    critic_loss, so their total_loss is a sum for display, not a number either framework descends or logs."""
    return {"actor_loss": np.array(pg_loss - ent_coef * entropy_mean + kl_in_loss * kl_loss_coef * kl_loss),
            "critic_loss": np.array(vf_loss),
            "total_loss": total_loss(pg_loss, vf_loss, entropy_mean, vf_coef, ent_coef, kl_loss, kl_in_loss, kl_loss_coef)}


def kl_controller(beta: float, kl_token: np.ndarray, n_real: np.ndarray, kind: str, feed: str, target: float, horizon: float,
                  clip: float) -> dict[str, np.ndarray]:
    """β for the next iteration. Adaptive: the proportional controller of Ziegler et al., fed the batch mean of the per-sequence
    KL summed over tokens (TRL-legacy, OpenAI-2019: target 6) or averaged over them (verl's masked_mean, OpenRLHF: target
    0.1); n_steps = B. Fixed: β stays (TRL-new has no controller; OpenRLHF and verl default to fixed)."""
    seq_sum = kl_token.sum(axis=1)  # (B,) kl_token is already masked
    seq_mean = seq_sum / n_real  # (B,)
    kl = float((seq_mean if feed == "seq-mean" else seq_sum).mean())
    beta_next = adaptive_kl(beta, kl, target, horizon, len(kl_token), clip) if kind == "adaptive" else beta
    return {"ctl_seq_kl": seq_mean, "ctl_kl": np.array(kl), "beta_next": np.array(beta_next)}


def kl_loss(logp_new: np.ndarray, logp_ref: np.ndarray, mask: np.ndarray, estimator: str, agg: str) -> dict[str, np.ndarray]:
    """KL(θ‖θ_ref) per token with the loss's own estimator, and its aggregate."""
    token = kl_estimators(logp_new, logp_ref)[estimator] * mask
    return {"kl_loss_token": token, **agg_parts("kl", token, mask, agg)}


def masked_mean(x: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """⟨x⟩_m = Σ x·m / Σ m."""
    return np.array((x * mask).sum() / mask.sum())


def reward_objectives(score: np.ndarray, kl_token: np.ndarray, non_score_reward: np.ndarray) -> dict[str, np.ndarray]:
    """TRL-new's `objective/*` metrics over the batch."""
    nsr = non_score_reward.sum(axis=1).mean()
    return {
        "kl_sum": np.array(kl_token.sum(axis=1).mean()),
        "non_score_sum": np.array(nsr),
        "score_mean": np.array(score.mean()),
        "rlhf_reward": np.array(score.mean() + nsr),
    }


def explained_variance(returns: np.ndarray, values: np.ndarray, mask: np.ndarray, kind: str = "verl") -> float:
    """1 - Var(R - V)/Var(R) over masked tokens, as each codebase writes it (docs/ppo_math.md §8)."""
    r, v = returns[mask > 0], values[mask > 0]
    if kind == "verl":
        return float(1.0 - np.var(r - v, ddof=1) / (np.var(r, ddof=1) + 1e-5))
    if kind == "cleanrl":
        return float(1.0 - np.var(r - v) / np.var(r))
    if kind == "trl_legacy":  # uses the CURRENT value prediction and a mean squared error
        return float(1.0 - np.mean((v - r) ** 2) / np.var(r, ddof=1))
    raise ValueError(f"explained variance kind {kind!r}")


def adaptive_kl(beta: float, kl: float, target: float, horizon: float, n_steps: int, clip: float = 0.2) -> float:
    """β_next of the adaptive KL controller (OpenAI-2019, TRL-legacy, OpenRLHF, verl)."""
    return float(beta * (1.0 + np.minimum(np.maximum(kl / target - 1.0, -clip), clip) * n_steps / horizon))
