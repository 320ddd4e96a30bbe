"""Worksheet `Reward` (reference.reward): the reward model scores each response at its last real token."""

from __future__ import annotations

from typing import TYPE_CHECKING

from blueprint.blocks import Column, Grid, Q, Scalars, Table, Unroll
from sheets import rnn
from sheets._common import Formulas, Refs

if TYPE_CHECKING:
    from blueprint.layout import Layout

SHEET = "Reward"
TITLE = "Reward — the reward model reads prompt + response and scores it once"
SUMMARY = ("s = out_{P+e} at the last real token e = Σm - 1; no EOS: subtract the penalty (TRL) or replace s (N+); clamp to ±score_clip;  "
           "m_v = m, or 1 up to e + 1 (score_slot = after_eos);  at_t = m_v_t - m_v_{t+1} places s in the reward")
TAB = "#C55A11"  # tab colour: its phase (rollout, reward and KL, advantages, losses)
WHY = "the reward model judges whole responses, so PPO must spread one number over many tokens"  # a block's note says this when it has none of its own
BLOCKS = (
    Unroll((Column(rnn.X), Column(rnn.X_NAME), Column(rnn.H, "H"),
            Column(Q("rm_out", "out_j = w_s·h_j + b_s — score head at every position"))), reads=lambda d: d.P + d.T, first_pred=0),
    Table(
        Q("n_real", "n = Σ_t m_t", "integer"),
        Q("last_idx", "e = n - 1", "integer"),
        Q("has_eos", "has_eos = max_t is_eos_t", "integer"),
        Q("score_raw", "out at the last real token"),
        Q("score_eos", "s after missing-EOS handling (eos_handling)"),
        Q("score", "s clamped to ±score_clip (0 = off)", "key", named=True, code="score",
          note="# Score ↳ RM output at the last real token ↳ one number per response, the whole signal RLHF optimises"),
        Q("n_v", "n_v = Σ_t m_v_t — the slots V is kept and trained on", "integer"),
    ),
    Grid(Q("is_last", "last_t = m_t - m_{t+1} — the last real token e", "integer",
           note="# Last ↳ one-hot of the last real token e ↳ the RM reads the score there (score_raw), and OpenRLHF and "
                "verl add it to the reward there")),
    Grid(Q("mask_v", "m_v_t = m_t (last), or max(m_t, m_{t-1}) (after_eos): 1 up to e + 1, capped at T - 1", "integer",
           note="# Value mask ↳ the real tokens, and with score_slot = after_eos the first pad e + 1 as well ↳ TRL-new keeps V "
                "there (values masked by padding_mask_p1), so GAE runs through e + 1 and the value loss averages over it: V "
                "learns to predict the score on the slot where it lands. Â and the policy losses keep the real tokens m", value_slots=True)),
    Grid(Q("score_at", "at_t = m_v_t - m_v_{t+1} — where the score lands: e (last), e + 1 if it fits, else e (after_eos)", "integer",
           code="score_slot",
           note="# Place ↳ one-hot of the score's slot ↳ score_slot = last: the last real token, as OpenRLHF and verl. "
                "after_eos: one slot later, the first pad, when the response is padded (TRL-new's sequence_lengths_p1), else "
                "the last token; there both log-probs are INVALID_LOGPROB, so the KL adds nothing and the reward is s alone", value_slots=True)),
    Scalars(Q("n_tokens_v", "N_v = Σ m_v — the slots the value loss averages over (N when score_slot = last)", "integer", named=True)),
)


def formulas(L: Layout) -> Formulas:
    r, d = Refs(L, SHEET), L.dims
    yield from rnn.unroll(r, d, "rm", rnn.read_rollout(r, d), d.P + d.T, -1, probs=False)
    for b in range(d.B):
        for j in range(d.P + d.T):
            yield "rm_out", (b, j), f"=SUMPRODUCT({r.w_row('rm.W_hy', 0)},{r.range('h', b, j)})+{r.w('rm.b_y', 0)}"
        yield "n_real", (b,), f"=SUM({r.range('mask', b, sheet='Rollout')})"
        yield "last_idx", (b,), f"={r('n_real', b)}-1"
        yield "has_eos", (b,), f"=MAX({r.range('is_eos', b, sheet='Rollout')})"
        response = L.span(SHEET, "rm_out", (b, d.P), (b, d.P + d.T - 1), here=SHEET)
        yield "score_raw", (b,), f"=INDEX({response},{r('last_idx', b)}+1,1)"
        raw = r("score_raw", b)
        yield "score_eos", (b,), (f'=IF({r("has_eos", b)}=1,{raw},IF(eos_handling="replace",missing_eos_score,'
                                  f'{raw}-IF(eos_handling="subtract",missing_eos_penalty,0)))')
        s = r("score_eos", b)
        yield "score", (b,), f"=IF(score_clip>0,MIN(MAX({s},-score_clip),score_clip),{s})"
        m = lambda k: r("mask", b, k, sheet="Rollout")  # noqa: E731
        for t in range(d.T):
            yield "is_last", (b, t), f"={m(t)}-{m(t + 1)}" if t + 1 < d.T else f"={m(t)}"
            yield "mask_v", (b, t), f'=IF(score_slot="after_eos",MAX({m(t)},{m(t - 1)}),{m(t)})' if t else f"={m(t)}"
            v = lambda k: r("mask_v", b, k)  # noqa: E731
            yield "score_at", (b, t), f"={v(t)}-{v(t + 1)}" if t + 1 < d.T else f"={v(t)}"
        yield "n_v", (b,), f"=SUM({r.range('mask_v', b)})"
    yield "n_tokens_v", (), f"=SUM({r.range('mask_v')})"
