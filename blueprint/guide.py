"""The words of the workbook: the Guide's story, the RLHF pieces, each block's note and code line.

Kept apart from the writer so a reader can review the teaching text in one place, and so the
tests can hold every piece and note against the layout.
"""

from __future__ import annotations

from blueprint import quotes
from blueprint.quotes import Quote

TITLE = "RLHF with PPO — a live blueprint"
SUBTITLE = ("Every derived number in this workbook is a formula. Change a yellow cell (a hyperparameter on Config, "
            "a weight on Weights, a prompt or a draw on Rollout) and every downstream cell follows, sampled tokens included.")

STORY = (
    "1. Rollout — the policy θ_old writes a response to each prompt, one token at a time: softmax over its logits, then an "
    "inverse-CDF draw. Its log-probabilities ℓ_old and its critic's values V_old are kept: they are frozen for the whole iteration.",
    "2. Reward — a reward model reads prompt + response and gives one score s, read at the last real token (the first EOS). "
    "A response that never stops is penalised.",
    "3. KL — the frozen SFT model θ_ref re-reads the same tokens. How far θ_old has drifted from it, token by token, is "
    "charged as a small negative reward -β·k_t; the score is added on the last real token.",
    "4. GAE — the old critic turns this sequence of rewards into per-token advantages (how much better than expected) and "
    "value targets (returns), then the advantages are whitened across the batch.",
    "5. Ratio — the updated policy θ re-reads the tokens; ρ = π_θ/π_θ_old says how much more (or less) likely each sampled "
    "token has become since the rollout.",
    "6. Clip — the policy loss pushes ρ up where Â > 0 and down where Â < 0, but stops pushing once ρ leaves [1-ε, 1+ε]: "
    "clipped tokens give no gradient, so one batch cannot move the policy too far.",
    "7. Value Loss — the current critic φ is regressed on the returns built from the old critic, with the same pessimistic clip.",
    "8. Total — the losses are weighted into one number for one optimiser step (TRL); OpenRLHF and verl step a separate critic.",
)

LEGEND = (
    ("input", "input — edit me (hyperparameters, weights, prompts, draws)"),
    ("formula", "formula — derived; never type over it"),
    ("key", "key output — the numbers a training log reports"),
    ("check", "check — a live identity: OK, or the discrepancy"),
    ("masked", "after the first EOS — computed, but masked out of every loss"),
)

# Worksheet tab colours by phase: rollout, reward/KL, advantages, losses.
TAB_COLOURS = {
    "Guide": "#7F7F7F", "Config": "#BF9000", "Weights": "#BF9000", "Rollout": "#2E75B6", "Reward": "#C55A11",
    "KL": "#C55A11", "GAE": "#548235", "Ratio": "#7030A0", "Clip": "#7030A0", "Value Loss": "#7030A0", "Total": "#7030A0",
}

