"""The Guide's words: the story of one iteration, the legend, and the pieces of RLHF with PPO.

Kept apart from the writer so a reader can review the teaching text in one place, and so the
tests can hold every piece against the layout. Each block's own label, note and code line are
declared beside its formulas, in its sheet's module (blueprint.blocks).
"""

from __future__ import annotations

from blueprint.config import SWITCHES
from blueprint.livetext import By, IfPositive, Parts

TITLE = "RLHF with PPO — a live blueprint"
SUBTITLE = ("Every derived number in this workbook is a formula. Change a yellow cell (a hyperparameter on Config, "
            "a weight on Weights, a prompt or a draw on Rollout) and every downstream cell follows, sampled tokens included.")

# One PPO iteration in plain words. Parts that depend on a switch are live (blueprint.livetext): the Guide's
# cells are formulas over the switches, so flipping one in Excel retells the story.
WHITENING = By("adv_whiten", {
    "unbiased": "then the advantages are whitened over the batch (unbiased variance: TRL, verl), which can flip the sign of a whole "
                "sequence's advantages (GAE flags it).",
    "population": "then the advantages are whitened over the batch (population variance: OpenRLHF, OpenAI-2019), which can flip the "
                  "sign of a whole sequence's advantages (GAE flags it).",
    "off": "the advantages are used as they are (adv_whiten = off).",
})
CONTROLLER = By("kl_ctl", {
    "fixed": "β stays fixed for the next iteration (TRL-new has no controller; OpenRLHF and verl default to fixed).",
    "adaptive": ("The adaptive controller moves β toward kl_target, fed ",
                 By("kl_ctl_input", {"seq-sum": "the KL summed over each response's tokens (TRL-legacy, OpenAI-2019: target 6).",
                                     "seq-mean": "each response's token-mean KL (verl, OpenRLHF: target 0.1)."})),
})
CRITIC_FREE = tuple(e for e in SWITCHES["advantage_estimator"] if e != "gae")  # every estimator with no critic
STORY: tuple[Parts, ...] = (
    ("1. Rollout — the policy θ_old writes a response to each prompt, one token at a time: softmax of its logits over τ, then an "
     "inverse-CDF draw. Its log-probabilities ℓ_old and its critic's values V_old are kept, frozen for the whole iteration "
     "(OpenRLHF and verl recompute ℓ_old with a forward pass of θ_old; TRL keeps the sampler's)."),
    ("2. Reward — a reward model reads prompt + response and gives one score s, read at the last real token (the first EOS). ",
     By("eos_handling", {"subtract": "A response that never stops loses missing_eos_penalty from its score (TRL's example scripts pass 1.0).",
                         "replace": "A response that never stops gets missing_eos_score instead (N+, OpenAI-2019).",
                         "off": "A response that never stops keeps its score (eos_handling = off, the default of TRL, OpenRLHF and verl)."})),
    ("3. KL — the frozen SFT model θ_ref re-reads the same tokens, and k_t estimates how far θ_old has drifted from it, token by token. ",
     By("kl_placement", {"reward": "Each token is charged -β·k_t as a reward; the score is added on the last real token.",
                         "loss": "The reward is the score alone, on the last real token; the KL to θ_ref enters the loss instead (Total).",
                         "both": "Each token is charged -β·k_t as a reward and the KL to θ_ref also enters the loss; the score is added on "
                                 "the last real token.",
                         "none": "The reward is the score alone, on the last real token: no KL to θ_ref is charged (verl's default)."})),
    ("4. GAE — the old critic turns the rewards into per-token advantages A (how much better than it expected) and value targets "
     "R = A + V_old; a response cut at T without EOS is treated as finished (nothing is bootstrapped after the cut); ", WHITENING),
    ("5. Advantage — ", By("advantage_estimator", {
        "gae": "PPO takes GAE's Â: a learned critic is the baseline. The critic-free estimators (advantage_estimator) take the other "
               "responses to the same prompt instead (Rollout's group column).",
        "grpo": "GRPO drops the critic, a second network as large as the policy and trained beside it, and samples G responses "
                "per prompt instead: each response's outcome s (its summed reward) is compared with the others to the same "
                "prompt, Â = (s - mean_g)/(std_g + ε), the same on all its tokens. The group mean is the baseline a critic would "
                "have had to learn; dividing by the std gives every prompt a step of the same size.",
        "dr_grpo": "Dr. GRPO: GRPO's Â = s - mean_g without dividing by the std, which made prompts the model nearly always (or "
                   "never) solves weigh as much as hard ones; seq-mean-token-sum-norm removes the length bias as well.",
        "rloo": "RLOO has no critic: the baseline is the mean of the other responses to the same prompt, s - (Σ_g s - s)/(G - 1), "
                "so no response is its own baseline.",
        "reinforce_pp": "REINFORCE++ has no critic and no group: each token's return, the discounted sum of the shaped reward "
                        "from there on, whitened over the batch.",
        "reinforce_pp_baseline": "REINFORCE++ with a baseline: the group's mean score is taken off at the last real token, then "
                                 "each token's return is whitened over the batch."}),
     By("dynamic_sampling", {"on": " Groups whose responses all score the same teach nothing (s = mean_g) and leave every loss (DAPO).",
                             "off": ""})),
    ("6. Ratio — the current policy θ re-reads the tokens; ρ = π_θ/π_θ_old says how much more or less likely each sampled token has "
     "become. ", By("theta_init", {"given": "Here θ is given: θ_old plus seeded noise, standing in for earlier minibatches' steps "
                                             "(Weights; set theta_init = old for the first minibatch).",
                                    "old": "Here θ = θ_old, an iteration's first minibatch: ρ = 1 on every token and nothing is clipped."}),
     IfPositive("logratio_clamp", " ℓ_θ - ℓ_old is clamped to ±logratio_clamp before exp (OpenRLHF, verl: 20).")),
    ("7. Clip — the surrogate raises ρ where Â > 0 and lowers it where Â < 0. Clipping removes the incentive to push ρ past 1+ε_high "
     "when Â > 0 or below 1-ε when Â < 0: those tokens (flagged) send no gradient. Outside the band on the other side the unclipped "
     "term wins and its full gradient pulls ρ back: clipping removes the incentive, it does not bound the step.",
     IfPositive("dual_clip", " With dual clip, a token with Â < 0 and ρ > dual_clip sends no gradient either (pg_clipfrac_lower).")),
    ("8. Value Loss — the critic φ is regressed on the returns built from the old critic, its prediction clipped to V_old ± ε_v "
     "pessimistically. Its value head reads the policy's hidden state; ",
     By("value_trunk", {"shared": "the value loss trains that trunk too (TRL-legacy's value head on the policy).",
                        "detached": "the value loss trains the head alone, as a separate critic whose own trunk is not modelled."}),
     " TRL-new has a separate value model under the policy's optimizer, OpenRLHF and verl a separate critic with its own optimizer "
     "(OpenRLHF initialises it from the reward model, verl from critic.model.path).",
     By("advantage_estimator", {"gae": "", **{e: " The estimator is critic-free: none of this enters the loss or the step."
                                               for e in CRITIC_FREE}})),
    ("9. Total — TRL descends one loss, actor loss + vf_coef·value loss, in one optimizer step; OpenRLHF and verl step the actor on "
     "its loss and the critic on the value loss, so their total_loss is a sum for display. ", CONTROLLER),
    ("10. Backward — the loss's gradient flows back down the same cells: to each token's log-prob (zero where the clipped branch "
     "or the dual clip is active), through the softmax to the logits, right to left through time to every weight. ",
     By("value_trunk", {"shared": "One norm over θ and φ together clips them (one optimizer).",
                        "detached": "θ and φ are each clipped by their own norm (two optimizers)."})),
    ("11. Step — ", By("optimizer", {"adamw": "AdamW decays the weights, updates its moments m and v and moves each weight by "
                                              "lr·m̂/(√v̂ + ε): on the first step about lr in the direction of its gradient's sign.",
                                     "sgd": "SGD moves each weight by lr times its gradient (plus weight_decay·θ)."}),
     " lr is a teaching value; the frameworks use 1e-6 … 1e-5."),
    ("12. After Step — θ' re-reads the same rollout, as PPO's next epoch over the batch would: ρ' moves, some tokens reach the "
     "clip band's edge and stop sending gradient, and the loss changes by about gᵀ·Δθ."),
)

