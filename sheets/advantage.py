"""Worksheet `Advantage` (reference.advantage): the advantage Clip uses — GAE's, or a critic-free estimator's over groups."""

from __future__ import annotations

from typing import TYPE_CHECKING

from blueprint.blocks import Grid, Q, Scalars, Table
from sheets._common import WHITEN_DENOM, Formulas, Refs, masked_moments, moments_blocks, whiten_std

if TYPE_CHECKING:
    from blueprint.layout import Layout

SHEET = "Advantage"
TITLE = "Advantage — GAE's, or a critic-free estimator's: each response against the others to the same prompt"
SUMMARY = ("s = Σ_t r_t;  grpo (s - μ_g)/(σ_g + ε);  dr_grpo s - μ_g;  rloo s - mean of the others;  reinforce_pp whiten(Σ γ^k r_{t+k});  "
           "Â = the advantage_estimator's")
TAB = "#548235"  # tab colour: its phase (rollout, reward and KL, advantages, losses)
WHY = ("a baseline says what a response is worth relative to what was expected: GAE asks a learned critic, the critic-free "
       "estimators ask the other responses to the same prompt")  # a block's note says this when it has none of its own
ESTIMATOR = "advantage_estimator"
BLOCKS = (
    Table(
        Q("outcome", "s = Σ_t r_t·m_v_t (m_v: Reward's, up to the score's slot)", code="outcome",
          note="# Outcome ↳ one number per response: the score, plus Σ -β·k_t when KL is in the reward ↳ the critic-free "
               "estimators compare these within a group"),
        Q("g_n", "n_g", "integer", note="# Count ↳ n_g = the responses whose group g is this one's (COUNTIF) ↳ G when every prompt "
                                       "is sampled group_size times"),
        Q("g_sum", "Σ_g s", note="# Sum ↳ Σ s over the group (SUMIF) ↳ rloo's leave-one-out mean is (Σ_g s - s)/(n_g - 1)"),
        Q("g_mean", "μ_g (0 alone)", note="# Mean ↳ μ_g = Σ_g s / n_g, 0 for a group of one (verl) ↳ the baseline a critic "
                                          "would have had to learn, measured instead"),
        Q("g_dev2", "(s - μ_g)²"),
        Q("g_std", "σ_g (1 alone)", note="# Std ↳ σ_g = √(Σ_g (s - μ_g)²/(n_g - 1)), unbiased as torch.std; 1 for a group of "
                                         "one (verl) ↳ grpo divides by σ_g + grpo_eps; near 0 the ε keeps the step bounded"),
        Q("g_same", "#(s' = s)", "integer", note="# Ties ↳ the responses of the group whose s equals this one exactly "
                                                  "(COUNTIFS) ↳ n_g of them: every response scored the same"),
    ),
    Table(
        Q("adv_seq", "Â_b (estimator)", code="adv_seq", flags=("no_signal",),
          note="# Group baseline ↳ grpo (s - μ_g)/(σ_g + ε); dr_grpo s - μ_g; rloo s - (Σ_g s - s)/(n_g - 1) ↳ no critic: "
               "the other responses to the same prompt are the baseline. Dr. GRPO drops the std, which weighs a prompt "
               "the model nearly always solves (or never) as much as a hard one. With G = 2, grpo gives ±1/√2 whatever the two "
               "scores (unless they tie). A group of one: μ = 0, σ = 1 (verl)"),
    ),
    Table(
        Q("no_signal", "no signal", "integer", code="no_signal",
          note="# No signal ↳ every response to the prompt scored the same: s - μ_g = 0, nothing to learn ↳ DAPO's "
               "dynamic sampling drops such groups (and samples more); with dynamic_sampling = on they leave every loss here (the "
               "batch whitening and the clip fractions still see them)"),
    ),
    Table(  # a table of its own: no_signal's header spills right, as a neighbour would not let it
        Q("keep", "keep k_b", "integer", note="# Keep ↳ 0 for a response in a no-signal group when dynamic_sampling = on, "
                                              "else 1 ↳ every loss's aggregation weighs each response by it"),
    ),
    Grid(Q("rewards_b", "r_t - at_t·μ_g (reinforce_pp_baseline; at: the score's slot), r_t otherwise — the reward REINFORCE++ returns")),
    Grid(Q("ret", "ret_t = r_t + γ·ret_{t+1} — REINFORCE++'s return, right to left", code="ret",
           note="# Return ↳ the discounted sum of the shaped reward from t on ↳ REINFORCE++: a token-level return with no "
                "critic, then whitened over the batch like GAE's advantages")),
    *moments_blocks("ret", "ret"),
    Grid(Q("ret_whitened", "(ret_t - μ)/√(var + eps)·m_t — whitened as GAE's (adv_whiten, whiten_eps_mode)")),
    Grid(Q("adv", "Â_t — what Clip uses: GAE's Â (gae), Â_b·m_t (grpo, dr_grpo, rloo) or the whitened return (reinforce_pp*)",
           named=True,
           note="# Advantage ↳ the advantage_estimator's, per token ↳ one cell on Config switches PPO's critic for a group "
                "baseline; Clip, Backward and After Step read this block")),
    Scalars(
        Q("n_no_signal", "responses in groups with no signal", "integer"),
        Q("n_loss_seqs", "B_kept = max(Σ keep, 1) — the sequences the losses average over", named=True),
        Q("n_loss_tokens", "N_kept = max(Σ keep·n_b, 1) — the real tokens they average over", named=True),
        Q("n_loss_tokens_v", "N_v,kept = max(Σ keep·n_v_b, 1) — the slots the value loss averages over (m_v: Reward)", named=True),
    ),
)