# The pieces of the RLHF-PPO loss (docs/ppo_math.md §11): name, equation, where it lives (sheet, quantity).
PIECES = (
    ("Rollout sampling from θ_old", "y_t ~ softmax(z_t/τ) by inverse CDF on u_t", "Rollout", "tokens"),
    ("Token log-prob", "ℓ_t = z_t[y_t]/τ - logsumexp(z_t/τ)", "Rollout", "logp_old"),
    ("θ_old: the behaviour policy, frozen for the iteration", "ℓ_old_t, stored at rollout", "Rollout", "logp_old"),
    ("θ_ref: the SFT anchor", "ℓ_ref_t, θ_ref teacher-forced on the rollout", "KL", "logp_ref"),
    ("Response mask / EOS truncation", "m_t = 1 up to and including the first EOS", "Rollout", "mask"),
    ("Reward-model coupling (sequence score)", "s = RM(x, y≤e) at the last real token; missing-EOS handling", "Reward", "score"),
    ("Reference KL, θ_old vs SFT, per token", "k1 = d, k2 = d²/2, k3 = e^-d - 1 + d, d = ℓ_old - ℓ_ref", "KL", "kl_token"),
    ("KL coefficient / adaptive controller", "β_next = β(1 + clip(KL/target - 1, ±0.2)·B/horizon)", "Total", "beta_next"),
    ("Shaped token reward (KL in the reward)", "r_t = -β·k_t + s·1[t = e]", "KL", "rewards_raw"),
    ("Reward whitening (optional)", "r ← (r - μ)/√(σ² + eps) + μ", "KL", "rewards"),
    ("Old values (critic at rollout)", "V_old_t = w_v·h_t + b_v", "Rollout", "values_old"),
    ("TD residual", "δ_t = r_t + γV_{t+1} - V_t", "GAE", "delta"),
    ("GAE: token-level credit assignment", "A_t = δ_t + γλA_{t+1}", "GAE", "advantages"),
    ("Value targets from the old model", "R_t = A_t + V_old_t", "GAE", "returns"),
    ("Sequence-level credit assignment", "the score enters only at t = e; γ = λ = 1: A_t = s - βΣ_{k≥t}k_k - V_t", "KL", "rewards"),
    ("Advantage whitening", "Â = (A - μ)/√(var + 1e-8)", "GAE", "adv_whitened"),
    ("Importance ratio, current vs rollout policy", "ρ_t = exp(ℓ_θ_t - ℓ_old_t)", "Ratio", "ratio"),
    ("Clipped surrogate", "L_t = max(-Âρ, -Â·clip(ρ, 1-ε, 1+ε_high))", "Clip", "pg_losses"),
    ("Dual clip", "Â < 0: L_t ← min(L_t, -c·Â)", "Clip", "pg_losses"),
    ("Token-level advantage weighting", "∇L = -(1/N) Σ Â_t ρ_t 1[unclipped] ∇ℓ_θ_t", "Clip", "pg_clipped"),
    ("Policy-loss aggregation", "token-mean, seq-mean-token-mean or seq-mean-token-sum", "Clip", "pg_loss"),
    ("Current value prediction and clipping", "V_clip = clip(V_θ, V_old ± ε_v)", "Value Loss", "values_clipped"),
    ("Value loss", "L^VF = ½ agg(max((V_θ - R)², (V_clip - R)²))", "Value Loss", "vf_loss"),
    ("Entropy (bonus or diagnostic)", "H_t = logsumexp(z/τ) - Σ p·z/τ", "Ratio", "token_entropy"),
    ("KL as a loss (alternative to the reward)", "+c_KL·agg(k(ℓ_θ, ℓ_ref))", "Total", "kl_loss"),
    ("Total loss", "L = L^PG + c_v·L^VF - c_H·H + c_KL·L^KL", "Total", "total_loss"),
    ("Policy KL, current vs previous", "approx_kl = ½⟨(ℓ_θ - ℓ_old)²⟩; ppo_kl = ⟨ℓ_old - ℓ_θ⟩", "Ratio", "approx_kl"),
    ("Clip fractions", "⟨1[L2 > L1]⟩, ⟨1[(V_clip-R)² > (V_θ-R)²]⟩", "Clip", "pg_clipfrac"),
    ("Value clip fraction", "⟨1[(V_clip-R)² > (V_θ-R)²]⟩", "Value Loss", "vf_clipfrac"),
    ("Parameter roles", "θ ← optimiser; θ_old ← θ each iteration; θ_ref frozen; φ_old ← φ", "Weights", "old.W_xh"),
)

# The same step in each framework's own code, quoted verbatim (blueprint/quotes.toml, listed in docs/quotes.md):
# block quantity -> the quoted quantity, when they differ.
QUOTED_AS = {"logratio": "ratio_clamp", "is_last": "score_slot"}
SHOWN_WITH_CODE = ("logp_old", "mask", "values_old", "score", "is_last", "logp_ref", "kl_token", "rewards_raw", "rewards", "delta",
                   "advantages", "returns", "adv_whitened", "logp_new", "token_entropy", "logratio", "ratio", "approx_kl", "pg_losses",
                   "pg_losses2", "pg_loss", "values_clipped", "vf_loss", "kl_loss_token", "total_loss", "beta_next")
CODE: dict[str, tuple[Quote, ...]] = {q: quotes.code(QUOTED_AS.get(q, q)) for q in SHOWN_WITH_CODE}


