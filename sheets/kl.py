"""Worksheet `KL` (reference.kl): θ_ref re-reads the rollout; its drift from θ_old is priced into the reward."""

from __future__ import annotations

from blueprint.layout import Layout
from sheets import rnn
from sheets._common import Formulas, Refs

SHEET = "KL"
TITLE = "KL — how far θ_old has drifted from the SFT model θ_ref, as a per-token penalty"
SUMMARY = "d = ℓ_old - ℓ_ref;  k1 = d, k2 = d²/2, k3 = e^{-d} - 1 + d;  r_t = -β·k_t·m_t + s·last_t"
LABELS = {
    **rnn.LABELS,
    "logp_ref": "ℓ_ref_t = z^ref_t[y_t]/τ - logsumexp(z^ref_t/τ)",
    "k1": "k1 = ℓ_old - ℓ_ref",
    "k2": "k2 = ½(ℓ_old - ℓ_ref)²",
    "k3": "k3 = exp(-(ℓ_old - ℓ_ref)) - 1 + (ℓ_old - ℓ_ref)",
    "kl_token": "k_t = chosen estimator (kl_estimator) · m_t",
    "non_score_reward": "-β·k_t",
    "rewards": "r_t = -β·k_t + s·last_t — shaped reward",
}


def formulas(L: Layout) -> Formulas:
    r, d = Refs(L, SHEET), L.dims
    yield from rnn.unroll(r, d, "ref", rnn.read_rollout(r, d), d.N, d.P - 1, probs=False)
    for b in range(d.B):
        for t in range(d.T):
            k1 = r("k1", b, t)
            yield "logp_ref", (b, t), rnn.token_logprob(r, b, t)
            yield "k1", (b, t), f"={r('logp_old', b, t, sheet='Rollout')}-{r('logp_ref', b, t)}"
            yield "k2", (b, t), f"=0.5*{k1}^2"
            yield "k3", (b, t), f"=EXP(-{k1})-1+{k1}"
            chosen = f'IF(kl_estimator="k2",{r("k2", b, t)},IF(kl_estimator="k3",{r("k3", b, t)},{k1}))'
            yield "kl_token", (b, t), f"={chosen}*{r('mask', b, t, sheet='Rollout')}"
            yield "non_score_reward", (b, t), f"=-beta*{r('kl_token', b, t)}"
            yield "rewards", (b, t), f"={r('non_score_reward', b, t)}+{r('score', b, sheet='Reward')}*{r('is_last', b, t, sheet='Reward')}"
