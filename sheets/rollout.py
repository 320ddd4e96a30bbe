"""Worksheet `Rollout` (reference.rollout): θ_old samples the batch live, by inverse CDF."""

from __future__ import annotations

from typing import TYPE_CHECKING

from blueprint.blocks import Grid, Q, Scalars, Table
from sheets import rnn
from sheets._common import Formulas, Refs, softmax_checks

if TYPE_CHECKING:
    from blueprint.layout import Layout

SHEET = "Rollout"
TITLE = "Rollout — θ_old samples each response, token by token"
SUMMARY = "y_t = MATCH(u_t, lower_t, 1) - 1 on p_t = softmax(z_t/τ);  ℓ_old = z[y]/τ - lse;  V_old = w_v·h + b_v;  m_t = 1 up to the first EOS"
TAB = "#2E75B6"  # tab colour: its phase (rollout, reward and KL, advantages, losses)
WHY = "θ_old's numbers are frozen for the whole PPO iteration: ratios, KL and values are measured against them"  # a block's note says this when it has none of its own
BLOCKS = (
    Grid(Q("prompts", "x — prompt token ids (input)", "input_int", named=True), cols="P", heads=("seq", "j")),
    Table(Q("group", "g — the prompt each response answers (input): G responses per prompt", "input_int", named=True,
            note="# Group ↳ responses with the same g answer the same prompt (group_size G of them, B = prompts × G) ↳ the "
                 "critic-free estimators on Advantage compare each response with the rest of its group; PPO with GAE "
                 "ignores it")),
    Grid(Q("draws", "u_t — uniform draws for sampling (input)", "input")),
    rnn.policy(sampled=True),
    Grid(Q("tokens", "y_t = MATCH(u_t, lower_t, 1) - 1 — sampled tokens", "integer", named=True,
           note="# Sample ↳ y_t = MATCH(u_t, lower_t, 1) - 1 ↳ sampling is live: change θ_old or u and the response changes")),
    Grid(Q("token_name", "y_t as text", "text")),
    Grid(Q("is_eos", "is_eos_t = 1[y_t = EOS]", "integer")),
    Grid(Q("mask", "m_t — 1 up to and including the first EOS", "integer", named=True, code="mask",
           note="# Mask ↳ 1 up to and including the first EOS ↳ tokens after EOS are still computed but count nowhere")),
    Grid(Q("logp_old", "ℓ_old_t = z_t[y_t]/τ - logsumexp(z_t/τ)", named=True, code="logp_old",
           note="# Log-prob ↳ ℓ_old of the sampled token ↳ the denominator of every importance ratio this iteration. "
                "OpenRLHF and verl recompute it with a forward pass of θ_old (the sampler's own log-probs serve only "
                "their optional correction, off by default); TRL keeps generate()'s scores")),
    Grid(Q("values_old", "V_old_t = w_v·h_t + b_v — critic φ_old at rollout time", named=True, code="values_old",
           note="# Critic ↳ V_old from φ_old on θ_old's hidden state ↳ GAE and the value clip use the critic as it was "
                "at rollout. The head on the policy's own trunk is TRL-legacy's design; TRL-new, OpenRLHF and verl run "
                "a separate value model")),
    Grid(Q("p_check", "check: Σ_v p_tv = 1", "check")),
    Scalars(Q("n_tokens", "N = Σ m — real tokens in the batch", "integer", named=True)),
)


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
            yield "values_old", (b, t), f"=SUMPRODUCT({r.w_row('phi_old.w_v')},{h_row})+{r.w('phi_old.b_v')}"
    yield "n_tokens", (), f"=SUM({r.range('mask')})"
    yield from softmax_checks(r, d.B, d.T)