# Why each sheet exists, the fallback "why" of a block's note.
WHY = {
    "Config": "every formula reads these through workbook names, so one edit re-flows the whole workbook",
    "Rollout": "θ_old's numbers are frozen for the whole PPO iteration: ratios, KL and values are measured against them",
    "Reward": "the reward model judges whole responses, so PPO must spread one number over many tokens",
    "KL": "the penalty keeps the policy near the SFT model so it cannot game the reward model",
    "GAE": "advantages tell each token how much better it did than the critic expected; whitening keeps the step size sane",
    "Ratio": "PPO reuses a batch sampled by θ_old to update θ: the ratio re-weights each token to the current policy",
    "Clip": "clipping removes the incentive to move ρ outside [1-ε, 1+ε], a cheap trust region",
    "Value Loss": "a better critic gives lower-variance advantages next iteration; clipping stops it from chasing noisy targets",
    "Total": "one number to descend, and the diagnostics that tell whether training is healthy",
    "Weights": "the four models share one architecture and differ only in these numbers",
}

# Specific notes, as Tom Yeh's blueprints write them: "# Step ↳ what is done ↳ why".
NOTES = {
    ("Rollout", "lower"): "# Sample ↳ cumulative lower bounds of p ↳ MATCH(u, lower, 1) picks the token whose interval holds u",
    ("Rollout", "tokens"): "# Sample ↳ y_t = MATCH(u_t, lower_t, 1) - 1 ↳ sampling is live: change θ_old or u and the response changes",
    ("Rollout", "mask"): "# Mask ↳ 1 up to and including the first EOS ↳ tokens after EOS are still computed but count nowhere",
    ("Rollout", "logp_old"): "# Log-prob ↳ ℓ_old of the sampled token ↳ the denominator of every importance ratio this iteration",
    ("Rollout", "values_old"): "# Critic ↳ V_old from φ_old ↳ GAE and the value clip use the critic as it was at rollout",
    ("Reward", "score"): "# Score ↳ RM output at the last real token ↳ one number per response, the whole signal RLHF optimises",
    ("Reward", "is_last"): "# Place ↳ one-hot of the last real token ↳ the score is added to the reward there (OpenRLHF, verl)",
    ("KL", "kl_token"): "# KL ↳ chosen estimator of KL(θ_old‖θ_ref) per token ↳ k1 is unbiased but can be negative; k3 is ≥ 0",
    ("KL", "rewards_raw"): "# Shape ↳ -β·k_t on every token, + s on the last ↳ the RL objective s - βΣ log(π/π_ref), split per token",
    ("GAE", "delta"): "# TD ↳ δ_t = r_t + γV_{t+1} - V_t ↳ one-step surprise of the old critic",
    ("GAE", "advantages"): "# GAE ↳ A_t = δ_t + γλA_{t+1}, right to left ↳ λ trades bias (λ=0) against variance (λ=1)",
    ("GAE", "returns"): "# Targets ↳ R_t = A_t + V_old_t ↳ the critic's regression target comes from the OLD critic",
    ("GAE", "adv_whitened"): "# Whiten ↳ (A - μ)/σ over the batch ↳ a scale-free step, whatever the reward model's units",
    ("Ratio", "ratio"): "# Ratio ↳ ρ = exp(ℓ_θ - ℓ_old) ↳ re-weights θ_old's samples to the current policy",
    ("Clip", "pg_losses"): "# Clip ↳ the pessimistic max of the two surrogates ↳ no gain from moving ρ past the band",
    ("Clip", "pg_clipped"): "# Flag ↳ 1 where the clipped branch wins ↳ those tokens contribute zero gradient",
    ("Value Loss", "vf_losses"): "# Value ↳ max of unclipped and clipped squared errors ↳ pessimistic, as baselines PPO2",
    ("Total", "total_loss"): "# Total ↳ L = L^PG + c_v·L^VF (+ entropy, KL terms) ↳ one backward pass, one optimiser step (TRL)",
}


def note(sheet: str, quantity: str, label: str) -> str:
    """The note on a block's step label: its own, or `# sheet ↳ what ↳ why this sheet exists`."""
    return NOTES.get((sheet, quantity), f"# {sheet} ↳ {label} ↳ {WHY.get(sheet, '')}")