LEGEND = (
    ("input", "input — edit me (hyperparameters, weights, prompts, draws)"),
    ("formula", "formula — derived; never type over it"),
    ("key", "key output — the numbers a training log reports"),
    ("check", "check — a live identity: OK, or the discrepancy"),
    ("masked", "after the first EOS — computed, but masked out of every loss"),
)

# The pieces of the RLHF-PPO loss (docs/ppo_math.md §11): name, equation, where it lives (sheet, quantity), and
# what the current switches make of it (live, like the story; "" where no switch touches it).
ESTIMATOR = {"k1": "k1: unbiased, can be negative per token", "k2": "k2: biased, ≥ 0",
             "k3": "k3: unbiased, ≥ 0, lower variance than k1"}
# kl_clamp: where it clamps (OpenRLHF every estimator, verl k3 alone); whiten_eps_mode: the whitening's divisor.
KL_CLAMP = IfPositive("kl_clamp", By("kl_clamp_scope", {"k3": "; k3 alone is clamped to ±kl_clamp", "all": "; clamped to ±kl_clamp"}))
EPS_MODE = By("whiten_eps_mode", {"max": ", √max(var, eps)", "add": ", √(var + eps)"})
PIECES: tuple[tuple[str, str, str, str, Parts], ...] = (
    ("Rollout sampling from θ_old", "y_t ~ softmax(z_t/τ) by inverse CDF on u_t", "Rollout", "tokens", ""),
    ("Token log-prob", "ℓ_t = z_t[y_t]/τ - logsumexp(z_t/τ)", "Rollout", "logp_old", ""),
    ("θ_old: the behaviour policy, frozen for the iteration", "ℓ_old_t, stored at rollout", "Rollout", "logp_old", ""),
    ("θ_ref: the SFT anchor", "ℓ_ref_t, θ_ref teacher-forced on the rollout", "KL", "logp_ref", ""),
    ("Response mask / EOS truncation", "m_t = 1 up to and including the first EOS", "Rollout", "mask", ""),
    ("Reward-model coupling (sequence score)", "s = RM(x, y≤e) at the last real token; missing-EOS handling", "Reward", "score",
     (By("eos_handling", {"subtract": "no EOS: s - missing_eos_penalty", "replace": "no EOS: s := missing_eos_score",
                          "off": "no EOS: s as it is"}), IfPositive("score_clip", "; then clamped to ±score_clip"))),
    ("Where the score lands", "at_t: the last real token e, or e + 1 when the response is padded (TRL-new)", "Reward", "score_at",
     By("score_slot", {"last": "the last real token", "after_eos": "e + 1 when padded, else e; V kept and trained up to it"})),
    ("Reference KL, θ_old vs SFT, per token", "k1 = d, k2 = d²/2, k3 = e^-d - 1 + d, d = ℓ_old - ℓ_ref", "KL", "kl_token",
     (By("kl_estimator", ESTIMATOR), KL_CLAMP)),
    ("KL coefficient and its controller", "β_next = β(1 + clip(KL/target - 1, ±kl_ctl_clip)·B/horizon) if adaptive", "Total", "beta_next",
     By("kl_ctl", {"fixed": "fixed β", "adaptive": ("adaptive, fed ", By("kl_ctl_input", {"seq-sum": "Σ_t k_t", "seq-mean": "mean_t k_t"}))})),
    ("Shaped token reward (KL in the reward)", "r_t = -β·k_t + s·1[t = e]", "KL", "rewards_raw",
     By("kl_placement", {"reward": "on", "loss": "off: r_t = s·1[t = e]", "both": "on", "none": "off: r_t = s·1[t = e]"})),
    ("Reward whitening (optional)", "r ← (r - μ)/√(σ² + eps) + μ", "KL", "rewards", By("reward_whiten", {"on": ("on", EPS_MODE), "off": "off"})),
    ("Old values (critic at rollout)", "V_old_t = w_v·h_t + b_v", "Rollout", "values_old", ""),
    ("TD residual", "δ_t = r_t + γV_{t+1} - V_t", "GAE", "delta", ""),
    ("GAE: token-level credit assignment", "A_t = δ_t + γλA_{t+1}", "GAE", "advantages", ""),
    ("Value targets from the old model", "R_t = A_t + V_old_t", "GAE", "returns", ""),
    ("Sequence-level credit assignment", "the score enters only at t = e; γ = λ = 1: A_t = s - βΣ_{k≥t}k_k - V_t", "KL", "rewards", ""),
    ("Advantage whitening", "Â = (A - μ)/√(var + eps), or √max(var, eps)", "GAE", "adv_whitened",
     By("adv_whiten", {"unbiased": ("unbiased variance", EPS_MODE), "population": ("population variance", EPS_MODE), "off": "off: Â = A"})),
    ("Group of responses to one prompt", "g_b: G responses per prompt, B = prompts × G", "Rollout", "group", ""),
    ("Critic-free advantage: a group baseline", "grpo (s - μ_g)/(σ_g + ε); dr_grpo s - μ_g; rloo s - mean of the others", "Advantage",
     "adv_seq", By("advantage_estimator", {"gae": "not in use: GAE", "grpo": "grpo", "dr_grpo": "dr_grpo: no std", "rloo": "rloo",
                                           "reinforce_pp": "not in use: reinforce_pp", "reinforce_pp_baseline": "not in use: the group "
                                           "mean only, at the last token"})),
    ("REINFORCE++ return", "ret_t = r_t + γ·ret_{t+1}, whitened over the batch", "Advantage", "ret",
     By("advantage_estimator", {"reinforce_pp": "in use", "reinforce_pp_baseline": "in use, after the group mean",
                                **{e: "not in use" for e in ("gae", "grpo", "dr_grpo", "rloo")}})),
    ("Dynamic sampling (DAPO)", "a group whose scores are all equal has no signal", "Advantage", "no_signal",
     By("dynamic_sampling", {"on": "on: such groups leave every loss", "off": "off: flagged, kept"})),
    ("Importance ratio, current vs rollout policy", "ρ_t = exp(ℓ_θ_t - ℓ_old_t)", "Ratio", "ratio",
     IfPositive("logratio_clamp", "log-ratio clamped to ±logratio_clamp", "no clamp")),
    ("Clipped surrogate", "L_t = max(-Âρ, -Â·clip(ρ, 1-ε, 1+ε_high))", "Clip", "pg_losses", ""),
    ("Dual clip", "Â < 0: L_t ← min(L_t, -c·Â)", "Clip", "pg_losses", IfPositive("dual_clip", "on, c = dual_clip", "off")),
    ("The clipped token sends no gradient", "∂L/∂ρ_t = -Â_t·1[L1 ≥ L2]: 0 where the clipped branch wins", "Backward", "dpg_dratio", ""),
    ("Policy-loss aggregation", "token-mean, seq-mean-token-mean, seq-mean-token-sum or seq-mean-token-sum-norm", "Clip", "pg_loss",
     By("loss_agg", {"token-mean": "token-mean: long responses weigh more", "seq-mean-token-mean": "seq-mean-token-mean: every response "
                     "weighs the same", "seq-mean-token-sum": "seq-mean-token-sum: the sum over tokens, then the mean over responses",
                     "seq-mean-token-sum-norm": "seq-mean-token-sum-norm: the sum over every response's tokens, over a constant "
                                                "length (loss_scale_factor, else T)"})),
    ("Current value prediction and clipping", "V_clip = clip(V_θ, V_old ± ε_v)", "Value Loss", "values_clipped", ""),
    ("Value loss", "L^VF = ½ agg(max((V_θ - R)², (V_clip - R)²))", "Value Loss", "vf_loss", ""),
    ("Entropy (bonus or diagnostic)", "H_t = logsumexp(z/τ) - Σ p·z/τ", "Ratio", "token_entropy",
     IfPositive("ent_coef", "a bonus: -ent_coef·H in the actor's loss", "a diagnostic only")),
    ("KL as a loss (alternative to the reward)", "+c_KL·agg(k(ℓ_θ, ℓ_ref))", "Total", "kl_loss",
     By("kl_placement", {"reward": "off", "loss": ("on, ", By("kl_loss_estimator", ESTIMATOR), KL_CLAMP),
                         "both": ("on, ", By("kl_loss_estimator", ESTIMATOR), KL_CLAMP), "none": "off"})),
    ("Actor and critic losses", "L^A = L^PG - c_H·H + c_KL·L^KL;  L = L^A + c_v·L^VF (TRL)", "Total", "total_loss", ""),
    ("Policy KL, current vs previous", "approx_kl = ½⟨(ℓ_θ - ℓ_old)²⟩; ppo_kl = ⟨ℓ_old - ℓ_θ⟩", "Ratio", "approx_kl", ""),
    ("Clip fractions", "⟨1[L2 > L1]⟩; dual clip: ⟨1[Â < 0, max(L1, L2) > -c·Â]⟩", "Clip", "pg_clipfrac",
     IfPositive("dual_clip", "both: the dual clip is on", "the first: the dual clip is off")),
    ("Value clip fraction", "⟨1[(V_clip-R)² > (V_θ-R)²]⟩", "Value Loss", "vf_clipfrac", ""),
    ("Parameter roles", "θ ← optimizer; θ_old ← θ each iteration; θ_ref frozen; φ_old ← φ", "Weights", "old.W_xh", ""),
    ("θ at this minibatch", "θ = θ_old on the first minibatch, else the weights earlier steps left", "Weights", "theta.W_xh",
     By("theta_init", {"given": "given: a later minibatch", "old": "θ_old: the first minibatch, ρ = 1"})),
    ("Backward pass through time", "δh_j = W_hyᵀ∂z_t + w_v∂V_t + W_hhᵀδa_{j+1};  δa_j = δh_j(1 - h_j²)", "Backward", "dh",
     By("value_trunk", {"shared": "the value loss trains θ's RNN too", "detached": "the value loss trains φ alone"})),
    ("Gradient clipping", "coef = min(1, max_grad_norm/(‖g‖ + 1e-6))", "Backward", "grad_clip_coef",
     IfPositive("max_grad_norm", ("on, ", By("value_trunk", {"shared": "one norm over θ and φ", "detached": "θ and φ each by its own norm"})),
                "off")),
    ("Optimizer step", "θ' = θ(1 - lr·wd) - lr·m̂/(√v̂ + ε)  (AdamW);  θ' = θ - lr(g + wd·θ)  (SGD)", "Step", "theta_next.W_xh",
     By("optimizer", {"adamw": "AdamW", "sgd": "SGD"})),
    ("The batch after the step", "ρ' = π_θ'/π_θ_old on the same tokens;  ΔL ≈ gᵀ·Δθ", "After Step", "ratio_next", ""),
)

