"""Worksheet `Rollout` (reference.rollout): θ_old samples the batch live, by inverse CDF."""

from __future__ import annotations

from blueprint.layout import Layout
from sheets import rnn
from sheets._common import Formulas, Refs, softmax_checks

SHEET = "Rollout"
TITLE = "Rollout — θ_old samples each response, token by token"
SUMMARY = "y_t = MATCH(u_t, lower_t, 1) - 1 on p_t = softmax(z_t/τ);  ℓ_old = z[y]/τ - lse;  V_old = w_v·h + b_v;  m_t = 1 up to the first EOS"
LABELS = {
    **rnn.LABELS,
    "prompts": "x — prompt token ids (input)",
    "draws": "u_t — uniform draws for sampling (input)",
    "lower": "lower_tv = Σ_{w<v} p_tw — cumulative lower bounds",
    "tokens": "y_t = MATCH(u_t, lower_t, 1) - 1 — sampled tokens",
    "token_name": "y_t as text",
    "is_eos": "is_eos_t = 1[y_t = EOS]",
    "mask": "m_t — 1 up to and including the first EOS",
    "logp_old": "ℓ_old_t = z_t[y_t]/τ - logsumexp(z_t/τ)",
    "values_old": "V_old_t = w_v·h_t + b_v — critic φ_old at rollout time",
    "n_tokens": "N = Σ m — real tokens in the batch",
    "p_check": "check: Σ_v p_tv = 1",
}


def formulas(L: Layout) -> Formulas:
    r, d = Refs(L, SHEET), L.dims
    x_source = lambda b, j: r("prompts", b, j) if j < d.P else r("tokens", b, j - d.P)  # noqa: E731
    yield from rnn.unroll(r, d, "old", x_source, d.N, d.P - 1, probs=True)
    for b in range(d.B):
        for t in range(d.T):
            yield "lower", (b, t, 0), "=0"
            for v in range(1, d.V):
                yield "lower", (b, t, v), f"={r('lower', b, t, v - 1)}+{r('p', b, t, v - 1)}"
            yield "tokens", (b, t), f"=MATCH({r('draws', b, t)},{r.range('lower', b, t)},1)-1"
            yield "token_name", (b, t), f"=INDEX({r.vocab()},1,{r('tokens', b, t)}+1)"
            yield "is_eos", (b, t), f"=({r('tokens', b, t)}=eos_id)*1"
            yield "mask", (b, t), f"={r('mask', b, t - 1)}*(1-{r('is_eos', b, t - 1)})" if t else "=1"
            yield "logp_old", (b, t), rnn.token_logprob(r, b, t)
            h_row = r.range("h", b, d.P - 1 + t)
            yield "values_old", (b, t), f"=SUMPRODUCT({r.w_row('value_old.w_v')},{h_row})+{r.w('value_old.b_v')}"
    yield "n_tokens", (), f"=SUM({r.range('mask')})"
    yield from softmax_checks(r, d.B, d.T)
