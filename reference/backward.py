"""Stage `Backward`: ∂total_loss/∂(θ, φ) by hand, top down through the forward pass of θ and φ on the rollout.

    no_grad_t      = max(pg_clipped_t, pg_clipped_lower_t)             (the token sends no policy gradient)
    dpg_dratio_t   = -Â_t·(1 - pg_clipped_t)·(1 - pg_clipped_lower_t)  (∂ of the clipped surrogate, dual clip included)
    dratio_dlogp_t = ρ_t·m_t·1[c ≤ 0 or |ℓ_t - ℓ_old_t| ≤ c]          (c = logratio_clamp; torch's clamp passes [-c, c])
    dkl_dlogp_t    = (k1: 1;  k2: ℓ - ℓ_ref;  k3: 1 - e^{ℓ_ref - ℓ})·m_t·1[|k_t| ≤ kl_clamp]   (where kl_clamp clamps k: reference.kl)
    g_logp_t       = w_t·(dpg_dratio_t·dratio_dlogp_t + κ·c_KL·dkl_dlogp_t)                  (κ = kl_in_loss)
    v_id_v         = v                                                (the token ids the one-hot and W_xh's SUMIF compare with)
    g_logits_tv    = g_logp_t·(1[v = y_t] - p_tv)/τ + c_H·w_t·p_tv·(z_tv/τ - lse_t + H_t)/τ  (z/τ - lse = log p)
    g_values_t     = use_critic·c_v·w^v_t·(V_t - R_t)·(1 - vf_clipped_t)   (the ½ of vf_loss cancels the square's 2; w^v Value
                     Loss's vf_agg_w, the weights over m_v: with score_slot = after_eos V is trained on e + 1 too)
    dh_j           = [j ≥ P-1]·(W_hyᵀ·g_logits_t + shared·w_v·g_values_t) + [j < N-1]·W_hhᵀ·da_{j+1}   (t = j-P+1)
    da_j           = dh_j ⊙ (1 - h_j²)
    grad.W_xh[:, v] = Σ_{b,j: x_bj = v} da_bj;   grad.b_h = Σ_{b,j} da_bj;   grad.W_hh = Σ_b Σ_{j≥1} da_bj ⊗ h_b,j-1
    grad.W_hy      = Σ_{b,t} g_logits_bt ⊗ h_b,P-1+t;   grad.b_y = Σ_{b,t} g_logits_bt
    grad.w_v       = Σ_{b,t} g_values_bt·h_b,P-1+t;     grad.b_v = Σ_{b,t} g_values_bt
    grad_norm_theta = √(Σ θ grad²);  grad_norm_phi = √(Σ φ grad²);  grad_norm = √(grad_norm_theta² + grad_norm_phi²)
    grad_clip_coef = 1 if max_grad_norm = 0 else min(1, max_grad_norm/(n + grad_norm_eps))   (torch clip_grad_norm_: 1e-6)
                     n = grad_norm (shared: one optimizer, one clip) or grad_norm_theta (detached: θ clipped alone)
    grad_clip_coef_phi = the same with n = grad_norm (shared) or grad_norm_phi (detached)

Under `detached` the value head reads θ's h as fixed features: no value gradient reaches θ (docs/update_math.md).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from reference.kl import kl_clamps, kl_estimators
from reference.rnn import RNNWeights, ValueHead

if TYPE_CHECKING:
    from blueprint.config import Hyper  # the hyperparameters by name, declared once in blueprint/config.py

THETA = ("W_xh", "b_h", "W_hh", "W_hy", "b_y")  # θ's parameters, in the order the sheets list them
PHI = ("w_v", "b_v")  # φ's


def backward(theta: RNNWeights, phi: ValueHead, x: np.ndarray, h: np.ndarray, p: np.ndarray, logits: np.ndarray, lse: np.ndarray,
             token_entropy: np.ndarray, logp_new: np.ndarray, ratio: np.ndarray, agg_w: np.ndarray, pg_clipped: np.ndarray,
             pg_clipped_lower: np.ndarray, values_new: np.ndarray, vf_clipped: np.ndarray, adv: np.ndarray, returns: np.ndarray,
             tokens: np.ndarray, mask: np.ndarray, logp_old: np.ndarray, logp_ref: np.ndarray, kl_in_loss: float,
             hp: Hyper, use_critic: float = 1.0, vf_agg_w: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """The Backward sheet: Ratio's x (B, N), h (B, N, H), p, logits (B, T, V), the rest (B, T) per token; every gradient.
    vf_agg_w: the value loss's aggregation weights (Value Loss, over m_v); None: agg_w (m_v = m)."""
    g_tok = logp_gradient(ratio, agg_w, pg_clipped, pg_clipped_lower, adv, mask, logp_new, logp_old, logp_ref, kl_in_loss, hp)
    V = theta.W_xh.shape[1]
    onehot_y = np.eye(V)[tokens]  # (B, T, V)
    log_p = logits / hp.tau - lse[..., None]  # (B, T, V)
    g_logits = (g_tok["g_logp"][..., None] * (onehot_y - p) / hp.tau
                + hp.ent_coef * agg_w[..., None] * p * (log_p + token_entropy[..., None]) / hp.tau)  # (B, T, V)
    w_v = agg_w if vf_agg_w is None else vf_agg_w
    g_values = use_critic * hp.vf_coef * w_v * (values_new - returns) * (1.0 - vf_clipped)  # (B, T): 0 without a critic
    shared = float(hp.value_trunk == "shared")
    dh, da = through_time(theta, h, g_logits @ theta.W_hy + shared * g_values[..., None] * phi.w_v)
    grads = weight_gradients(x, h, da, g_logits, g_values, V)
    return {**g_tok, "v_id": np.arange(V), "W_hy_T": theta.W_hy.T, "W_hh_T": theta.W_hh.T, "x": x, "h": h, "g_logits": g_logits, "g_values": g_values,
            "dh": dh, "da": da, **grads, **clip_coefs(grads, hp)}


