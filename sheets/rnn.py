"""The Elman RNN unroll (reference.rnn), written once for every sheet that runs a model.

    h_j   = TANH(INDEX(W_xh row i, 1, x_j+1) + SUMPRODUCT(W_hh row i, h_{j-1}) + b_h[i])
    z_t   = SUMPRODUCT(W_hy row v, h_{P-1+t}) + b_y[v]
    zmax  = MAX(z_t),  exp = EXP((z - zmax)/tau),  sumexp = SUM(exp),  lse = zmax/tau + LN(sumexp)
    p     = exp / sumexp
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

from blueprint.blocks import Column, Q, Unroll
from sheets._common import Formulas, Refs

if TYPE_CHECKING:
    from blueprint.layout import Dims

X = Q("x", "x_j — token id read at position j", "integer")
X_NAME = Q("x_name", "token read", "text")
H = Q("h", "h_j = tanh(W_xh[:,x_j] + W_hh·h_{j-1} + b_h) — hidden state")
LOGITS = Q("logits", "z_t = W_hy·h + b_y — logits for y_t")
ZMAX = Q("zmax", "max_v z_tv")
EXP = Q("exp", "exp((z - zmax)/τ)")
SUMEXP = Q("sumexp", "Σ exp")
LSE = Q("lse", "logsumexp(z/τ)")
P = Q("p", "p_t = softmax(z_t/τ)")
LOWER = Q("lower", "lower_tv = Σ_{w<v} p_tw — cumulative lower bounds",
          note="# Sample ↳ cumulative lower bounds of p ↳ MATCH(u, lower, 1) picks the token whose interval holds u")


def policy(sampled: bool = False, probs: bool = False) -> Unroll:
    """A policy's unroll: the token read, the hidden state, then (rows that predict) logits and the stable softmax;
    with the probabilities when a sheet reads them, and their cumulative bounds where it samples.

    Its logits start right of the B×T grids below it (column T+1), so a printed page can end after both the grids
    and the read-state columns (x, h) without cutting either (blueprint/canvas.py)."""
    cols = [Column(X), Column(X_NAME), Column(H, "H"), Column(LOGITS, "V", "pred"), Column(ZMAX, 0, "pred"),
            Column(EXP, "V", "pred"), Column(SUMEXP, 0, "pred"), Column(LSE, 0, "pred")]
    cols += [Column(P, "V", "pred")] if sampled or probs else []
    cols += [Column(LOWER, "V", "pred")] if sampled else []
    return Unroll(tuple(cols), reads="N", first_pred=lambda d: d.P - 1, pred_from=lambda d: d.T + 1)


def unroll(r: Refs, d: Dims, model: str, x_source: Callable[[int, int], str], n_read: int, first_pred: int, probs: bool,
           weights: str = "Weights") -> Formulas:
    """x, token names and h for every read position; logits and the stable softmax for predicting rows. The model's
    parameters are `model.W_xh`, … on the sheet `weights` (θ' after the step lives on Step)."""
    w, w_row = (lambda q, *i: r.w(q, *i, sheet=weights)), (lambda q, *i: r.w_row(q, *i, sheet=weights))
    for b in range(d.B):
        for j in range(n_read):
            yield "x", (b, j), f"={x_source(b, j)}"
            yield "x_name", (b, j), f"=INDEX({r.vocab()},1,{r('x', b, j)}+1)"
            for i in range(d.H):
                recur = f"+SUMPRODUCT({w_row(f'{model}.W_hh', i)},{r.range('h', b, j - 1)})" if j else ""
                yield "h", (b, j, i), f"=TANH(INDEX({w_row(f'{model}.W_xh', i)},1,{r('x', b, j)}+1){recur}+{w(f'{model}.b_h', i)})"
        if first_pred < 0:
            continue
        for t in range(n_read - first_pred):
            h_row = r.range("h", b, first_pred + t)
            for v in range(d.V):
                yield "logits", (b, t, v), f"=SUMPRODUCT({w_row(f'{model}.W_hy', v)},{h_row})+{w(f'{model}.b_y', v)}"
            yield "zmax", (b, t), f"=MAX({r.range('logits', b, t)})"
            for v in range(d.V):
                yield "exp", (b, t, v), f"=EXP(({r('logits', b, t, v)}-{r('zmax', b, t)})/tau)"
            yield "sumexp", (b, t), f"=SUM({r.range('exp', b, t)})"
            yield "lse", (b, t), f"={r('zmax', b, t)}/tau+LN({r('sumexp', b, t)})"
            if probs:
                for v in range(d.V):
                    yield "p", (b, t, v), f"={r('exp', b, t, v)}/{r('sumexp', b, t)}"


def read_rollout(r: Refs, d: Dims) -> Callable[[int, int], str]:
    """x_j for a teacher-forced model: the prompt, then the sampled tokens of the rollout."""
    return lambda b, j: r("prompts", b, j, sheet="Rollout") if j < d.P else r("tokens", b, j - d.P, sheet="Rollout")


def token_logprob(r: Refs, b: int, t: int) -> str:
    """ℓ_t = z_t[y_t]/τ - lse_t, gathering the sampled token's logit with INDEX."""
    return f"=INDEX({r.range('logits', b, t)},1,{r('tokens', b, t, sheet='Rollout')}+1)/tau-{r('lse', b, t)}"


def entropy(r: Refs, b: int, t: int) -> str:
    """H_t = lse - Σ_v p_v·z_v/τ over this sheet's softmax."""
    return f"={r('lse', b, t)}-SUMPRODUCT({r.range('p', b, t)},{r.range('logits', b, t)})/tau"
