"""The tiny autoregressive language model inside the workbook: an Elman RNN.

    h_j = tanh(W_xh[:, x_j] + W_hh · h_{j-1} + b_h),   h_{-1} = 0
    z_j = W_hy · h_j + b_y                              (logits; K = V for a policy, 1 for the RM)
    V_j = w_v · h_j + b_v                               (value head on the policy's hidden state)

The state that predicts response token y_t is h at position P+t-1 (after reading the token
before it), exactly like `logits[:, ctx-1:-1]` in TRL, OpenRLHF and verl.

Softmax is split into the cells the workbook shows, in the numerically stable order:
    zmax = max_v z_v,  e_v = exp((z_v - zmax)/τ),  sumexp = Σ_v e_v,
    p_v = e_v / sumexp,  lse = zmax/τ + ln(sumexp)  (= logsumexp(z/τ), since τ > 0)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class RNNWeights:
    """One parameter set: θ_ref, θ_old, θ (K = V) or the reward model (K = 1)."""

    W_xh: np.ndarray  # (H, V) column v is token v's input embedding
    W_hh: np.ndarray  # (H, H) recurrence
    b_h: np.ndarray  # (H,)
    W_hy: np.ndarray  # (K, H) output head
    b_y: np.ndarray  # (K,)


@dataclass(frozen=True)
class ValueHead:
    """φ_old or φ: a linear value head on the policy's hidden state (TRL-legacy's ValueHead)."""

    w_v: np.ndarray  # (H,)
    b_v: float


def hidden_states(w: RNNWeights, x: np.ndarray) -> np.ndarray:
    """Teacher-forced unroll over token ids x (B, N) -> h (B, N, H)."""
    B, N = x.shape
    h = np.zeros((B, N, w.W_hh.shape[0]))
    for j in range(N):
        h_prev = h[:, j - 1] if j else np.zeros((B, w.W_hh.shape[0]))
        h[:, j] = rnn_step(w, x[:, j], h_prev)
    return h


def rnn_step(w: RNNWeights, x_j: np.ndarray, h_prev: np.ndarray) -> np.ndarray:
    """h_j = tanh(W_xh[:, x_j] + W_hh · h_{j-1} + b_h); x_j (B,), h_prev (B, H) -> (B, H)."""
    return np.tanh(w.W_xh[:, x_j].T + h_prev @ w.W_hh.T + w.b_h)


def head(W: np.ndarray, b: np.ndarray, h: np.ndarray) -> np.ndarray:
    """z = W · h + b over the last axis; W (K, H), h (..., H) -> (..., K)."""
    return h @ W.T + b


def value(v: ValueHead, h: np.ndarray) -> np.ndarray:
    """V = w_v · h + b_v; h (..., H) -> (...)."""
    return h @ v.w_v + v.b_v


def softmax_parts(z: np.ndarray, tau: float) -> dict[str, np.ndarray]:
    """The stable softmax of z/τ over the last axis, one array per workbook column."""
    zmax = z.max(axis=-1)  # (...)
    e = np.exp((z - zmax[..., None]) / tau)  # (..., V)
    sumexp = e.sum(axis=-1)  # (...)
    p = e / sumexp[..., None]  # (..., V)
    lse = zmax / tau + np.log(sumexp)  # (...)
    return {"zmax": zmax, "exp": e, "sumexp": sumexp, "p": p, "lse": lse}


def token_logprob(z: np.ndarray, lse: np.ndarray, y: np.ndarray, tau: float) -> np.ndarray:
    """ℓ_t = z_t[y_t]/τ - logsumexp(z_t/τ); z (B, T, V), lse (B, T), y (B, T) -> (B, T)."""
    return np.take_along_axis(z, y[..., None], axis=-1)[..., 0] / tau - lse


def entropy(z: np.ndarray, p: np.ndarray, lse: np.ndarray, tau: float) -> np.ndarray:
    """H_t = logsumexp(z_t/τ) - Σ_v p_v z_v/τ  (= -Σ p log p, TRL `entropy_from_logits`)."""
    return lse - (p * z).sum(axis=-1) / tau


def teacher_forced(w: RNNWeights, prompts: np.ndarray, tokens: np.ndarray, tau: float, probs: bool) -> dict[str, np.ndarray]:
    """Unroll θ_ref or θ over the rollout's prompt + response (no sampling): the cells a sheet shows, as
    sheets/rnn.unroll writes them — x, h, logits and the softmax parts, p only with `probs`."""
    P = prompts.shape[1]
    x = np.concatenate([prompts, tokens[:, :-1]], axis=1)  # (B, N): the last token is never read
    h = hidden_states(w, x)
    logits = head(w.W_hy, w.b_y, h[:, P - 1 :])  # (B, T, V)
    parts = softmax_parts(logits, tau)
    return {"x": x, "h": h, "logits": logits, **{k: v for k, v in parts.items() if probs or k != "p"}}
