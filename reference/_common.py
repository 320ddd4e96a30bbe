"""Helpers the stages share, as sheets/_common.py's are shared by the sheets (same names where they correspond).

    next_step(x)_t = x_{t+1}, 0 past the window;   prev_step(x)_t = x_{t-1}, 0 before it
    masked_mean    = Σ x·m / Σ m
    masked_moments = μ = Σ x·m / Σ m;  (x - μ)² per token;  var = Σ (x - μ)²·m / denom
    whiten_std     = √(var + whiten_eps), or √max(var, whiten_eps) when whiten_eps_mode = "max" (both whitenings)
    aggregate      = per sequence keep_b·Σ_t x·m and that / n_b, then the loss_agg switch over them;  agg_weights: w with agg(x) = Σ w·x
    check          = "OK" where |residual| ≤ check_tol, else the residual;   softmax_checks = check(Σ_v p_tv - 1)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from blueprint.config import Hyper


def next_step(x: np.ndarray) -> np.ndarray:
    """x_{t+1} over the last axis of (B, T), 0 at t = T-1 (V_T = 0, m_T = 0)."""
    return np.concatenate([x[:, 1:], np.zeros((x.shape[0], 1))], axis=1)


def prev_step(x: np.ndarray) -> np.ndarray:
    """x_{t-1} over the last axis of (B, T), 0 at t = 0."""
    return np.concatenate([np.zeros((x.shape[0], 1)), x[:, :-1]], axis=1)


def masked_mean(x: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """⟨x⟩_m = Σ x·m / Σ m over the batch."""
    return np.array((x * mask).sum() / mask.sum())


def masked_moments(x: np.ndarray, mask: np.ndarray, denom: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """μ, (x - μ)² per token and var = Σ (x - μ)²·m / denom: the cells whitening shows (sheets/_common.masked_moments)."""
    mean = masked_mean(x, mask)
    dev2 = (x - mean) ** 2
    return mean, dev2, np.array((dev2 * mask).sum() / denom)


def whiten_denom(mask: np.ndarray, hp: Hyper) -> float:
    """The whitening variance's denominator (sheets/_common.WHITEN_DENOM): N (population) or N - 1, at least 1 (one token
    has variance 0, not 0/0)."""
    n = float(mask.sum())
    return n if hp.adv_whiten == "population" else max(n - 1.0, 1.0)


def whiten_std(var: np.ndarray, hp: Hyper) -> np.ndarray:
    """The whitening's divisor (sheets/_common.whiten_std): √(var + whiten_eps) (TRL, verl) or √max(var, whiten_eps)
    (OpenRLHF's advantages: var.clamp(min=1e-8).rsqrt()), by whiten_eps_mode."""
    return np.sqrt(np.maximum(var, hp.whiten_eps) if hp.whiten_eps_mode == "max" else var + hp.whiten_eps)


def aggregate(loss: np.ndarray, mask: np.ndarray, hp: Hyper, keep: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-sequence sums and means (B,) of a masked per-token loss, each weighed by keep_b (0 for a group DAPO drops),
    then the loss_agg switch over them (sheets/_common.aggregate: the workbook shows these cells, so every mode is
    one SUM away from them).

    token-mean = Σ_b seq_sum / N_kept;  seq-mean-token-mean = Σ_b seq_mean / B_kept;  seq-mean-token-sum = Σ_b seq_sum / B_kept;
    seq-mean-token-sum-norm = Σ_b seq_sum / loss_scale_factor (0: T, verl's loss_mask.shape[-1])
    (verl `agg_loss`, OpenRLHF `aggregate_loss`; docs/ppo_math.md §7.5). N_kept and B_kept are at least 1: a batch
    whose every group is dropped has every loss 0. keep None: every sequence counts."""
    keep = kept(mask, keep)
    seq_sum = (loss * mask).sum(axis=1) * keep
    seq_mean = seq_sum / mask.sum(axis=1)
    n_seqs, n_tokens = loss_counts(mask, keep)
    if hp.loss_agg == "seq-mean-token-mean":
        return seq_sum, seq_mean, np.array(seq_mean.sum() / n_seqs)
    if hp.loss_agg == "seq-mean-token-sum":
        return seq_sum, seq_mean, np.array(seq_sum.sum() / n_seqs)
    if hp.loss_agg == "seq-mean-token-sum-norm":
        return seq_sum, seq_mean, np.array(seq_sum.sum() / agg_norm(mask, hp.loss_scale_factor))
    return seq_sum, seq_mean, np.array(seq_sum.sum() / n_tokens)


def agg_weights(mask: np.ndarray, hp: Hyper, keep: np.ndarray | None = None) -> np.ndarray:
    """w_t with aggregate(x) = Σ w·x (B, T): what the backward pass multiplies each token's derivative by."""
    keep = kept(mask, keep)
    n_seqs, n_tokens = loss_counts(mask, keep)
    m = mask * keep[:, None]
    return {"token-mean": m / n_tokens, "seq-mean-token-mean": m / (n_seqs * mask.sum(axis=1, keepdims=True)),
            "seq-mean-token-sum": m / n_seqs, "seq-mean-token-sum-norm": m / agg_norm(mask, hp.loss_scale_factor)}[hp.loss_agg]


def kept(mask: np.ndarray, keep: np.ndarray | None) -> np.ndarray:
    """keep_b (B,), every sequence when None (no group dropped: reference.advantage's keep)."""
    return np.ones(mask.shape[0]) if keep is None else keep


def loss_counts(mask: np.ndarray, keep: np.ndarray) -> tuple[float, float]:
    """The sequences and the real tokens the losses average over: those kept, at least 1 (reference.advantage's n_loss_*)."""
    return max(float(keep.sum()), 1.0), max(float((keep * mask.sum(axis=1)).sum()), 1.0)


def agg_norm(mask: np.ndarray, loss_scale_factor: float) -> float:
    """seq-mean-token-sum-norm's divisor: loss_scale_factor, or the response window T when it is 0 (verl's default)."""
    return loss_scale_factor if loss_scale_factor > 0 else float(mask.shape[-1])


def check(x: np.ndarray | float, tol: float) -> np.ndarray:
    """A control cell: "OK" where |x| ≤ tol, else x itself (an object array, as the workbook's mixed cells).

    Check rows mirror the check formulas cell for cell (FAST standard), so a check that fails in Excel
    after an edit fails identically here."""
    x = np.asarray(x, dtype=float)
    return np.where(np.abs(x) <= tol, "OK", x.astype(object)).astype(object)


def softmax_checks(p: np.ndarray, tol: float) -> np.ndarray:
    """Σ_v p_tv - 1 for every softmax row."""
    return check(p.sum(axis=-1) - 1.0, tol)
