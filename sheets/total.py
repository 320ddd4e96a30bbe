"""Worksheet `Total` (reference.total): the loss PPO descends, and what people watch while it trains."""

from __future__ import annotations

from blueprint.layout import Layout
from sheets._common import Formulas, Refs

SHEET = "Total"
TITLE = "Total — one loss for one optimizer step (TRL), and the training diagnostics"
SUMMARY = "L = L^PG + c_v·L^VF - c_H·H;  objective/kl = mean_b Σ_t k_t;  rlhf_reward = mean s - β·mean_b Σ_t k_t"
LABELS = {
    "total_loss": "L = pg_loss + vf_coef·vf_loss - ent_coef·entropy",
    "entropy": "⟨H⟩_m — mean entropy of π_θ",
    "kl_sum": "objective/kl = mean_b Σ_t k_t",
    "non_score_sum": "objective/non_score_reward = mean_b Σ_t -β·k_t",
    "score_mean": "objective/scores = mean_b s",
    "rlhf_reward": "objective/rlhf_reward = scores + non_score_reward",
}


def formulas(L: Layout) -> Formulas:
    r = Refs(L, SHEET)
    B = L.a1("Config", "B", here=SHEET, absolute=True)
    yield "entropy", (), f"=SUMPRODUCT({r.range('token_entropy', sheet='Ratio')},{r.range('mask', sheet='Rollout')})/n_tokens"
    yield "total_loss", (), f"={r('pg_loss', sheet='Clip')}+vf_coef*{r('vf_loss', sheet='Value Loss')}-ent_coef*{r('entropy')}"
    yield "kl_sum", (), f"=SUM({r.range('kl_token', sheet='KL')})/{B}"
    yield "non_score_sum", (), f"=SUM({r.range('non_score_reward', sheet='KL')})/{B}"
    yield "score_mean", (), f"=AVERAGE({r.range('score', sheet='Reward')})"
    yield "rlhf_reward", (), f"={r('score_mean')}+{r('non_score_sum')}"
