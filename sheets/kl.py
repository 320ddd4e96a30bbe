"""Worksheet `KL` (reference.kl): θ_ref re-reads the rollout; its drift from θ_old is priced into the reward."""

from __future__ import annotations

from blueprint.layout import Layout
from sheets import rnn
from sheets._common import Formulas, Refs, masked_moments

SHEET = "KL"
TITLE = "KL — how far θ_old has drifted from the SFT model θ_ref, as a per-token penalty"
SUMMARY = "d = ℓ_old - ℓ_ref;  k1 = d, k2 = d²/2, k3 = e^{-d} - 1 + d;  r_t = -β·k_t·m_t + s·last_t;  optional reward whitening"
LABELS = {
    **rnn.LABELS,
    "logp_ref": "ℓ_ref_t = z^ref_t[y_t]/τ - logsumexp(z^ref_t/τ)",
    "k1": "k1 = ℓ_old - ℓ_ref",
    "k2": "k2 = ½(ℓ_old - ℓ_ref)²",
    "k3": "k3 = exp(-(ℓ_old - ℓ_ref)) - 1 + (ℓ_old - ℓ_ref)",
    "kl_token": "k_t = chosen estimator (kl_estimator) · m_t",
    "non_score_reward": "-β·kl_in_reward·k_t",
    "rewards_raw": "r_t = -β·k_t + s·last_t — shaped reward",
    "reward_mean": "μ_r = Σ r·m / N",
    "reward_dev2": "(r_t - μ_r)²",
    "reward_var": "var_r = Σ (r-μ_r)²·m / max(N - 1, 1)",
    "rewards": "r_t fed to GAE: ((r - μ_r)/√(var_r + eps) + μ_r)·m if reward_whiten = on",
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
            yield "non_score_reward", (b, t), f"=-beta*kl_in_reward*{r('kl_token', b, t)}"
            yield "rewards_raw", (b, t), f"={r('non_score_reward', b, t)}+{r('score', b, sheet='Reward')}*{r('is_last', b, t, sheet='Reward')}"
    yield from masked_moments(r, d.B, d.T, "rewards_raw", "reward", "MAX(n_tokens-1,1)")
    for b in range(d.B):
        for t in range(d.T):
            raw, mean = r("rewards_raw", b, t), r("reward_mean")
            whitened = f"(({raw}-{mean})/SQRT({r('reward_var')}+whiten_eps)+{mean})*{r('mask', b, t, sheet='Rollout')}"
            yield "rewards", (b, t), f'=IF(reward_whiten="on",{whitened},{raw})'
