"""Stage `Step`: one optimizer step on θ and φ, with torch's semantics (torch.optim.AdamW / SGD, clip_grad_norm_).

    step_t = opt_step + 1;   bc1 = 1 - β1^step_t;   bc2 = 1 - β2^step_t
    g_clip.<p>   = grad.<p>·coef                      (coef = grad_clip_coef for θ's five, grad_clip_coef_phi for w_v, b_v)
    m_next.<p>   = β1·m + (1 - β1)·g_clip              (adamw; sgd keeps m)
    v_next.<p>   = β2·v + (1 - β2)·g_clip²             (adamw; sgd keeps v)
    adamw:  next = θ·(1 - lr·wd) - (lr/bc1)·m_next/(√v_next/√bc2 + eps)   (decoupled decay first, eps after √bc2: torch)
    sgd:    next = θ - lr·(g_clip + wd·θ)              (no momentum; coupled L2)
    delta.<p>    = next - θ
    use_critic 0 (a critic-free estimator): φ's m_next, v_next and next are its m, v and φ — no critic is stepped

θ's five are keyed theta_next.<p>, φ's two phi_next.<p>; the Adam state m, v comes in as m_theta, m_phi, v_theta, v_phi.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from reference.backward import PHI, THETA
from reference.rnn import RNNWeights, ValueHead

if TYPE_CHECKING:
    from blueprint.config import Hyper  # the hyperparameters by name, declared once in blueprint/config.py


def step(theta: RNNWeights, phi: ValueHead, grads: dict[str, np.ndarray], m_theta: RNNWeights, m_phi: ValueHead,
         v_theta: RNNWeights, v_phi: ValueHead, opt_step: int, hp: Hyper, use_critic: float = 1.0) -> dict[str, np.ndarray]:
    """The Step sheet: grads is the Backward sheet's (grad.<p>, grad_clip_coef, grad_clip_coef_phi); the Adam state before the step;
    use_critic 0: there is no critic to step, φ and its moments stay."""
    step_t = np.array(opt_step + 1)
    bc1 = np.array(1.0 - hp.adam_beta1**step_t)
    bc2 = np.array(1.0 - hp.adam_beta2**step_t)
    state = ({k: (theta, m_theta, v_theta, grads["grad_clip_coef"]) for k in THETA}
             | {k: (phi, m_phi, v_phi, grads["grad_clip_coef_phi"]) for k in PHI})  # p: (current, m, v, coef)
    per = {k: param_step(*(np.asarray(getattr(w, k), dtype=float) for w in (current, m, v)), grads[f"grad.{k}"], coef, bc1, bc2, hp,
                         moves=k in THETA or use_critic == 1)
           for k, (current, m, v, coef) in state.items()}
    return {"step_t": step_t, "bc1": bc1, "bc2": bc2,
            **{f"{kind}.{k}": per[k][kind] for kind in ("g_clip", "m_next", "v_next") for k in per},
            **{f"{'theta' if k in THETA else 'phi'}_next.{k}": per[k]["next"] for k in per},
            **{f"delta.{k}": per[k]["delta"] for k in per}}


def param_step(theta: np.ndarray, m: np.ndarray, v: np.ndarray, grad: np.ndarray, coef: np.ndarray, bc1: np.ndarray, bc2: np.ndarray,
               hp: Hyper, moves: bool = True) -> dict[str, np.ndarray]:
    """One parameter tensor's step (any shape): its clipped gradient, moments, new value and change; `moves` False keeps
    the tensor and its moments (φ when no critic is trained)."""
    g_clip = grad * coef
    if not moves:
        return {"g_clip": g_clip, "m_next": m, "v_next": v, "next": theta, "delta": theta - theta}
    adamw = hp.optimizer == "adamw"
    m_next = hp.adam_beta1 * m + (1.0 - hp.adam_beta1) * g_clip if adamw else m
    v_next = hp.adam_beta2 * v + (1.0 - hp.adam_beta2) * g_clip**2 if adamw else v
    if adamw:
        nxt = theta * (1.0 - hp.lr * hp.weight_decay) - hp.lr / bc1 * m_next / (np.sqrt(v_next) / np.sqrt(bc2) + hp.adam_eps)
    else:
        nxt = theta - hp.lr * (g_clip + hp.weight_decay * theta)
    return {"g_clip": g_clip, "m_next": m_next, "v_next": v_next, "next": nxt, "delta": nxt - theta}


def next_weights(step_sheet: dict[str, np.ndarray]) -> tuple[RNNWeights, ValueHead]:
    """θ' and φ' as weight objects, from the Step sheet's theta_next.<p> and phi_next.<p> (what After Step reads)."""
    theta_next = RNNWeights(**{k: step_sheet[f"theta_next.{k}"] for k in THETA})
    return theta_next, ValueHead(step_sheet["phi_next.w_v"], float(step_sheet["phi_next.b_v"]))
