"""Worksheet `KL` (reference.kl): θ_ref re-reads the rollout; its drift from θ_old is priced into the reward."""

from __future__ import annotations

from typing import TYPE_CHECKING

from blueprint.blocks import Grid, Q, Scalars
from sheets import rnn
from sheets._common import VALUE, Formulas, Refs, masked_moments, whiten_std

if TYPE_CHECKING:
    from blueprint.layout import Layout

SHEET = "KL"
TITLE = "KL — how far θ_old has drifted from the SFT model θ_ref, as a per-token penalty"
SUMMARY = "d = ℓ_old - ℓ_ref;  k1 = d, k2 = d²/2, k3 = e^{-d} - 1 + d;  r_t = -β·k_t·m_t + s·at_t;  optional reward whitening over m_v"
TAB = "#C55A11"  # tab colour: its phase (rollout, reward and KL, advantages, losses)
WHY = "the penalty keeps the policy near the SFT model so it cannot game the reward model"  # a block's note says this when it has none of its own
BLOCKS = (
    rnn.policy(),
    Grid(Q("logp_ref", "ℓ_ref_t = z^ref_t[y_t]/τ - logsumexp(z^ref_t/τ)", named=True, code="logp_ref")),
    Grid(Q("k1", "k1 = ℓ_old - ℓ_ref")),
    Grid(Q("k2", "k2 = ½(ℓ_old - ℓ_ref)²")),
    Grid(Q("k3", "k3 = exp(-(ℓ_old - ℓ_ref)) - 1 + (ℓ_old - ℓ_ref)")),
    Grid(Q("kl_token", "k_t = chosen estimator (kl_estimator), clamped to ±kl_clamp (0 = off; kl_clamp_scope) · m_t", named=True, code="kl_token",
           note="# KL ↳ the chosen estimator of KL(θ_old‖θ_ref) per token, d = ℓ_old - ℓ_ref ↳ k1 = d and k3 = e^-d - 1"
                " + d are unbiased, k2 = d²/2 is biased; k3 ≥ 0 with lower variance, k1 can be negative per token")),
    Grid(Q("non_score_reward", "-β·kl_in_reward·k_t")),
    Grid(Q("rewards_raw", "r_t = -β·k_t + s·at_t — shaped reward (at: Reward's score slot)", code="rewards_raw",
           note="# Shape ↳ -β·k_t on every token when kl_placement puts KL in the reward, + s on the score's slot (the last "
                "real token, or the one after it: score_slot) ↳ the RL objective s - βΣ log(π/π_ref), split per token", value_slots=True)),
    Scalars(Q("reward_mean", "μ_r = Σ r·m_v / N_v — over m_v (TRL ~padding_mask_p1; m when score_slot = last)")),
    Grid(Q("reward_dev2", "(r_t - μ_r)²", value_slots=True)),
    Scalars(Q("reward_var", "var_r = Σ (r-μ_r)²·m_v / max(N_v - 1, 1)")),
    Grid(Q("rewards", "r_t fed to GAE: ((r - μ_r)/√(var_r + eps) + μ_r)·m_v if reward_whiten = on (√max(var_r, eps): whiten_eps_mode = max)", named=True, code="rewards", value_slots=True)),
)


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
            yield "kl_token", (b, t), f"={kl_clamped(chosen, 'kl_estimator')}*{r('mask', b, t, sheet='Rollout')}"
            yield "non_score_reward", (b, t), f"=-beta*kl_in_reward*{r('kl_token', b, t)}"
            yield "rewards_raw", (b, t), f"={r('non_score_reward', b, t)}+{r('score', b, sheet='Reward')}*{r('score_at', b, t, sheet='Reward')}"
    yield from masked_moments(r, d.B, d.T, "rewards_raw", "reward", f"MAX({VALUE.n_tokens}-1,1)", VALUE)
    for b in range(d.B):
        for t in range(d.T):
            raw, mean = r("rewards_raw", b, t), r("reward_mean")
            whitened = f"(({raw}-{mean})/{whiten_std(r('reward_var'))}+{mean})*{r('mask_v', b, t, sheet='Reward')}"
            yield "rewards", (b, t), f'=IF(reward_whiten="on",{whitened},{raw})'


def kl_clamped(k: str, estimator: str) -> str:
    """k clamped to ±kl_clamp when kl_clamp > 0 and kl_clamp_scope is all (OpenRLHF) or the `estimator` switch is k3 (verl):
    for the reward's KL here and the loss's on Total and After Step (reference.kl.kl_clamped)."""
    return f"IF({kl_clamp_on(estimator)},MIN(MAX({k},-kl_clamp),kl_clamp),{k})"


def kl_clamp_on(estimator: str) -> str:
    """Whether kl_clamp clamps the estimator the switch `estimator` names: kl_clamp > 0 and its scope is all or that is k3
    (reference.kl.kl_clamps); Backward stops the KL gradient where it binds."""
    return f'AND(kl_clamp>0,OR(kl_clamp_scope="all",{estimator}="k3"))'
