"""Worksheet `Step` (reference.step): the optimizer turns the gradients into new weights, with torch's semantics.

    g̃   = coef·g                                          (clip_grad_norm_: θ's coef, φ's coef, Backward)
    t    = opt_step + 1;  bc1 = 1 - β1^t;  bc2 = 1 - β2^t
    m'   = β1·m + (1 - β1)·g̃;   v' = β2·v + (1 - β2)·g̃²   (adamw; sgd keeps m and v)
    θ'   = θ·(1 - lr·wd) - (lr/bc1)·m'/(√v'/√bc2 + ε)      (torch.optim.AdamW: decoupled weight decay, then the step)
    θ'   = θ - lr·(g̃ + wd·θ)                              (torch.optim.SGD without momentum: coupled L2)
    Δ    = θ' - θ
    use_critic = 0 (a critic-free estimator): φ, m_φ and v_φ stay — there is no critic to step
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import sheets
from blueprint.blocks import HEAD, PARAMS, Model, Q, Scalars
from sheets._common import Formulas, Refs

if TYPE_CHECKING:
    from blueprint.layout import Layout

SHEET = "Step"
TITLE = "Step — the optimizer: clipped gradients, Adam's moments, the new weights θ' and φ'"
SUMMARY = "g̃ = coef·g;  m' = β1·m + (1-β1)·g̃;  v' = β2·v + (1-β2)·g̃²;  θ' = θ·(1 - lr·wd) - lr·(m'/bc1)/(√(v'/bc2) + ε)  (adamw);  θ' = θ - lr·(g̃ + wd·θ)  (sgd)"
TAB = "#C00000"  # tab colour: its phase (rollout, reward and KL, advantages, losses, the update)
WHY = ("Adam divides each gradient by its own running scale: on the first step every weight moves by about lr, whatever "
       "the size of its gradient, in the direction of its sign")  # a block's note says this when it has none of its own
BLOCKS = (
    Scalars(
        Q("opt_step", "steps this optimizer has taken before this one (input; 0: the first step, m = v = 0)", "input_int"),
        Q("step_t", "t = opt_step + 1 — torch's state['step'] after its increment"),
        Q("bc1", "1 - β1^t — the first moment's bias correction"),
        Q("bc2", "1 - β2^t — the second moment's bias correction"),
    ),
    Model("m_theta", "m — Adam's first moments before the step (inputs: zero on the first step); θ's five, then φ's", outputs="V", head="m_phi"),
    Model("v_theta", "v — Adam's second moments before the step (inputs)", outputs="V", head="v_phi"),
    Model("g_clip", "g̃ = coef·g — the gradients after clip_grad_norm_ (Backward's coefficients)", outputs="V", head="g_clip", role="formula"),
    Model("m_next", "m' = β1·m + (1 - β1)·g̃ — (adamw; sgd keeps m)", outputs="V", head="m_next", role="formula"),
    Model("v_next", "v' = β2·v + (1 - β2)·g̃² — (adamw; sgd keeps v)", outputs="V", head="v_next", role="formula"),
    Model("theta_next", "θ', φ' — the new weights: θ·(1 - lr·wd) - (lr/bc1)·m'/(√v'/√bc2 + ε) (adamw); θ - lr·(g̃ + wd·θ) (sgd)",
          outputs="V", head="phi_next", role="formula", code="theta_next",
          note="# Step ↳ AdamW: decay the weight first (decoupled), then move by lr·m̂/(√v̂ + ε). On the first step m̂ = g̃ "
               "and v̂ = g̃², so every weight moves by ≈ lr·sign(g̃) ↳ the default lr is a teaching value that visibly "
               "moves ρ; the frameworks use 1e-6 … 1e-5 on billions of weights"),
    Model("delta", "Δ = θ' - θ — the step each weight takes", outputs="V", head="delta", role="formula"),
)


def formulas(L: Layout) -> Formulas:
    r = Refs(L, SHEET)
    yield "step_t", (), f"={r('opt_step')}+1"
    yield "bc1", (), f"=1-adam_beta1^{r('step_t')}"
    yield "bc2", (), f"=1-adam_beta2^{r('step_t')}"
    bc1, bc2 = r("bc1"), r("bc2")
    for param in PARAMS + HEAD:
        coef = r("grad_clip_coef" if param in PARAMS else "grad_clip_coef_phi", sheet="Backward")
        q = {model: sheets.MODELS[model].param(param) for model in ("theta", "grad", "m_theta", "v_theta", "g_clip", "m_next", "v_next",
                                                                    "theta_next", "delta")}
        for idx in L.block(SHEET, q["g_clip"]).positions:
            at = lambda model, sheet=SHEET: r(q[model], *idx, sheet=sheet)  # noqa: E731
            theta, g, m, v = at("theta", "Weights"), at("g_clip"), at("m_next"), at("v_next")
            yield q["g_clip"], idx, f"={at('grad', 'Backward')}*{coef}"
            moves = "" if param in PARAMS else "use_critic=1,"  # no critic, no critic step: φ and its moments stay
            yield q["m_next"], idx, f'=IF(AND({moves}optimizer="adamw"),adam_beta1*{at("m_theta")}+(1-adam_beta1)*{g},{at("m_theta")})'
            yield q["v_next"], idx, f'=IF(AND({moves}optimizer="adamw"),adam_beta2*{at("v_theta")}+(1-adam_beta2)*{g}^2,{at("v_theta")})'
            adamw = f"{theta}*(1-lr*weight_decay)-(lr/{bc1})*{m}/(SQRT({v})/SQRT({bc2})+adam_eps)"
            stepped = f'IF(optimizer="adamw",{adamw},{theta}-lr*({g}+weight_decay*{theta}))'
            yield q["theta_next"], idx, f"={stepped}" if param in PARAMS else f"=IF(use_critic=1,{stepped},{theta})"
            yield q["delta"], idx, f"={at('theta_next')}-{theta}"
