"""Formulas the workbook does not use: other frameworks' variants and the analytic gradients.

Only the tests call these (tests/test_reference_golden.py, tests/test_reference_properties.py): they hold
the golden case's numbers for what TRL, OpenRLHF, verl and CleanRL would compute where their choice is not
the workbook's (docs/ppo_math.md), and for the policy and value gradients of the next step. The stages
compute the workbook's own choices; nothing here is a workbook cell.
"""

from __future__ import annotations

import numpy as np

from reference._common import masked_moments, prev_step
from reference.reward import last_token
from reference.rnn import softmax_parts


def log_softmax(z: np.ndarray, tau: float = 1.0) -> np.ndarray:
    """log p over the last axis, for callers that hold logits only (the golden case)."""
    return z / tau - softmax_parts(z, tau)["lse"][..., None]


def kl_abs(logp: np.ndarray, logp_ref: np.ndarray) -> np.ndarray:
    """TRL-legacy `kl_penalty="abs"`: |d|."""
    return np.abs(logp - logp_ref)


def kl_full(logp_all: np.ndarray, logp_ref_all: np.ndarray) -> np.ndarray:
    """Exact KL(π‖π_ref) per token over the whole vocabulary; log-probs (..., V) -> (...)."""
    return (np.exp(logp_all) * (logp_all - logp_ref_all)).sum(axis=-1)


def score_after_eos(mask: np.ndarray) -> np.ndarray:
    """TRL-new's score slot: e+1 if it fits in the window, else e (`sequence_lengths_p1`); one-hot (B, T)."""
    last = last_token(mask)
    return np.where(last[:, -1:] == 1, last, prev_step(last))


def whiten_openrlhf(x: np.ndarray, mask: np.ndarray, eps: float = 1e-8) -> np.ndarray:
    """OpenRLHF: population variance, `rsqrt(clamp(var, eps))`."""
    mean, _, var = masked_moments(x, mask, mask.sum())
    return (x - mean) / np.sqrt(np.maximum(var, eps)) * mask


def whiten_verl(x: np.ndarray, mask: np.ndarray, eps: float = 1e-8) -> np.ndarray:
    """verl `masked_whiten`: its masked mean divides by Σ m + 1e-8; unbiased variance, eps inside the sqrt
    (verl also puts 1e-8 into the variance's denominator: a 1e-8 relative difference, not modelled)."""
    n = mask.sum()
    mean = (x * mask).sum() / (n + 1e-8)
    var = ((x - mean) ** 2 * mask).sum() / max(n - 1.0, 1.0)
    return (x - mean) / np.sqrt(var + eps) * mask


def approx_kl_k3(logratio: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """CleanRL `approx_kl = mean((ρ - 1) - log ρ)`."""
    return (((np.exp(logratio) - 1.0) - logratio) * mask).sum() / mask.sum()


def explained_variance(returns: np.ndarray, values: np.ndarray, mask: np.ndarray, kind: str) -> float:
    """1 - Var(R - V)/Var(R) over masked tokens, as each codebase writes it (docs/ppo_math.md §8)."""
    r, v = returns[mask > 0], values[mask > 0]
    if kind == "verl":
        return float(1.0 - np.var(r - v, ddof=1) / (np.var(r, ddof=1) + 1e-5))
    if kind == "cleanrl":
        return float(1.0 - np.var(r - v) / np.var(r))
    if kind == "trl_legacy":  # uses the CURRENT value prediction and a mean squared error
        return float(1.0 - np.mean((v - r) ** 2) / np.var(r, ddof=1))
    raise ValueError(f"explained variance kind {kind!r}")


def pg_loss_grad_logp(adv: np.ndarray, ratio: np.ndarray, mask: np.ndarray, eps: float) -> np.ndarray:
    """Analytic ∂pg_loss/∂ℓ_θ (B, T) of the symmetric clip, token-mean: -Â ρ 1[L1 ≥ L2] m / Σ m
    (clipped tokens get no gradient)."""
    l1, l2 = -adv * ratio, -adv * np.clip(ratio, 1.0 - eps, 1.0 + eps)
    return -adv * ratio * (l1 >= l2) * mask / mask.sum()


def vf_loss_grad_values(values_new: np.ndarray, values_old: np.ndarray, returns: np.ndarray, mask: np.ndarray, eps_v: float) -> np.ndarray:
    """Analytic ∂vf_loss/∂V_θ (B, T), token-mean: (V - R)·1[l1 ≥ l2]·m / Σ m."""
    l1 = (values_new - returns) ** 2
    l2 = (np.clip(values_new, values_old - eps_v, values_old + eps_v) - returns) ** 2
    return (values_new - returns) * (l1 >= l2) * mask / mask.sum()
