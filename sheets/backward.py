"""Worksheet `Backward` (reference.backward): ∂ total_loss / ∂ every quantity of θ's forward pass on Ratio and of φ
on Value Loss, top down, one block per equation (docs/update_math.md).

    no_grad      = max(pg_clipped, pg_clipped_lower)
    ∂pg/∂ρ       = -Â·(1 - pg_clipped)·(1 - pg_clipped_lower)
    ∂ρ/∂ℓ        = ρ·m·1[|ℓ - ℓ_old| ≤ logratio_clamp]            (no clamp: always 1)
    ∂k/∂ℓ        = k1: 1;  k2: ℓ - ℓ_ref;  k3: 1 - exp(ℓ_ref - ℓ)   (·m·1[|k| ≤ kl_clamp] where kl_clamp clamps k)
    G_t          = w_t·(∂pg/∂ρ·∂ρ/∂ℓ + kl_in_loss·c_KL·∂k/∂ℓ)
    ∂L/∂z_t      = G_t·(onehot(y_t) - p_t)/τ + c_H·w_t·p_t·(log p_t + H_t)/τ
    ∂L/∂V_t      = use_critic·c_v·w^v_t·(V_t - R_t)·(1 - vf_clipped)            (w^v: Value Loss's vf_agg_w, over m_v)
    δh_j         = W_hyᵀ·∂L/∂z_t + [shared]·w_v·∂L/∂V_t + W_hhᵀ·δa_{j+1}      (t = j - P + 1)
    δa_j         = δh_j·(1 - h_j²)
    grad         = Σ over sequences and positions (SUMIF over x for W_xh; SUMPRODUCT against h, h_{j-1})
    ‖g‖, coef    = √Σ g²;  min(1, max_grad_norm/(‖g‖ + 1e-6))      (torch clip_grad_norm_; joint or per model)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from blueprint.blocks import PARAMS, Column, Grid, Model, Q, Row, Scalars, Unroll
from sheets import rnn
from sheets._common import Formulas, Refs
from sheets.kl import kl_clamp_on
from sheets.total import kl_loss_estimate

if TYPE_CHECKING:
    from blueprint.layout import Layout

SHEET = "Backward"
TITLE = "Backward — what the loss does to each weight: the gradient, top down, through time"
SUMMARY = ("G_t = ∂L/∂ℓ_t;  ∂L/∂z = G·(onehot(y) - p)/τ + entropy;  ∂L/∂V = c_v·w·(V - R);  δh_j = W_hyᵀ∂z + w_v∂V + W_hhᵀδa_{j+1};  "
           "δa = δh·(1 - h²);  ∇W = Σ δ ⊗ input;  coef = min(1, max_grad_norm/‖g‖)")
TAB = "#C00000"  # tab colour: its phase (rollout, reward and KL, advantages, losses, the update)
WHY = ("the update is the gradient of the loss: a token whose clipped branch is active, or where the dual clip binds, "
       "sends nothing, however large its advantage")  # a block's note says this when it has none of its own
BLOCKS = (
    Grid(Q("no_grad", "1[clipped branch or dual clip] — the token sends no policy gradient (Clip)", "integer")),
    Grid(Q("dpg_dratio", "∂pg_losses/∂ρ = -Â_t·1[L1 ≥ L2], 0 where the dual clip binds", flags=("no_grad",),
           note="# No gradient ↳ -Â where L1 = -Âρ is the larger (or tied) branch; 0 where L2, the clipped branch, is "
                "strictly larger, or the dual clip's cap binds ↳ a token pushed past the band in Â's direction stops "
                "pulling; one past it on the other side keeps its full gradient, which pulls ρ back")),
    Grid(Q("dratio_dlogp", "∂ρ/∂ℓ = ρ_t·m_t·1[|ℓ - ℓ_old| ≤ clamp] — exp's derivative; 0 where the log-ratio clamp holds it")),
    Grid(Q("dkl_dlogp", "∂k/∂ℓ·m — k1: 1, k2: ℓ - ℓ_ref, k3: 1 - e^(ℓ_ref - ℓ) (kl_loss_estimator); 0 where kl_clamp binds")),
    Grid(Q("g_logp", "G_t = ∂L/∂ℓ_t = w_t·(∂pg/∂ρ·∂ρ/∂ℓ + kl_in_loss·c_KL·∂k/∂ℓ)", flags=("no_grad",),
           note="# Upstream ↳ the loss's derivative by each token's log-prob, times its aggregation weight w_t (Clip agg_w) ↳ "
                "token-mean gives every real token 1/N; the clipped tokens are 0")),
    Row(Q("v_id", "v — token ids", "integer", note="# Ids ↳ 0 … V-1 ↳ the one-hot (y_t = v) and W_xh's SUMIF compare against them"), "V"),
    Grid(Q("W_hy_T", "W_hyᵀ of θ — row i: what hidden unit i sends to each logit"), rows="H", cols="V", heads=("unit", "vocab")),
    Grid(Q("W_hh_T", "W_hhᵀ of θ — row i: what unit i sends to each unit one position on"), rows="H", cols="H", heads=("unit", "unit")),
    Unroll((Column(rnn.X), Column(Q("h", "h_j of θ (Ratio): tanh's derivative is 1 - h²"), "H"),
            Column(Q("g_logits", "∂L/∂z_t = G_t·(onehot(y_t) - p_t)/τ + c_H·w_t·p_t·(log p_t + H_t)/τ",
                     note="# Logits ↳ the softmax's Jacobian turns ∂L/∂ℓ into ∂L/∂z: push up the sampled token by "
                          "G·(1 - p_y), push down the others by G·p_v ↳ the entropy bonus adds its own term"), "V", "pred"),
            Column(Q("g_values", "∂L/∂V_t = use_critic·c_v·w^v_t·(V_t - R_t)·(1 - vf_clipped) — the value loss (w^v: Value Loss's "
                       "vf_agg_w, over m_v); 0 where its clip binds or without a critic"), 0, "pred"),
            Column(Q("dh", "δh_j = W_hyᵀ·∂L/∂z_t + [shared]·w_v·∂L/∂V_t + W_hhᵀ·δa_{j+1}",
                     note="# Through time ↳ right to left: each state's gradient is what its logits and value sent, plus what "
                          "the next position sent back through W_hh ↳ prompt positions get only the second: the loss "
                          "reaches them through time alone"), "H"),
            Column(Q("da", "δa_j = δh_j·(1 - h_j²) — through tanh"), "H")),
           reads="N", first_pred=lambda d: d.P - 1, pred_from=lambda d: max(d.T, d.V, d.H + 1) + 1),  # right of the grids above: a page can end there
    Model("grad", "∇ — the gradients of total_loss, shaped as on Weights: θ's five, φ's head (the sums over sequences and positions)",
          outputs="V", head="grad", role="formula", code="backward", stacked=True,
          note="# Gradient ↳ ∂W_xh[:, v] = Σ_{x_j = v} δa_j;  ∂W_hh = Σ δa_j ⊗ h_{j-1};  ∂b_h = Σ δa;  ∂W_hy = Σ ∂z ⊗ h;  "
               "∂b_y = Σ ∂z;  ∂w_v = Σ ∂V·h;  ∂b_v = Σ ∂V ↳ what one backward pass leaves in .grad"),
    Scalars(
        Q("grad_norm_theta", "‖∇θ‖ = √(Σ of θ's gradients²)"),
        Q("grad_norm_phi", "‖∇φ‖ = √(Σ of φ's gradients²)"),
        Q("grad_norm", "‖∇‖ = √(‖∇θ‖² + ‖∇φ‖²) — the joint norm", "key", named=True),
        Q("grad_clip_coef", "θ's coef = min(1, max_grad_norm/(‖g‖ + 1e-6)); ‖g‖ joint (shared) or ‖∇θ‖ (detached); 1 if off", "key",
          named=True, code="grad_clip_coef", note="# Clip ↳ torch clip_grad_norm_: scale every gradient of one optimizer by max_norm/(norm + 1e-6) "
                           "when that is below 1 ↳ one optimizer over policy and value clips them together (TRL); a "
                           "separate critic is clipped on its own (OpenRLHF, verl)"),
        Q("grad_clip_coef_phi", "φ's coef: the same, with ‖g‖ joint (shared) or ‖∇φ‖ (detached)"),
    ),
)

def _sum(terms: list[str]) -> str:
    return "+".join(terms) if terms else "0"


def formulas(L: Layout) -> Formulas:
    r, d = Refs(L, SHEET), L.dims
    rollout = lambda q, b, t: r(q, b, t, sheet="Rollout")  # noqa: E731
    for b in range(d.B):
        for t in range(d.T):
            clipped, lower = r("pg_clipped", b, t, sheet="Clip"), r("pg_clipped_lower", b, t, sheet="Clip")
            yield "no_grad", (b, t), f"=MAX({clipped},{lower})"
            yield "dpg_dratio", (b, t), f"=-{r('adv', b, t, sheet='Advantage')}*(1-{clipped})*(1-{lower})"
            diff = f"({r('logp_new', b, t, sheet='Ratio')}-{rollout('logp_old', b, t)})"
            yield "dratio_dlogp", (b, t), f"={r('ratio', b, t, sheet='Ratio')}*{rollout('mask', b, t)}*OR(logratio_clamp<=0,ABS({diff})<=logratio_clamp)"
            dk = f"({r('logp_new', b, t, sheet='Ratio')}-{r('logp_ref', b, t, sheet='KL')})"
            k = kl_loss_estimate(dk)
            passes = f"OR(NOT({kl_clamp_on('kl_loss_estimator')}),ABS({k})<=kl_clamp)"
            yield "dkl_dlogp", (b, t), (f'=IF(kl_loss_estimator="k2",{dk},IF(kl_loss_estimator="k3",1-EXP(-{dk}),1))'
                                        f'*{rollout("mask", b, t)}*{passes}')
            yield "g_logp", (b, t), (f"={r('agg_w', b, t, sheet='Clip')}*({r('dpg_dratio', b, t)}*{r('dratio_dlogp', b, t)}"
                                     f"+kl_in_loss*kl_loss_coef*{r('dkl_dlogp', b, t)})")
    for v in range(d.V):
        yield "v_id", (v,), f"={r('v_id', v - 1)}+1" if v else "=0"
    for i in range(d.H):
        for v in range(d.V):
            yield "W_hy_T", (i, v), f"={r.w('theta.W_hy', v, i)}"
        for k in range(d.H):
            yield "W_hh_T", (i, k), f"={r.w('theta.W_hh', k, i)}"
    yield from _through_time(r, L)
    yield from _gradients(r, L)
    theta = ",".join(r.range(f"grad.{p}") for p in PARAMS)
    yield "grad_norm_theta", (), f"=SQRT(SUMSQ({theta}))"
    yield "grad_norm_phi", (), f"=SQRT(SUMSQ({r.range('grad.w_v')},{r('grad.b_v')}))"
    yield "grad_norm", (), f"=SQRT({r('grad_norm_theta')}^2+{r('grad_norm_phi')}^2)"
    for coef, own in (("grad_clip_coef", "grad_norm_theta"), ("grad_clip_coef_phi", "grad_norm_phi")):
        norm = f'IF(value_trunk="shared",{r("grad_norm")},{r(own)})'
        yield coef, (), f"=IF(max_grad_norm>0,MIN(1,max_grad_norm/({norm}+grad_norm_eps)),1)"


def _through_time(r: Refs, L: Layout) -> Formulas:
    """∂L/∂z and ∂L/∂V on the rows that predict a token, then δh and δa right to left (each row reads the one below)."""
    d = L.dims
    for b in range(d.B):
        for j in range(d.N):
            yield "x", (b, j), f"={r('x', b, j, sheet='Ratio')}"
            for i in range(d.H):
                yield "h", (b, j, i), f"={r('h', b, j, i, sheet='Ratio')}"
        for t in range(d.T):
            w, g = r("agg_w", b, t, sheet="Clip"), r("g_logp", b, t)
            y, lse, H_t = r("tokens", b, t, sheet="Rollout"), r("lse", b, t, sheet="Ratio"), r("token_entropy", b, t, sheet="Ratio")
            for v in range(d.V):
                p = r("p", b, t, v, sheet="Ratio")
                log_p = f"({r('logits', b, t, v, sheet='Ratio')}/tau-{lse})"
                yield "g_logits", (b, t, v), f"={g}*(({y}={r('v_id', v)})-{p})/tau+ent_coef*{w}*{p}*({log_p}+{H_t})/tau"
            V, R = r("values_new", b, t, sheet="Value Loss"), r("returns", b, t, sheet="GAE")
            w_v = r("vf_agg_w", b, t, sheet="Value Loss")
            yield "g_values", (b, t), f"=use_critic*vf_coef*{w_v}*({V}-{R})*(1-{r('vf_clipped', b, t, sheet='Value Loss')})"
        for j in range(d.N):
            t = j - (d.P - 1)
            for i in range(d.H):
                terms = []
                if t >= 0:
                    terms.append(f"SUMPRODUCT({r.range('W_hy_T', i)},{r.range('g_logits', b, t)})")
                    terms.append(f'(value_trunk="shared")*{r.w("phi.w_v", i)}*{r("g_values", b, t)}')
                if j < d.N - 1:
                    terms.append(f"SUMPRODUCT({r.range('W_hh_T', i)},{r.range('da', b, j + 1)})")
                yield "dh", (b, j, i), f"={_sum(terms)}"
                yield "da", (b, j, i), f"={r('dh', b, j, i)}*(1-{r('h', b, j, i)}^2)"


def _gradients(r: Refs, L: Layout) -> Formulas:
    """Each weight's gradient, a sum over the B sequences of one SUMIF, SUM or SUMPRODUCT per sequence."""
    d = L.dims
    col = lambda q, b, first, last, k: L.span(SHEET, q, (b, first, k), (b, last, k))  # noqa: E731 - one column of a section
    seqs = range(d.B)
    for i in range(d.H):
        for v in range(d.V):
            yield "grad.W_xh", (i, v), "=" + "+".join(f"SUMIF({r.range('x', b)},{r('v_id', v)},{col('da', b, 0, d.N - 1, i)})" for b in seqs)
        yield "grad.b_h", (i,), f"=SUM({','.join(col('da', b, 0, d.N - 1, i) for b in seqs)})"
        for k in range(d.H):
            yield "grad.W_hh", (i, k), "=" + (
                "+".join(f"SUMPRODUCT({col('da', b, 1, d.N - 1, i)},{col('h', b, 0, d.N - 2, k)})" for b in seqs) if d.N > 1 else "0")
    for v in range(d.V):
        for i in range(d.H):
            yield "grad.W_hy", (v, i), "=" + "+".join(
                f"SUMPRODUCT({col('g_logits', b, 0, d.T - 1, v)},{col('h', b, d.P - 1, d.N - 1, i)})" for b in seqs)
        yield "grad.b_y", (v,), f"=SUM({','.join(col('g_logits', b, 0, d.T - 1, v) for b in seqs)})"
    for i in range(d.H):
        yield "grad.w_v", (i,), "=" + "+".join(f"SUMPRODUCT({r.range('g_values', b)},{col('h', b, d.P - 1, d.N - 1, i)})" for b in seqs)
    yield "grad.b_v", (), f"=SUM({','.join(r.range('g_values', b) for b in seqs)})"