def formulas(L: Layout) -> Formulas:
    r, d = Refs(L, SHEET), L.dims
    group = r.range("group", sheet="Rollout")
    for b in range(d.B):
        g, s, n = r("group", b, sheet="Rollout"), r("outcome", b), r("g_n", b)
        yield "outcome", (b,), f"=SUMPRODUCT({r.range('rewards', b, sheet='KL')},{r.range('mask_v', b, sheet='Reward')})"
        yield "g_n", (b,), f"=COUNTIF({group},{g})"
        yield "g_sum", (b,), f"=SUMIF({group},{g},{r.range('outcome')})"
        yield "g_mean", (b,), f"=IF({n}>1,{r('g_sum', b)}/{n},0)"
        yield "g_dev2", (b,), f"=({s}-{r('g_mean', b)})^2"
        yield "g_std", (b,), f"=IF({n}>1,SQRT(SUMIF({group},{g},{r.range('g_dev2')})/({n}-1)),1)"
        yield "g_same", (b,), f"=COUNTIFS({group},{g},{r.range('outcome')},{s})"
        mean = r("g_mean", b)
        rloo = f"IF({n}>1,{s}-({r('g_sum', b)}-{s})/({n}-1),{s})"
        yield "adv_seq", (b,), (f'=IF({ESTIMATOR}="grpo",({s}-{mean})/({r("g_std", b)}+grpo_eps),IF({ESTIMATOR}="dr_grpo",{s}-{mean},'
                                f'IF({ESTIMATOR}="rloo",{rloo},0)))')
        yield "no_signal", (b,), f"=AND({n}>1,{r('g_same', b)}={n})*1"
        yield "keep", (b,), f'=IF(dynamic_sampling="on",1-{r("no_signal", b)},1)'
    for b in range(d.B):
        for t in range(d.T):
            last = t + 1 == d.T
            baseline = f'IF({ESTIMATOR}="reinforce_pp_baseline",{r("score_at", b, t, sheet="Reward")}*{r("g_mean", b)},0)'
            yield "rewards_b", (b, t), f"={r('rewards', b, t, sheet='KL')}-{baseline}"
            yield "ret", (b, t), f"={r('rewards_b', b, t)}" if last else f"={r('rewards_b', b, t)}+gamma*{r('ret', b, t + 1)}"
    yield from masked_moments(r, d.B, d.T, "ret", "ret", WHITEN_DENOM)
    for b in range(d.B):
        for t in range(d.T):
            ret, m = r("ret", b, t), r("mask", b, t, sheet="Rollout")
            yield "ret_whitened", (b, t), f'=IF(adv_whiten="off",{ret},({ret}-{r("ret_mean")})/{whiten_std(r("ret_var"))})*{m}'
            token_level = f'OR({ESTIMATOR}="reinforce_pp",{ESTIMATOR}="reinforce_pp_baseline")'
            yield "adv", (b, t), (f'=IF({ESTIMATOR}="gae",{r("adv_whitened", b, t, sheet="GAE")},'
                                  f'IF({token_level},{r("ret_whitened", b, t)},{r("adv_seq", b)}*{m}))')
    yield "n_no_signal", (), f"=SUM({r.range('no_signal')})"
    yield "n_loss_seqs", (), f"=MAX(SUM({r.range('keep')}),1)"
    yield "n_loss_tokens", (), f"=MAX(SUMPRODUCT({r.range('keep')},{r.range('n_real', sheet='Reward')}),1)"
    yield "n_loss_tokens_v", (), f"=MAX(SUMPRODUCT({r.range('keep')},{r.range('n_v', sheet='Reward')}),1)"