def logp_gradient(ratio: np.ndarray, agg_w: np.ndarray, pg_clipped: np.ndarray, pg_clipped_lower: np.ndarray, adv: np.ndarray,
                  mask: np.ndarray, logp_new: np.ndarray, logp_old: np.ndarray, logp_ref: np.ndarray, kl_in_loss: float,
                  hp: Hyper) -> dict[str, np.ndarray]:
    """∂total_loss/∂ℓ_θ (B, T) and the per-token factors it is the product of (the chain rule, one column each)."""
    no_grad = np.maximum(pg_clipped, pg_clipped_lower)
    dpg_dratio = -adv * (1.0 - pg_clipped) * (1.0 - pg_clipped_lower)
    c = hp.logratio_clamp
    dratio_dlogp = ratio * mask * ((np.abs(logp_new - logp_old) <= c) if c > 0 else 1.0)
    dk = {"k1": np.ones_like(logp_new), "k2": logp_new - logp_ref, "k3": 1.0 - np.exp(logp_ref - logp_new)}  # ∂k/∂ℓ per estimator
    est = hp.kl_loss_estimator
    passes = (np.abs(kl_estimators(logp_new, logp_ref)[est]) <= hp.kl_clamp) if kl_clamps(est, hp) else 1.0  # torch's clamp passes [-c, c]
    dkl_dlogp = dk[est] * mask * passes
    g_logp = agg_w * (dpg_dratio * dratio_dlogp + kl_in_loss * hp.kl_loss_coef * dkl_dlogp)
    return {"no_grad": no_grad, "dpg_dratio": dpg_dratio, "dratio_dlogp": dratio_dlogp, "dkl_dlogp": dkl_dlogp, "g_logp": g_logp}


def through_time(theta: RNNWeights, h: np.ndarray, dh_out: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Backpropagation through time, right to left; h (B, N, H), dh_out (B, T, H) the heads' gradient into the states
    that predict y_0..y_{T-1} (j = P-1+t) -> dh, da (B, N, H)."""
    B, N, H = h.shape
    P = N - dh_out.shape[1] + 1
    dh, da = np.zeros((B, N, H)), np.zeros((B, N, H))
    for j in reversed(range(N)):
        dh[:, j] = (dh_out[:, j - P + 1] if j >= P - 1 else 0.0) + (da[:, j + 1] @ theta.W_hh if j < N - 1 else 0.0)  # (B, H)
        da[:, j] = dh[:, j] * (1.0 - h[:, j] ** 2)  # (B, H)
    return dh, da


def weight_gradients(x: np.ndarray, h: np.ndarray, da: np.ndarray, g_logits: np.ndarray, g_values: np.ndarray,
                     V: int) -> dict[str, np.ndarray]:
    """grad.<p> for θ's five and φ's two parameters, from the δ blocks: sums over sequences b and positions j or steps t."""
    h_t = h[:, -g_logits.shape[1] :]  # (B, T, H): the states that predict y_0..y_{T-1}
    return {
        "grad.W_xh": np.einsum("bjh,bjv->hv", da, np.eye(V)[x]),  # (H, V)
        "grad.b_h": da.sum(axis=(0, 1)),  # (H,)
        "grad.W_hh": np.einsum("bji,bjk->ik", da[:, 1:], h[:, :-1]),  # (H, H): h_{-1} = 0 adds nothing
        "grad.W_hy": np.einsum("btv,bti->vi", g_logits, h_t),  # (V, H)
        "grad.b_y": g_logits.sum(axis=(0, 1)),  # (V,)
        "grad.w_v": np.einsum("bt,bti->i", g_values, h_t),  # (H,)
        "grad.b_v": np.array(g_values.sum()),  # ()
    }


def clip_coefs(grads: dict[str, np.ndarray], hp: Hyper) -> dict[str, np.ndarray]:
    """The gradient norms and torch clip_grad_norm_'s coefficients, from grad.<p> (one clip or one per model: value_trunk)."""
    grad_norm_theta = np.sqrt(sum((grads[f"grad.{k}"] ** 2).sum() for k in THETA))
    grad_norm_phi = np.sqrt(sum((grads[f"grad.{k}"] ** 2).sum() for k in PHI))
    grad_norm = np.sqrt(grad_norm_theta**2 + grad_norm_phi**2)
    shared = hp.value_trunk == "shared"

    def coef(n: np.ndarray) -> np.ndarray:
        return np.array(1.0 if hp.max_grad_norm == 0 else min(1.0, hp.max_grad_norm / (n + hp.grad_norm_eps)))

    return {"grad_norm_theta": np.array(grad_norm_theta), "grad_norm_phi": np.array(grad_norm_phi), "grad_norm": np.array(grad_norm),
            "grad_clip_coef": coef(grad_norm if shared else grad_norm_theta),
            "grad_clip_coef_phi": coef(grad_norm if shared else grad_norm_phi)}
